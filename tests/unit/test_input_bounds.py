"""Validation at the edge, once (k2k.bounds): the rules, their words, and a proof over the whole API
that every request body refuses unknown fields and bounds every value, and every query and path
parameter is bounded (an absurd id is a 422, never a DynamoDB key past its limits).

The last test reads the committed OpenAPI document, so a new route or field is covered without anyone
writing a test for it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from k2k import bounds, pricing
from k2k.inventory import InventoryLine, LinePatch
from k2k.network import CompanySettings, CompanySettingsIn

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


@pytest.mark.parametrize("address", [
    "accounts@petal.example", "Accounts.Payable+k2k@petal-stem.co.uk", "o'brien@flowers.example",
    "a@b.io", "x_y-z@sub.domain.example"])
def test_addresses_ses_delivers_to_are_emails(address: str) -> None:
    assert bounds.is_email(address)


@pytest.mark.parametrize("address", [
    "purchasing at petal", "sales@@rosaflor", "@petal.example", "accounts@", "accounts@petal",
    "accounts@petal..example", "accounts@-petal.example", ".accounts@petal.example", "acc..ounts@petal.example",
    "accounts@petal.example ", "accounts@pétal.example", "José@petal.example", "a" * 65 + "@petal.example",
    "a@" + "b" * 250 + ".example", "accounts@petal.123", "Name <accounts@petal.example>"])
def test_anything_else_is_not(address: str) -> None:
    assert not bounds.is_email(address)


def test_time_zones_come_from_the_iana_database() -> None:
    assert bounds.is_timezone("America/New_York") and bounds.is_timezone("America/Bogota")
    for name in ("Mars/Olympus", "", "../../etc/passwd", "America/New York", "x" * 300, "localtime"):
        assert not bounds.is_timezone(name)


def test_a_time_zone_stored_before_the_check_reads_as_the_default_not_a_crash() -> None:
    noon = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)
    assert pricing.local_now("Mars/Olympus", noon) == pricing.local_now(bounds.DEFAULT_TIMEZONE, noon)
    assert pricing.local_now("America/Bogota", noon).hour == 12


def test_a_count_is_a_whole_number_not_a_boolean_a_string_or_a_fraction() -> None:
    patch = LinePatch.model_validate({"boxes_on_hand": 7})
    assert patch.boxes_on_hand == 7
    for value in (True, "7", 7.5, 7.0):
        with pytest.raises(ValidationError) as refused:
            LinePatch.model_validate({"boxes_on_hand": value})
        assert bounds.problems(refused.value) == [{"field": "boxes_on_hand", "message": "must be a whole number"}]


def test_money_is_finite_non_negative_with_three_decimals_at_most_and_never_absurd() -> None:
    assert LinePatch.model_validate({"price": "0.355"}).price == D("0.355")
    assert LinePatch.model_validate({"price": 0.35}).price == D("0.35")
    said = {}
    for value in (float("inf"), "NaN", "-0.01", "0.3555", "100000.001", True):
        with pytest.raises(ValidationError) as refused:
            LinePatch.model_validate({"price": value})
        [problem] = bounds.problems(refused.value)
        said[str(value)] = problem["message"]
    assert said == {"inf": "must be a finite number", "NaN": "must be a finite number",
                    "-0.01": "must be at least 0", "0.3555": "must have at most 3 decimals",
                    "100000.001": "must be at most 100000", "True": "must be a decimal number"}


def test_a_request_refuses_an_unknown_field_and_a_stored_document_keeps_what_it_does_not_know() -> None:
    with pytest.raises(ValidationError) as refused:
        LinePatch.model_validate({"prize": "0.5"})
    assert bounds.problems(refused.value, ("body",)) == [{"field": "body.prize", "message": "unknown field"}]
    # An imported line carries where its boxes came from; reading it must not fail on that.
    stored = {"line_id": "l1", "vendor_company_id": "rosaflor", "box_code": "FR50HB", "product": "Rose",
              "bunches_per_box": D(10), "boxes_on_hand": D(3), "location": "MIA", "version": D(1),
              "updated_at": "2026-12-02T10:00:00+00:00", "vendor_code": "FARM1", "import_job_id": "j1"}
    assert InventoryLine.model_validate(stored).boxes_on_hand == 3


def test_settings_check_addresses_and_zones_when_set_not_when_read() -> None:
    with pytest.raises(ValidationError) as refused:
        CompanySettingsIn.model_validate({"notification_emails": ["ok@petal.example", "purchasing at petal"],
                                          "timezone": "Mars/Olympus"})
    assert bounds.problems(refused.value, ("body", "settings")) == [
        {"field": "body.settings.notification_emails.1", "message": "not an email address (name@example.com)"},
        {"field": "body.settings.timezone",
         "message": "not a time zone of the IANA database (e.g. America/New_York)"}]
    # What the table already holds still loads: the consumers skip or default it (see the e2e tests).
    stored = CompanySettings.model_validate({"notification_emails": ["purchasing at petal"],
                                             "timezone": "Mars/Olympus", "retired_setting": True})
    assert stored.timezone == "Mars/Olympus"


def test_errors_are_in_the_trades_words_with_nothing_of_the_library() -> None:
    samples: list[dict[str, Any]] = [
        {"type": "missing", "loc": ("body", "boxes"), "msg": "Field required"},
        {"type": "greater_than_equal", "loc": ("body", "boxes"), "msg": "Input should be >= 1", "ctx": {"ge": 1}},
        {"type": "string_too_long", "loc": ("body", "location"), "msg": "x", "ctx": {"max_length": 20}},
        {"type": "enum", "loc": ("body", "box_type"), "msg": "x", "ctx": {"expected": "'EB', 'QB', 'HB' or 'FB'"}},
        {"type": "json_invalid", "loc": ("body", 1), "msg": "JSON decode error", "ctx": {"error": "Expecting"}},
        {"type": "some_new_pydantic_type", "loc": ("query", "limit"), "msg": "Input should be something"},
    ]
    assert bounds.problems(samples) == [
        {"field": "body.boxes", "message": "required"},
        {"field": "body.boxes", "message": "must be at least 1"},
        {"field": "body.location", "message": "must be at most 20 characters"},
        {"field": "body.box_type", "message": "must be one of 'EB', 'QB', 'HB' or 'FB'"},
        {"field": "body", "message": "is not valid JSON"},
        {"field": "query.limit", "message": "is not valid"},
    ]


def test_a_value_error_no_rule_caught_answers_422_without_its_text() -> None:
    """A ValueError that reaches the error map speaks a library's or our code's words (a key, a table, a
    conversion): the client reads that its request could not be used, and the text goes to the log."""
    from k2k.api import create_resolver, handle

    app = create_resolver()

    @app.get("/staging")
    def staging() -> dict[str, str]:
        raise ValueError("invalid literal for int() with base 10: 'C#bloom#PO#7' (table k2k-prod-Table)")

    event = {"resource": "/staging", "path": "/staging", "httpMethod": "GET", "headers": {}, "body": None,
             "requestContext": {"requestId": "r1", "authorizer": {"claims": {
                 "sub": "u1", "custom:company_id": "bloom", "cognito:groups": "Admin"}}}}
    out = handle(app, event, None)
    assert out["statusCode"] == 422
    assert json.loads(out["body"]) == {"error": {"code": "invalid",
                                                 "message": "a value in the request cannot be used here"}}
    assert "C#bloom" not in out["body"] and "k2k-prod" not in out["body"]


# -- the whole API, from its committed document -------------------------------------------------------

UNBOUNDED_STRING_FORMATS = {"date", "date-time", "partial-time", "time"}  # bounded by their form


def _unbounded(schema: dict[str, Any], schemas: dict[str, Any], where: str, seen: set[str]) -> list[str]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        return _unbounded(schemas[name], schemas, f"{where}<{name}>", seen | {name})
    out: list[str] = []
    parts = schema.get("anyOf", [])
    if any(p.get("type") == "number" for p in parts) and {"type": "string"} in parts:
        # A Decimal: a JSON number or the same number as a string, parsed and held to the number's bounds.
        parts = [p for p in parts if p != {"type": "string"}]
    for part in [*parts, *schema.get("oneOf", []), *schema.get("allOf", [])]:
        out += _unbounded(part, schemas, where, seen)
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        if properties and extra is not False:
            out.append(f"{where}: unknown fields are not refused")
        if isinstance(extra, dict):
            if "maxProperties" not in schema:
                out.append(f"{where}: a map with no maxProperties")
            out += _unbounded(extra, schemas, f"{where}.*", seen)
        for name, sub in properties.items():
            out += _unbounded(sub, schemas, f"{where}.{name}", seen)
    elif kind == "array":
        if "maxItems" not in schema:
            out.append(f"{where}: a list with no maxItems")
        out += _unbounded(schema.get("items", {}), schemas, f"{where}[]", seen)
    elif kind == "string":
        bounded = "maxLength" in schema or "enum" in schema or "const" in schema  # const: a Literal, e.g. a kind
        if not bounded and schema.get("format") not in UNBOUNDED_STRING_FORMATS:
            out.append(f"{where}: a string with no maxLength")
    elif kind in ("integer", "number") and "maximum" not in schema and "exclusiveMaximum" not in schema:
        out.append(f"{where}: a number with no maximum")
    return out


def test_every_request_body_refuses_unknown_fields_and_bounds_every_value() -> None:
    document = json.loads(DOCUMENT.read_text())
    schemas = document["components"]["schemas"]
    problems, bodies = [], 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                bodies += 1
                problems += _unbounded(body["schema"], schemas, f"{method.upper()} {path}", set())
            for parameter in operation.get("parameters", []):
                if parameter.get("in") in ("query", "path"):
                    problems += _unbounded(parameter.get("schema", {}), schemas,
                                           f"{method.upper()} {path} {parameter['in']} {parameter['name']}", set())
    assert bodies >= 20
    assert problems == [], "\n".join(problems)


def test_every_operation_documents_the_413_its_body_limit_answers() -> None:
    document = json.loads(DOCUMENT.read_text())
    missing = [f"{m.upper()} {p}" for p, item in document["paths"].items() for m, op in item.items()
               if "413" not in op["responses"]]
    assert missing == []
