"""Queue and stream consumers load no REST machinery: Powertools' event_handler (with its OpenAPI and
asyncio imports) costs ~60 ms of a cold start, and a consumer answers no HTTP request. API functions answer
through k2k.router and load it neither (Powertools writes the OpenAPI document at build time only). A module a consumer
needs for one event type only is loaded with that event (tests/packaging sends each type, so it loads)."""

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


# Modules a consumer's init must not load: what it does not use, or uses for one event type only.
NOT_AT_INIT = {"aws_lambda_powertools.event_handler": CONSUMERS,  # the REST resolver
               "k2k.services.orders": [TEMPLATE.functions["CartTimerFunction"]],  # CartTimerElapsed only
               "k2k.orders": [TEMPLATE.functions["CartTimerFunction"]]}  # the same (its events are k2k.cart_timer)


def loaded_at_init(fn) -> set[str]:
    path = [str(fn.code_uri), *(str(p) for p in fn.layers)]
    # Every entry module turns the collector off for its init and back on at its end.
    code = (f"import gc, sys; sys.path[:0] = {path!r}; import {fn.module}; "
            "assert gc.isenabled(), 'the collector is still off after init'; print(' '.join(sys.modules))")
    env = {**os.environ, **fn.environment, "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return set(done.stdout.split())


@pytest.mark.parametrize("fn", CONSUMERS, ids=[fn.logical_id for fn in CONSUMERS])
def test_a_consumer_loads_at_init_only_what_every_event_needs(fn):
    loaded = loaded_at_init(fn)
    for module, functions in NOT_AT_INIT.items():
        if fn in functions:
            assert module not in loaded, f"{fn.logical_id} imports {module} at init"


def test_no_api_function_loads_powertools_rest_resolver_at_init():
    apis = [fn for fn in TEMPLATE.functions.values() if fn.api]
    paths = sorted({str(p) for fn in apis for p in fn.layers})
    files = [(fn.logical_id, str(fn.module_file), str(fn.code_uri)) for fn in apis]
    code = ("import gc, importlib.util, sys\n"
            f"sys.path[:0] = {paths!r}\n"
            f"for name, file, root in {files!r}:\n"
            "    sys.path.insert(0, root)\n"
            "    spec = importlib.util.spec_from_file_location(name, file)\n"
            "    sys.modules[name] = module = importlib.util.module_from_spec(spec)\n"
            "    spec.loader.exec_module(module)\n"
            "    sys.path.remove(root)\n"
            "    assert gc.isenabled(), f'{name}: the collector is still off after init'\n"
            "    if 'aws_lambda_powertools.event_handler' in sys.modules:\n"
            "        print(name)\n"
            "        break\n")
    env = {**os.environ, **apis[0].environment, "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "", f"{done.stdout.strip()} imports aws_lambda_powertools.event_handler at init"


def test_an_api_function_loads_a_route_s_own_service_at_the_route_s_first_request():
    """k2k.lazy: the partners API's inbound inventory service is not loaded by its init; binding its route (as
    the route's first request does) loads it, and the route's types resolve through it."""
    fn = TEMPLATE.functions["PartnersFunction"]
    path = [str(fn.code_uri), *(str(p) for p in fn.layers)]
    code = (f"import sys; sys.path[:0] = {path!r}; import {fn.module} as m\n"
            "assert 'k2k.services.inbound' not in sys.modules, 'loaded at init'\n"
            "route = next(r for r in m.app.routes if r.rule == '/integrations/inventory')\n"
            "body = next(b for b in route.params if b.where == 'body')\n"
            "print(body.name, m.send_inventory.__annotations__['body'], route.returns is not None,\n"
            "      'k2k.services.inbound' in sys.modules)")
    env = {**os.environ, **fn.environment, "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["body", "inbound.InboundBatch", "True", "True"]
