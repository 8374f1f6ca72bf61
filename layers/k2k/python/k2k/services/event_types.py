"""The published event catalogue: what partners can receive, with the JSON schema of each detail."""

from typing import Any

from k2k.errors import NotFound
from k2k.models import Model
from k2k.partners import INTERNAL, RECIPIENTS


class EventType(Model):
    detail_type: str
    source: str
    description: str
    received_by: str
    schema_path: str


class Catalogue(Model):
    """Every event type a partner can receive (a fixed catalogue, not a list that grows: not paged)."""

    event_types: list[EventType]


def catalogue() -> Catalogue:
    from k2k.event_catalogue import all_events  # every domain model: only this route needs them

    return Catalogue(event_types=[EventType(detail_type=name, source=spec.source, description=spec.description,
                      received_by=RECIPIENTS[name].why, schema_path=f"/integrations/event-types/{name}")
            for name, spec in all_events().items() if name in RECIPIENTS and name not in INTERNAL])


def schema(detail_type: str) -> dict[str, Any]:
    """The detail's JSON schema, as committed in infra/schemas (generated from the same models)."""
    from k2k.event_catalogue import all_events
    from k2k.events import detail_schema

    spec = all_events().get(detail_type)
    if spec is None or detail_type not in RECIPIENTS:
        raise NotFound(f"no event type {detail_type} is published")
    return detail_schema(spec)
