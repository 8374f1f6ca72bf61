"""Pages of a list: every list route takes `limit` and answers `{"items": [...], "next_token": ...}`.

One mechanism: `read` runs one page of a query (`Store.page`) and wraps where it stopped in a
`next_token`; the list's next call hands it back and reads on from there. A list made of a few queries
of the caller's partitions, one after another (a company's customer invoices: billed or raised by hand,
then imported), is `read_parts`: its token says which query it stopped in. The last page has no token
(`Store.page` reads one item past the page to know), so a client never asks for an empty page.

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

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from k2k import keys
from k2k.errors import Invalid
from k2k.models import Model
from k2k.store import INDEX_KEYS, Item, Store

T = TypeVar("T")


class Page(Model, Generic[T]):
    """One page of a list. `next_token` is null on the last page; a page may be short (even empty)
    while a next_token is given: ask on until it is null."""

    items: list[T]
    next_token: str | None = None


@dataclass(frozen=True)
class Query:
    """One query of a list, Store.page's arguments: `pk` must be one of the caller's partitions."""

    pk: str
    prefix: str | None = None
    filter_expression: str | None = None
    values: dict[str, Any] | None = None
    names: dict[str, str] | None = None
    descending: bool = False
    index: str | None = None
    between: tuple[str, str] | None = None
    consistent: bool = False

    @property
    def identity(self) -> str:
        """The query a token belongs to: partition, prefix, filter and order (a token of `?status=AP` is not
        one of `?status=PAID`)."""
        query = (self.pk, self.prefix, self.filter_expression, self.values, self.names, self.descending,
                 self.index, self.between)
        return hashlib.sha256(json.dumps(query, sort_keys=True, default=str).encode()).hexdigest()[:16]


def read(db: Store, company_id: str, pk: str, prefix: str | None = None, *, limit: int, token: str | None,
         filter_expression: str | None = None, values: dict[str, Any] | None = None,
         names: dict[str, str] | None = None, descending: bool = False, index: str | None = None,
         between: tuple[str, str] | None = None, consistent: bool = False) -> tuple[list[Item], str | None]:
    """One page of the caller's query (Store.page's arguments) and the token of the next (None after
    the last page). `company_id` is the verified caller's; `pk` must be one of its partitions."""
    return read_parts(db, company_id, [Query(pk, prefix, filter_expression, values, names, descending, index,
                                             between, consistent)], limit=limit, token=token)


def read_parts(db: Store, company_id: str, parts: Sequence[Query], *, limit: int,
               token: str | None) -> tuple[list[Item], str | None]:
    """One page of a list made of `parts`, read one after another, and the token of the next page."""
    at, start = resume(token, company_id, parts) if token else (0, None)
    items: list[Item] = []
    while at < len(parts):
        part, room = parts[at], limit - len(items)
        page = db.page(part.pk, part.prefix, limit=max(room, 1), start=start, consistent=part.consistent,
                       filter_expression=part.filter_expression, values=part.values, names=part.names,
                       descending=part.descending, index=part.index, between=part.between)
        if room == 0:  # the page is full at the end of a part: the next page starts in the first that has more
            if page.items or page.last_key:
                return items, encode(company_id, part.identity, None if page.items else page.last_key)
        else:
            items += page.items
            if page.last_key is not None:
                return items, encode(company_id, part.identity, page.last_key)
        at, start = at + 1, None
    return items, None


def encode(company_id: str, query: str, key: Item | None) -> str:
    """A token for the page that starts after `key` (None: at the start) of the query whose identity is
    `query`."""
    raw = json.dumps({"c": company_id, "q": query, "k": key}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def resume(token: str, company_id: str, parts: Sequence[Query]) -> tuple[int, Item | None]:
    """Where a token says to start: the part and the key after which to read on (None: the part's start),
    if it is this company's token for one of these queries; else a 422."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        payload = None
    if isinstance(payload, dict) and payload.get("c") == company_id:
        key = payload.get("k")
        for at, part in enumerate(parts):
            if payload.get("q") == part.identity and (key is None or _within(key, company_id, part)):
                return at, key
    raise Invalid("next_token is not one this list gave you; ask for the first page without it",
                  field="query.next_token")


def _within(key: Any, company_id: str, part: Query) -> bool:
    if not isinstance(key, dict):
        return False
    pk_name, sk_name = INDEX_KEYS[part.index] if part.index else ("pk", "sk")
    names = {"pk", "sk", pk_name, sk_name}
    if set(key) != names or not all(isinstance(v, str) for v in key.values()):
        return False
    own = keys.company_pk(company_id)
    return (key[pk_name] == part.pk and key[sk_name].startswith(part.prefix or "")
            and (part.between is None or part.between[0] <= key[sk_name] <= part.between[1])
            and (key["pk"] == own or key["pk"].startswith(own + "#")))  # an index's item is the company's too
