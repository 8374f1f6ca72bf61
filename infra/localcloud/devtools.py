"""Local-only helpers on the local gateway, under /_local/ (never in template.yaml or the OpenAPI document).

    GET  /_local/emails[?to=&limit=]   the emails the application sent through SES: from, to, subject, body, time
    GET  /_local/events[?limit=]       the last events on the template's buses: detail-type, source, producer, time
    GET  /_local/clock                 the application's time (the system's plus what was advanced)
    POST /_local/clock {"minutes": 61} move it forward, then deliver what became due (a cart's timer...)
    POST /_local/reset                 empty every table, bucket, queue and schedule; seed the demo again
                                       (new ids: eval the exports again; the clock stays where it is)
    GET  /_local/exports               `export API=... VENDOR=...` lines with fresh tokens, for a shell's eval

    tools = devtools.install(cloud)    # on a started LocalCloud; tools.close() before cloud.stop()
    tools.seed()                       # the demo (infra/localcloud/demo.py), remembered for reset and exports

Emails come from a botocore hook on the application's session (the layer's
clients are recreated so they carry it); events from a catch-all rule on each
bus into a queue of the local cloud's own, read into memory every second. Both
are bounded: the last EMAILS_KEPT and EVENTS_KEPT.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from werkzeug.wrappers import Request, Response

from infra.localcloud import demo
from infra.localcloud.gateway import LOCAL_PREFIX, error, method_not_allowed, not_found
from infra.localcloud.runtime import DrainError, LocalCloud

log = logging.getLogger("localcloud.devtools")

EMAILS_KEPT = 200
EVENTS_KEPT = 500
DEFAULT_LIMIT = 20
TAIL_INTERVAL_SECONDS = 1.0
TAIL_RULE = "k2k-local-tail"
CLOCK_UNITS = ("days", "hours", "minutes", "seconds")
MAX_ADVANCE = timedelta(days=366)
HOOK_ID = "k2k-localcloud-devtools"
_PARAMS = "k2k_localcloud_params"


def install(cloud: LocalCloud) -> DevTools:
    """Attach the helpers to a started local cloud's gateway; close() detaches them."""
    return DevTools(cloud)


class DevTools:
    def __init__(self, cloud: LocalCloud) -> None:
        # The runtime builds its gateway itself; the helpers are this module's, so they are attached here.
        self._gateway = cloud.gateway
        if self._gateway is None:
            raise RuntimeError("start() the local cloud first")
        self.cloud = cloud
        self.demo: dict[str, Any] | None = None  # what demo.seed returned; None: no demo
        self.mail = Mailbox(cloud)
        self.tail = BusTail(cloud)
        self._routes: dict[str, dict[str, Callable[[Request], Response]]] = {
            "emails": {"GET": self._emails},
            "events": {"GET": self._events},
            "clock": {"GET": self._clock, "POST": self._advance},
            "reset": {"POST": self._reset},
            "exports": {"GET": self._exports},
        }
        self._gateway.helpers = self

    def seed(self) -> dict[str, Any]:
        """Create the demo companies and data through the API; their ids."""
        self.demo = demo.seed(self.cloud)
        return self.demo

    def exports(self) -> dict[str, str]:
        """Shell variables for the README's walks, with tokens minted now."""
        if self.demo is None:
            return {"API": self.cloud.base_url}
        return demo.exports(self.cloud.base_url, self.demo)

    def close(self) -> None:
        if self._gateway is not None and self._gateway.helpers is self:
            self._gateway.helpers = None
        self.tail.close()
        self.mail.close()

    # -- HTTP
    def __call__(self, request: Request) -> Response:
        name = request.path.removeprefix(LOCAL_PREFIX).strip("/")
        methods = self._routes.get(name)
        if methods is None:
            return not_found(request.method, request.path)
        handler = methods.get(request.method.upper())
        if handler is None:
            return method_not_allowed(request.method, request.path, sorted(methods))
        try:
            return handler(request)
        except ValueError as e:
            return error(422, "invalid", str(e))
        except DrainError as e:  # a poison message with no DLQ, or a loop: say so rather than hang or 502
            return error(500, "drain_failed", f"delivering the events did not settle: {e}")

    def _emails(self, request: Request) -> Response:
        to = request.args.get("to", "").lower()
        emails = [e for e in self.mail.sent() if not to or any(to in r.lower() for r in e["to"])]
        return _json({"emails": emails[-_limit(request):]})

    def _events(self, request: Request) -> Response:
        return _json({"events": self.tail.events()[-_limit(request):]})

    def _clock(self, request: Request) -> Response:
        return _json(self._time())

    def _advance(self, request: Request) -> Response:
        by = advance_by(request.get_json(force=True, silent=True))  # curl -d sends no JSON content type
        self.cloud.advance(by)
        delivered = self.cloud.drain()
        return _json({**self._time(), "advanced_by_seconds": by.total_seconds(), "delivered": dict(delivered)})

    def _reset(self, request: Request) -> Response:
        emptied = reset(self.cloud)
        self.mail.clear()
        self.tail.clear()
        if self.demo is not None:
            self.seed()
        return _json({"emptied": emptied, "demo": self.demo})

    def _exports(self, request: Request) -> Response:
        lines = "".join(f"export {key}={value}\n" for key, value in self.exports().items())
        return Response(lines, content_type="text/plain; charset=utf-8")

    def _time(self) -> dict[str, Any]:
        # offset: how far ahead of the system clock the application's clock is
        return {"now": _iso(self.cloud.now()), "offset_seconds": self.cloud.clock_offset}


