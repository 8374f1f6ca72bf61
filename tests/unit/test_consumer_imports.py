"""Queue and stream consumers load no REST machinery: Powertools' event_handler (with its OpenAPI and
asyncio imports) costs ~60 ms of a cold start, and a consumer answers no HTTP request."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.localcloud.template import load

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load(ROOT / "template.yaml")
CONSUMERS = [fn for fn in TEMPLATE.functions.values() if not fn.api]


@pytest.mark.parametrize("fn", CONSUMERS, ids=[fn.logical_id for fn in CONSUMERS])
def test_a_consumer_imports_no_rest_resolver(fn):
    path = [str(fn.code_uri), *(str(p) for p in fn.layers)]
    code = (f"import sys; sys.path[:0] = {path!r}; import {fn.module}; "
            "print('aws_lambda_powertools.event_handler' in sys.modules)")
    env = {**os.environ, **fn.environment, "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False", f"{fn.logical_id} imports Powertools' REST event_handler"
