"""Data import: parse-and-validate CPU against bare python-calamine and openpyxl, peak memory on Excel's
largest sheet, and DynamoDB requests per 1,000 imported rows.

1. CPU time (this process, user + system: what a busy machine changes least) to read the 100,000-row
   open-invoices workbook, 5 runs each, interleaved, min/median/max:
   (a) bare python-calamine: open the file, iterate every row of the sheet, no checks at all;
   (b) ours: the guarded, banded read + every row validated and spooled (what the worker does before
       any write);
   (c) a plain openpyxl read-only row loop with the same header search and RowValidator;
   targets (issue 13): (c)/(b) >= 10 and (a)/(b) >= 0.6 on the medians;
2. peak memory (max RSS of a fresh process, native memory included) reading and validating a
   1,048,576-row workbook through our path (target < 512 MiB), and a 65,537-row one 100 columns wide (the
   column limit: a band is bounded by its cells, not only its rows);
3. DynamoDB requests the import worker makes per 1,000 imported rows, counted at its AWS SDK on the local
   cloud (moto serves them; its timings are not used).
The workbooks are written once into the temp directory (as Excel writes them: shared strings, date cells).
Run alone: python -m bench import.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "k2k" / "python"
WORK = Path(tempfile.gettempdir()) / "k2k-bench-import-v2"
CUSTOMERS = [f"C{i:03d}" for i in range(50)]
HEADER = ["Invoice #", "Customer Code", "Invoice Date", "Invoice Balance", "Customer PO", "Location Code"]


# -- workbooks ------------------------------------------------------------------------------------

def _row(i: int) -> list[Any]:
    """Open invoice i; about 1 in 100 breaks a rule (4 decimals, unknown customer, a date as d/m/y)."""
    balance: Any = round(100 + (i * 7919 % 100_000) / 1000, 3)
    customer = CUSTOMERS[i % len(CUSTOMERS)]
    day: Any = ("date", 46086 + i % 30) if i % 2 else f"2026-03-{1 + i % 28:02d}"
    if i % 100 == 37:
        balance = 12.3456
    elif i % 100 == 71:
        customer = "NOBODY"
    elif i % 100 == 93:
        day = "5/3/2026"
    return [f"INV-{i:08d}", customer, day, balance, f"PO-{i % 9973}", "MIA" if i % 3 else "NYC"]


NOTES = 94  # the wide workbook's columns past the six read: 100 in all, the column limit


def _wide_row(i: int) -> list[Any]:
    return _row(i) + [f"note {(i + c) % 100:03d}" for c in range(NOTES)]


def _letters(index: int) -> str:
    return _letters(index // 26 - 1) + chr(65 + index % 26) if index >= 26 else chr(65 + index)


def write_workbook(path: Path, rows: int, wide: bool = False) -> None:
    """An .xlsx as Excel writes it (shared strings, a date style), streamed so a million rows stay cheap;
    `wide`: 94 more columns of notes after the six read, each cell a shared string."""
    strings: dict[str, int] = {}
    header = HEADER + [f"Note {c + 1}" for c in range(NOTES)] if wide else HEADER
    row_of = _wide_row if wide else _row
    letters = [_letters(c) for c in range(len(header))]

    def cell(ref: str, v: Any) -> str:
        if isinstance(v, tuple):
            return f'<c r="{ref}" s="1"><v>{v[1]}</v></c>'
        if isinstance(v, int | float):
            return f'<c r="{ref}"><v>{v}</v></c>'
        return f'<c r="{ref}" t="s"><v>{strings.setdefault(v, len(strings))}</v></c>'

    tmp = path.with_suffix(".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            f.write(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet '
                    b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
            block = ['<row r="1">' + "".join(cell(f"{letters[c]}1", h) for c, h in enumerate(header)) + "</row>"]
            for i in range(1, rows + 1):
                r = i + 1
                block.append(f'<row r="{r}">' + "".join(cell(f"{letters[c]}{r}", v)
                                                        for c, v in enumerate(row_of(i))) + "</row>")
                if len(block) >= 5000:
                    f.write("".join(block).encode())
                    block = []
            f.write("".join(block).encode() + b"</sheetData></worksheet>")
        z.writestr("xl/sharedStrings.xml", '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sst xmlns='
                   '"http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                   + "".join(f"<si><t>{escape(s)}</t></si>" for s in strings) + "</sst>")
        ns = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
        ct = "application/vnd.openxmlformats-officedocument.spreadsheetml"
        z.writestr("[Content_Types].xml", '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.'
                   'openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType='
                   '"application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
                   f'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="{ct}.'
                   f'sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="{ct}.worksheet'
                   f'+xml"/><Override PartName="/xl/styles.xml" ContentType="{ct}.styles+xml"/><Override '
                   f'PartName="/xl/sharedStrings.xml" ContentType="{ct}.sharedStrings+xml"/></Types>')
        z.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                   f'package/2006/relationships"><Relationship Id="rId1" Type="{ns}/officeDocument" '
                   'Target="xl/workbook.xml"/></Relationships>')
        z.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/'
                   f'spreadsheetml/2006/main" xmlns:r="{ns}"><sheets><sheet name="Open Invoices" sheetId="1" '
                   'r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.'
                   f'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{ns}/worksheet" '
                   f'Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{ns}/styles" Target="styles.xml"'
                   f'/><Relationship Id="rId3" Type="{ns}/sharedStrings" Target="sharedStrings.xml"/>'
                   '</Relationships>')
        z.writestr("xl/styles.xml", '<?xml version="1.0"?><styleSheet xmlns="http://schemas.openxmlformats.org/'
                   'spreadsheetml/2006/main"><fonts count="1"><font/></fonts><fills count="1"><fill>'
                   '<patternFill patternType="none"/></fill></fills>'
                   '<borders count="1"><border/></borders><cellStyleXfs count="1"><xf/></cellStyleXfs><cellXfs '
                   'count="2"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/></cellXfs></styleSheet>')
    tmp.replace(path)


def workbook(rows: int, wide: bool = False) -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"open-invoices-{'wide-' if wide else ''}{rows}.xlsx"
    if not path.exists():
        started = time.perf_counter()
        write_workbook(path, rows, wide)
        size = path.stat().st_size / 2**20
        print(f"  (wrote {path.name}, {size:.1f} MiB, in {time.perf_counter() - started:.1f}s; kept for the next run)",
              flush=True)
    return path


# -- the two readers, same checks -----------------------------------------------------------------

def _context() -> Any:
    from k2k.imports.validate import Context

    return Context(["MIA", "NYC"], customers=CUSTOMERS)


def parse_and_validate(path: Path) -> tuple[int, int]:
    """Our path, as the worker runs it before any write: (accepted, rejected)."""
    from k2k.imports.reader import open_sheet
    from k2k.imports.safety import Limits
    from k2k.imports.service import check_rows
    from k2k.imports.spec import OPEN_INVOICES

    with tempfile.TemporaryDirectory(prefix="k2k-bench-") as work:
        sheet = open_sheet(path, path.name, Path(work), ("Open Invoices",))
        try:
            checked = check_rows(OPEN_INVOICES, sheet, _context(), Path(work), Limits())
        finally:
            sheet.close()
        return checked.accepted.count, checked.rejected.count


def openpyxl_loop(path: Path) -> tuple[int, int]:
    """The plain way: openpyxl read-only, row by row, the same header search and RowValidator."""
    from openpyxl import load_workbook

    from k2k.imports.service import find_header
    from k2k.imports.spec import OPEN_INVOICES
    from k2k.imports.validate import RowValidator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no default style": our generated file's minimal styles part
        wb = load_workbook(path, read_only=True, data_only=True)
    try:
        def rows() -> Iterator[tuple[int, list[Any]]]:
            for number, row in enumerate(wb.worksheets[0].iter_rows(values_only=True), start=1):
                cells = list(row)
                if any(c is not None and c != "" for c in cells):
                    yield number, cells

        it = rows()
        context = _context()
        _, _, match = find_header(OPEN_INVOICES, it, context, "Open Invoices")
        validate = RowValidator(OPEN_INVOICES, match, context)
        accepted = rejected = 0
        for number, cells in it:
            if validate(number, cells)[1] is None:
                accepted += 1
            else:
                rejected += 1
        return accepted, rejected
    finally:
        wb.close()


def bare_calamine(path: Path) -> int:
    """(a) python-calamine alone: every row of the sheet as Python values, nothing checked."""
    from python_calamine import CalamineWorkbook

    workbook = CalamineWorkbook.from_path(str(path))
    try:
        rows = 0
        for _ in workbook.get_sheet_by_index(0).iter_rows():
            rows += 1
        return rows
    finally:
        workbook.close()


def cpu_seconds(fn: Any, path: Path) -> tuple[Any, float]:
    started = time.process_time()
    out = fn(path)
    return out, time.process_time() - started


RUNS = 5


def _spread(values: list[float]) -> str:
    ordered = sorted(values)
    return f"{ordered[0]:.2f} / {statistics.median(ordered):.2f} / {ordered[-1]:.2f}"


def cpu_comparison(path: Path, runs: int = RUNS) -> dict[str, list[float]]:
    """CPU seconds of (a), (b) and (c), `runs` each, interleaved so the machine's load weighs on all alike."""
    times: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    parse_and_validate(path)  # imports and caches warmed for every reader alike
    counts = {}
    for _ in range(runs):
        counts["a"], t = cpu_seconds(bare_calamine, path)
        times["a"].append(t)
        counts["b"], t = cpu_seconds(parse_and_validate, path)
        times["b"].append(t)
        counts["c"], t = cpu_seconds(openpyxl_loop, path)
        times["c"].append(t)
    assert counts["b"] == counts["c"], counts  # the same verdicts
    assert counts["a"] == sum(counts["b"]) + 1, counts  # every row read (and the header)
    return times


