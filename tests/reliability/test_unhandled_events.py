"""An event a consumer has no handler for is never acknowledged: it is retried, then dead-lettered where an
alarm watches (the rules and handler tables are tied by tests/unit/test_event_routing.py; this is what
happens if one ever slips through, e.g. a rule widened by hand in the console)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"


def test_an_event_the_availability_projection_has_no_handler_for_ends_in_its_dead_letter_queue(cloud) -> None:
    dead_before = cloud.queue_depth("AvailabilitySyncDLQ")  # the cloud is shared: counted from here
    stray = json.loads((FIXTURES / "CartExpired.json").read_text())  # a real event, routed to the wrong queue
    stray["id"] = str(uuid.uuid4())
    stray["detail"]["metadata"]["event_id"] = str(uuid.uuid4())
    deliveries: list[dict[str, Any]] = []
    invoke = cloud.invoke

    def watching(logical_id: str, event: dict[str, Any]) -> Any:
        if logical_id == "AvailabilitySyncFunction":
            deliveries.extend(r for r in event["Records"] if json.loads(r["body"])["id"] == stray["id"])
        return invoke(logical_id, event)

    cloud.invoke = watching  # the cloud fixture unwraps it
    cloud.client("sqs").send_message(QueueUrl=cloud.queue_url("AvailabilitySyncQueue"), MessageBody=json.dumps(stray))
    cloud.drain()
    assert len(deliveries) == 5  # received and failed each time, up to the queue's maxReceiveCount
    assert cloud.queue_depth("AvailabilitySyncQueue") == 0
    assert cloud.queue_depth("AvailabilitySyncDLQ") == dead_before + 1