class Mailbox:
    """The application's SendEmail calls that SES accepted, newest last (a botocore hook, like faults.py's)."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        self._sent: deque[dict[str, Any]] = deque(maxlen=EMAILS_KEPT)
        # The application's session is boto3's default one (the runtime counts calls there too).
        assert boto3.DEFAULT_SESSION is not None, "the local cloud sets it up when it starts"
        self._events: Any = boto3.DEFAULT_SESSION.events
        self._events.register("before-parameter-build.ses.SendEmail", _keep_params, unique_id=HOOK_ID + "-params")
        self._events.register("after-call.ses.SendEmail", self._after_call, unique_id=HOOK_ID + "-sent")
        _recreate_layer_clients()  # clients copy the session's handlers when created

    def sent(self) -> list[dict[str, Any]]:
        return list(self._sent)

    def clear(self) -> None:
        self._sent.clear()

    def close(self) -> None:
        if self._events is not None:
            self._events.unregister("before-parameter-build.ses.SendEmail", unique_id=HOOK_ID + "-params")
            self._events.unregister("after-call.ses.SendEmail", unique_id=HOOK_ID + "-sent")
            self._events = None
            _recreate_layer_clients()

    def _after_call(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        params = context.get(_PARAMS) or {}
        if "MessageId" not in parsed:
            return  # refused: SES raises to the caller
        message, body = params.get("Message", {}), params.get("Message", {}).get("Body", {})
        self._sent.append({
            "time": _iso(self.cloud.now()),
            "from": params.get("Source"),
            "to": params.get("Destination", {}).get("ToAddresses", []),
            "subject": message.get("Subject", {}).get("Data"),
            "body": (body.get("Text") or body.get("Html") or {}).get("Data"),
            "message_id": parsed["MessageId"],
        })


class BusTail:
    """A catch-all rule on each of the template's buses into one queue, read into memory every second."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        self._events: deque[dict[str, Any]] = deque(maxlen=EVENTS_KEPT)
        self._lock = threading.Lock()
        self._sqs = cloud.client("sqs")
        self._bridge = cloud.client("events")
        self._buses = list(cloud.resources.buses.values())
        self._queue_url = self._sqs.create_queue(QueueName=TAIL_RULE)["QueueUrl"]
        arn = self._sqs.get_queue_attributes(QueueUrl=self._queue_url,
                                             AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for bus in self._buses:
            # Every event on a bus carries this account: the usual catch-all pattern.
            self._bridge.put_rule(Name=TAIL_RULE, EventBusName=bus,
                                  EventPattern=json.dumps({"account": [_account(arn)]}))
            self._bridge.put_targets(Rule=TAIL_RULE, EventBusName=bus, Targets=[{"Id": "tail", "Arn": arn}])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="localcloud-bus-tail", daemon=True)
        self._thread.start()

    def events(self) -> list[dict[str, Any]]:
        self.collect()
        return list(self._events)

    def clear(self) -> None:
        with self._lock:
            self._sqs.purge_queue(QueueUrl=self._queue_url)
            self._events.clear()

    def collect(self) -> None:
        """Move what reached the queue into memory (the queue stays near empty: it is bounded here)."""
        with self._lock:
            while messages := self._sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10,
                                                        WaitTimeSeconds=0).get("Messages", []):
                self._events.extend(_summary(json.loads(m["Body"])) for m in messages)
                self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for bus in self._buses:
            self._bridge.remove_targets(Rule=TAIL_RULE, EventBusName=bus, Ids=["tail"])
            self._bridge.delete_rule(Name=TAIL_RULE, EventBusName=bus)
        self._sqs.delete_queue(QueueUrl=self._queue_url)

    def _follow(self) -> None:
        while not self._stop.wait(TAIL_INTERVAL_SECONDS):
            try:
                self.collect()
            except Exception:
                log.exception("reading the bus tail failed")


