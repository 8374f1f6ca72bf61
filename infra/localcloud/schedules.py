"""EventBridge Scheduler, locally: one-time schedules fire once the local clock passes their time.

moto stores schedules but never runs them. K2K uses one-time `at(...)` schedules
(a cart's timer puts CartTimerElapsed on the bus at its expiry), so this poller
fires those whose time has come on the local clock, which tests move forward
(LocalCloud.advance), and deletes them after firing when ActionAfterCompletion is
DELETE, as EventBridge Scheduler does. Targets: an event bus (PutEvents with the
target's EventBridgeParameters, Input as the detail), an SQS queue, or one of
the template's functions. Recurring rate()/cron() schedules are not run.

Listing the schedules is what costs, so the poller remembers the due time of
each one-time schedule it has seen and lists again only when asked: every drain
round, but in the background only every few seconds (Scheduler itself fires
within about a minute of the time). Given the emulator's `version` of the
schedules (it changes with any create, update or delete), it also skips a
listing that could find nothing new.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from infra.localcloud.faults import SimulatedCrash

log = logging.getLogger("localcloud.schedules")

AT = re.compile(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)")


def due_time(expression: str, timezone: str = "UTC") -> datetime | None:
    """When a one-time schedule fires; None for recurring ones."""
    found = AT.fullmatch(expression.strip())
    if found is None:
        return None
    return datetime.fromisoformat(found.group(1)).replace(tzinfo=ZoneInfo(timezone or "UTC"))


@dataclass
class _Pending:
    """A one-time schedule not fired yet, as of its last modification."""

    name: str
    group: str
    due: datetime
    modified: Any


class SchedulePoller:
    """Fires due one-time schedules; learns of new ones only when asked to discover (a listing).

    What it keeps is what can still fire: a schedule is forgotten once fired (and deleted, with
    ActionAfterCompletion DELETE), or when it is gone from the emulator (cancelled). A recurring or
    completed-but-kept schedule is only remembered by its last modification, so it is not fetched again.
    """

    def __init__(self, scheduler: Any, events: Any, sqs: Any, functions_by_arn: dict[str, str],
                 invoke: Callable[[str, dict[str, Any]], Any], now: Callable[[], datetime],
                 version: Callable[[], Hashable] = lambda: None) -> None:
        self.scheduler = scheduler
        self.events = events
        self.sqs = sqs
        self.functions_by_arn = functions_by_arn
        self.invoke = invoke
        self.now = now
        self.version = version  # of the emulator's schedules (None: unknown, so list every time)
        self._listed: Hashable = None  # the version the last listing saw
        self._pending: dict[str, _Pending] = {}  # by schedule ARN
        self._passive: dict[str, Any] = {}  # ARN -> last modification of a recurring or completed schedule

    def poll(self, discover: bool = True) -> int:
        """Fire what is due on the local clock; first list the schedules when `discover`."""
        if discover:
            self._discover()
        now = self.now()
        fired = 0
        for arn, pending in list(self._pending.items()):
            if pending.due <= now:
                del self._pending[arn]
                fired += self._fire_once(arn, pending)
        return fired

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _discover(self) -> None:
        version = self.version()
        if version is not None and version == self._listed:
            return
        listed = set()
        for page in self.scheduler.get_paginator("list_schedules").paginate(State="ENABLED"):
            for summary in page.get("Schedules", []):
                arn, modified = summary["Arn"], summary.get("LastModificationDate")
                listed.add(arn)
                known = self._pending.get(arn)
                if (known is not None and known.modified == modified) or (
                        arn in self._passive and self._passive[arn] == modified):
                    continue
                schedule = self._get(summary["Name"], summary["GroupName"])
                if schedule is None:
                    continue
                due = due_time(schedule["ScheduleExpression"], schedule.get("ScheduleExpressionTimezone", "UTC"))
                if due is None:
                    log.info("schedule %s (%s) is recurring; not run locally",
                             schedule["Name"], schedule["ScheduleExpression"])
                    self._pending.pop(arn, None)
                    self._passive[arn] = modified
                    continue
                self._passive.pop(arn, None)
                self._pending[arn] = _Pending(schedule["Name"], schedule["GroupName"], due, modified)
        for gone in set(self._pending) - listed:  # deleted or disabled: it will not fire
            del self._pending[gone]
        for gone in set(self._passive) - listed:
            del self._passive[gone]
        self._listed = version

    def _get(self, name: str, group: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.scheduler.get_schedule(Name=name, GroupName=group)
        except self.scheduler.exceptions.ResourceNotFoundException:
            return None  # deleted since it was listed
        return found

    def _fire_once(self, arn: str, pending: _Pending) -> int:
        schedule = self._get(pending.name, pending.group)
        if schedule is None or schedule.get("State", "ENABLED") != "ENABLED":
            return 0
        self._fire(schedule)
        if schedule.get("ActionAfterCompletion") == "DELETE":
            self._delete(pending)
        else:  # a completed one-time schedule stays, and does not fire again unless it is updated
            self._passive[arn] = schedule.get("LastModificationDate")
        return 1

    def _delete(self, pending: _Pending) -> None:
        with contextlib.suppress(self.scheduler.exceptions.ResourceNotFoundException):
            self.scheduler.delete_schedule(Name=pending.name, GroupName=pending.group)

    def _fire(self, schedule: dict[str, Any]) -> None:
        target = schedule["Target"]
        arn, payload = target["Arn"], target.get("Input", "{}")
        if ":events:" in arn and ":event-bus/" in arn:
            params = target.get("EventBridgeParameters") or {}
            out = self.events.put_events(Entries=[{
                "Source": params.get("Source", "aws.scheduler"),
                "DetailType": params.get("DetailType", "Scheduled Event"),
                "Detail": payload, "EventBusName": arn}])
            if out.get("FailedEntryCount"):
                log.error("schedule %s: PutEvents failed: %s", schedule["Name"], out["Entries"])
        elif ":sqs:" in arn:
            url = self.sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"]
            group = (target.get("SqsParameters") or {}).get("MessageGroupId")
            extra = {"MessageGroupId": group} if group else {}
            self.sqs.send_message(QueueUrl=url, MessageBody=payload, **extra)
        elif arn in self.functions_by_arn:
            try:
                self.invoke(self.functions_by_arn[arn], json.loads(payload))
            except (Exception, SimulatedCrash):  # an async invocation: nobody waits for it
                log.exception("schedule %s: %s failed", schedule["Name"], self.functions_by_arn[arn])
        else:
            log.warning("schedule %s targets %s, which is not emulated", schedule["Name"], arn)
