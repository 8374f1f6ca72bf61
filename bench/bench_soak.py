"""Soak: does `make run` hold a day of demo use? One `python -m infra.localcloud` server (demo data, free
loopback ports) takes 5,000 mixed requests: buyers' carts and checkouts, the vendor's confirms, staging
receipts, a concurrent burst now and then, Excel imports dropped in S3 and uploaded through a presigned
link (one of them form-encoded, as curl --data-binary sends it). Then a 20,000-row Open Invoices drop while
the API keeps being called, and Ctrl-C (SIGINT).

Printed per 1,000 requests: the server's RSS and p50/p95 request time; then the final RSS (goal < 600 MB),
last-1,000 p50 / first-1,000 p50 (goal <= 1.3), the big import's time (goal < 60 s) with the API's p50/max
meanwhile, and how long SIGINT took to stop the server (goal < 5 s). Nothing is asserted by wall clock.

Just the big drop, on a fresh server with one buyer (about a minute):
    K2K_SOAK_REQUESTS=0 python -m bench soak
(K2K_SOAK_IMPORT_ROWS sets the drop's size.)
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = 5_000
WINDOW = 1_000
BUYERS = 8
BURST_EVERY = 12  # cycles: then every buyer runs a cycle at once
IMPORT_EVERY = 15  # cycles: a small workbook dropped in S3 and one uploaded through a link
BIG_IMPORT_ROWS = 20_000
VENDOR = "rosaflor"  # the demo's vendor
LINES = 4
STARTUP_SECONDS = 300
POLL_LIMIT = 400


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    """`python -m infra.localcloud` in a subprocess, on free ports, with the demo data."""

    def __init__(self) -> None:
        self.api_port, self.moto_port = _free_port(), _free_port()
        self.base_url = f"http://127.0.0.1:{self.api_port}"
        self.moto_endpoint = f"http://127.0.0.1:{self.moto_port}"
        self.log = tempfile.NamedTemporaryFile(prefix="k2k-soak-", suffix=".log", delete=False)  # noqa: SIM115
        env = {**os.environ, "POWERTOOLS_LOG_LEVEL": "ERROR", "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "infra.localcloud", "--port", str(self.api_port),
             "--moto-port", str(self.moto_port)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self._up = threading.Event()
        threading.Thread(target=self._read_stdout, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if "Ctrl-C" in line:  # the banner's last words: seeded, and polling in the background
                self._up.set()

    def wait_up(self) -> float:
        started = time.perf_counter()
        while not self._up.wait(0.5):
            if self.process.poll() is not None or time.perf_counter() - started > STARTUP_SECONDS:
                self.kill()
                raise RuntimeError(f"the local cloud did not come up; see {self.log.name}")
        return time.perf_counter() - started

    def rss_mb(self) -> float:
        return _rss_mb(self.process.pid)

    def cpu_seconds(self) -> float:
        return _cpu_seconds(self.process.pid)

    def interrupt(self) -> float:
        """Seconds from SIGINT (Ctrl-C) to the process's exit; killed after 60 s."""
        started = time.perf_counter()
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill()
        return time.perf_counter() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Clock:
    """Every request's duration, in the order they finished."""

    def __init__(self) -> None:
        self.durations: list[float] = []
        self.rss: list[float] = []  # the server's RSS at each WINDOW boundary
        self._lock = threading.Lock()
        self.server: Server | None = None

    def timed(self, call: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return call()
        finally:
            elapsed = time.perf_counter() - started
            with self._lock:
                self.durations.append(elapsed)
                if len(self.durations) % WINDOW == 0 and self.server is not None:
                    self.rss.append(self.server.rss_mb())

    @property
    def count(self) -> int:
        return len(self.durations)


class Api:
    """One user of one company on the local API (plain urllib: what is timed is the server); every request timed."""

    def __init__(self, clock: Clock, base_url: str, token: str) -> None:
        self.clock = clock
        self.base_url = base_url
        self.token = token

    def call(self, method: str, path: str, body: Any = None, expect: int | tuple[int, ...] = (200, 201)) -> Any:
        status, answer = self.clock.timed(lambda: self.request(method, path, body))
        if status not in ((expect,) if isinstance(expect, int) else expect):
            raise RuntimeError(f"{method} {path}: {status} {answer!r:.300}")
        return answer

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        return int(status), json.loads(raw) if raw else None


def _invoices_workbook(company: str, first: int, rows: int) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Open Invoices"
    ws.append(["Invoice #", "Customer Code", "Invoice Date", "Invoice Balance", "Customer PO", "Location Code"])
    for i in range(first, first + rows):
        ws.append([f"{company[:3].upper()}-{i:07d}", "FLORA", "2026-03-05", 100.5 + i, f"PO-{i}", "NYC"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


class Soak:
    def __init__(self, server: Server) -> None:
        import boto3

        self.server = server
        self.clock = Clock()
        self.s3 = boto3.client("s3", endpoint_url=server.moto_endpoint, region_name="us-east-1",
                               aws_access_key_id="testing", aws_secret_access_key="testing")
        self.bucket = ""
        self.buyers: list[str] = []
        self.line_ids: list[str] = []
        self.ship_dates: dict[str, str] = {}
        self.jobs: list[tuple[str, str]] = []  # (buyer, job id) of upload links
        self.imports = 0
        self.cycles = 0

    def api(self, company: str | None, *roles: str) -> Api:
        from infra.localcloud.tokens import mint

        return Api(self.clock, self.server.base_url, mint(company, list(roles) or ["Admin"],
                                                          user=f"soak@{company or 'k2k'}.example"))

    # -- setup (not counted)
    def setup(self, buyers: int = BUYERS) -> None:
        operator, vendor = self.api(None, "Operator"), self.api(VENDOR, "Admin")
        self.bucket = next(b["Name"] for b in self.s3.list_buckets()["Buckets"] if "-drop-" in b["Name"])
        for n in range(LINES):
            line = vendor.call("POST", "/inventory", {
                "box_code": f"SOAK{n}HB", "product": f"Rose Soak {n} 50cm", "box_type": "HB", "unit_type": "STEM",
                "bunches_per_box": 10, "stems_per_bunch": 25, "boxes_on_hand": 100_000, "price": "0.35",
                "location": "MIA", "dimensions": {"length": "40", "width": "10", "height": "10"}})
            self.line_ids.append(line["line_id"])
        for n in range(buyers):
            buyer = f"soak-buyer-{n}"
            operator.call("POST", "/operator/companies", {"company_id": buyer, "name": f"Soak Buyer {n}",
                                                          "locations": [{"code": "NYC", "name": "New York"}]})
            vendor.call("PUT", f"/customers/SOAK{n}", {"name": f"Soak Buyer {n}", "k2k_company_id": buyer})
            admin = self.api(buyer, "Admin")
            admin.call("PUT", "/vendors/ROSA", {"name": "Rosaflor Farms", "k2k_company_id": VENDOR})
            admin.call("PUT", "/customers/FLORA", {"name": "Flora's Boutique", "email": "orders@flora.example"})
            company = admin.call("GET", "/company")
            company["settings"]["buyer"].update({"automatic_billing_allocation": True, "freight_cube_rate": "1.50",
                                                 "k2k_gpm_pct_by_location": {"NYC": "30"}})
            admin.call("PUT", "/company/settings", {"settings": company["settings"]})
            conn = admin.call("POST", "/connections", {"vendor_company_id": VENDOR})
            vendor.call("POST", f"/connections/{conn['connection_id']}/accept")
            self.buyers.append(buyer)
        for buyer in self.buyers:  # published to each buyer by events: wait for the projection
            admin = self.api(buyer, "Admin")
            for _ in range(POLL_LIMIT):
                lines = admin.call("GET", "/availability")["lines"]
                mine = [ln for ln in lines if ln["line_id"] in self.line_ids]
                if len(mine) == LINES:
                    self.ship_dates[buyer] = mine[0]["earliest_ship_date"]
                    break
                time.sleep(0.1)
            else:
                raise RuntimeError(f"{buyer} never saw the soak lines")

    # -- the mixed workload
    def cycle(self, buyer: str, n: int) -> None:
        """A web-shop cart of one box, checkout, the vendor confirms, the buyer receives it (billed)."""
        web, receiving = self.api(buyer, "AccountsReceivable"), self.api(buyer, "ProcurementUser")
        seller = self.api(VENDOR, "SalesManager")
        line_id = self.line_ids[n % LINES]
        cart = web.call("POST", "/carts", {"customer_code": "FLORA", "ship_date": self.ship_dates[buyer],
                                           "vendor_company_id": VENDOR, "line_id": line_id, "boxes": 1,
                                           "location": "NYC"})
        web.call("POST", f"/carts/{cart['cart_id']}/checkout")
        po = self.api(buyer, "Admin").call("GET", f"/purchase-orders/{cart['lines'][0]['po_id']}")["purchase_order"]
        for _ in range(POLL_LIMIT):  # the vendor's line is checked out by an event
            order = seller.call("GET", f"/orders/{po['order_id']}")
            if all(ln["checked_out"] for ln in order["lines"] if ln["status"] == "ACTIVE"):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"order {po['order_id']} never checked out")
        if order["status"] == "OPEN":
            seller.call("POST", f"/orders/{po['order_id']}/confirm", {}, expect=(200, 409))
        receiving.call("POST", "/staging/receive", {"box_code": cart["lines"][0]["box_code"],
                                                    "po_id": po["po_id"]}, expect=(200, 404, 409))

    def drop_and_upload(self, buyer: str) -> None:
        self.imports += 1
        body = _invoices_workbook(buyer, self.imports * 100, 20)
        key = f"imports/{buyer}/open-invoices/soak-{self.imports}.xlsx"
        self.clock.timed(lambda: self.s3.put_object(Bucket=self.bucket, Key=key, Body=body))
        link = self.api(buyer, "Admin").call("POST", "/imports", {"import_type": "open-invoices",
                                                                  "filename": f"soak-up-{self.imports}.xlsx"})
        upload = _invoices_workbook(buyer, self.imports * 100 + 50, 20)
        # Every other upload form-encoded, as `curl --data-binary` and urllib send it by default.
        kind = ("application/x-www-form-urlencoded" if self.imports % 2 else
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        status = self.clock.timed(lambda: _put(link["upload_url"], upload, kind))
        if status == 200:
            self.jobs.append((buyer, link["job"]["job_id"]))

    def run(self, total: int) -> None:
        self.clock.server = self.server
        start = self.clock.count
        n = 0
        while self.clock.count - start < total:
            n += 1
            buyer = self.buyers[n % BUYERS]
            if n % BURST_EVERY == 0:
                with ThreadPoolExecutor(BUYERS) as pool:
                    list(pool.map(self.cycle, self.buyers, [n] * BUYERS))
            elif n % IMPORT_EVERY == 0:
                self.drop_and_upload(buyer)
            else:
                self.cycle(buyer, n)
        self.cycles = n

    def upload_jobs(self) -> Counter[str]:
        """The upload links' jobs by status."""
        return Counter(self.api(buyer, "Admin").call("GET", f"/imports/{job_id}")["status"]
                       for buyer, job_id in self.jobs)

    def settled_upload_jobs(self, within: float = 60.0) -> tuple[Counter[str], float]:
        """The upload links' jobs by status once none is waiting or running (the last uploads of the workload
        may still be in the import queue when it ends), or as they are after `within` seconds; and how long
        that took. A job still queued or processing then is a job that never finished."""
        started = time.perf_counter()
        while True:
            jobs = self.upload_jobs()
            if not (jobs["queued"] or jobs["processing"]) or time.perf_counter() - started > within:
                return jobs, time.perf_counter() - started
            time.sleep(0.5)

    def big_import(self, rows: int) -> tuple[float, float, dict[str, Any], list[float]]:
        """Drop `rows` open invoices; (seconds until the job finished, the server's CPU seconds meanwhile, the
        job, API times meanwhile). On a busy machine the CPU figure is what the drop itself costs."""
        buyer = self.buyers[0]
        admin = self.api(buyer, "Admin")
        before = {j["job_id"] for j in admin.call("GET", "/imports")["items"]}
        body = _invoices_workbook(buyer, 1_000_000, rows)
        meanwhile = Clock()
        watcher = Api(meanwhile, self.server.base_url, admin.token)
        started, cpu = time.perf_counter(), self.server.cpu_seconds()
        self.s3.put_object(Bucket=self.bucket, Key=f"imports/{buyer}/open-invoices/big.xlsx", Body=body)
        job: dict[str, Any] = {}
        while time.perf_counter() - started < 600:
            new = [j for j in watcher.call("GET", "/imports")["items"] if j["job_id"] not in before]
            if new and new[0]["status"] not in ("queued", "processing"):
                job = new[0]
                break
            watcher.call("GET", "/availability")
            time.sleep(0.2)
        return time.perf_counter() - started, self.server.cpu_seconds() - cpu, job, meanwhile.durations


def _put(url: str, body: bytes, content_type: str) -> int:
    request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _mixed(server: Server, soak: Soak, requests: int) -> None:
    """The mixed workload: per-window RSS and request times, then the drift of p50."""
    print(f"{'requests':>9} {'RSS MB':>8} {'p50 ms':>8} {'p95 ms':>8}", flush=True)
    soak.clock.server = server
    reported = 0
    runner = threading.Thread(target=soak.run, args=(requests,), daemon=True)
    runner.start()
    while runner.is_alive() or reported < len(soak.clock.rss):
        runner.join(timeout=1)
        while reported < len(soak.clock.rss):
            window = soak.clock.durations[reported * WINDOW:(reported + 1) * WINDOW]
            reported += 1
            print(f"{reported * WINDOW:>9} {soak.clock.rss[reported - 1]:>8.0f} {_ms(window, 0.5):>8.1f} "
                  f"{_ms(window, 0.95):>8.1f}", flush=True)
    durations = soak.clock.durations
    first = statistics.median(durations[:WINDOW])
    last = statistics.median(durations[-WINDOW:])
    rss = server.rss_mb()
    settled, waited = soak.settled_upload_jobs()
    jobs = ", ".join(f"{n} {status}" for status, n in settled.items())
    print(f"{len(durations)} requests in {soak.cycles} cycles ({soak.imports} drops and uploads; upload jobs: "
          f"{jobs}, {waited:.1f}s after the last request); final RSS {rss:.0f} MB [goal < 600]; p50 last/first "
          f"{last / first:.2f} [goal <= 1.3]", flush=True)


def main() -> None:
    sys.path[:0] = [p for p in (str(ROOT), str(ROOT / "layers" / "k2k" / "python")) if p not in sys.path]
    requests = int(os.environ.get("K2K_SOAK_REQUESTS", REQUESTS))
    server = Server()
    try:
        up = server.wait_up()
        buyers = BUYERS if requests else 1
        print(f"local cloud up in {up:.1f}s, RSS {server.rss_mb():.0f} MB; setting up {buyers} buyers...", flush=True)
        soak = Soak(server)
        soak.setup(buyers)
        setup_requests = soak.clock.count
        soak.clock = Clock()  # the setup is not part of the measured requests
        print(f"setup: {setup_requests} requests, RSS {server.rss_mb():.0f} MB", flush=True)
        if requests:
            _mixed(server, soak, requests)
        rows = int(os.environ.get("K2K_SOAK_IMPORT_ROWS", BIG_IMPORT_ROWS))
        load = os.getloadavg()[0]
        seconds, cpu, job, meanwhile = soak.big_import(rows)
        print(f"{rows:,}-row Open Invoices drop: {job.get('status', 'not finished')}, imported "
              f"{job.get('imported')}, in {seconds:.1f}s [goal < 60] (server CPU {cpu:.1f}s; load average "
              f"{load:.2f} before); API meanwhile: {len(meanwhile)} requests, "
              f"p50 {_ms(meanwhile, 0.5):.0f} ms, max {_ms(meanwhile, 1.0):.0f} ms; RSS {server.rss_mb():.0f} MB; "
              f"load average {os.getloadavg()[0]:.2f} at the end", flush=True)
        print(f"SIGINT stopped the server in {server.interrupt():.1f}s [goal < 5]", flush=True)
    finally:
        server.kill()
        server.log.close()
