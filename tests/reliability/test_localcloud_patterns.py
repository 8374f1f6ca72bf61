"""Event pattern matching, as Lambda's FilterCriteria and EventBridge rules apply it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.localcloud.patterns import matches, matches_any
from infra.localcloud.template import load

OUTBOX_INSERT = {"eventName": "INSERT", "dynamodb": {"NewImage": {"kind": {"S": "OUTBOX"}, "n": {"N": "3"}}}}


@pytest.mark.parametrize(("pattern", "event", "expected"), [
    ({"eventName": ["INSERT"]}, OUTBOX_INSERT, True),
    ({"eventName": ["MODIFY", "INSERT"]}, OUTBOX_INSERT, True),  # a list means any of
    ({"eventName": ["MODIFY"]}, OUTBOX_INSERT, False),
    ({"dynamodb": {"NewImage": {"kind": {"S": ["OUTBOX"]}}}}, OUTBOX_INSERT, True),
    ({"dynamodb": {"NewImage": {"kind": {"S": ["INBOX"]}}}}, OUTBOX_INSERT, False),
    ({"dynamodb": {"OldImage": {"kind": {"S": ["OUTBOX"]}}}}, OUTBOX_INSERT, False),  # missing field
    ({"eventName": ["INSERT"], "missing": ["x"]}, OUTBOX_INSERT, False),  # every field must match
    ({"source": [{"prefix": "k2k."}]}, {"source": "k2k.inventory"}, True),
    ({"source": [{"prefix": "k2k."}]}, {"source": "aws.s3"}, False),
    ({"key": [{"suffix": ".xlsx"}]}, {"key": "imports/a.xlsx"}, True),
    ({"key": [{"suffix": ".xlsx"}]}, {"key": "imports/a.csv"}, False),
    ({"t": [{"equals-ignore-case": "placed"}]}, {"t": "PLACED"}, True),
    ({"t": [{"anything-but": ["a", "b"]}]}, {"t": "c"}, True),
    ({"t": [{"anything-but": ["a", "b"]}]}, {"t": "a"}, False),
    ({"t": [{"anything-but": {"prefix": "tmp/"}}]}, {"t": "tmp/x"}, False),
    ({"t": [{"anything-but": "a"}]}, {}, False),
    ({"t": [{"exists": True}]}, {"t": None}, True),
    ({"t": [{"exists": True}]}, {}, False),
    ({"t": [{"exists": False}]}, {}, True),
    ({"t": [{"exists": False}]}, {"t": 1}, False),
    ({"n": [{"numeric": [">", 0, "<=", 5]}]}, {"n": 5}, True),
    ({"n": [{"numeric": [">", 0, "<=", 5]}]}, {"n": 6}, False),
    ({"n": [{"numeric": ["=", 1]}]}, {"n": "1"}, False),  # numbers only match numbers
    ({"n": [1]}, {"n": 1.0}, True),
    ({"b": [True]}, {"b": 1}, False),
    ({"n": [None]}, {"n": None}, True),
    ({"n": [None]}, {}, False),
    ({"tags": ["red"]}, {"tags": ["white", "red"]}, True),  # an array value matches if any element does
    ({"$or": [{"a": [1]}, {"b": [2]}]}, {"b": 2}, True),
    ({"$or": [{"a": [1]}, {"b": [2]}]}, {"b": 3}, False),
])
def test_pattern(pattern: dict[str, Any], event: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, event) is expected


def test_no_filters_keep_everything_and_several_filters_are_alternatives() -> None:
    assert matches_any([], {"anything": 1})
    filters = [{"eventName": ["REMOVE"]}, {"eventName": ["INSERT"]}]
    assert matches_any(filters, OUTBOX_INSERT)
    assert not matches_any(filters, {"eventName": "MODIFY"})


def test_a_pattern_value_must_be_a_list_or_an_object() -> None:
    with pytest.raises(ValueError, match="must be a list or an object"):
        matches({"eventName": "INSERT"}, OUTBOX_INSERT)


def test_the_relay_filter_of_template_yaml_passes_only_new_outbox_items() -> None:
    tpl = load(Path(__file__).resolve().parents[2] / "template.yaml")
    (source,) = tpl.functions["EventRelayFunction"].streams
    record = json.loads(json.dumps(OUTBOX_INSERT))
    assert matches_any(source.filters, record)
    record["eventName"] = "REMOVE"  # the outbox item expiring (TTL)
    assert not matches_any(source.filters, record)
    state = {"eventName": "INSERT", "dynamodb": {"NewImage": {"kind": {"S": "INVENTORY"}}}}
    assert not matches_any(source.filters, state)
