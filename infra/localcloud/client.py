"""A tiny HTTP client for the local API: one user of one company, with their token.

urllib, so moto's HTTP mocking never intercepts it. Every response is checked
against the committed OpenAPI document (infra/localcloud/contract.py): a status
or a body the document does not describe fails the test that received it.
Used by the tests' `api` fixture and handy in a REPL against `make run`:

    from infra.localcloud.client import ApiClient
    from infra.localcloud.tokens import mint
    vendor = ApiClient("http://127.0.0.1:3000", mint("rosaflor", ["Admin"]))
    vendor.get("/company").json()
    ApiClient(url, token, contract=None)   # unchecked: another API, or an experiment
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from infra.localcloud.contract import Contract, committed

# Generous on purpose: a slow or loaded machine makes a test wait, never fail; a hung server still ends it.
TIMEOUT_SECONDS = 300


@dataclass
class ApiResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def text(self) -> str:
        return self.body.decode()

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


@dataclass
class ApiClient:
    """A caller of the local API: one user of one company, with their token."""

    base_url: str
    token: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    contract: Contract | None = field(default_factory=committed)

    def request(self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None) -> ApiResponse:
        url = self.base_url + path
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        sent = {"Accept": "application/json", **self.headers, **(headers or {})}
        if self.token:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        data = None
        if json is not None:
            data = _json_bytes(json)
            sent.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(url, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                got = ApiResponse(response.status, response.read(), dict(response.headers))
        except urllib.error.HTTPError as e:
            got = ApiResponse(e.code, e.read(), dict(e.headers))
        if self.contract is not None:
            self.contract.check(method, path, got.status, got.header("Content-Type"), got.body)
        return got

    def get(self, path: str, json: Any = None, params: dict[str, Any] | None = None) -> ApiResponse:
        return self.request("GET", path, json, params)

    def items(self, path: str, params: dict[str, Any] | None = None, limit: int | None = None) -> list[Any]:
        """Every item of a list route: its pages, following next_token until it is null (`limit` per page).
        A page that is not a 200 is an AssertionError naming it."""
        found: list[Any] = []
        query = {**(params or {}), **({"limit": limit} if limit else {})}
        while True:
            page = self.get(path, params=query)
            assert page.status == 200, f"GET {path} {query}: {page.status} {page.text[:300]}"
            body = page.json()
            found.extend(body["items"])
            if body["next_token"] is None:
                return found
            query["next_token"] = body["next_token"]

    def post(self, path: str, json: Any = None, params: dict[str, Any] | None = None) -> ApiResponse:
        return self.request("POST", path, json, params)

    def put(self, path: str, json: Any = None, params: dict[str, Any] | None = None) -> ApiResponse:
        return self.request("PUT", path, json, params)

    def patch(self, path: str, json: Any = None, params: dict[str, Any] | None = None) -> ApiResponse:
        return self.request("PATCH", path, json, params)

    def delete(self, path: str, json: Any = None, params: dict[str, Any] | None = None) -> ApiResponse:
        return self.request("DELETE", path, json, params)


def _json_bytes(value: Any) -> bytes:
    """JSON with Decimal written as the exact number it is (money is never a float)."""

    def default(o: Any) -> Any:
        if isinstance(o, Decimal):
            return f"\x00decimal:{o}\x00"
        raise TypeError(f"{type(o).__name__} is not JSON serializable")

    text = json.dumps(value, default=default)
    return re.sub(r'"\\u0000decimal:([^"\\]*)\\u0000"', r"\1", text).encode()
