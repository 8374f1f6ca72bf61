"""Queue and stream consumers load no REST machinery: Powertools' event_handler (with its OpenAPI and
asyncio imports) costs ~60 ms of a cold start, and a consumer answers no HTTP request. API functions answer
through k2k.router and load it neither (Powertools writes the OpenAPI document at build time only).

A module a function needs for some event types or routes only is loaded with the first of them (k2k.lazy):
the domain's models are one import graph (purchasing -> invoices -> orders -> procurement -> network), and
pydantic's class creation (0.3-0.5 ms a class, even deferred) put a consumer of two event models or an API of
one service at 1.5-1.8x the floor. tests/packaging sends each event type a consumer's rule delivers and one
read to each API, so the modules load there; every route binds in tests/unit/test_router.py; and a lazy
module is the very module type checkers see (below), so neither can drift from the handlers that use it."""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.localcloud.template import load

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load(ROOT / "template.yaml")


FUNCTIONS = list(TEMPLATE.functions.values())
# The domain's models: one import graph (purchasing -> invoices -> orders -> procurement -> network -> ...).
DOMAIN = ("k2k.network", "k2k.inventory", "k2k.products", "k2k.orders", "k2k.procurement", "k2k.purchasing",
          "k2k.invoices", "k2k.receivables", "k2k.ledger", "k2k.imports")


# Modules a function's init must not load: what it does not use, or uses for some events or routes only.
NOT_AT_INIT = {"aws_lambda_powertools.event_handler": FUNCTIONS,  # the REST resolver
               # The domain's models and the services made of them: at the first event or request that needs
               # them (the cart timer's events are k2k.cart_timer, the partners' k2k.partners).
               **{module: FUNCTIONS for module in DOMAIN},
               "k2k.services.orders": FUNCTIONS,
               "k2k.services.invoices": FUNCTIONS,
               "k2k.services.network": FUNCTIONS,
               "k2k.services.inventory": FUNCTIONS}


def loaded_at_init(fn) -> set[str]:
    path = [str(fn.code_uri), *(str(p) for p in fn.layers)]
    # Every entry module turns the collector off for its init and back on at its end.
    code = (f"import gc, sys; sys.path[:0] = {path!r}; import {fn.module}; "
            "assert gc.isenabled(), 'the collector is still off after init'; print(' '.join(sys.modules))")
    env = {**os.environ, **fn.environment, "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return set(done.stdout.split())


@pytest.mark.parametrize("fn", FUNCTIONS, ids=[fn.logical_id for fn in FUNCTIONS])
def test_a_function_loads_at_init_only_what_every_event_or_request_needs(fn):
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


def lazy_modules(tree: ast.Module) -> list[tuple[dict[str, str], dict[str, str]]]:
    """Each `if TYPE_CHECKING: <imports> else: <name = lazy.module("...")>` block of a module: the modules
    type checkers see, and the ones bound at run time, by the name they are bound to."""
    blocks = []
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            seen = {}
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom), ast.unparse(imp)
                for alias in imp.names:
                    seen[alias.asname or alias.name] = f"{imp.module}.{alias.name}"
            bound = {}
            for assign in node.orelse:
                assert isinstance(assign, ast.Assign) and isinstance(assign.value, ast.Call), ast.unparse(assign)
                assert ast.unparse(assign.value.func) == "lazy.module", ast.unparse(assign)
                (target,), (arg,) = assign.targets, assign.value.args
                assert isinstance(target, ast.Name) and isinstance(arg, ast.Constant), ast.unparse(assign)
                bound[target.id] = arg.value
            blocks.append((seen, bound))
    return blocks


ENTRY_FILES = sorted({fn.module_file for fn in FUNCTIONS})


@pytest.mark.parametrize("file", ENTRY_FILES, ids=[f"{f.parent.name}/{f.name}" for f in ENTRY_FILES])
def test_a_lazy_module_is_the_module_type_checkers_see(file):
    """mypy checks the TYPE_CHECKING imports against their use; at run time the same names must be the same
    modules, each a module (not a name in one), and every lazy.module of an entry module is in such a block."""
    source = file.read_text()
    blocks = lazy_modules(ast.parse(source))
    assert source.count("lazy.module(") == sum(len(bound) for _, bound in blocks)
    for seen, bound in blocks:
        assert bound == seen
        for name in bound.values():
            assert importlib.util.find_spec(name) is not None, f"{name} is not a module"


def test_a_lazy_module_is_imported_at_its_first_read_as_init_imports_with_the_collector_off_then_frozen():
    """What the import builds lives as long as the process, like init's objects: later collections (the first
    invocation's boto3 client makes many) need not scan it."""
    layer = str(TEMPLATE.functions["EventRelayFunction"].layers[0])
    code = (f"import gc, sys; sys.path.insert(0, {layer!r})\n"
            "from k2k import lazy\n"
            "money = lazy.module('k2k.money')\n"
            "assert 'k2k.money' not in sys.modules\n"
            "frozen = gc.get_freeze_count()\n"
            "gc.callbacks.append(lambda phase, info: print('collected during the import'))\n"
            "money.cents\n"
            "gc.callbacks.clear()\n"
            "print('k2k.money' in sys.modules, gc.isenabled(), gc.get_freeze_count() > frozen, money.cents.__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "True", "True", "cents"]
