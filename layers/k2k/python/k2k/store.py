"""DynamoDB access: the only module that talks to the table.

Invariants are enforced by DynamoDB conditions, not by read-then-write. A failed
condition surfaces as ConditionFailed; callers decide what it means (409, 404,
a stale event to ignore).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as dtime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from pydantic import BaseModel

from k2k import aws
from k2k.errors import Conflict

_ser = TypeSerializer()
_deser = TypeDeserializer()

Item = dict[str, Any]


class ConditionFailed(Exception):
    """A condition on a write did not hold. `reasons` has one code per transaction item."""

    def __init__(self, reasons: list[str] | None = None, old: Item | None = None) -> None:
        super().__init__("condition failed")
        self.reasons = reasons or []
        self.old = old

    def failed_at(self, index: int) -> bool:
        return index < len(self.reasons) and self.reasons[index] == "ConditionalCheckFailed"


class LostRace(Exception):
    """A read-decide-write step lost a race on a document it read: run it again from fresh reads."""


T = TypeVar("T")
RACE_ATTEMPTS = 10
MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit on one TransactWriteItems (the local cloud enforces it too)


# What went again, counted for the benches (bench/bench_race.py): lost races by the step that lost
# (its attempt function's name), and transactions DynamoDB cancelled for a conflict or throttling.
RETRIES: Counter[str] = Counter()
_retries_lock = threading.Lock()


def _count_retry(what: str) -> None:
    with _retries_lock:
        RETRIES[what] += 1


def retrying(attempt: Callable[[], T], what: str = "", attempts: int = RACE_ATTEMPTS) -> T:
    """The one "retry a lost race" helper: run `attempt` again (jittered, growing backoff) while it
    raises LostRace; after `attempts` the caller is told to try again (409). Each lost race is counted
    in RETRIES under the attempt's name."""
    for n in range(attempts):
        try:
            return attempt()
        except LostRace:
            _count_retry(attempt.__qualname__.removesuffix(".<locals>.attempt"))
            time.sleep(min(0.01 * 2**n, 0.5) * random.random())  # spread the contenders out
    raise Conflict(f"too many concurrent changes{' to ' + what if what else ''}; try again")


def _clean(value: Any) -> Any:
    # DynamoDB has no float and no empty sets; keep the model layer honest about it.
    if isinstance(value, float):
        raise TypeError("floats are not stored; use Decimal")
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def serialize(item: Item) -> dict[str, Any]:
    return {k: _ser.serialize(_clean(v)) for k, v in item.items() if v is not None}


def deserialize(raw: dict[str, Any]) -> Item:
    return {k: _deser.deserialize(v) for k, v in raw.items()}


def _values(values: dict[str, Any] | None) -> dict[str, Any] | None:
    return {k: _ser.serialize(_clean(v)) for k, v in values.items()} if values else None


