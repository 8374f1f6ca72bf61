"""Per-invocation state that Lambda keeps per process, kept per thread here.

A Lambda execution environment serves one invocation at a time, so Powertools
keeps the event being resolved in class attributes (`BaseRouter.current_event`,
`BaseRouter.lambda_context`): one per process. The local cloud serves concurrent
requests on threads of one process, where those would be shared and a handler
could read another request's event (and its caller's claims). While a local
cloud runs, these two attributes hold one value per thread instead: each
request sees its own event, and requests still really overlap, so races on
DynamoDB conditions are exercised as in AWS.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger("localcloud.isolation")

PER_INVOCATION = ("current_event", "lambda_context")
_values = threading.local()
_installed: dict[str, Any] = {}


class _Slot:
    """Reads and writes through instances (self.current_event) go to this thread's value."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        try:
            return _values.__dict__[self.name]
        except KeyError:
            raise AttributeError(self.name) from None

    def __set__(self, instance: Any, value: Any) -> None:
        _values.__dict__[self.name] = value


def _class_property(name: str) -> property:
    slot = _Slot(name)

    def get(cls: Any) -> Any:
        return slot.__get__(None)

    def put(cls: Any, value: Any) -> None:
        slot.__set__(None, value)

    return property(get, put)


def install() -> bool:
    """Give Powertools' router one current event per thread; False if there is no Powertools."""
    if _installed:
        return True
    try:
        from aws_lambda_powertools.event_handler import api_gateway
    except ImportError:
        return False
    router = api_gateway.BaseRouter
    meta = type(router)

    # Writes to the class itself (BaseRouter.current_event = ...) go through its metaclass.
    namespace = {name: _class_property(name) for name in PER_INVOCATION}
    per_thread = type(f"PerThread{meta.__name__}", (meta,), namespace)
    saved = {name: router.__dict__.get(name) for name in PER_INVOCATION}
    for name in PER_INVOCATION:
        type.__setattr__(router, name, _Slot(name))  # for reads through instances
    setattr(router, "__class__", per_thread)  # noqa: B010 - mypy will not type a metaclass swap
    _installed.update({"router": router, "meta": meta, "saved": saved})
    return True


def uninstall() -> None:
    if not _installed:
        return
    router, meta, saved = _installed["router"], _installed["meta"], _installed["saved"]
    setattr(router, "__class__", meta)  # noqa: B010
    for name, value in saved.items():
        if value is None:
            type.__delattr__(router, name)
        else:
            type.__setattr__(router, name, value)
    _installed.clear()