def advance_by(body: Any) -> timedelta:
    """{"minutes": 61} (days, hours, minutes, seconds; any of them) as a forward step of the clock."""
    if not isinstance(body, dict) or not body or set(body) - set(CLOCK_UNITS):
        raise ValueError(f'send a JSON object of {", ".join(CLOCK_UNITS)}, e.g. {{"minutes": 61}}')
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in body.values()):
        raise ValueError("each amount is a number of at least 0: the clock only moves forward")
    by = timedelta(**body)
    if not timedelta(0) < by <= MAX_ADVANCE:
        raise ValueError(f"advance by more than nothing and at most {MAX_ADVANCE.days} days")
    return by


def reset(cloud: LocalCloud) -> dict[str, int]:
    """Empty the template's tables, buckets, queues and schedules; how many of each went."""
    cloud.drain()  # what is in flight lands first, so nothing arrives after the wipe
    emptied = {"schedules": 0, "queues": 0, "items": 0, "objects": 0}
    scheduler = cloud.client("scheduler")
    for page in scheduler.get_paginator("list_schedules").paginate():
        for schedule in page.get("Schedules", []):
            scheduler.delete_schedule(Name=schedule["Name"], GroupName=schedule["GroupName"])
            emptied["schedules"] += 1
    sqs = cloud.client("sqs")
    for url in cloud.resources.queues.values():
        sqs.purge_queue(QueueUrl=url)
        emptied["queues"] += 1
    dynamodb = cloud.client("dynamodb")
    for table in cloud.resources.tables.values():
        emptied["items"] += _empty_table(dynamodb, table)
    s3 = cloud.client("s3")
    for bucket in cloud.resources.buckets.values():
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            gone = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            if gone:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": gone, "Quiet": True})
                emptied["objects"] += len(page.get("Versions", []))
    cloud.drain()  # the stream's REMOVE records pass by (the relay publishes outbox inserts only)
    return emptied


def _empty_table(dynamodb: Any, table: str) -> int:
    keys = [k["AttributeName"] for k in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]]
    names = {f"#k{i}": key for i, key in enumerate(keys)}
    deleted = 0
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ProjectionExpression=", ".join(names),
                                                         ExpressionAttributeNames=names):
        items = page.get("Items", [])
        for start in range(0, len(items), 25):
            batch = [{"DeleteRequest": {"Key": item}} for item in items[start:start + 25]]
            dynamodb.batch_write_item(RequestItems={table: batch})  # moto never leaves UnprocessedItems
        deleted += len(items)
    return deleted


def _summary(event: dict[str, Any]) -> dict[str, Any]:
    detail = event.get("detail")
    metadata = (detail.get("metadata") if isinstance(detail, dict) else None) or {}
    return {
        "time": event.get("time"),  # on the bus, by the system clock
        "occurred_at": metadata.get("occurred_at"),  # by the application's clock (see /_local/clock)
        "detail_type": event.get("detail-type"),
        "source": event.get("source"),
        "producer": metadata.get("producer_company_id"),
        "aggregate_id": metadata.get("aggregate_id"),
        "event_id": metadata.get("event_id") or event.get("id"),
        "correlation_id": metadata.get("correlation_id"),
    }


def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context[_PARAMS] = params  # the same context reaches after-call


def _recreate_layer_clients() -> None:
    from k2k import aws  # the layer is importable once the local cloud is started

    aws.reset_clients()


def _limit(request: Request) -> int:
    raw = request.args.get("limit", str(DEFAULT_LIMIT))
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"limit is a whole number of at least 1, not {raw!r}")
    return int(raw)


def _account(arn: str) -> str:
    return arn.split(":")[4]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _json(body: Any) -> Response:
    # Indented, with a final newline: these answers are read in a terminal, after curl.
    return Response(json.dumps(body, indent=2, default=str) + "\n", content_type="application/json")