def peak_kib() -> int:
    """This process's peak resident memory. Linux's VmHWM starts afresh at exec, where ru_maxrss would carry
    the parent's peak over to a child (so a child started by a big parent would report the parent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def peak_memory(path: Path) -> tuple[float, float, tuple[int, int]]:
    """(peak RSS MiB, seconds, counts) of a fresh process running our path on `path`."""
    code = ("import sys, time; from pathlib import Path; from bench.bench_import import parse_and_validate, peak_kib;"
            "t = time.perf_counter(); out = parse_and_validate(Path(sys.argv[1]));"
            "print(peak_kib(), time.perf_counter() - t, *out)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(LAYER)])}
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env,
                          check=True, cwd=ROOT)
    kib, seconds, accepted, rejected = done.stdout.split()
    return int(kib) / 1024, float(seconds), (int(accepted), int(rejected))


def baseline_memory() -> float:
    code = "import k2k.imports.service, k2k.imports.reader; from bench.bench_import import peak_kib; print(peak_kib())"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(LAYER)])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, cwd=ROOT)
    return int(out.stdout.split()[0]) / 1024


# -- DynamoDB requests ----------------------------------------------------------------------------

def _valid_invoices(path: Path, first: int, rows: int) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Open Invoices"
    ws.append(HEADER)
    for i in range(first, first + rows):
        ws.append([f"INV-{i:08d}", CUSTOMERS[i % len(CUSTOMERS)], f"2026-03-{1 + i % 28:02d}", 100.5 + i,
                   f"PO-{i}", "MIA"])
    wb.save(path)
    return path.read_bytes()


WRITES = ("TransactWriteItems", "BatchWriteItem", "PutItem", "UpdateItem", "DeleteItem")


def dynamodb_requests(small: int = 1, large: int = 3_300) -> None:
    """Requests of the import worker for two files (rows spread over 50 customers), on the local cloud; the
    difference is what rows cost, the rest is what a job costs whatever its size. The large file is one
    write window (k2k.imports.service.WRITE_BATCH): rows are grouped by customer within a window, so a
    smaller file would show part-filled transactions rather than what rows cost."""
    from bench.common import ok, quiet_cloud

    with quiet_cloud() as (cloud, api):
        ok(api("", "Operator").post("/operator/companies", json={
            "company_id": "bloom", "name": "Bloom", "locations": [{"code": "MIA", "name": "Miami"},
                                                                 {"code": "NYC", "name": "New York"}]}), 201)
        admin = api("bloom", "Admin")
        for code in CUSTOMERS:
            ok(admin.put(f"/customers/{code}", json={"name": code}))
        cloud.drain()
        counts = {}
        for rows, first in ((small, 0), (large, small)):
            body = _valid_invoices(WORK / f"valid-{rows}.xlsx", first, rows)
            cloud.reset_counters()
            cloud.client("s3").put_object(Bucket=cloud.name("DropBucket"), Body=body,
                                          Key=f"imports/bloom/open-invoices/bench-{rows}.xlsx")
            cloud.drain()
            calls = cloud.aws_calls["ImportWorkerFunction"]
            counts[rows] = {op.split(".", 1)[1]: n for op, n in calls.items() if op.startswith("dynamodb.")}
        jobs = ok(admin.get("/imports"))["items"]
        assert sorted(j["imported"] for j in jobs) == [small, large], jobs
    per_row = {op: (counts[large].get(op, 0) - counts[small].get(op, 0)) * 1000 / (large - small)
               for op in counts[large]}
    fixed = {op: counts[small].get(op, 0) - per_row[op] * small / 1000 for op in per_row}
    writes = sum(n for op, n in per_row.items() if op in WRITES)
    reads = sum(n for op, n in per_row.items() if op not in WRITES)
    print(f"DynamoDB requests per 1,000 imported rows (50 customers): {writes:.0f} writes + {reads:.0f} reads "
          "(duplicate checks; each customer and its company's currency once per customer per write window)  "
          f"[33 rows, their ledger entries and guards fill a transaction: 1000/33 = 30]")
    print("  per 1,000 rows: " + ", ".join(f"{op} {n:.0f}" for op, n in sorted(per_row.items()) if n))
    print("  per job, whatever its size: " + ", ".join(f"{op} {n:.0f}" for op, n in sorted(fixed.items()) if n)
          + "  (job, lock-free claim, content hash, customers, progress, finish + ImportCompleted)")


def main() -> None:
    sys.path[:0] = [p for p in (str(ROOT), str(LAYER)) if p not in sys.path]
    small = workbook(100_000)
    load = os.getloadavg()[0]
    times = cpu_comparison(small)
    a, b, c = (statistics.median(times[k]) for k in "abc")
    print(f"CPU seconds to read {small.name} (100,000 rows, 3% bad), {RUNS} runs each, min / median / max "
          f"(load average {load:.1f} before, {os.getloadavg()[0]:.1f} after):")
    print(f"  (a) bare python-calamine row iteration   {_spread(times['a'])}")
    print(f"  (b) ours: guarded read + validation       {_spread(times['b'])}  ({100_000 / b:,.0f} rows/s)")
    print(f"  (c) openpyxl read-only loop, same checks  {_spread(times['c'])}")
    print(f"  (c)/(b) = {c / b:.1f}x  [target >= 10]   (a)/(b) = {a / b:.2f}  [target >= 0.6]   (medians)")

    big = workbook(1_048_575)
    peak, seconds, (ok_rows, bad_rows) = peak_memory(big)
    print(f"peak memory, {ok_rows + bad_rows + 1:,}-row sheet ({big.stat().st_size / 2**20:.0f} MiB file) read and "
          f"validated: {peak:.0f} MiB max RSS (interpreter + libraries alone: {baseline_memory():.0f} MiB), "
          f"{seconds:.1f}s  [target: under 512 MiB]")
    wide = workbook(65_536, wide=True)
    peak, seconds, (ok_rows, bad_rows) = peak_memory(wide)
    print(f"peak memory, {ok_rows + bad_rows + 1:,} rows x 100 columns ({wide.stat().st_size / 2**20:.0f} MiB file, "
          f"a band as wide as the column limit): {peak:.0f} MiB max RSS, {seconds:.1f}s  [under 512 MiB; 996 MiB "
          "when a band was bounded by rows alone]")
    dynamodb_requests()


if __name__ == "__main__":
    main()
