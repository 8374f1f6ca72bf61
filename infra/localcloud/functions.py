"""Load the template's handlers into this process and call them as Lambda would.

Each handler file is imported under its own module name (`k2kfn_<path>`), so
two functions' app.py never collide and two functions sharing one file share
its module. Like a Lambda execution environment, a loaded module serves one
invocation at a time: module-level state (a Powertools resolver's current
event) is never shared by concurrent requests; more copies are loaded only when
invocations overlap, as Lambda would start more environments. The layer's
python/ folder and the CodeUri go on sys.path, like /opt/python and the task
root. Events and results pass through JSON, as they do in Lambda.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from infra.localcloud.template import FunctionSpec, Template, TemplateError

_modules: dict[Path, list[ModuleType]] = {}  # per file: every copy loaded (the first is "the" module)
_idle: dict[Path, list[ModuleType]] = {}  # per file: copies no invocation is using
_lock = threading.RLock()


def module_name(file: Path) -> str:
    """Readable and unique per file: k2kfn_functions_network_app_1a2b3c."""
    tail = re.sub(r"\W", "_", "_".join(file.with_suffix("").parts[-3:]))
    return f"k2kfn_{tail}_{hashlib.sha1(str(file).encode()).hexdigest()[:6]}"


def add_to_path(paths: Iterable[Path]) -> None:
    for path in paths:
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


def load_module(spec: FunctionSpec) -> ModuleType:
    """The function's handler module, imported on first use and then kept for the process."""
    with _lock:
        loaded = _modules.get(spec.module_file)
        if loaded:
            return loaded[0]
        module = _load_copy(spec)
        _idle[spec.module_file].append(module)
        return module


def _load_copy(spec: FunctionSpec) -> ModuleType:
    file = spec.module_file
    if not file.is_file():
        raise ModuleNotFoundError(f"{spec.logical_id}: no handler module at {file} (CodeUri + Handler)")
    add_to_path([*spec.layers, spec.code_uri])
    copies = _modules.setdefault(file, [])
    _idle.setdefault(file, [])
    name = module_name(file) + (f"_{len(copies)}" if copies else "")
    loader_spec = importlib.util.spec_from_file_location(name, file)
    assert loader_spec is not None and loader_spec.loader is not None
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[name] = module
    try:
        loader_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    copies.append(module)
    return module


@contextmanager
def environment(spec: FunctionSpec) -> Iterator[Callable[[Any, Any], Any]]:
    """The handler of an execution environment that is not serving another invocation."""
    load_module(spec)
    with _lock:
        idle = _idle[spec.module_file]
        module = idle.pop() if idle else _load_copy(spec)
    try:
        yield _handler(spec, module)
    finally:
        with _lock:
            _idle[spec.module_file].append(module)


def handler_of(spec: FunctionSpec) -> Callable[[Any, Any], Any]:
    """The handler in the first loaded copy (to check that it loads)."""
    return _handler(spec, load_module(spec))


def _handler(spec: FunctionSpec, module: ModuleType) -> Callable[[Any, Any], Any]:
    handler = getattr(module, spec.attr, None)
    if not callable(handler):
        raise AttributeError(f"{spec.logical_id}: {spec.module_file} has no callable {spec.attr!r}")
    return handler  # type: ignore[no-any-return]


def shared_environment(tpl: Template) -> dict[str, str]:
    """Every function's environment at once: they share this process, so they must agree."""
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for fn in tpl.functions.values():
        for key, value in fn.environment.items():
            if key in merged and merged[key] != value:
                raise TemplateError(
                    f"{owner[key]} and {fn.logical_id} set {key} to {merged[key]!r} and {value!r}; "
                    "the local cloud runs all functions in one process, so their environments must agree"
                )
            merged[key], owner[key] = value, owner.get(key, fn.logical_id)
    return merged


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = f"local/[$LATEST]{self.aws_request_id.replace('-', '')}"

    @classmethod
    def for_function(cls, spec: FunctionSpec) -> LambdaContext:
        return cls(spec.name, spec.arn, spec.memory, spec.timeout)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def as_json(value: Any, what: str) -> Any:
    """Round-trip through JSON: Lambda only passes what serializes (Runtime.MarshalError otherwise)."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as e:
        raise TypeError(f"{what} is not JSON serializable: {e}") from e
