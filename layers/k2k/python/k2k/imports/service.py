"""Data import use cases: upload links, jobs, templates, and running an import end to end.

run_drop is what the worker does with one S3 "Object Created" event:
  1. the key names the company and the type (imports/<cid>/<type>/...); the
     company must exist; nothing else about tenancy comes from the file;
  2. find the job (made by the upload API) or make one for a raw drop, with an
     id derived from the event, so a redelivered event lands on the same job;
  3. claim it; read and check the file (reader, safety); find the header;
  4. phase 1, no writes: validate every row, spooling accepted and rejected
     rows to local disk, so a file broken halfway imports nothing;
  5. claim the file's content hash (a re-dropped file is refused), then
     phase 2: write accepted rows in batches (writers);
  6. the results workbook, the job's final state + ImportCompleted in one
     transaction, then the email.
A FileRejected anywhere ends the job as failed with its reason, never as an
unhandled error; anything else is retried by SQS (rows already written by this
job count as imported), and on the last attempt the job is failed.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import pickle
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from k2k.auth import Caller
from k2k.bounds import Input
from k2k.config import Settings
from k2k.errors import Invalid, NotFound
from k2k.imports import files, jobs, writers
from k2k.imports.model import (
    ImportType,
    Job,
    JobStatus,
    drop_key,
    new_job_id,
    results_key,
)
from k2k.imports.safety import FileRejected, Limits, extension
from k2k.imports.spec import SPECS, HeaderMatch, ImportSpec, match_header
from k2k.imports.validate import Context, RowValidator
from k2k.models import Model
from k2k.network import Company, CompanyId
from k2k.notifications import mark_sent, send_email
from k2k.observability import logger
from k2k.paging import Page
from k2k.services.accounts import list_customers
from k2k.services.network import all_vendors, get_company
from k2k.store import Store

if TYPE_CHECKING:
    from k2k.imports.reader import Sheet

MAX_RECEIVES = 3  # template.yaml ImportQueue maxReceiveCount: the last attempt fails the job
# Rows written at a time: grouped by customer, a window this size fills the ledger's transactions (33 rows
# each, with their entries and guards) and BatchWriteItem's 25; 100 rows left a 1-row transaction per
# window and a customer's rows spread over many part-filled ones.
WRITE_BATCH = 3_300
PROGRESS_EVERY_SECONDS = 3.0
HEADER_SEARCH_ROWS = 10
VALIDATE_BATCH = 4096
_KEY = re.compile(r"imports/(?P<cid>[a-z0-9][a-z0-9-]{1,38}[a-z0-9])/(?P<type>[a-z-]+)/(?P<rest>.+)")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


# -- API ------------------------------------------------------------------------------------------

class UploadRequest(Input):
    import_type: ImportType
    filename: str = Field(min_length=1, max_length=200, description="the workbook's name, .xlsx or .xls")
    confirm_inventory: bool = Field(default=False, description="inventory in boxes: confirm rows into inventory")


class JobView(Job):
    results_url: str | None = Field(default=None, description="the results workbook, a link valid 7 days")


class UploadLink(Model):
    job: JobView
    upload_url: str
    method: str = "PUT"
    expires_in: int = files.UPLOAD_LINK_SECONDS


class TemplateColumn(Model):
    name: str
    required: str
    rule: str
    example: str


class TemplateLink(Model):
    import_type: ImportType
    sheet_name: str
    filename: str
    download_url: str
    columns: list[TemplateColumn]


def safe_filename(name: str) -> str:
    stem = _SAFE_NAME.sub("_", Path(name).name).strip("._") or "upload.xlsx"
    return stem[-100:]


def request_upload(db: Store, settings: Settings, caller: Caller, body: UploadRequest) -> UploadLink:
    """A job (queued) and a link to PUT the workbook to; only the caller's company's folder is reachable."""
    filename = safe_filename(body.filename)
    if extension(filename) not in ("xlsx", "xls"):
        raise Invalid("only .xlsx and .xls files are imported", field="filename")
    if body.confirm_inventory and body.import_type is not ImportType.INVENTORY_IN_BOXES:
        raise Invalid("confirm_inventory applies to inventory-in-boxes imports only", field="confirm_inventory")
    get_company(db, caller.company_id)
    job_id = new_job_id()
    job = Job(job_id=job_id, company_id=caller.company_id, import_type=body.import_type, status=JobStatus.QUEUED,
              filename=filename, key=drop_key(caller.company_id, body.import_type, job_id, filename),
              uploaded_by=caller.email or None, confirm_inventory=body.confirm_inventory, created_at=jobs.now())
    if not jobs.create(db, job):
        raise Invalid("could not create the import job; try again")
    return UploadLink(job=JobView(**job.model_dump()), upload_url=files.upload_link(settings.drop_bucket, job.key))


def get_job(db: Store, settings: Settings, caller: Caller, job_id: str) -> JobView:
    job = jobs.get(db, caller.company_id, job_id) if re.fullmatch(r"[0-9a-f]{12}", job_id) else None
    if job is None:
        raise NotFound("import job not found")  # another company's job is just as absent
    return _view(settings, job)


def list_jobs(db: Store, settings: Settings, caller: Caller, limit: int, token: str | None) -> Page[JobView]:
    found, next_token = jobs.recent(db, caller.company_id, limit, token)
    return Page(items=[_view(settings, j) for j in found], next_token=next_token)


def _view(settings: Settings, job: Job) -> JobView:
    url = (files.download_link(settings.documents_bucket, job.results_key, _results_name(job))
           if job.results_key else None)
    return JobView(**job.model_dump(), results_url=url)


def _results_name(job: Job) -> str:
    return f"{Path(job.filename).stem}-results.xlsx"


def template_link(settings: Settings, caller: Caller, import_type: ImportType) -> TemplateLink:
    """The blank template (stored once per column set, outside imports/ so it never triggers an import)."""
    from k2k.imports.templates import template_bytes, template_version  # openpyxl: not at the API's cold start

    spec = SPECS[import_type]
    key = f"templates/{import_type.value}-{template_version(spec)}.xlsx"
    if files.head(settings.drop_bucket, key) is None:
        files.put_bytes(settings.drop_bucket, key, template_bytes(spec))
    filename = f"{import_type.value}-template.xlsx"
    return TemplateLink(
        import_type=import_type, sheet_name=spec.title, filename=filename,
        download_url=files.download_link(settings.drop_bucket, key, filename, seconds=3600),
        columns=[TemplateColumn(name=c.name, required=c.need.value, rule=c.help, example=str(c.example))
                 for c in spec.columns])


# -- worker ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Drop:
    """An S3 "Object Created" event for the drop bucket, as the worker sees it."""

    bucket: str
    key: str
    raw_key: str
    etag: str
    sequencer: str
    time: str
    message_id: str
    receive_count: int = 1


@dataclass
class Outcome:
    rows_total: int = 0
    imported: int = 0
    rejected: int = 0
    results_key: str | None = None


def parse_key(key: str) -> tuple[CompanyId, ImportType, str] | None:
    match = _KEY.fullmatch(key)
    if not match or match["type"] not in ImportType._value2member_map_:
        return None
    return match["cid"], ImportType(match["type"]), match["rest"]


def run_drop(db: Store, settings: Settings, drop: Drop, limits: Limits | None = None) -> Job | None:
    """Import the dropped file once; returns the job, or None when the key addresses no company or type."""
    key = _object_key(drop)
    parsed = parse_key(key)
    if parsed is None:
        logger.warning("dropped object ignored: not imports/<company>/<type>/<file>", extra={"key": key})
        return None
    company_id, import_type, rest = parsed
    try:
        company = get_company(db, company_id)
    except NotFound:
        logger.warning("dropped object ignored: no such company", extra={"key": key})
        return None
    job = _job_for(db, company, import_type, key, rest, drop)
    if not jobs.claim(db, job, drop.message_id, jobs.now()):
        found = jobs.load(db, company_id, job.job_id)
        if found and jobs.needs_notice(found[1]):
            _notify(settings, company, found[0])  # finished, but its email may not have gone out
        logger.info("import job not claimed (finished, or another worker has it)", extra={"job_id": job.job_id})
        return found[0] if found else job
    try:
        _import(db, settings, company, job, drop.bucket, key, limits or Limits())
    except Exception:
        if drop.receive_count < MAX_RECEIVES:
            raise  # SQS delivers it again; rows this job wrote count as imported then
        logger.exception("import failed on its last attempt", extra={"job_id": job.job_id})
        job.status = JobStatus.FAILED
        job.failure_reason = ("the import could not finish (an internal error; the team has been alerted). "
                              f"{job.imported:,} rows were imported before it stopped; drop the file again "
                              "to import the rest.")
        jobs.finish(db, job, drop.message_id, release_hash=job.file_sha256)
        _notify(settings, company, job)
        raise  # to the dead-letter queue, where the alarm sees it
    jobs.finish(db, job, drop.message_id)
    _notify(settings, company, job)
    return job


def _object_key(drop: Drop) -> str:
    """S3 URL-encodes keys in its events ("red+flower.xlsx"); some emulators do not: use the one that exists."""
    if drop.key == drop.raw_key or files.head(drop.bucket, drop.key) is not None:
        return drop.key
    return drop.raw_key


def _import(db: Store, settings: Settings, company: Company, job: Job, bucket: str, key: str,
            limits: Limits) -> None:
    """The job's outcome, set on it: counts and results, or failed with the reason the file was refused."""
    with tempfile.TemporaryDirectory(prefix="k2k-import-") as work:
        try:
            download = files.download(bucket, key, Path(work) / "upload", limits.file_bytes)
            job.file_sha256 = download.sha256
            outcome = import_file(db, settings, company, job, download.path, Path(work), limits)
        except FileRejected as e:
            job.status, job.failure_reason = JobStatus.FAILED, e.reason
            return
    job.status = JobStatus.COMPLETED_WITH_ERRORS if outcome.rejected else JobStatus.COMPLETED
    job.imported, job.rejected, job.results_key = outcome.imported, outcome.rejected, outcome.results_key


