"""The outbox relay: publish outbox items from the table's stream to the bus.

At least once: a failed PutEvents entry is retried; if it still fails, the
record is reported as a batch item failure so Lambda retries from there (and
after the template's retry limit, sends it to the relay's DLQ). Consumers are
idempotent, so a duplicate publish is harmless.
"""

from __future__ import annotations

import json
import time
from typing import Any

from k2k.events import OUTBOX_KIND
from k2k.store import deserialize

MAX_ENTRIES = 10
ATTEMPTS = 4


def outbox_records(records: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(sequence number, outbox item) for each newly inserted outbox item, in stream order."""
    found = []
    for record in records:
        if record.get("eventName") != "INSERT":
            continue
        image = record.get("dynamodb", {}).get("NewImage")
        if not image:
            continue
        item = deserialize(image)
        if item.get("kind") == OUTBOX_KIND:
            found.append((record["dynamodb"]["SequenceNumber"], item))
    return found


def entry(item: dict[str, Any], bus_name: str) -> dict[str, Any]:
    detail = json.loads(item["detail"])
    return {
        "Source": item["source"],
        "DetailType": item["detail_type"],
        "Detail": item["detail"],
        "EventBusName": bus_name,
        "Resources": [f"k2k:{detail['metadata']['producer_company_id']}:{detail['metadata']['aggregate_id']}"],
    }


def publish(records: list[dict[str, Any]], events_client: Any, bus_name: str) -> dict[str, Any]:
    """Publish in stream order; stop at the first record that cannot be published."""
    pending = outbox_records(records)
    for start in range(0, len(pending), MAX_ENTRIES):
        chunk = pending[start : start + MAX_ENTRIES]
        todo = list(range(len(chunk)))
        for attempt in range(ATTEMPTS):
            out = events_client.put_events(Entries=[entry(chunk[i][1], bus_name) for i in todo])
            todo = [i for i, res in zip(todo, out["Entries"], strict=True) if res.get("ErrorCode")]
            if not todo:
                break
            time.sleep(0.05 * 2**attempt)
        if todo:
            # Checkpoint at the first unpublished record: Lambda resends it and everything after.
            first = min(todo)
            return {"batchItemFailures": [{"itemIdentifier": chunk[first][0]}]}
    return {"batchItemFailures": []}
