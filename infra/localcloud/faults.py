"""Fault modes for the pollers, and the AWS call hook that counts calls and crashes functions.

AWS delivers at least once, in no guaranteed order, and a Lambda can die between
two of its AWS calls. Tests switch these on to show the handlers stay correct.
The hook is a botocore `before-call` handler on boto3's default session, so it
sees every API call a handler makes (clients copy the session's handlers when
they are created: install it before any client exists). The local cloud's own
clients use a session of their own, so its polling is never counted.

The same hook answers in AWS's place when a test injects an error (`Faults.inject`): the call is
not made and botocore raises what AWS would have (ThrottlingException, a TransactionCanceledException
for a TransactionConflict, S3's 500 or SlowDown), as if botocore's own retries had run out. Batch calls
and PutEvents fail partly instead: the second half of the request is not sent and comes back as
UnprocessedItems/UnprocessedKeys or as failed entries, the way those APIs report it.
"""

from __future__ import annotations

import contextvars
import json
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

HOOK_ID = "k2k-localcloud-calls"
AFTER_HOOK_ID = "k2k-localcloud-partial"

# Fault kind -> the operations ("service.Operation", or a "service." prefix) it can hit.
FAULT_TARGETS: dict[str, tuple[str, ...]] = {
    "crash": ("",),  # any call: the function dies there (SimulatedCrash)
    "throttle": ("dynamodb.", "events.", "scheduler."),
    "throughput": ("dynamodb.",),
    "conflict": ("dynamodb.TransactWriteItems",),
    "unprocessed": ("dynamodb.BatchWriteItem", "dynamodb.BatchGetItem"),
    "partial_events": ("events.PutEvents",),
    "s3_500": ("s3.",),
    "s3_slowdown": ("s3.",),
}
_ERRORS: dict[str, tuple[int, str]] = {
    "throttle": (400, "ThrottlingException"),
    "throughput": (400, "ProvisionedThroughputExceededException"),
    "conflict": (400, "TransactionCanceledException"),
    "s3_500": (500, "InternalError"),
    "s3_slowdown": (503, "SlowDown"),
}
_PARTIAL = "k2k_localcloud_partial"  # the request context's note of what a partial failure held back


@dataclass(frozen=True)
class Fault:
    """An injected AWS error: the `at`-th call of a function that this kind of fault can hit fails, once."""

    kind: str
    at: int = 1

    def __post_init__(self) -> None:
        if self.kind not in FAULT_TARGETS:
            raise ValueError(f"unknown fault kind {self.kind!r}: one of {sorted(FAULT_TARGETS)}")
        if self.at < 1:
            raise ValueError("a fault's call number starts at 1")

    def hits(self, operation: str) -> bool:
        return any(operation == t or ((t.endswith(".") or not t) and operation.startswith(t))
                   for t in FAULT_TARGETS[self.kind])


@dataclass(frozen=True)
class Injected:
    function: str
    fault: Fault
    operation: str


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
    # function -> Fault: the function's fault.at-th call that the fault can hit (counted over its invocations
    # from now on) gets an AWS error instead of an answer
    inject: dict[str, Fault] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)  # function -> calls its pending fault could have hit

    def apply(self, modes: dict[str, Any]) -> None:
        """Turn on the named modes, e.g. {"duplicate": True}, {"crash_after": {"Fn": 2}} or
        {"inject": {"Fn": Fault("throttle", 3)}}."""
        for name, value in modes.items():
            if name in ("crash_after", "inject"):
                getattr(self, name).update(value)
            else:
                setattr(self, name, value)

    def reset(self) -> None:
        self.duplicate = self.reorder = self.drop_then_redeliver = False
        self.crash_after.clear()
        self.inject.clear()
        self.hits.clear()


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

    def __init__(self, faults: Faults | None = None) -> None:
        self.counts = CallCounts()
        self.crashes: list[Crash] = []
        self.injected: list[Injected] = []
        self.faults = faults or Faults()
        self._lock = threading.Lock()
        self._active: dict[int, Invocation] = {}

    def install(self, events: Any) -> None:
        self.uninstall(events)  # a second registration would be ignored
        events.register("before-call", self._before_call, unique_id=HOOK_ID)
        events.register("after-call", self._after_call, unique_id=AFTER_HOOK_ID)

    @staticmethod
    def uninstall(events: Any) -> None:
        events.unregister("before-call", unique_id=HOOK_ID)
        events.unregister("after-call", unique_id=AFTER_HOOK_ID)

    def reset(self) -> None:
        """Counts, crashes and injected faults from zero."""
        with self._lock:
            self.counts.reset()
            self.crashes.clear()
            self.injected.clear()

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

    def _before_call(self, model: Any = None, params: Any = None, **_: Any) -> Any:
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
            fault = self.faults.inject.get(current.function)
            if fault is None or not fault.hits(operation):
                return None  # anything else would replace the real response
            self.faults.hits[current.function] += 1
            if self.faults.hits[current.function] < fault.at:
                return None
            del self.faults.inject[current.function]
            del self.faults.hits[current.function]
            self.injected.append(Injected(current.function, fault, operation))
            if fault.kind == "crash":
                self.crashes.append(Crash(current.function, current.calls, operation))
                raise SimulatedCrash(f"{current.function} crashed at AWS call {current.calls} ({operation})")
        return _answer(fault, model.name, params)

    @staticmethod
    def _after_call(parsed: Any = None, context: Any = None, **_: Any) -> None:
        held = (context or {}).pop(_PARTIAL, None)
        if held is not None and isinstance(parsed, dict):
            _report_held(parsed, *held)


