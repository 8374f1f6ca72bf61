"""Event schemas are code: the committed schemas, the fixtures and the consumers agree."""

import json
from pathlib import Path

import fastjsonschema
import pytest

from infra import schemas
from k2k.event_catalogue import all_events
from k2k.events import from_eventbridge

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "events"


def test_committed_schemas_match_the_models():
    assert schemas.main(["--check"]) == 0, "run `make schemas` and commit infra/schemas"


def test_every_event_type_has_a_fixture():
    assert {p.stem for p in FIXTURES.glob("*.json")} >= set(all_events())


@pytest.mark.parametrize("fixture", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_fixtures_follow_the_published_schema_and_consumers_parse_them(fixture):
    message = json.loads(fixture.read_text())
    schema = json.loads((schemas.SCHEMAS / f"{message['detail-type']}.json").read_text())
    fastjsonschema.compile(schema)(message["detail"])  # raises on drift
    event = from_eventbridge(message)  # what every consumer does first
    spec = all_events()[event.detail_type]
    assert event.source == spec.source
    assert spec.data_model.model_validate(event.data) is not None


def test_a_fixture_with_a_wrong_field_is_caught():
    message = json.loads((FIXTURES / "InventoryLineChanged.json").read_text())
    message["detail"]["data"]["boxes_on_hand"] = "twelve"
    schema = json.loads((schemas.SCHEMAS / "InventoryLineChanged.json").read_text())
    with pytest.raises(fastjsonschema.JsonSchemaException):
        fastjsonschema.compile(schema)(message["detail"])