@dataclass
class Op:
    """One item of a TransactWriteItems call."""

    kind: str  # Put | Update | Delete | ConditionCheck
    key_or_item: Item
    condition: str | None = None
    update: str | None = None
    values: dict[str, Any] | None = None
    names: dict[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def put(item: Item, condition: str | None = None, values: dict[str, Any] | None = None,
        names: dict[str, str] | None = None) -> Op:
    return Op("Put", item, condition=condition, values=values, names=names)


def update(key: Item, expression: str, values: dict[str, Any] | None = None,
           condition: str | None = None, names: dict[str, str] | None = None) -> Op:
    return Op("Update", key, condition=condition, update=expression, values=values, names=names)


def delete(key: Item, condition: str | None = None, values: dict[str, Any] | None = None,
           names: dict[str, str] | None = None) -> Op:
    return Op("Delete", key, condition=condition, values=values, names=names)


def check(key: Item, condition: str, values: dict[str, Any] | None = None,
          names: dict[str, str] | None = None) -> Op:
    return Op("ConditionCheck", key, condition=condition, values=values, names=names)


PAGE_READS = 10  # DynamoDB calls one page may take (each reads up to 1 MB)


@dataclass
class QueryPage:
    """Items of one page and the key the next page starts after (None: nothing follows)."""

    items: list[Item]
    last_key: Item | None


class Reads:
    """Independent reads of several documents, of several owners, in one consistent BatchGetItem.

    Each owner module adds the keys it owns and gets back a function that answers its document once
    `run` has read them all (issue 13: independent reads one by one cost a request each):

        reads = Reads()
        company = network.read_company(reads, buyer_id)
        line = inventory.read_line(reads, vendor_id, line_id)
        reads.run(db)
        company(), line()

    An owner whose document lives in more than one item (a PO's header names the lines that are
    items of their own: services/order_data.py) says what else it wants once the first round is
    read (`then`): `run` reads those in one more round, only when some are wanted.
    """

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str], Item] = {}
        self._found: dict[tuple[str, str], Item] | None = None
        self._then: list[Callable[[], None]] = []

    def want(self, key: dict[str, str]) -> Callable[[], Item | None]:
        at = (key["pk"], key["sk"])
        self._keys.setdefault(at, dict(key))

        def found() -> Item | None:
            if self._found is None:
                raise RuntimeError("Reads.run has not read this key yet")
            return self._found.get(at)

        return found

    def then(self, more: Callable[[], None]) -> None:
        """Call `more` once the keys wanted so far are read; it may want more keys (read next)."""
        self._then.append(more)

    def run(self, db: Store) -> None:
        """Read every key wanted (one request per 100 keys; a single key is a GetItem, same cost), then
        whatever the `then` steps want, round after round."""
        found: dict[tuple[str, str], Item] = {}
        read: set[tuple[str, str]] = set()
        while True:
            wanted = [k for at, k in self._keys.items() if at not in read]
            read.update(self._keys)
            if len(wanted) == 1:
                item = db.get(wanted[0]["pk"], wanted[0]["sk"])
                if item:
                    found[(item["pk"], item["sk"])] = item
            elif wanted:
                found.update({(i["pk"], i["sk"]): i for i in db.batch_get(wanted)})
            self._found = found
            steps, self._then = self._then, []
            for step in steps:
                step()
            if all(at in read for at in self._keys):
                return


