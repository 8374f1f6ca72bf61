"""K2K events: the envelope, the catalogue, and the transactional outbox.

An event is written as an outbox item in the same DynamoDB transaction as the
state change it describes; the relay (functions/event_relay) publishes it to
the bus. detail = {"metadata": {...}, "data": {...}}.
"""

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from k2k import clock, keys, store
from k2k.models import Model
from k2k.observability import correlation_id

OUTBOX_KIND = "OUTBOX"
OUTBOX_TTL = timedelta(days=7)


class EventMetadata(Model):
    event_id: str
    event_version: int = 1
    occurred_at: datetime
    producer_company_id: str
    correlation_id: str
    aggregate_id: str
    aggregate_version: int = Field(ge=0)
    partners: bool | None = Field(default=None, description=(
        "whether a partner subscription of the companies the event concerns asked for it, as its producer "
        "read them (services/partner_audience.py); absent when the producer did not read them"))


@dataclass(frozen=True)
class EventSpec:
    """A catalogue entry: registered by code at import, never parsed, so no pydantic validator to build."""

    source: str
    detail_type: str
    data_model: type[BaseModel]
    description: str


CATALOGUE: dict[str, EventSpec] = {}
M = TypeVar("M", bound=type[BaseModel])


def event_type(source: str, detail_type: str) -> Callable[[M], M]:
    """Register a pydantic model as the data of an event type (source k2k.<context>)."""

    def register(model: M) -> M:
        CATALOGUE[detail_type] = EventSpec(
            source=source, detail_type=detail_type, data_model=model,
            description=(model.__doc__ or "").strip(),
        )
        return model

    return register


class Event(Model):
    source: str
    detail_type: str
    metadata: EventMetadata
    data: dict[str, Any]

    def detail(self) -> dict[str, Any]:
        return {"metadata": self.metadata.model_dump(mode="json", exclude_none=True), "data": self.data}


def new_event(data: BaseModel, *, company_id: str, aggregate_id: str, aggregate_version: int) -> Event:
    spec = next((s for s in CATALOGUE.values() if s.data_model is type(data)), None)
    if spec is None:
        raise LookupError(f"{type(data).__name__} is not a registered event")
    return Event(
        source=spec.source,
        detail_type=spec.detail_type,
        metadata=EventMetadata(
            event_id=str(uuid.uuid4()),
            occurred_at=clock.now(),  # the one clock its consumers judge an event's age by
            producer_company_id=company_id,
            correlation_id=correlation_id(),
            aggregate_id=aggregate_id,
            aggregate_version=aggregate_version,
        ),
        data=data.model_dump(mode="json"),
    )


def outbox(event: Event) -> store.Op:
    """The transaction item that records an event next to its state change."""
    expires = datetime.now(UTC) + OUTBOX_TTL
    return store.put(
        {
            "pk": keys.outbox_pk(event.metadata.producer_company_id),
            "sk": event.metadata.event_id,
            "kind": OUTBOX_KIND,
            "source": event.source,
            "detail_type": event.detail_type,
            "detail": json.dumps(event.detail(), separators=(",", ":")),
            "purge_at": int(expires.timestamp()),
        },
        condition="attribute_not_exists(pk)",
    )


def from_eventbridge(message: dict[str, Any]) -> Event:
    """Parse an EventBridge event (as delivered in an SQS body) and validate its data."""
    detail = message["detail"]
    if isinstance(detail, str):
        detail = json.loads(detail)
    detail_type = message["detail-type"]
    event = Event(source=message["source"], detail_type=detail_type,
                  metadata=EventMetadata.model_validate(detail["metadata"]), data=detail["data"])
    spec = CATALOGUE.get(detail_type)
    if spec is not None:
        spec.data_model.model_validate(event.data)
    return event


def detail_schema(spec: EventSpec) -> dict[str, Any]:
    """JSON schema of an event's detail, as published in infra/schemas."""
    metadata = EventMetadata.model_json_schema()
    data = spec.data_model.model_json_schema()
    # Nested models' definitions live at the root, where their "#/$defs/..." references point.
    defs = {**metadata.pop("$defs", {}), **data.pop("$defs", {})}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": spec.detail_type,
        "description": spec.description,
        "x-source": spec.source,
        "type": "object",
        "required": ["metadata", "data"],
        "properties": {"metadata": metadata, "data": data},
        **({"$defs": defs} if defs else {}),
    }
