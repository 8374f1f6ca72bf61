"""A module imported when one of its names is first used, not when the entry module that names it loads.

An API function whose routes call different services loads, at init, only what every request needs; a
route's own service (and the domain modules it brings) loads at the route's first request. The entry
module keeps its annotations deferred (`from __future__ import annotations`), so a route's types are
looked up, and its service imported, when k2k.router first binds that route. Type checkers see the
ordinary import:

    if TYPE_CHECKING:
        from k2k.services import inbound
    else:
        inbound = lazy.module("k2k.services.inbound")
"""

from __future__ import annotations

import gc
import importlib
import sys
from typing import Any


def load(name: str) -> Any:
    """Import `name` as an entry module's init does: with the collector off (the classes and tables it builds
    live as long as the process; collections during the import were ~40% of a domain import's CPU in a
    first invocation), then frozen so later collections need not scan them."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return importlib.import_module(name)
    finally:
        if collecting:
            gc.freeze()
            gc.enable()


def module(name: str) -> Any:
    """Stands for the module `name`: the first attribute read imports it (thread-safe: importlib's lock)."""
    return LazyModule(name)


class LazyModule:
    """What `module` returns: forwards every attribute read to the imported module."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        if self._name not in sys.modules:
            return getattr(load(self._name), attr)
        return getattr(importlib.import_module(self._name), attr)  # waits while another thread imports it

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"