class _Http:
    """What botocore reads of an HTTP response that a before-call handler gives in AWS's place."""

    def __init__(self, status: int) -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}
        self.content = b""
        self.raw = None


def _answer(fault: Fault, operation: str, params: dict[str, Any]) -> tuple[_Http, dict[str, Any]] | None:
    """AWS's answer to a call the fault hits: an error, or (batches, PutEvents) half the request held back."""
    if fault.kind in ("unprocessed", "partial_events"):
        body = json.loads(params["body"])
        field_name = "Entries" if operation == "PutEvents" else "RequestItems"
        sent, held = _split(operation, body[field_name])
        if not sent:  # all of it fails: nothing is sent
            parsed: dict[str, Any] = {"ResponseMetadata": {"HTTPStatusCode": 200, "RequestId": "injected"}}
            _report_held(parsed, operation, held)
            return _Http(200), parsed
        params["body"] = json.dumps({**body, field_name: sent}).encode()
        params["headers"].pop("Content-Length", None)
        params["context"][_PARTIAL] = (operation, held)
        return None
    status, code = _ERRORS[fault.kind]
    message = f"injected by the local cloud ({fault.kind})"
    if fault.kind == "conflict":
        message = "Transaction cancelled, please refer cancellation reasons for specific reasons"
    error: dict[str, Any] = {"Error": {"Code": code, "Message": message},
                             "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "injected"}}
    if fault.kind == "conflict":
        items = json.loads(params["body"])["TransactItems"]
        error["CancellationReasons"] = [{"Code": "TransactionConflict" if i == 0 else "None"}
                                        for i in range(len(items))]
    return _Http(status), error


def _split(operation: str, request: Any) -> tuple[Any, Any]:
    """The first half of a batch (sent) and the rest (held back), in the request's own shape."""
    if operation == "PutEvents":
        keep = len(request) // 2
        return request[:keep], request[keep:]
    if operation == "BatchWriteItem":
        flat = [(table, r) for table, rs in request.items() for r in rs]
    else:
        flat = [(table, k) for table, spec in request.items() for k in spec["Keys"]]
    keep = len(flat) // 2
    halves: list[dict[str, Any]] = [{}, {}]
    for i, (table, entry) in enumerate(flat):
        half = halves[0 if i < keep else 1]
        if operation == "BatchWriteItem":
            half.setdefault(table, []).append(entry)
        else:
            half.setdefault(table, {**request[table], "Keys": []})["Keys"].append(entry)
    return halves[0], halves[1]


def _report_held(parsed: dict[str, Any], operation: str, held: Any) -> None:
    """Add what was held back to the answer, as the API reports what it did not do."""
    if operation == "PutEvents":
        failed = [{"ErrorCode": "InternalFailure", "ErrorMessage": "injected by the local cloud"} for _ in held]
        parsed["Entries"] = [*parsed.get("Entries", []), *failed]
        parsed["FailedEntryCount"] = parsed.get("FailedEntryCount", 0) + len(failed)
    elif operation == "BatchWriteItem":
        parsed["UnprocessedItems"] = {**parsed.get("UnprocessedItems", {}), **held}
    else:
        parsed.setdefault("Responses", {})
        unprocessed = parsed.setdefault("UnprocessedKeys", {})
        for table, spec in held.items():
            unprocessed.setdefault(table, {**spec, "Keys": []})["Keys"].extend(spec["Keys"])
