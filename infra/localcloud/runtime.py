"""LocalCloud: the whole application of template.yaml on one machine, on moto, with no Docker.

    with LocalCloud("template.yaml") as cloud:        # in-process moto, API on an ephemeral port
        requests.post(cloud.base_url + "/inventory", ...)
        cloud.drain()                                   # deliver every event the call caused

`start()` points boto3 at the emulator (moto's in-process mock, or a moto server
that the AWS CLI can use too), creates the template's resources, sets the
functions' environment, and serves the API. Functions run in this process and
share it, like warm Lambdas that happen to share a container.
"""

from __future__ import annotations

import atexit
import functools
import gc
import importlib
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config

from infra.localcloud import functions, isolation
from infra.localcloud.emulator import Emulator
from infra.localcloud.faults import CallCounts, CallRecorder, Crash, Faults, Injected
from infra.localcloud.gateway import Gateway
from infra.localcloud.pollers import SqsPoller, StreamPoller
from infra.localcloud.provision import Provisioned, provision
from infra.localcloud.schedules import SchedulePoller
from infra.localcloud.template import ACCOUNT_ID, REGION, Template, TemplateError, load

log = logging.getLogger("localcloud")

Mode = Literal["inprocess", "server"]
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
# A named profile or a real endpoint would send calls to a real account.
UNSET_AWS_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL")
# The layer's clock (k2k.clock) adds this to the system time; advance() moves it.
CLOCK_OFFSET_ENV = "K2K_CLOCK_OFFSET_SECONDS"
# k2k.services.partners: webhooks may go to http://127.0.0.1 here (deployed: https to public hosts only).
PARTNER_WEBHOOKS_TO_LOOPBACK = "K2K_WEBHOOKS_TO_LOOPBACK"
BACKGROUND_ROUNDS = 20
# In the background, the schedules are listed this often (each drain round lists them).
SCHEDULE_LISTING_SECONDS = 2.0
# How long stop() waits for a background round to end before it goes on without it.
STOP_WAIT_SECONDS = 1.0


class DrainError(RuntimeError):
    """Events were still flowing after max_rounds: a poison message with no DLQ, or a loop."""

    def __init__(self, message: str, stats: DrainStats) -> None:
        super().__init__(message)
        self.stats = stats


class DrainStats(Counter[str]):
    """Invocations per function during one drain; `rounds` it took to go quiet."""

    rounds: int = 0


