"""The API's contract, checked on every response a client receives: docs/openapi.json as committed.

A response's status must be documented for its operation (path template and
method), and its body must match what that response documents: a JSON body
validated against its schema (JSON Schema 2020-12, as OpenAPI 3.1 says, with
`$ref`s into the document's components), no body where none is documented.

Outside the documented operations the local gateway answers for itself: its own
pages (/docs, /openapi.json, /_local/...) and CORS preflights are not the API
and are not checked; an unknown route may only be answered 404, and an
undocumented method on a known route 405, both as an `Error`.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
LOCAL_PATHS = ("/docs", "/openapi.json", "/_local/")
ERROR_REF = "#/components/schemas/Error"


class ContractViolation(AssertionError):
    """A response the OpenAPI document does not describe."""


@dataclass(frozen=True)
class _Path:
    template: str
    pattern: re.Pattern[str]
    rank: tuple[int, ...]  # per segment: 0 literal, 1 {param}; the most literal template wins, as in API Gateway


class Contract:
    """One OpenAPI document, with a compiled validator per documented response (made once, on first use)."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self._paths = sorted((_compile(template) for template in document.get("paths") or {}),
                             key=lambda p: p.rank)
        self._validators: dict[str, Draft202012Validator] = {}

    @classmethod
    def load(cls, path: Path) -> Contract:
        return cls(json.loads(path.read_text()))

    def check(self, method: str, path: str, status: int, content_type: str | None, body: bytes) -> None:
        """Raise ContractViolation, naming the request, the status and what is wrong, unless documented."""
        method = method.lower()
        path = path.split("?", 1)[0]
        if method == "options" or path.startswith(LOCAL_PATHS):
            return
        where = f"{method.upper()} {path} answered {status}"
        template = next((p.template for p in self._paths if p.pattern.fullmatch(path)), None)
        operation = (self.document["paths"][template].get(method) or {}) if template else {}
        if template is None or not operation:
            expected = 404 if template is None else 405
            if status != expected:
                raise ContractViolation(f"{where}: no operation in {DOCUMENT.name} serves it "
                                        f"(only a {expected} would be right)")
            self._check_body(where, f"{status} Error", {"schema": {"$ref": ERROR_REF}}, body, content_type)
            return
        response = operation["responses"].get(str(status)) or operation["responses"].get("default")
        if response is None:
            raise ContractViolation(f"{where}: {status} is not documented for {method.upper()} {template} "
                                    f"(documented: {', '.join(sorted(operation['responses']))})")
        content = response.get("content") or {}
        if not body:
            if content:
                raise ContractViolation(f"{where}: no body, but {', '.join(content)} is documented")
            return
        mime = (content_type or "").split(";")[0].strip().lower()
        media = content.get(mime)
        if media is None:
            raise ContractViolation(f"{where}: a {mime or 'untyped'} body, but "
                                    f"{', '.join(content) or 'no body'} is documented")
        if mime == "application/json":
            self._check_body(where, f"{method.upper()} {template} {status}", media, body, content_type)

    def _check_body(self, where: str, documented: str, media: dict[str, Any], body: bytes,
                    content_type: str | None) -> None:
        if not (content_type or "").lower().startswith("application/json"):
            raise ContractViolation(f"{where}: a {content_type or 'untyped'} body where JSON is documented")
        try:
            instance = json.loads(body)
        except ValueError as e:
            raise ContractViolation(f"{where}: the body is not JSON ({e}): {_excerpt(body)}") from None
        validator = self._validator(documented, media.get("schema") or {})
        error = best_match(validator.iter_errors(instance))
        if error is not None:
            at = "".join(f"[{p!r}]" for p in error.absolute_path) or "the body"
            raise ContractViolation(f"{where}: the body does not match the schema documented for {documented}: "
                                    f"at {at}: {error.message}\nbody: {_excerpt(body)}")

    def _validator(self, documented: str, schema: dict[str, Any]) -> Draft202012Validator:
        validator = self._validators.get(documented)
        if validator is None:
            # The response's schema under a root that also holds the components: `#/components/...` resolves.
            root = {"allOf": [schema], "components": self.document.get("components") or {}}
            validator = Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)
            self._validators[documented] = validator
        return validator


@functools.cache
def committed() -> Contract:
    """docs/openapi.json as committed, loaded once per process."""
    return Contract.load(DOCUMENT)


def _compile(template: str) -> _Path:
    parts, rank = [], []
    for segment in [s for s in template.split("/") if s]:
        if re.fullmatch(r"\{[^}]+\}", segment):
            parts.append("[^/]+")
            rank.append(1)
        else:
            parts.append(re.escape(segment))
            rank.append(0)
    return _Path(template, re.compile("/" + "/".join(parts)), tuple(rank))


def _excerpt(body: bytes, limit: int = 600) -> str:
    text = body.decode(errors="replace")
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"