def _job_for(db: Store, company: Company, import_type: ImportType, key: str, rest: str, drop: Drop) -> Job:
    job_id, _, filename = rest.partition("/")
    if filename and re.fullmatch(r"[0-9a-f]{12}", job_id):
        job = jobs.get(db, company.company_id, job_id)
        if job is not None and job.key == key:
            return job
    # A raw drop: the job id comes from the event, so its redelivery finds this job again.
    seed = f"{drop.bucket}|{key}|{drop.etag}|{drop.sequencer}|{drop.time}"
    job = Job(job_id=new_job_id(seed, at=_event_seconds(drop.time)), company_id=company.company_id,
              import_type=import_type, status=JobStatus.QUEUED, filename=Path(key).name, key=key,
              created_at=jobs.now())
    if not jobs.create(db, job):
        existing = jobs.get(db, company.company_id, job.job_id)
        if existing is not None:
            return existing
    return job


def _event_seconds(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()


class _Spool:
    """Rows in order, kept in memory up to `keep` and on local disk past it, a block at a time: a million
    rows never sit in memory, and a file of ordinary size never pays for pickling. A block is what
    `rows_of` turns into rows (accepted rows stay in the validator's columns until they are written:
    a tuple per row would be made, and walked by the garbage collector, for nothing)."""

    def __init__(self, path: Path, rows_of: Any = iter, keep: int = 100_000) -> None:
        self.path = path
        self.rows_of = rows_of
        self.keep = keep
        self.file: Any = None
        self.blocks: list[Any] = []
        self.count = 0

    def add(self, block: Any, rows: int) -> None:
        self.blocks.append(block)
        self.count += rows
        if self.file is None and self.count > self.keep:
            self.file = self.path.open("wb")
        if self.file is not None:
            for kept in self.blocks:
                pickle.dump(kept, self.file, protocol=pickle.HIGHEST_PROTOCOL)
            self.blocks = []

    def close(self) -> None:
        if self.file is not None:
            self.file.close()

    def __iter__(self) -> Iterator[Any]:
        if self.file is None:
            for block in self.blocks:
                yield from self.rows_of(block)
            return
        with self.path.open("rb") as f:
            while True:
                try:
                    block = pickle.load(f)  # our own file, written just above
                except EOFError:
                    return
                yield from self.rows_of(block)


def _accepted_rows(block: tuple[list[int], list[list[Any]], list[int]]) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """A validated batch's accepted rows: all its rows, less the rejected ones (by index)."""
    numbers, columns, rejected = block
    rows = zip(numbers, zip(*columns))  # noqa: B905
    if not rejected:
        return rows
    kept = [True] * len(numbers)
    for i in rejected:
        kept[i] = False
    return itertools.compress(rows, kept)


@dataclass
class Checked:
    """Phase 1's result: what the sheet holds, with accepted and rejected rows spooled in row order."""

    sheet: str
    header: list[Any]
    rows_read: int
    accepted: _Spool
    rejected: _Spool
    validator: RowValidator


def load_context(db: Store, company: Company, spec: ImportSpec) -> Context:
    if spec.import_type is ImportType.INVENTORY_IN_BOXES:
        return Context(company.location_codes, vendors=[v.code for v in _vendors(db, company.company_id)])
    return Context(company.location_codes, customers=[c.code for c in _customers(db, company.company_id)])


def _customers(db: Store, company_id: str) -> list[Any]:
    return list_customers(db, company_id)


def _vendors(db: Store, company_id: str) -> list[Any]:
    return all_vendors(db, company_id)


def find_header(spec: ImportSpec, rows: Iterator[tuple[int, list[Any]]], context: Context,
                sheet_name: str) -> tuple[int, list[Any], HeaderMatch]:
    """The first of the first few rows that names every required column (a title row above is fine)."""
    first: tuple[int, list[Any], HeaderMatch] | None = None
    for _, (row, cells) in zip(range(HEADER_SEARCH_ROWS), rows, strict=False):
        match = match_header(spec, cells, multi_location=context.multi_location)
        if match.ok:
            return row, cells, match
        first = first or (row, cells, match)
    if first is None:
        raise FileRejected(f"the sheet {sheet_name!r} is empty")
    row, cells, match = first
    if match.repeated:
        raise FileRejected(f"the sheet {sheet_name!r} has the column {match.repeated[0]!r} more than once")
    found = ", ".join(repr(str(c)) for c in cells if c != "") or "nothing"
    missing = ", ".join(repr(c.name) for c in match.missing)
    raise FileRejected(f"the sheet {sheet_name!r} has no header row with the columns {missing} (row {row} has "
                       f"{found}); download the {spec.title} template for the expected columns")


@contextmanager
def _no_cycle_collector() -> Iterator[None]:
    """Phase 1 makes a list per row and a tuple per accepted row, and keeps up to a band of them: each
    time allocations pass its threshold, the cyclic garbage collector walks every one still alive, which
    cost more CPU than reading the sheet. Nothing here makes a reference cycle (plain lists, tuples,
    strings, numbers), so reference counting frees it all; the collector runs again afterwards."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def check_rows(spec: ImportSpec, sheet: Sheet, context: Context, work: Path, limits: Limits,
               on_progress: Any = None) -> Checked:
    """Phase 1: every row validated, nothing written. Pure apart from local files."""
    with _no_cycle_collector():
        return _check_rows(spec, sheet, context, work, limits, on_progress)


def _check_rows(spec: ImportSpec, sheet: Sheet, context: Context, work: Path, limits: Limits,
                on_progress: Any) -> Checked:
    bands = sheet.bands()
    first = next(bands, ([], []))
    header_row, header, match = find_header(spec, iter(zip(*first, strict=True)), context, sheet.name)
    validate = RowValidator(spec, match, context, sheet.merged, max_cell_chars=limits.cell_chars)
    accepted, rejected = _Spool(work / "accepted", _accepted_rows), _Spool(work / "rejected")
    total = max(sheet.rows_total - header_row, 0)
    cap = limits.cell_chars
    read = 0
    last = time.monotonic()
    after = first[0].index(header_row) + 1
    rest = itertools.chain([(first[0][after:], first[1][after:])], bands)
    del first  # a band is let go once validated: one band in memory at a time, however long the sheet
    for part_numbers, part in _batches(rest):
        _, columns, messages = validate.checked(part_numbers, part)
        accepted.add((part_numbers, columns, list(messages)), len(part) - len(messages))
        if messages:
            rejected.add([(part_numbers[i], [c[:cap] if type(c) is str else c for c in part[i]], m)
                          for i, m in sorted(messages.items())], len(messages))
        read += len(part)
        if on_progress is not None and time.monotonic() - last > PROGRESS_EVERY_SECONDS:
            on_progress(read, max(total, read))
            last = time.monotonic()
        del part_numbers, part
    accepted.close()
    rejected.close()
    if read == 0:
        raise FileRejected(f"the sheet {sheet.name!r} has a header row but no rows to import")
    return Checked(sheet.name, header, read, accepted, rejected, validate)


def _batches(bands: Iterator[tuple[list[int], list[list[Any]]]]) -> Iterator[tuple[list[int], list[list[Any]]]]:
    """The bands' rows, VALIDATE_BATCH at a time; a band is let go before the next one is read."""
    for numbers, rows in bands:
        for start in range(0, len(rows), VALIDATE_BATCH):
            yield numbers[start:start + VALIDATE_BATCH], rows[start:start + VALIDATE_BATCH]
        del numbers, rows


def import_file(db: Store, settings: Settings, company: Company, job: Job, path: Path, work: Path,
                limits: Limits | None = None) -> Outcome:
    # The workbook libraries (calamine, openpyxl) load with the first file, not at the worker's cold start.
    from k2k.imports.reader import open_sheet
    from k2k.imports.results import write_results

    limits = limits or Limits()
    spec = SPECS[job.import_type]
    if job.file_sha256:
        holder = jobs.hash_holder(db, company.company_id, job.import_type, job.file_sha256)
        if holder and holder != job.job_id:
            raise FileRejected(_already(db, company.company_id, holder))
    context = load_context(db, company, spec)
    sheet = open_sheet(path, job.filename, work, (spec.title, spec.import_type.value), limits)
    try:
        checked = check_rows(spec, sheet, context, work, limits,
                             on_progress=lambda read, total: jobs.progress(db, job, read, total))
    finally:
        sheet.close()
    jobs.progress(db, job, checked.rows_read, checked.rows_read)
    if checked.accepted.count and job.file_sha256:
        holder = jobs.claim_hash(db, job, job.file_sha256)
        if holder:
            raise FileRejected(_already(db, company.company_id, holder))
    late: list[tuple[int, str]] = []
    imported = 0
    batch: list[writers.Accepted] = []
    at = jobs.now()
    as_dict = checked.validator.as_dict
    for row, values in checked.accepted:
        batch.append((row, as_dict(values)))
        if len(batch) == WRITE_BATCH:
            imported, late = _write(db, company, job, batch, at, imported, late)
            job.imported = imported  # what a failure on the last attempt will report
            batch = []
    if batch:
        imported, late = _write(db, company, job, batch, at, imported, late)
    job.imported = imported
    outcome = Outcome(rows_total=checked.rows_read, imported=imported, rejected=checked.rejected.count + len(late))
    if outcome.rejected:
        results = work / "results.xlsx"
        late_rows = _late_rows(checked, late)
        merged = heapq.merge(iter(checked.rejected), late_rows, key=lambda r: r[0])
        write_results(results, spec.title, checked.header, merged)
        outcome.results_key = results_key(company.company_id, job.job_id)
        files.upload(settings.documents_bucket, outcome.results_key, results)
    return outcome


def _write(db: Store, company: Company, job: Job, batch: list[writers.Accepted], at: datetime, imported: int,
           late: list[tuple[int, str]]) -> tuple[int, list[tuple[int, str]]]:
    if job.import_type is ImportType.INVENTORY_IN_BOXES:
        if job.confirm_inventory:
            return imported + writers.write_lines(db, company, job.job_id, batch, at), late
        return imported + writers.write_pending(db, company.company_id, job.job_id, batch, at), late
    lost = writers.write_keyed(db, job.import_type, company.company_id, job.job_id, batch, at)
    late.extend(lost)
    return imported + len(batch) - len(lost), late


def _late_rows(checked: Checked, late: list[tuple[int, str]]) -> Iterator[tuple[int, list[Any], str]]:
    """Rows accepted by phase 1 but refused at write time (already in K2K), with their original cells."""
    if not late:
        return
    messages = dict(late)
    for row, values in checked.accepted:
        if row in messages:
            yield row, checked.validator.cells_of(checked.validator.as_dict(values)), messages[row]


def _already(db: Store, company_id: str, holder: str) -> str:
    other = jobs.get(db, company_id, holder)
    when = f" on {other.created_at:%Y-%m-%d %H:%M} UTC" if other else ""
    return f"this file was already imported (job {holder}{when}); nothing was imported again"


# -- the email --------------------------------------------------------------------------------------

def recipients(company: Company, job: Job) -> list[str]:
    """Who reads the results: the uploader the API verified (a job made by POST /imports records the caller's
    email claim), else the company's configured addresses. Never anything the file or the object carries:
    whoever can put an object can write its metadata, and the results name the company's customers and
    invoices."""
    return [job.uploaded_by] if job.uploaded_by else list(company.settings.notification_emails)


def _notify(settings: Settings, company: Company, job: Job) -> None:
    spec = SPECS[job.import_type]
    link = (files.download_link(settings.documents_bucket, job.results_key, _results_name(job))
            if job.results_key else None)
    subject, text = email_text(spec, job, link)
    send_email(recipients(company, job), subject, text)
    # At least once, never twice for a failed write (k2k.notifications.mark_sent): only a Lambda dying
    # right here sends it again.
    mark_sent(lambda: jobs.mark_notified(Store(settings.table_name), job), subject)


def email_text(spec: ImportSpec, job: Job, link: str | None) -> tuple[str, str]:
    name = f'"{job.filename}"'
    if job.status is JobStatus.FAILED:
        return (f"{spec.title} import failed: {job.filename}",
                f"Your {spec.title} import of {name} could not be imported.\n\n"
                f"Reason: {job.failure_reason}\n\n"
                f"Import job: {job.job_id}\n")
    lines = [f"Your {spec.title} import of {name} has finished.", "",
             f"Rows read: {job.progress.rows_total:,}", f"Imported: {job.imported:,}", f"Rejected: {job.rejected:,}"]
    if job.import_type is ImportType.INVENTORY_IN_BOXES and not job.confirm_inventory and job.imported:
        lines += ["", "The boxes are pending: they go into inventory when you confirm them.",
                  f"See them: GET /pending-boxes?job_id={job.job_id}",
                  f'Confirm them all: POST /pending-boxes/confirm {{"job_id": "{job.job_id}"}}',
                  f'(or some rows: {{"job_id": "{job.job_id}", "rows": [2, 3]}}; '
                  "discard rows the same way with POST /pending-boxes/discard)"]
    if link:
        lines += ["", "The results workbook lists each rejected row and exactly what is wrong with it:", link,
                  "(The link works for 7 days; the import job always has a fresh one.)"]
    lines += ["", f"Import job: {job.job_id}"]
    verdict = "completed with errors" if job.rejected else "completed"
    return (f"{spec.title} import {verdict}: {job.imported:,} imported, {job.rejected:,} rejected", "\n".join(lines))


