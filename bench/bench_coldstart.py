"""Cold starts: each handler's init (the import of its module) against the floor, in the Lambda layout.

The application is built as for the packaging check (infra/build.py: task root, layers,
the runtime's boto3); every run is a fresh `python -I -S -B` that sees only that layout
(-B: Lambda's file system is read-only, so the handler module is compiled at each cold
start while the layers' bytecode was compiled at build time). Init is the CPU time of the
import; the floor is `import boto3, aws_lambda_powertools, pydantic`, measured the same way
alternately with each handler. Target: every handler's median <= 1.5x the floor's.

The floor's `import pydantic` is lazy: it loads no model machinery. So after the table the
bench measures, the same way, what the libraries alone add before any code of ours runs:
pydantic's BaseModel (every handler) and Powertools' REST resolver with request validation
(every API handler).

Lambda runs CPython 3.12: the bench uses python3.12 when it is on PATH (else this Python).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys

from infra import build
from infra.localcloud.runtime import FAKE_AWS_ENV
from infra.localcloud.template import load

RUNS = 5
TARGET = 1.5
FLOOR = "boto3, aws_lambda_powertools, pydantic"
# What a handler needs from its libraries before any code of ours: (label, statement after the floor's import).
LIBRARY_SHARES = (
    ("pydantic's BaseModel", "from pydantic import BaseModel"),
    ("+ Powertools' REST resolver with validation", "from pydantic import BaseModel; "
     "from aws_lambda_powertools.event_handler import APIGatewayRestResolver; "
     "APIGatewayRestResolver(enable_validation=True)"),
)


def lambda_python() -> str:
    found = shutil.which("python3.12")
    if found and subprocess.run([found, "-c", ""], capture_output=True).returncode == 0:
        return found
    return sys.executable


def init_seconds(python: str, path: list[str], statement: str, env: dict[str, str]) -> float:
    code = (f"import sys, time; sys.path[:0] = {path!r}; "
            f"t = time.process_time(); {statement}; print(time.process_time() - t)")
    done = subprocess.run([python, "-I", "-S", "-B", "-c", code], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{statement} failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def paired_medians(python: str, floor: tuple[list[str], dict[str, str]], path: list[str], statement: str,
                   env: dict[str, str]) -> tuple[float, float]:
    """(the statement's median, the floor's median), runs interleaved so a busy machine weighs on both alike."""
    handler_runs, floor_runs = [], []
    for _ in range(RUNS):
        floor_runs.append(init_seconds(python, floor[0], f"import {FLOOR}", floor[1]))
        handler_runs.append(init_seconds(python, path, statement, env))
    return statistics.median(handler_runs), statistics.median(floor_runs)


def main() -> None:
    python = lambda_python()
    built = build.build(python=python)
    tpl = load(build.TEMPLATE)
    base_env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", **FAKE_AWS_ENV}
    floor_path = [str(built.layers["K2KLayer"]), str(built.runtime)]
    version = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True).stdout.strip()
    print(f"Python {version} ({python}); median CPU seconds of the import in {RUNS} fresh interpreters, "
          f"each handler against the floor (import {FLOOR}) run alternately with it")
    print(f"{'function':<26} {'handler':<18} {'init':>8} {'floor':>8} {'ratio':>6}  <={TARGET}x")
    worst = 0.0
    for lid, fn in tpl.functions.items():
        env = {**base_env, **fn.environment, "AWS_LAMBDA_FUNCTION_NAME": fn.name}
        seconds, floor = paired_medians(python, (floor_path, base_env), [str(p) for p in built.sys_path(lid)],
                                        f"import {fn.module}", env)
        ratio = seconds / floor
        worst = max(worst, ratio)
        print(f"{lid:<26} {fn.handler:<18} {seconds:7.3f}s {floor:7.3f}s {ratio:5.2f}x  "
              f"{'yes' if ratio <= TARGET else 'NO'}")
    print(f"worst ratio {worst:.2f}x - {'every handler meets' if worst <= TARGET else 'NOT every handler meets'} "
          f"the {TARGET}x target")
    print("what the libraries alone add to the floor, before any code of ours (same method):")
    for label, statement in LIBRARY_SHARES:
        seconds, floor = paired_medians(python, (floor_path, base_env), floor_path, f"import {FLOOR}; {statement}",
                                        base_env)
        print(f"  {label:<44} {seconds - floor:+7.3f}s  -> {seconds / floor:.2f}x")


if __name__ == "__main__":
    main()
