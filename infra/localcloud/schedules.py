"""EventBridge Scheduler, locally: one-time schedules fire once the local clock passes their time.

moto stores schedules but never runs them. K2K uses one-time `at(...)` schedules
(a cart's timer puts CartTimerElapsed on the bus at its expiry), so this poller
fires those whose time has come on the local clock, which tests move forward
(LocalCloud.advance). Targets: an event bus (PutEvents with the target's
EventBridgeParameters, Input as the detail), an SQS queue, or one of the
template's functions. Recurring rate()/cron() schedules are not run.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
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


class SchedulePoller:
    def __init__(self, scheduler: Any, events: Any, sqs: Any, functions_by_arn: dict[str, str],
                 invoke: Callable[[str, dict[str, Any]], Any], now: Callable[[], datetime]) -> None:
        self.scheduler = scheduler
        self.events = events
        self.sqs = sqs
        self.functions_by_arn = functions_by_arn
        self.invoke = invoke
        self.now = now
        self._done: set[tuple[str, str]] = set()  # (schedule ARN, expression) already fired or skipped

    def poll(self) -> int:
        fired = 0
        for page in self.scheduler.get_paginator("list_schedules").paginate(State="ENABLED"):
            for summary in page.get("Schedules", []):
                if (summary["Arn"], "*") in self._done:
                    continue
                schedule = self.scheduler.get_schedule(Name=summary["Name"], GroupName=summary["GroupName"])
                key = (schedule["Arn"], schedule["ScheduleExpression"])
                if key in self._done:
                    continue
                expression = schedule["ScheduleExpression"]
                due = due_time(expression, schedule.get("ScheduleExpressionTimezone", "UTC"))
                if due is None:
                    log.info("schedule %s (%s) is recurring; not run locally",
                             schedule["Name"], schedule["ScheduleExpression"])
                    self._done.add((schedule["Arn"], "*"))
                    continue
                if due > self.now():
                    continue
                self._fire(schedule)
                self._done.add(key)
                if schedule.get("ActionAfterCompletion") == "DELETE":
                    self.scheduler.delete_schedule(Name=schedule["Name"], GroupName=schedule["GroupName"])
                fired += 1
        return fired

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
