"""Fault modes for the pollers, and the AWS call hook that counts calls and crashes functions.

AWS delivers at least once, in no guaranteed order, and a Lambda can die between
two of its AWS calls. Tests switch these on to show the handlers stay correct.
The hook is a botocore `before-call` handler on boto3's default session, so it
sees every API call a handler makes (clients copy the session's handlers when
they are created: install it before any client exists). The local cloud's own
clients use a session of their own, so its polling is never counted.
"""

from __future__ import annotations

import contextvars
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

HOOK_ID = "k2k-localcloud-calls"


class SimulatedCrash(BaseException):
    """The function died at this AWS call; nothing after it ran.

    A BaseException, so a handler's `except Exception` (or Powertools' batch
    processor) cannot swallow it: a dead Lambda does not get to clean up.
    """


@dataclass
class Faults:
    """What the pollers do wrong on purpose. Set before a drain; reset() after."""

    duplicate: bool = False  # every SQS and stream batch is delivered twice
    reorder: bool = False  # SQS newest first; stream batches reversed
    drop_then_redeliver: bool = False  # each SQS message's first delivery is lost, then redelivered
    # function -> k: the function's next invocation dies at its k-th AWS call
    crash_after: dict[str, int] = field(default_factory=dict)

    def apply(self, modes: dict[str, Any]) -> None:
        """Turn on the named modes, e.g. {"duplicate": True} or {"crash_after": {"Fn": 2}}."""
        for name, value in modes.items():
            if name == "crash_after":
                self.crash_after.update(value)
            else:
                setattr(self, name, value)

    def reset(self) -> None:
        self.duplicate = self.reorder = self.drop_then_redeliver = False
        self.crash_after.clear()


class CallCounts(defaultdict[str, Counter[str]]):
    """AWS calls per function: counts[logical_id]["dynamodb.TransactWriteItems"]."""

    def __init__(self) -> None:
        super().__init__(Counter)

    def total(self, prefix: str = "", function: str | None = None) -> int:
        """Calls whose "service.Operation" starts with prefix, for one function or all."""
        counters = [self[function]] if function else list(self.values())
        return sum(n for c in counters for op, n in c.items() if op.startswith(prefix))

    def reset(self) -> None:
        self.clear()


@dataclass
class Invocation:
    function: str
    crash_at: int | None = None
    calls: int = 0


@dataclass(frozen=True)
class Crash:
    function: str
    call: int
    operation: str


_current: contextvars.ContextVar[Invocation | None] = contextvars.ContextVar("localcloud_invocation",
                                                                            default=None)


class CallRecorder:
    """Counts each function's AWS calls and raises SimulatedCrash where a crash was asked for."""

    def __init__(self) -> None:
        self.counts = CallCounts()
        self.crashes: list[Crash] = []
        self._lock = threading.Lock()
        self._active: dict[int, Invocation] = {}

    def install(self, events: Any) -> None:
        events.unregister("before-call", unique_id=HOOK_ID)  # a second registration would be ignored
        events.register("before-call", self._before_call, unique_id=HOOK_ID)

    @staticmethod
    def uninstall(events: Any) -> None:
        events.unregister("before-call", unique_id=HOOK_ID)

    @contextmanager
    def invocation(self, function: str, crash_at: int | None = None) -> Iterator[Invocation]:
        current = Invocation(function, crash_at)
        token = _current.set(current)
        with self._lock:
            self._active[id(current)] = current
        try:
            yield current
        finally:
            with self._lock:
                del self._active[id(current)]
            _current.reset(token)

    def _before_call(self, model: Any = None, **_: Any) -> None:
        if model is None:
            return None
        operation = f"{model.service_model.service_name}.{model.name}"
        with self._lock:
            current = _current.get()
            if current is None and len(self._active) == 1:
                # A handler's worker thread (a ThreadPoolExecutor does not carry contextvars):
                # with one invocation running, the call is that invocation's.
                current = next(iter(self._active.values()))
            if current is None:
                return None  # not made by a function (tests, or no way to tell under concurrency)
            current.calls += 1
            if current.calls == current.crash_at:
                self.crashes.append(Crash(current.function, current.calls, operation))
                raise SimulatedCrash(f"{current.function} crashed at AWS call {current.calls} ({operation})")
            self.counts[current.function][operation] += 1
        return None  # anything else would replace the real response
