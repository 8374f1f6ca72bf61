"""Cold starts: each handler's init (the import of its module) against the floor, in the Lambda layout.

The application is built as for the packaging check (infra/build.py: task root, layers,
the runtime's boto3); every run is a fresh `python -I -S -B` that sees only that layout
(-B: Lambda's file system is read-only, so the handler module is compiled at each cold
start while the layers' bytecode was compiled at build time). Init is the CPU time of the
import; the floor is `import boto3, aws_lambda_powertools, pydantic`, measured the same way by
the same Python. Target: every handler's init <= 1.5x the floor, 5 runs each, median, in one run.

How a busy machine is kept out of the ratio: the bench goes round by round over every handler (5 rounds),
and each sample is taken right after a floor sample of its own, so a handler's 5 samples are spread over
the whole bench and each is compared with a floor taken under the same load; the ratio is the median of
the 5 sample/floor ratios. The first row measures the floor against itself the same way: how far apart two
measurements of one thing read in this run (1.00x when the machine is quiet). The load average at the start
and the end is printed with the table.

Init alone could be made small by moving work into the first request, so each handler is also measured
with its first invocation (`first`: the import, then the handler called with a typical event against the
local emulator, as the packaging check calls it: an API function's read with the fewest path parameters, a
consumer's first event type with a committed fixture under a new event id, the import worker's dropped
workbook), against the same floor. That figure includes what the invocation itself does (AWS calls through
botocore, a PDF rendered, a workbook read), so it has no target; it shows where init's cost went.

The floor's `import pydantic` is lazy: it loads no model machinery. So each handler is also measured,
in the same interleaved runs, against the libraries every handler needs before any code of ours runs
(`libs`): pydantic's BaseModel with one model defined as ours are (deferred; the first model's class loads
pydantic's fields, types and annotated_types, which `from pydantic import BaseModel` alone does not) and,
for an API handler, the TypeAdapter its router validates with. `ours` is init less that: our code's own share.

Request validation stays (issue 8's choice): it is the edge every API route relies on. What made an API
handler cost 1.5x the floor before any code of ours was Powertools' REST resolver (its event_handler package
~75 ms, its OpenAPI validation ~20 ms): API functions answer through k2k.router instead, which validates the
same way, and Powertools writes the OpenAPI document at build time only. Entry modules defer their
annotations (a route's are read when the route is first served), and every entry module runs its init with
the collector off (gc.disable() ... gc.freeze(); gc.enable()), which the floor does not.

What stood between many handlers and 1.5x after that was our domain: its models are one import graph
(purchasing -> invoices -> orders -> procurement -> network, ~140 pydantic classes at 0.3-0.5 ms each to
define, deferred or not), so a consumer of two event models, or an API whose routes call one service, loaded
all of it at init. Services and the domain modules they are made of are k2k.lazy modules: imported at the
first event or request that uses them, with the collector off and frozen after, as init imports. Init is
then the libraries, the store, the router or the event envelope, and the logger (`ours` a few ms); `first`
carries the service the first event or request loads.

Lambda runs CPython 3.12: the bench uses python3.12 when it is on PATH (else this Python), for every sample.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from infra import build
from infra.localcloud.runtime import FAKE_AWS_ENV
from infra.localcloud.template import FunctionSpec, load

RUNS = 5
TARGET = 1.5
FLOOR = "boto3, aws_lambda_powertools, pydantic"
# What a handler of each kind imports from its libraries before any code of ours (after the floor's import).
MODEL = ("from pydantic import BaseModel, ConfigDict, create_model; "
         "create_model('Model', __config__=ConfigDict(defer_build=True), x=(int, ...))")
LIBRARIES = {
    "consumer": MODEL,
    "api": f"{MODEL}; from pydantic import TypeAdapter",
}
# The first invocation, in the same interpreter right after the import: Lambda's context as Powertools reads it.
INVOKE = """
class Context:
    function_name = {name!r}
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    memory_limit_in_mb = 512
    aws_request_id = "bench"
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self):
        return 30_000

answer = {module}.{attr}(__import__("json").loads({event!r}), Context())
if answer.get("statusCode", 200) >= 500 or answer.get("batchItemFailures"):
    raise SystemExit(f"the first invocation failed: {{answer}}")
"""


def lambda_python() -> str:
    found = shutil.which("python3.12")
    if found and subprocess.run([found, "-c", ""], capture_output=True).returncode == 0:
        return found
    return sys.executable


def cpu_seconds(python: str, path: list[str], statement: str, env: dict[str, str]) -> float:
    """The CPU time of `statement` in a fresh interpreter that sees only `path` (plus the standard library)."""
    code = (f"import sys, time; sys.path[:0] = {path!r}; "
            f"t = time.process_time()\n{statement}\nprint(time.process_time() - t)")
    done = subprocess.run([python, "-I", "-S", "-B", "-c", code], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{statement[:200]} failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


class Row:
    """One handler's runs: each of its samples is taken right after a floor sample of its own."""

    def __init__(self, name: str, handler: str, kind: str, samples: dict[str, tuple[list[str], str, dict[str, str]]]):
        self.name, self.handler, self.kind = name, handler, kind
        self.samples = samples  # what -> (sys.path, statement, env); "floor" first
        self.seconds: dict[str, list[float]] = {what: [] for what in samples}

    def run_once(self, python: str) -> None:
        for what, (path, statement, env) in self.samples.items():
            self.seconds[what].append(cpu_seconds(python, path, statement, env))

    def median(self, what: str) -> float:
        return statistics.median(self.seconds[what])

    def ratio(self, what: str) -> float:
        """The median of the run-by-run ratios to the floor sample taken just before: a load that changes during
        the bench weighs on a sample and its floor alike."""
        return statistics.median(s / f for s, f in zip(self.seconds[what], self.seconds["floor"], strict=True))


