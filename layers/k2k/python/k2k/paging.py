"""Pages of a list: every list route takes `limit` and answers `{"items": [...], "next_token": ...}`.

One mechanism: `read` runs one page of a query (`Store.page`) and wraps where it stopped in a
`next_token`; the list's next call hands it back and reads on from there.

A next_token is the DynamoDB key the page stopped at, with the company and the query it belongs to,
as base64url JSON: opaque to clients, neither secret nor signed, because it never chooses what is
read. The partition a list reads always comes from the caller's verified company; a token is taken
only if its company is the caller's, it was made by the same query (list, filters, order), and its key
lies in that query's own partition and sort-key prefix. Anything else (another company's token, a
token of another list or filter, an edited or garbled one) is a 422 naming next_token. A signature
(an HMAC with a configured key) would also refuse a token edited to start elsewhere in the caller's
own list, which reads nothing the caller may not read anyway, at the price of a secret in every
function and of tokens that die when it rotates: not worth it here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any, Generic, TypeVar

from k2k import keys
from k2k.errors import Invalid
from k2k.models import Model
from k2k.store import Item, Store

T = TypeVar("T")


class Page(Model, Generic[T]):
    """One page of a list. `next_token` is null on the last page; a page may be short (even empty)
    while a next_token is given: ask on until it is null."""

    items: list[T]
    next_token: str | None = None


def read(db: Store, company_id: str, pk: str, prefix: str | None = None, *, limit: int, token: str | None,
         filter_expression: str | None = None, values: dict[str, Any] | None = None,
         names: dict[str, str] | None = None, descending: bool = False, index: str | None = None,
         between: tuple[str, str] | None = None) -> tuple[list[Item], str | None]:
    """One page of the caller's query (Store.page's arguments) and the token of the next (None after
    the last page). `company_id` is the verified caller's; `pk` must be one of its partitions."""
    query = _identity(pk, prefix, filter_expression, values, names, descending, index, between)
    start = start_key(token, company_id, query, pk, prefix, index, between) if token else None
    page = db.page(pk, prefix, limit=limit, start=start, filter_expression=filter_expression, values=values,
                   names=names, descending=descending, index=index, between=between)
    return page.items, (encode(company_id, query, page.last_key) if page.last_key else None)


def encode(company_id: str, query: str, key: Item) -> str:
    raw = json.dumps({"c": company_id, "q": query, "k": key}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def start_key(token: str, company_id: str, query: str, pk: str, prefix: str | None,
              index: str | None = None, between: tuple[str, str] | None = None) -> Item:
    """The key a token says to start from, if it is this company's token for this query; else a 422."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        payload = None
    key = payload.get("k") if isinstance(payload, dict) else None
    if not (isinstance(payload, dict) and payload.get("c") == company_id and payload.get("q") == query
            and isinstance(key, dict) and _within(key, company_id, pk, prefix, index, between)):
        raise Invalid("next_token is not one this list gave you; ask for the first page without it",
                      field="query.next_token")
    return key


def _within(key: dict[str, Any], company_id: str, pk: str, prefix: str | None, index: str | None,
            between: tuple[str, str] | None) -> bool:
    pk_name, sk_name = (f"{index}pk", f"{index}sk") if index else ("pk", "sk")
    names = {"pk", "sk", pk_name, sk_name}
    if set(key) != names or not all(isinstance(v, str) for v in key.values()):
        return False
    own = keys.company_pk(company_id)
    return (key[pk_name] == pk and key[sk_name].startswith(prefix or "")
            and (between is None or between[0] <= key[sk_name] <= between[1])
            and (key["pk"] == own or key["pk"].startswith(own + "#")))  # an index's item is the company's too


def _identity(*query: Any) -> str:
    """The query a token belongs to: partition, prefix, filter and order (a token of `?status=AP` is not
    one of `?status=PAID`)."""
    return hashlib.sha256(json.dumps(query, sort_keys=True, default=str).encode()).hexdigest()[:16]