class Store:
    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table = table_name
        self._client = client

    @property
    def db(self) -> Any:
        return self._client or aws.client("dynamodb")

    # -- reads
    def get(self, pk: str, sk: str, *, consistent: bool = True) -> Item | None:
        out = self.db.get_item(
            TableName=self.table, Key=serialize({"pk": pk, "sk": sk}), ConsistentRead=consistent
        )
        return deserialize(out["Item"]) if "Item" in out else None

    def query(self, pk: str, prefix: str | None = None, *, consistent: bool = False,
              filter_expression: str | None = None, values: dict[str, Any] | None = None,
              names: dict[str, str] | None = None, limit: int | None = None,
              descending: bool = False, index: str | None = None,
              between: tuple[str, str] | None = None, after: str | None = None) -> list[Item]:
        return list(self.iter_query(pk, prefix, consistent=consistent,
                                    filter_expression=filter_expression, values=values,
                                    names=names, limit=limit, descending=descending, index=index,
                                    between=between, after=after))

    def iter_query(self, pk: str, prefix: str | None = None, *, consistent: bool = False,
                   filter_expression: str | None = None, values: dict[str, Any] | None = None,
                   names: dict[str, str] | None = None, limit: int | None = None,
                   descending: bool = False, index: str | None = None,
                   between: tuple[str, str] | None = None, after: str | None = None) -> Iterator[Item]:
        """Items of one partition, optionally by sort-key prefix or inclusive sort-key range (`between`),
        resuming after the sort key `after` (base table only); `index` queries a GSI named like
        its key attributes (INDEX_KEYS), whose partition keys also start with C#<cid>."""
        kwargs = self._query_args(pk, prefix, consistent=consistent, filter_expression=filter_expression,
                                  values=values, names=names, descending=descending, index=index, between=between)
        if limit:
            kwargs["Limit"] = limit
        if after is not None and not index:
            kwargs["ExclusiveStartKey"] = serialize({"pk": pk, "sk": after})
        yielded = 0
        while True:
            page = self.db.query(**kwargs)
            for raw in page.get("Items", []):
                yield deserialize(raw)
                yielded += 1
                if limit and yielded >= limit:
                    return
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def page(self, pk: str, prefix: str | None = None, *, limit: int, start: Item | None = None,
             consistent: bool = False, filter_expression: str | None = None, values: dict[str, Any] | None = None,
             names: dict[str, str] | None = None, descending: bool = False, index: str | None = None,
             between: tuple[str, str] | None = None) -> QueryPage:
        """One page of `iter_query`'s query: at most `limit` items that pass the filter, from `start` (the
        `last_key` of the page before), and where the next page starts: None when nothing follows, for it
        reads one item past the page to know (so a page that ends at the last item is the last page). A
        filter may leave a page short, even empty: its `last_key` goes on. The caller checks that `start`
        is in this query's partition (k2k.paging does)."""
        kwargs = self._query_args(pk, prefix, consistent=consistent, filter_expression=filter_expression,
                                  values=values, names=names, descending=descending, index=index, between=between)
        if start:
            kwargs["ExclusiveStartKey"] = serialize(start)
        items: list[Item] = []
        for _ in range(PAGE_READS):  # a sparse filter ends a page short rather than reading on and on
            out = self.db.query(**kwargs, Limit=limit + 1 - len(items))  # evaluated: never 2 past the page
            items.extend(deserialize(raw) for raw in out.get("Items", []))
            if len(items) > limit:  # the one past the page: the next page starts after the page's last
                last = items[limit - 1]
                key_names = ("pk", "sk", *(INDEX_KEYS[index] if index else ()))
                return QueryPage(items[:limit], {name: last[name] for name in key_names})
            if "LastEvaluatedKey" not in out:
                return QueryPage(items, None)
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
        return QueryPage(items, deserialize(kwargs["ExclusiveStartKey"]))

    def _query_args(self, pk: str, prefix: str | None, *, consistent: bool, filter_expression: str | None,
                    values: dict[str, Any] | None, names: dict[str, str] | None, descending: bool,
                    index: str | None, between: tuple[str, str] | None) -> dict[str, Any]:
        pk_name, sk_name = INDEX_KEYS[index] if index else ("pk", "sk")
        expr = f"{pk_name} = :pk" + (f" AND begins_with({sk_name}, :prefix)" if prefix else "")
        vals: dict[str, Any] = {":pk": pk, **({":prefix": prefix} if prefix else {}), **(values or {})}
        if between:
            expr += f" AND {sk_name} BETWEEN :lo AND :hi"
            vals.update({":lo": between[0], ":hi": between[1]})
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": expr,
            "ExpressionAttributeValues": _values(vals),
            "ConsistentRead": consistent and not index,  # GSIs are eventually consistent only
            "ScanIndexForward": not descending,
        }
        if index:
            kwargs["IndexName"] = index
        if filter_expression:
            kwargs["FilterExpression"] = filter_expression
        if names:
            kwargs["ExpressionAttributeNames"] = names
        return kwargs

    # -- single writes
    def put(self, item: Item, condition: str | None = None, values: dict[str, Any] | None = None,
            names: dict[str, str] | None = None) -> None:
        kwargs: dict[str, Any] = {"TableName": self.table, "Item": serialize(item)}
        self._conditional(kwargs, condition, values, names)
        try:
            self.db.put_item(**kwargs, ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as e:
            raise self._condition_error(e) from e

    def update(self, key: Item, expression: str, values: dict[str, Any] | None = None,
               condition: str | None = None, names: dict[str, str] | None = None) -> Item:
        kwargs: dict[str, Any] = {
            "TableName": self.table, "Key": serialize(key), "UpdateExpression": expression,
            "ReturnValues": "ALL_NEW",
        }
        self._conditional(kwargs, condition, values, names)
        try:
            out = self.db.update_item(**kwargs, ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as e:
            raise self._condition_error(e) from e
        return deserialize(out.get("Attributes", {}))

    def batch_get(self, keys: Iterable[Item], *, consistent: bool = True) -> list[Item]:
        """Items for these keys (absent ones are left out), 100 keys per request, retrying
        UnprocessedKeys. Order is not kept; match results on their keys."""
        found: list[Item] = []
        wanted = [dict(k) for k in keys]
        for start in range(0, len(wanted), 100):
            pending: dict[str, Any] = {self.table: {
                "Keys": [serialize(k) for k in wanted[start:start + 100]], "ConsistentRead": consistent}}
            for attempt in range(10):
                out = self.db.batch_get_item(RequestItems=pending)
                found.extend(deserialize(raw) for raw in out.get("Responses", {}).get(self.table, []))
                pending = out.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0) * random.random())
            else:
                raise RuntimeError("DynamoDB kept returning unprocessed keys")
        return found

    def batch_put(self, items: Iterable[Item]) -> int:
        """Unconditional puts, 25 per request, retrying UnprocessedItems. Returns requests made."""
        requests = 0
        chunk: list[Item] = []
        for item in items:
            chunk.append(item)
            if len(chunk) == 25:
                requests += self._batch(chunk)
                chunk = []
        if chunk:
            requests += self._batch(chunk)
        return requests

    def _batch(self, chunk: list[Item]) -> int:
        pending: dict[str, Any] = {self.table: [{"PutRequest": {"Item": serialize(i)}} for i in chunk]}
        for attempt in range(10):
            out = self.db.batch_write_item(RequestItems=pending)
            pending = out.get("UnprocessedItems") or {}
            if not pending:
                return attempt + 1
            time.sleep(min(0.05 * 2**attempt, 1.0) * random.random())
        raise RuntimeError("DynamoDB kept returning unprocessed items")

    # -- transactions
    def transact(self, ops: list[Op], *, token: str | None = None) -> None:
        """All or nothing. Retries transaction conflicts; raises ConditionFailed with reasons."""
        items = [self._transact_item(op) for op in ops]
        kwargs: dict[str, Any] = {"TransactItems": items}
        if token:
            kwargs["ClientRequestToken"] = token
        for attempt in range(6):
            try:
                self.db.transact_write_items(**kwargs)
                return
            except ClientError as e:
                if e.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code", "None") for r in e.response.get("CancellationReasons", [])]
                if "ConditionalCheckFailed" in reasons or attempt == 5:
                    raise ConditionFailed(reasons) from e
                # TransactionConflict / throttling: someone else is on these items; back off.
                _count_retry("TransactionConflict")
                time.sleep(min(0.02 * 2**attempt, 0.5) * (0.5 + random.random()))

    def _transact_item(self, op: Op) -> dict[str, Any]:
        body: dict[str, Any] = {"TableName": self.table}
        if op.kind == "Put":
            body["Item"] = serialize(op.key_or_item)
        else:
            body["Key"] = serialize(op.key_or_item)
        if op.update:
            body["UpdateExpression"] = op.update
        self._conditional(body, op.condition, op.values, op.names)
        return {op.kind: body}

    @staticmethod
    def _conditional(kwargs: dict[str, Any], condition: str | None,
                     values: dict[str, Any] | None, names: dict[str, str] | None) -> None:
        if condition:
            kwargs["ConditionExpression"] = condition
        if values:
            kwargs["ExpressionAttributeValues"] = _values(values)
        if names:
            kwargs["ExpressionAttributeNames"] = names

    @staticmethod
    def _condition_error(e: ClientError) -> Exception:
        if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
            old = e.response.get("Item")
            return ConditionFailed(["ConditionalCheckFailed"], deserialize(old) if old else None)
        return e


def to_item(model: BaseModel, **keys_and_extra: Any) -> Item:
    """A pydantic model as a DynamoDB item: numbers stay Decimal, dates become ISO strings."""
    return {**keys_and_extra, **_encode(model.model_dump())}


def _encode(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date | dtime):
        return value.isoformat()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def plain(item: Item) -> Item:
    """Drop key attributes and internal bookkeeping before handing an item to a model."""
    return {k: v for k, v in item.items() if k not in _BOOKKEEPING}


# template.yaml's indexes: (partition key, sort key). gsi2 and gsi3 sort by the item's own sort key, so an
# item on them carries one attribute more, not two (an imported open invoice is on all three).
INDEX_KEYS = {"gsi1": ("gsi1pk", "gsi1sk"), "gsi2": ("gsi2pk", "sk"), "gsi3": ("gsi3pk", "sk")}
_BOOKKEEPING = frozenset({"pk", "sk", "kind", "purge_at", *(k for keys in INDEX_KEYS.values() for k in keys)})


def as_int(value: Any) -> int:
    return int(value) if isinstance(value, Decimal | int | str) else 0