def main() -> None:
    python = lambda_python()
    built = build.build(python=python)
    tpl = load(build.TEMPLATE)
    base_env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", **FAKE_AWS_ENV}
    floor_path = [str(built.layers["K2KLayer"]), str(built.runtime)]
    floor = (floor_path, f"import {FLOOR}", base_env)
    version = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True).stdout.strip()
    with local_aws(built) as (endpoint, first_event):
        # The floor against itself: how far apart two measurements of the same thing read in this run.
        rows = [Row("(the floor itself)", "-", "-", {"floor": floor, "init": floor})]
        for lid, fn in tpl.functions.items():
            kind = "api" if fn.api else "consumer"
            env = {**base_env, **fn.environment, "AWS_LAMBDA_FUNCTION_NAME": fn.name}
            path = [str(p) for p in built.sys_path(lid)]
            module, _, attr = fn.handler.rpartition(".")
            invoke = INVOKE.format(name=fn.name, module=module, attr=attr, event=json.dumps(first_event(fn)))
            rows.append(Row(lid, fn.handler, kind, {
                "floor": floor,
                "init": (path, f"import {module}", env),
                "first": (path, f"import {module}\n{invoke}",
                          {**env, "AWS_ENDPOINT_URL": endpoint, "POWERTOOLS_LOG_LEVEL": "WARNING"}),
                "libs": (floor_path, f"import {FLOOR}; {LIBRARIES[kind]}", base_env)}))
        load_before = os.getloadavg()
        # Round by round over every handler, so each handler's RUNS samples spread over the whole bench.
        for _ in range(RUNS):
            for row in rows:
                row.run_once(python)
        load_after = os.getloadavg()
    print(f"Python {version} ({python}); CPU seconds of the import in fresh interpreters, median of {RUNS}, taken "
          f"round by round over every handler, each sample right after a floor sample (floor = import {FLOOR}); "
          f"ratio = the median of the {RUNS} sample/floor ratios; first = the import and the handler's first "
          f"invocation with a typical event against the local emulator; libs = the floor + what a handler of its "
          f"kind imports from its libraries ({', '.join(f'{k}: {v}' for k, v in LIBRARIES.items())})")
    print(f"load average (1, 5, 15 min) {' '.join(f'{x:.1f}' for x in load_before)} at the start, "
          f"{' '.join(f'{x:.1f}' for x in load_after)} at the end, on {os.cpu_count()} CPUs")
    print(f"{'function':<28} {'handler':<17} {'kind':<8} {'init':>7} {'floor':>7} {'ratio':>6} <={TARGET}x "
          f"{'first':>7} {'ratio':>6} {'libs':>7} {'ours':>7}")
    worst = worst_first = 0.0
    for row in rows:
        ratio = row.ratio("init")
        line = (f"{row.name:<28} {row.handler:<17} {row.kind:<8} {row.median('init'):6.3f}s "
                f"{row.median('floor'):6.3f}s {ratio:5.2f}x {'yes' if ratio <= TARGET else 'NO ':<5}")
        if "first" in row.seconds:
            worst, worst_first = max(worst, ratio), max(worst_first, row.ratio("first"))
            line += (f" {row.median('first'):6.3f}s {row.ratio('first'):5.2f}x {row.median('libs'):6.3f}s "
                     f"{row.median('init') - row.median('libs'):+6.3f}s")
        print(line)
    print(f"worst ratio to the floor {worst:.2f}x - "
          f"{'every handler meets' if worst <= TARGET else 'NOT every handler meets'} the {TARGET}x target; "
          f"worst init + first invocation {worst_first:.2f}x the floor")


@contextmanager
def local_aws(built: build.Build) -> Iterator[tuple[str, Any]]:
    """A moto server with the template's resources and the two companies the event fixtures name (as the
    packaging check sets up), and each function's typical first event: an API function's read with the fewest
    path parameters, a consumer's first event type that has a committed fixture (a new event id each time it
    is asked for, so no run is a duplicate of another), the relay's outbox record, the import worker's dropped
    workbook."""
    from tests.packaging import test_lambda_layout as packaging  # the check's own events and setup

    with mock.patch.dict(os.environ, FAKE_AWS_ENV), packaging.local_emulator(built) as endpoint:
        def first_event(fn: FunctionSpec) -> dict[str, Any]:
            event = packaging.trigger(fn, endpoint)
            if fn.sqs:
                event["Records"] = event["Records"][:1]
                body = json.loads(event["Records"][0]["body"])
                if "metadata" in body["detail"]:  # one of ours, not S3's
                    body["detail"]["metadata"]["event_id"] = str(uuid.uuid4())
                event["Records"][0]["body"] = json.dumps(body)
            return event

        yield endpoint, first_event


if __name__ == "__main__":
    main()
