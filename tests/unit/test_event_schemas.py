"""Event schemas are code: the committed schemas, the fixtures and the consumers agree."""

import json
from pathlib import Path

import fastjsonschema
import pytest
from jsonschema import Draft4Validator, ValidationError

from infra import schemas
from infra.localcloud.template import parse
from k2k.event_catalogue import all_events
from k2k.events import from_eventbridge
from k2k.partners import RECIPIENTS

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


# -- the schema registry (infra/schema-registry.yaml, a nested stack of template.yaml) ---------------

def _registry() -> dict:
    return parse(schemas.REGISTRY.read_text())["Resources"]


def _registered(detail_type: str) -> dict:
    schema = next(r["Properties"] for r in _registry().values() if r["Type"] == "AWS::EventSchemas::Schema"
                  and r["Properties"]["SchemaName"].endswith(f"@{detail_type}"))
    assert schema["Type"] == "JSONSchemaDraft4"
    return json.loads(schema["Content"])


def test_the_template_deploys_a_registry_of_every_event_partners_receive():
    nested = parse((schemas.ROOT / "template.yaml").read_text())["Resources"]["EventSchemaRegistry"]
    assert nested["Type"] == "AWS::Serverless::Application"
    assert (schemas.ROOT / nested["Properties"]["Location"]) == schemas.REGISTRY
    names = {r["Properties"]["SchemaName"] for r in _registry().values() if r["Type"] == "AWS::EventSchemas::Schema"}
    assert names == {f"{all_events()[t].source}@{t}" for t in RECIPIENTS}


@pytest.mark.parametrize("detail_type", sorted(RECIPIENTS))
def test_registered_schemas_are_draft4_and_accept_the_whole_event(detail_type):
    schema = _registered(detail_type)
    Draft4Validator.check_schema(schema)
    message = json.loads((FIXTURES / f"{detail_type}.json").read_text())
    Draft4Validator(schema).validate(message)  # the envelope a rule's target receives, detail included
    fastjsonschema.compile(schema)(message)


def test_a_registered_schema_catches_a_wrong_field():
    message = json.loads((FIXTURES / "InventoryLineChanged.json").read_text())
    message["detail"]["data"]["boxes_on_hand"] = "twelve"
    with pytest.raises(ValidationError):
        Draft4Validator(_registered("InventoryLineChanged")).validate(message)


def test_draft4_says_the_same_as_draft7():
    draft7 = {"$defs": {"A": {"const": "x"}}, "properties": {"const": {"$ref": "#/$defs/A"},
              "n": {"type": "number", "exclusiveMinimum": 0}}}
    assert schemas.draft4(draft7) == {"definitions": {"A": {"enum": ["x"]}}, "properties": {
        "const": {"$ref": "#/definitions/A"}, "n": {"type": "number", "minimum": 0, "exclusiveMinimum": True}}}