class LocalCloud:
    def __init__(self, template_path: str | Path = "template.yaml", *, mode: Mode = "inprocess",
                 port: int = 0, moto_port: int = 0, host: str = "127.0.0.1",
                 parameter_overrides: dict[str, str] | None = None) -> None:
        if mode not in ("inprocess", "server"):
            raise ValueError(f"mode must be 'inprocess' or 'server', not {mode!r}")
        self.template: Template = load(template_path, parameter_overrides)
        self.mode = mode
        self.host = host
        self.port = port
        self.moto_port = moto_port
        self.faults = Faults()
        self.clock_offset = 0.0
        self.invocations: Counter[str] = Counter()
        self.base_url = ""
        self.moto_endpoint: str | None = None
        self.resources = Provisioned()
        self._recorder = CallRecorder(self.faults)
        self._saved_env: dict[str, str | None] = {}
        self._emulator: Emulator | None = None
        self._session: Any = None
        self._own: boto3.Session | None = None
        self._gateway: Gateway | None = None
        self._pollers: list[SqsPoller | StreamPoller] = []
        self._schedules: SchedulePoller | None = None
        self._poll_lock = threading.Lock()
        self._background: threading.Thread | None = None
        self._stop_background = threading.Event()
        self._started = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LocalCloud:
        if self._started:
            raise RuntimeError("this LocalCloud is already started")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self._started = True
        env = functions.shared_environment(self.template)  # fail before touching anything
        self._set_env(FAKE_AWS_ENV)
        self._set_env({key: None for key in UNSET_AWS_ENV})
        self._emulator = emulator = Emulator(self.mode, self.host, self.moto_port)
        self.moto_endpoint = emulator.start()
        if self.moto_endpoint:
            self._set_env({"AWS_ENDPOINT_URL": self.moto_endpoint})  # every client, and the AWS CLI
        functions.add_to_path(self.template.layer_paths)
        # The call hook goes on the default session before any client exists: clients copy its handlers.
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session(botocore_session=_core_session())
        self._session = boto3.DEFAULT_SESSION
        self._recorder.install(self._session.events)
        emulator.serialize(self._session.events)
        self._reset_layer_clients()
        # The local cloud's own clients (provisioning, pollers, tests) use another session: never counted.
        self._own = boto3.Session(botocore_session=_core_session(), region_name=REGION)
        emulator.serialize(self._own.events)
        self.resources = provision(self.template, self._own)
        self._set_env(env)
        self._set_env({PARTNER_WEBHOOKS_TO_LOOPBACK: "true"})  # tests' webhook receivers listen on 127.0.0.1
        self.clock_offset = 0.0
        self._set_env({CLOCK_OFFSET_ENV: "0"})
        isolation.install()  # concurrent requests must not share Powertools' current event
        self._pollers = self._make_pollers()
        self._schedules = SchedulePoller(
            self.client("scheduler"), self.client("events"), self.client("sqs"),
            {fn.arn: lid for lid, fn in self.template.functions.items()}, self._call, self.now,
            emulator.schedules_version)
        self._gateway = Gateway(self.template.routes, self._call, stage=self._stage(),
                                openapi=self._openapi, binary_media_types=self._binary_media_types())
        self.base_url = self._gateway.serve(self.host, self.port)
        if self.mode == "server":
            # `make run` exits with a day's worth of emulator state: collecting it at exit takes seconds
            # (Ctrl-C would seem ignored), and the OS frees it anyway.
            atexit.register(gc.freeze)
        log.info("local cloud up: API %s, emulator %s", self.base_url, self.moto_endpoint or "in-process")

    def stop(self) -> None:
        """Undo start(): background pollers, gateway, emulator, call hook and environment."""
        self.stop_background()
        if self._gateway is not None:
            self._gateway.shutdown()
            self._gateway = None
        isolation.uninstall()
        if self._session is not None:
            CallRecorder.uninstall(self._session.events)
            if self._emulator is not None:
                self._emulator.unserialize(self._session.events)
            self._session = None
        if self._emulator is not None:
            self._emulator.stop()
            self._emulator = None
        self.moto_endpoint = None
        for key, value in reversed(list(self._saved_env.items())):
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()
        self._reset_layer_clients()
        self._pollers = []
        self._schedules = None
        self._own = None
        self._started = False

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ functions
    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        """Call a function's handler with event (through JSON) and a Lambda context, as Lambda would."""
        spec = self.template.functions.get(logical_id)
        if spec is None:
            raise KeyError(f"no function {logical_id} in the template")
        payload = functions.as_json(event, "the event")
        with functions.environment(spec) as handler:
            crash_at = self.faults.crash_after.pop(logical_id, None)
            self.invocations[logical_id] += 1
            with self._recorder.invocation(logical_id, crash_at):
                result = handler(payload, functions.LambdaContext.for_function(spec))
        return functions.as_json(result, f"{logical_id}'s response")

    def _call(self, logical_id: str, event: dict[str, Any]) -> Any:
        # Late-bound, so a test can wrap cloud.invoke to watch what the gateway and pollers deliver.
        return self.invoke(logical_id, event)

    def load_functions(self) -> dict[str, Exception]:
        """Import every handler now; those that fail, with why (otherwise each loads on its first call)."""
        failed: dict[str, Exception] = {}
        for lid, spec in self.template.functions.items():
            try:
                functions.handler_of(spec)
            except Exception as e:
                failed[lid] = e
        return failed

    @property
    def gateway(self) -> Gateway | None:
        """The API gateway serving base_url while started; None before start() and after stop()."""
        return self._gateway

    @property
    def aws_calls(self) -> CallCounts:
        """AWS API calls per function and "service.Operation"; reset with cloud.aws_calls.reset()."""
        return self._recorder.counts

    @property
    def crashes(self) -> list[Crash]:
        """The crash_after faults that fired: function, call number, operation."""
        return self._recorder.crashes

    @property
    def injected(self) -> list[Injected]:
        """The injected AWS errors (faults.inject) that fired: function, fault, operation."""
        return self._recorder.injected

    # ------------------------------------------------------------------ events
    def drain(self, max_rounds: int = 200) -> DrainStats:
        """Poll every stream, then every queue, until a round delivers nothing; invocations per function."""
        stats = DrainStats()
        with self._poll_lock:
            for done in range(1, max_rounds + 1):
                before = self.invocations.copy()
                delivered = self._round()
                stats.update(self.invocations - before)
                stats.rounds = done
                if not delivered:
                    return stats
        raise DrainError(f"events still flowing after {max_rounds} rounds: {dict(stats)}", stats)

    def _round(self, discover_schedules: bool = True) -> int:
        """Schedules that are due, then streams, then queues: each feeds the next within one round."""
        fired = self._schedules.poll(discover_schedules) if self._schedules is not None else 0
        streams = [p for p in self._pollers if isinstance(p, StreamPoller)]
        queues = [p for p in self._pollers if isinstance(p, SqsPoller)]
        pollers: list[StreamPoller | SqsPoller] = [*streams, *queues]
        return fired + sum(p.poll() for p in pollers)

    def _stream_advanced(self, stream_arn: str) -> None:
        """moto keeps every stream record; once every mapping on a stream is past one, it is dropped."""
        consumed = [p.consumed_through() for p in self._pollers
                    if isinstance(p, StreamPoller) and p.stream_arn == stream_arn]
        known = [c for c in consumed if c is not None]
        if self._emulator is not None and known and len(known) == len(consumed):
            self._emulator.forget_stream_records(stream_arn, min(known))

    def start_background(self, interval: float = 0.2) -> None:
        """Poll in a daemon thread (what `make run` does); drain() waits for the current round."""
        if self._background is not None:
            return
        self._stop_background.clear()
        self._background = threading.Thread(target=self._poll_forever, args=(interval,),
                                            name="localcloud-pollers", daemon=True)
        self._background.start()

    def stop_background(self) -> None:
        """Stop polling; a round in progress ends on its own (the thread is a daemon: nobody waits long)."""
        if self._background is not None:
            self._stop_background.set()
            self._background.join(timeout=STOP_WAIT_SECONDS)
            self._background = None

    def _poll_forever(self, interval: float) -> None:
        # SAM Schedule events (rate only), in real time; EventBridge Scheduler schedules are in _round.
        timers = {(s.function, s.event): (_rate_seconds(s.expression), time.monotonic())
                  for fn in self.template.functions.values() for s in fn.schedules if s.enabled}
        listed = 0.0
        while not self._stop_background.is_set():
            try:
                with self._poll_lock:
                    discover = time.monotonic() - listed >= SCHEDULE_LISTING_SECONDS
                    listed = time.monotonic() if discover else listed
                    for done in range(BACKGROUND_ROUNDS):  # bounded, so a poison message cannot hold the lock
                        if self._stop_background.is_set() or not self._round(discover and done == 0):
                            break
                    timers = self._fire_rate_events(timers)
            except Exception:
                log.exception("background polling round failed")
            self._stop_background.wait(interval)

    def _fire_rate_events(self, due: dict[tuple[str, str], tuple[float | None, float]],
                          ) -> dict[tuple[str, str], tuple[float | None, float]]:
        now = time.monotonic()
        for (function, event_name), (every, last) in list(due.items()):
            if every is None or now - last < every:
                continue
            due[(function, event_name)] = (every, now)
            event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
                     "source": "aws.events", "account": ACCOUNT_ID, "region": REGION,
                     "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{function}-{event_name}"],
                     "detail": {}}
            try:
                self.invoke(function, event)
            except Exception:
                log.exception("scheduled %s.%s failed", function, event_name)
        return due

    # ------------------------------------------------------------------ time
    def now(self) -> datetime:
        """The application's time: the system clock plus what advance() added."""
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset)

    def sweep_ttl(self) -> int:
        """What DynamoDB's TTL does in its own time, now: delete the items whose TTL attribute is past by the
        application's clock (moto keeps expired items). Called by tests that need the sweep to have run;
        DynamoDB sweeps lazily, so the application must also cope with expired items still there."""
        ddb, deleted = self.client("dynamodb"), 0
        for name in self.resources.tables.values():
            ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            if ttl.get("TimeToLiveStatus") != "ENABLED":
                continue
            attribute, now = ttl["AttributeName"], int(self.now().timestamp())
            key_names = [k["AttributeName"] for k in ddb.describe_table(TableName=name)["Table"]["KeySchema"]]
            for page in ddb.get_paginator("scan").paginate(TableName=name, FilterExpression="#t < :now",
                                                            ExpressionAttributeNames={"#t": attribute},
                                                            ExpressionAttributeValues={":now": {"N": str(now)}}):
                for item in page["Items"]:
                    ddb.delete_item(TableName=name, Key={k: item[k] for k in key_names})
                    deleted += 1
        return deleted

    def advance(self, by: float | timedelta) -> datetime:
        """Move the application's clock forward (cart timers, aging); due schedules fire on the next drain."""
        seconds = by.total_seconds() if isinstance(by, timedelta) else float(by)
        if seconds < 0:
            raise ValueError("time only moves forward")
        self.clock_offset += seconds
        self._set_env({CLOCK_OFFSET_ENV: repr(self.clock_offset)})
        return self.now()

    # ------------------------------------------------------------------ helpers for tests
    def client(self, service: str) -> Any:
        """A boto3 client on the emulator; its calls are the test's, not counted in aws_calls."""
        if self._own is None:
            raise RuntimeError("start() the local cloud first")
        kwargs: dict[str, Any] = {"region_name": REGION}
        if service == "dynamodbstreams":
            # boto3 1.44 resolves streams to account-based endpoints that moto does not route in-process.
            kwargs["config"] = Config(account_id_endpoint_mode="disabled")
        return self._own.client(service, **kwargs)

    def name(self, logical_id: str) -> str:
        """A resource's physical name (table, bus, bucket, queue...)."""
        return self.template.physical_name(logical_id)

    def queue_url(self, logical_id: str) -> str:
        url = self.resources.queues.get(logical_id)
        if url is None:
            raise KeyError(f"no queue {logical_id} in the template")
        return url

    def queue_depth(self, logical_id: str) -> int:
        """Messages in a queue, visible or in flight (e.g. to assert a DLQ is empty)."""
        attrs = self.client("sqs").get_queue_attributes(
            QueueUrl=self.queue_url(logical_id),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def reset_counters(self) -> None:
        self.invocations.clear()
        self._recorder.reset()

    # ------------------------------------------------------------------ internals
    def _set_env(self, values: Mapping[str, str | None]) -> None:
        for key, value in values.items():
            if key not in self._saved_env:
                self._saved_env[key] = os.environ.get(key)
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def _reset_layer_clients(self) -> None:
        """The layer caches clients per endpoint; they must be recreated after the hook and the emulator."""
        if "k2k.aws" not in sys.modules:
            try:
                importlib.import_module("k2k.aws")
            except ImportError:
                return
        reset = getattr(sys.modules["k2k.aws"], "reset_clients", None)
        if callable(reset):
            reset()

    def _make_pollers(self) -> list[SqsPoller | StreamPoller]:
        sqs = self.client("sqs")
        streams = self.client("dynamodbstreams")
        emulator = self._emulator
        assert emulator is not None, "the pollers read the started emulator's state"
        pollers: list[SqsPoller | StreamPoller] = []
        for fn in self.template.functions.values():
            for stream in fn.streams:
                arn = self.resources.stream_arns.get(stream.table_name)
                if arn is None:
                    raise TemplateError(f"{fn.logical_id}.{stream.event}: table {stream.table} has no stream")
                if stream.enabled:
                    pollers.append(StreamPoller(stream, fn, arn, streams, sqs, self._call, self.faults,
                                                self._stream_advanced, functools.partial(emulator.stream_ends, arn)))
            for source in fn.sqs:
                if source.enabled:
                    url = self.queue_url(source.queue)
                    pollers.append(SqsPoller(source, url, sqs, self._call, self.faults,
                                             functools.partial(emulator.queue_has_visible, url)))
        return pollers

    def _api_property(self, name: str) -> Any:
        for lid in self.template.of_type("AWS::Serverless::Api"):
            value = self.template.raw_properties(lid).get(name)
            if value is not None:
                return self.template.resolve(value)
        return None

    def _stage(self) -> str:
        return str(self._api_property("StageName") or "Prod")

    def _binary_media_types(self) -> list[str]:
        return [str(t) for t in self._api_property("BinaryMediaTypes") or []]

    def _openapi(self) -> dict[str, Any] | None:
        """The committed docs/openapi.json; built from the handlers when there is none yet."""
        committed = self.template.root / "docs" / "openapi.json"
        if committed.is_file():
            loaded: dict[str, Any] = json.loads(committed.read_text())
            return loaded
        from infra import openapi

        try:
            return openapi.build(self.template).document
        except Exception:
            log.exception("could not build the OpenAPI document")
            return None


@functools.cache
def _shared_loader() -> botocore.loaders.Loader:
    """One botocore model loader for every session of the process: parsing the models is most of a start."""
    return botocore.loaders.create_loader()


def _core_session() -> botocore.session.Session:
    core = botocore.session.get_session()
    core.register_component("data_loader", _shared_loader())
    return core


def _rate_seconds(expression: str) -> float | None:
    found = re.fullmatch(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)", expression.strip())
    if found is None:
        log.info("schedule %s is not run locally (only rate(...) is)", expression)
        return None
    unit = {"minute": 60, "hour": 3600, "day": 86400}[found.group(2).rstrip("s")]
    return int(found.group(1)) * unit
