"""EventBridge-style pattern matching, for Lambda event filtering (FilterCriteria).

moto filters events on the bus itself; Lambda's FilterCriteria on a stream is
ours to apply. Supported: exact values (a list means any of), nested objects,
prefix, suffix, equals-ignore-case, anything-but, exists, numeric and $or.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


def matches(pattern: Mapping[str, Any], event: Any) -> bool:
    """True when the event has every field the pattern names, each with an allowed value."""
    if not isinstance(event, Mapping):
        return False
    for key, expected in pattern.items():
        if key == "$or":
            if not any(matches(alternative, event) for alternative in expected):
                return False
            continue
        present = key in event
        value = event.get(key)
        if isinstance(expected, Mapping):
            if not (present and matches(expected, value)):
                return False
        elif isinstance(expected, list):
            if not _leaf(expected, present, value):
                return False
        else:
            raise ValueError(f"pattern field {key!r} must be a list or an object, not {expected!r}")
    return True


def matches_any(patterns: Sequence[Mapping[str, Any]], event: Any) -> bool:
    """Lambda keeps a record when any of its filters matches; no filters keeps everything."""
    return not patterns or any(matches(p, event) for p in patterns)


def _leaf(rules: list[Any], present: bool, value: Any) -> bool:
    for rule in rules:
        if isinstance(rule, Mapping) and "exists" in rule:
            if bool(rule["exists"]) == (present and not isinstance(value, Mapping)):
                return True
        elif present:
            values = value if isinstance(value, list) else [value]
            if any(_one(rule, v) for v in values):
                return True
    return False


def _one(rule: Any, value: Any) -> bool:
    if not isinstance(rule, Mapping):
        return _same(rule, value)
    (op, arg), = rule.items()
    if op == "prefix":
        return isinstance(value, str) and _text_match(arg, value, str.startswith)
    if op == "suffix":
        return isinstance(value, str) and _text_match(arg, value, str.endswith)
    if op == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == str(arg).lower()
    if op == "anything-but":
        if isinstance(arg, Mapping):
            return not _one(arg, value)
        return not any(_same(a, value) for a in (arg if isinstance(arg, list) else [arg]))
    if op == "numeric":
        return _numeric(arg, value)
    raise ValueError(f"unsupported pattern operator {op!r}")


def _text_match(arg: Any, value: str, test: Callable[[str, str], bool]) -> bool:
    if isinstance(arg, Mapping) and "equals-ignore-case" in arg:
        return test(value.lower(), str(arg["equals-ignore-case"]).lower())
    return test(value, str(arg))


def _same(expected: Any, value: Any) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool):
        return expected is value
    if isinstance(expected, int | float) and isinstance(value, int | float):
        return float(expected) == float(value)
    return bool(expected == value)


def _numeric(conditions: list[Any], value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    pairs = zip(conditions[::2], conditions[1::2], strict=True)
    return all(_NUMERIC[op](float(value), float(bound)) for op, bound in pairs)
