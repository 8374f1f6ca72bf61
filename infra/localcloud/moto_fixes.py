"""moto, fixed where its memory and time grow with use, so that `make run` holds a day of demo use.

Each fix is a monkeypatch applied when the emulator starts (`install()`) and undone when it stops
(`uninstall()`). None changes what the emulator enforces; each changes how much moto keeps or copies:

- TransactWriteItems: moto deep-copies every table a transaction names, to put it back if the
  transaction fails. A table copy per transaction is time and memory that grow with the table, and
  the swapped-in copy leaves the old table alive behind every stream iterator that points at it.
  Here a transaction saves a copy of only the items it touches (and each stream's length), and a
  failed one puts exactly those back: still all-or-nothing, conditions still checked by moto.
- Query: moto sorts every item of the table to answer any query, then tests the sort key condition
  on each. Here a query on the table's key looks at its partition only (DynamoDB reads one
  partition), keeps the items that meet the sort key condition and hands them to moto in order; a
  query on an index scans the items unsorted (moto sorts the matches itself, on the index's key).
  A string sort key's begins_with or BETWEEN is tested on the strings themselves (as moto's own
  comparison does, without a call per item): a partition that an import grew by 20,000 items
  cost every query on it ~25 ms of the lock.
- Items: moto checks the 400 KB item limit by summing the whole item again at each attribute it
  adds (quadratic in the attributes; most of an import's time). Here a new item is sized once,
  against the same limit.
- DynamoDB Streams: moto keeps every shard iterator it ever returned (GetShardIterator and every
  GetRecords return one; the pollers ask several times a second). Here they expire 15 minutes
  after they were returned, as DynamoDB Streams' do. moto also keeps every stream record for ever
  (DynamoDB: 24 hours); `forget_stream_records` drops those that every event source mapping has
  consumed, which the runtime calls after each polling round (the trim horizon moves past them).
- Conditions: moto parses a write's ConditionExpression up to three times (to validate the request,
  to check it, and again in the Put, Update or Delete a transaction calls), and parses the same
  text again for every write: an import's 60,000 puts of `attribute_not_exists(pk)` spent about
  half of moto's transaction time parsing. Here a parse is kept by its expression, names and
  values (the parsed condition is a stateless tree) and reused; a refused expression is never kept,
  so it is refused every time, with moto's own error.
- Rule targets: moto builds every event it delivers to a target through an input template, its
  default one (nine JSONPaths: version, id, detail-type...) when the target has no InputTransformer,
  parsing each path again for every event; jsonpath_ng builds a whole PLY parser (its tables read
  again) for each parse: a tenth of a fault-matrix story's time. Here a path's parse is kept by its
  text (a parsed path is a stateless tree that `find` only reads).
- GetRecords: moto builds each stream record as wire JSON already, then runs the whole page (up to
  1,000 records with their images) through its generic, model-driven serializer: half of a large
  import's time, as the relay reads every record the import writes. Here the page is dumped as it is.
- Item answers: moto builds GetItem, Query and the other item operations' answers as plain JSON
  values already, then runs each through its generic, model-driven serializer, which walks every
  attribute of every item against botocore's shapes: about a third of the local cloud's time in the
  test suite (a company's settings item alone is hundreds of shape lookups per read). Here those
  answers are dumped as they are, binaries in base64 as the JSON protocol sends them; any other
  answer, or one holding a value JSON cannot take as it is, still goes through moto's serializer.
- Names: moto turns AWS names into Python ones (camelcase_to_underscores, a character loop) for every
  request's action and, in SQS, for every attribute of a queue each time its attributes are read:
  a FIFO queue's are read five times per message an event rule sends to it. Here the conversion,
  a pure function of a name, is kept per name. moto also lists every function of a response class
  (inspect.getmembers over its whole hierarchy) at every request, to check the action is one; here
  the list is kept per class (a class's functions do not change while it serves). And botocore, on
  the client side of every call, cleans each part of the User-Agent header character by character,
  twice per request: a pure function of the part, kept per part. Together about a tenth of an AWS
  call's CPU in the test suite; what is sent and answered is unchanged.
- Random identifiers: moto draws every request id (52 characters) and SQS receipt handle (185) one
  character per call into its random source. Here each is drawn in one call, from the same
  characters, at the same length, from the same (seedable) source.
- Every moto model: moto appends every instance of a model class it ever creates (each item
  version, stream record, SQS message, S3 key...) to the class's `instances_tracked` list, for its
  dashboard, and never removes one: most of what a busy day grows. Here the classes track their
  instances weakly: the dashboard and moto's resets still see every live one, and one that moto
  itself no longer holds is freed.

One fix adds what moto lacks rather than what it keeps: EventBridge partner event sources (partner
events, docs/integrate.md). moto creates the source in the company's account but puts a partner's
events on that account's default bus, and reads an event bus name as the text after its last "/",
so the partner event bus (named like its source, `aws.partner/<partner>/<stage>/<company>`) cannot
be given a rule. Here a bus name or ARN keeps its slashes, and PutPartnerEvents goes to the bus
the account associated with the source (CreateEventBus with EventSourceName), as in AWS; an event
for a source no bus is associated with, or one that was deleted, reaches nothing.
"""

from __future__ import annotations

import base64
import copy
import functools
import inspect
import json
import string
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import botocore.useragent
import jsonpath_ng.ext
from moto.core import responses as core_responses
from moto.core.common_models import BaseModel
from moto.core.utils import camelcase_to_underscores, method_names_from_class
from moto.dynamodb import comparisons
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb import responses as dynamodb_responses
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models import table as table_module
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import bytesize
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.events.models import EventsBackend, events_backends
from moto.moto_api._internal import mock_random
from moto.moto_api._internal.moto_random import MotoRandom
from moto.sqs import models as sqs_models

# moto's item size limit (LimitedSizeDict: DynamoDB's 400 KB, as measured by moto's authors).
ITEM_BYTES = 405_000
SHARD_ITERATOR_SECONDS = 15 * 60  # DynamoDB Streams: "a shard iterator expires 15 minutes after it is returned"

_originals: dict[tuple[Any, str], Any] = {}
_users = 0  # emulators started and not yet stopped: the last one to stop removes the fixes


def install() -> None:
    """Apply every fix (once, however many emulators start)."""
    global _users
    _users += 1
    if _originals:
        return
    _patch(DynamoDBBackend, "transact_write_items", _transact_write_items)
    _patch(dynamodb_models, "copy", _TablesByReference())
    _patch(Table, "query", _query)
    _patch(Item, "__init__", _item_init)
    _patch(ShardIterator, "__init__", _shard_iterator_init)
    _patch(DynamoDBStreamsBackend, "get_shard_iterator", _expiring(DynamoDBStreamsBackend.get_shard_iterator))
    _patch(DynamoDBStreamsBackend, "get_records", _expiring(DynamoDBStreamsBackend.get_records))
    _patch(BaseModel, "__new__", _tracked_weakly)
    _patch(DynamoDBStreamsHandler, "get_records", _get_records_as_json)
    _patch(dynamodb_responses.DynamoResult, "execute_result", _item_result_as_json)
    for module in (core_responses, sqs_models):
        _patch(module, "camelcase_to_underscores", _kept_python_name)
    _patch(core_responses, "method_names_from_class", _kept_method_names)
    _patch(botocore.useragent, "sanitize_user_agent_string_component", _kept_user_agent_part)
    _patch(MotoRandom, "get_random_string", _random_string)  # every request's id
    _patch(sqs_models, "generate_receipt_handle", _receipt_handle)  # every message received
    _patch(dynamodb_models, "get_filter_expression", _condition)  # where moto's writes look it up
    _patch(table_module, "get_filter_expression", _condition)
    _patch(EventsBackend, "_normalize_event_bus_arn", _event_bus_name)
    _patch(EventsBackend, "put_partner_events", _put_partner_events)
    _patch(EventsBackend, "create_partner_event_source", _create_partner_event_source)
    _patch(dynamodb_responses, "create_condition_expression_parser", _KeptParser)  # the requests' validation
    _patch(jsonpath_ng.ext, "parse", _kept_json_path)  # moto.events imports it at each delivery


def uninstall() -> None:
    global _users
    _users = max(0, _users - 1)
    if _users:
        return
    for (owner, name), kept in _originals.items():
        setattr(owner, name, kept)
    _originals.clear()


def installed() -> bool:
    return bool(_originals)


def _patch(owner: Any, name: str, replacement: Any) -> None:
    _originals[(owner, name)] = getattr(owner, name)
    setattr(owner, name, replacement)


def original(owner: Any, name: str) -> Any:
    """Moto's own `owner.name`, which a fix replaced (while the fixes are installed)."""
    return _originals[(owner, name)]


# -- Models: tracked weakly ------------------------------------------------------------------------

class _Alive:
    """A model class's `instances_tracked`: its live instances, without keeping any alive.

    By id, as models need not be hashable (an Item defines __eq__); an entry leaves with its instance.
    """

    def __init__(self, instances: list[Any]) -> None:
        self._by_id: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
        for instance in instances:
            self.append(instance)

    def append(self, instance: Any) -> None:
        self._by_id[id(instance)] = instance

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)


def _tracked_weakly(cls: type, *args: Any, **kwargs: Any) -> Any:
    instance = super(BaseModel, cls).__new__(cls)  # type: ignore[misc]  # as BaseModel.__new__ does
    tracked = cls.instances_tracked  # type: ignore[attr-defined]
    if not isinstance(tracked, _Alive):  # each class has its own list, created with it or by moto's reset
        tracked = cls.instances_tracked = _Alive(tracked)  # type: ignore[attr-defined]
    tracked.append(instance)
    return instance


# -- Conditions: parsed once per write ------------------------------------------------------------

_PARSES_KEPT = 1_024
_parses: dict[tuple[str | None, str, str], tuple[Any, list[str], list[str]]] = {}


def forget_parses() -> None:
    """Drop the kept parses: the next write parses its condition again (a test counting parses)."""
    _parses.clear()


class _KeptParser:
    """moto's ConditionExpressionParser, as its callers use it (parse(), then the names and values it
    found), answering from a kept parse of the same expression, names and values."""

    def __init__(self, expression: str | None, names: dict[str, str] | None, values: dict[str, Any] | None) -> None:
        self.args = (expression, names, values)
        self.expr_attr_names_found: list[str] = []
        self.expr_attr_values_found: list[str] = []

    def parse(self) -> Any:
        expression, names, values = self.args
        # None and {} alike: the request's validation passes {} where the write passes None.
        key = (expression, json.dumps(names or None, sort_keys=True, default=repr),
               json.dumps(values or None, sort_keys=True, default=repr))
        kept = _parses.get(key)
        if kept is None:
            parser = comparisons.create_condition_expression_parser(expression, names, values)
            kept = (parser.parse(), list(parser.expr_attr_names_found), list(parser.expr_attr_values_found))
            if len(_parses) >= _PARSES_KEPT:
                _parses.clear()
            _parses[key] = kept
        # Fresh lists: moto's callers extend them.
        self.expr_attr_names_found, self.expr_attr_values_found = list(kept[1]), list(kept[2])
        return kept[0]


def _condition(expression: str | None, names: dict[str, str] | None, values: dict[str, Any] | None) -> Any:
    """moto's get_filter_expression, from a kept parse."""
    return _KeptParser(expression, names, values).parse()


# -- TransactWriteItems: roll back the touched items, not the tables ------------------------------

class _TablesByReference:
    """moto's `copy` module, as seen by moto.dynamodb.models: a Table "copy" is the table itself.

    transact_write_items is the only place there that copies a Table (its backup); with this its
    backup and its own restore cost nothing, and _Saved below does the rollback instead.
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


@dataclass
class _SavedItem:
    table: Table
    hash_key: DynamoType
    range_key: DynamoType | None
    item: Item | None  # a copy of the item before the transaction; None if there was none
    had_partition: bool


class _Saved:
    """What a transaction may change: a copy of each item it writes, and each stream's length."""

    def __init__(self, backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        self.items: list[_SavedItem] = []
        self.streams: dict[int, tuple[Any, int]] = {}
        for entry in transact_items:
            saved = _before(backend, entry)
            if saved is None:
                continue
            self.items.append(saved)
            shard = saved.table.stream_shard
            if shard is not None:
                self.streams.setdefault(id(shard), (shard, len(shard.items)))

    def restore(self) -> None:
        for saved in reversed(self.items):
            partitions: Any = saved.table.items  # hash -> item, or hash -> {range -> item}
            if saved.range_key is None:
                if saved.item is None:
                    partitions.pop(saved.hash_key, None)
                else:
                    partitions[saved.hash_key] = saved.item
                continue
            partition = partitions[saved.hash_key]
            if saved.item is None:
                partition.pop(saved.range_key, None)
            else:
                partition[saved.range_key] = saved.item
            if not partition and not saved.had_partition:
                del partitions[saved.hash_key]
        for shard, length in self.streams.values():
            del shard.items[length:]  # a cancelled transaction leaves no stream records


def _before(backend: DynamoDBBackend, entry: dict[str, Any]) -> _SavedItem | None:
    """The item a Put, Update or Delete of the transaction targets, as it is now (None for a check
    or an entry moto will refuse before writing anything: no table, no key)."""
    if len(entry) != 1:
        return None
    kind, op = next(iter(entry.items()))
    table = backend.tables.get(str(op.get("TableName"))) if isinstance(op, dict) else None
    if kind not in ("Put", "Update", "Delete") or table is None:
        return None
    key = op.get("Item") if kind == "Put" else op.get("Key")
    try:
        hash_key = DynamoType(key[table.hash_key_attr])
        range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    except (KeyError, TypeError, AttributeError):
        return None
    partitions: Any = table.items
    had_partition = hash_key in partitions
    if range_key is None:
        current = partitions.get(hash_key)
    else:
        current = partitions[hash_key].get(range_key) if had_partition else None
    return _SavedItem(table, hash_key, range_key, copy.deepcopy(current), had_partition)


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    saved = _Saved(self, transact_items)
    try:
        original(DynamoDBBackend, "transact_write_items")(self, transact_items)
    except BaseException:
        saved.restore()
        raise


# -- Query: one partition, not the whole table sorted --------------------------------------------

_QUERY_SIGNATURE = inspect.signature(Table.query)


def _query(self: Table, *args: Any, **kwargs: Any) -> Any:
    asked = _QUERY_SIGNATURE.bind(self, *args, **kwargs).arguments
    hash_key = asked.get("hash_key")
    partitions: Any = self.items
    candidates: list[Item]
    if asked.get("index_name"):
        candidates = _unsorted_items(self)
    elif self.range_key_attr is None:
        found = partitions.get(hash_key)
        candidates = [found] if found is not None else []
    else:
        ranged: list[Any] = list(partitions[hash_key].values()) if hash_key in partitions else []
        comparison = asked.get("range_comparison")
        if comparison:  # the sort key condition, applied as moto would apply it after sorting
            test = comparisons.get_comparison_func(comparison)  # what DynamoType.compare looks up per item
            bounds = [_sort_value(bound) for bound in asked["range_objs"]]
            ranged = [item for item in ranged if test(_sort_value(item.range_key), *bounds)]
        # In key order already, moto's own sort (a comparison in Python per step) has nothing left to do.
        ranged.sort(key=lambda item: _sort_value(item.range_key))
        candidates = ranged
    # moto's query reads self.all_items(); for this call, it gets the candidates above.
    self.all_items = lambda: candidates  # type: ignore[method-assign]
    try:
        return original(Table, "query")(self, *args, **kwargs)
    finally:
        del self.all_items


def _sort_value(key: DynamoType) -> Any:
    """A sort key's value as moto compares it (its cast_value), read directly for a string."""
    return key.value if key.type == "S" else key.cast_value


def _unsorted_items(table: Table) -> list[Item]:
    partitions: Any = table.items
    if table.range_key_attr is None:
        return list(partitions.values())
    return [item for partition in partitions.values() for item in partition.values()]


# -- Items: sized once ---------------------------------------------------------------------------

def _item_init(self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]) -> None:
    self.hash_key = hash_key
    self.range_key = range_key
    values = {key: DynamoType(value) for key, value in attrs.items()}
    if sum(bytesize(key) + value.size() for key, value in values.items()) > ITEM_BYTES:
        raise ItemSizeTooLarge
    self.attrs = LimitedSizeDict()
    dict.update(self.attrs, values)  # as moto's own LimitedSizeDict(...) does: no check per key


# -- Streams: shard iterators expire ---------------------------------------------------------------

def _shard_iterator_init(self: ShardIterator, *args: Any, **kwargs: Any) -> None:
    original(ShardIterator, "__init__")(self, *args, **kwargs)
    self.returned_at = time.monotonic()  # type: ignore[attr-defined]


def _expiring(method: Callable[..., Any]) -> Callable[..., Any]:
    def call(self: DynamoDBStreamsBackend, *args: Any, **kwargs: Any) -> Any:
        _forget_expired(self.shard_iterators)
        return method(self, *args, **kwargs)

    return call


def _forget_expired(iterators: dict[str, ShardIterator]) -> None:
    """Oldest first (a dict keeps insertion order): stop at the first one still valid."""
    horizon = time.monotonic() - SHARD_ITERATOR_SECONDS
    expired = []
    for arn, iterator in iterators.items():
        if getattr(iterator, "returned_at", horizon) > horizon:
            break
        expired.append(arn)
    for arn in expired:
        del iterators[arn]



def _get_records_as_json(self: DynamoDBStreamsHandler) -> str:
    """moto's GetRecords answer, as JSON written directly (its records are wire JSON but for times and binaries)."""
    limit = self._get_param("Limit")
    page = self.backend.get_records(self._get_param("ShardIterator"), 1000 if limit is None else limit)
    return json.dumps(page, default=_as_json_protocol)


# moto's name conversion, kept per name (action and attribute names: a few hundred at most).
_kept_python_name = functools.lru_cache(maxsize=1024)(camelcase_to_underscores)
# moto's list of a response class's functions, kept per class (one per AWS service moto answers).
_kept_method_names = functools.lru_cache(maxsize=256)(method_names_from_class)


def _random_string(self: MotoRandom, length: int = 20, include_digits: bool = True,
                   lower_case: bool = False) -> str:
    """moto's get_random_string, drawn in one call."""
    drawn = "".join(self.choices(string.ascii_letters + (string.digits if include_digits else ""), k=length))
    return drawn.lower() if lower_case else drawn


def _receipt_handle() -> str:
    """moto's SQS receipt handle (185 lowercase letters), drawn in one call."""
    return "".join(mock_random.choices(string.ascii_lowercase, k=185))


# botocore's User-Agent part cleaning (a part and whether '#' is allowed), kept per part: a few dozen parts.
_kept_user_agent_part = functools.lru_cache(maxsize=1024)(botocore.useragent.sanitize_user_agent_string_component)


# The item operations whose answers are items, keys, counts and capacities: JSON values as moto builds them.
ITEM_OPERATIONS = frozenset({"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan",
                             "BatchGetItem", "BatchWriteItem", "TransactGetItems", "ExecuteStatement"})
JSON_1_0 = "application/x-amz-json-1.0"


def _item_result_as_json(self: Any, context: Any) -> tuple[int, dict[str, str], str]:
    """An item operation's answer dumped as it is; anything else through moto's own serializer."""
    if context.operation_model.name in ITEM_OPERATIONS and isinstance(self.result, dict):
        try:
            body = json.dumps({k: v for k, v in self.result.items() if v is not None}, default=_as_json_protocol)
        except TypeError:
            pass
        else:
            return 200, {"Content-Type": JSON_1_0}, body
    answer: tuple[int, dict[str, str], str] = original(dynamodb_responses.DynamoResult, "execute_result")(
        self, context)
    return answer


def _as_json_protocol(value: Any) -> Any:
    """A timestamp as epoch seconds, a binary as base64: how the JSON protocol sends them."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def forget_stream_records(stream_arn: str, through: int) -> int:
    """Drop a table stream's records up to sequence number `through`; how many were dropped.

    Sequence numbers stay what they were: the shard's starting sequence number (its trim horizon)
    moves forward by as many records as are dropped.
    """
    _, _, _, region, account, resource = stream_arn.split(":", 5)
    table = dynamodb_backends[account][region].tables.get(resource.split("/")[1])
    shard = table.stream_shard if table is not None else None
    if shard is None:
        return 0
    dropped = max(0, min(len(shard.items), through + 1 - shard.starting_sequence_number))
    del shard.items[:dropped]
    shard.starting_sequence_number += dropped
    return dropped


# -- Rule targets' input paths: a JSONPath parsed once --------------------------------------------

@functools.lru_cache(maxsize=256)
def _kept_json_path(path: str, debug: bool | None = None) -> Any:
    return original(jsonpath_ng.ext, "parse")(path, debug)


# -- EventBridge partner event sources -----------------------------------------------------------

def _event_bus_name(self: EventsBackend, event_bus_arn: str | None) -> str:
    if event_bus_arn is None:
        return "default"
    return event_bus_arn.split(":event-bus/", 1)[-1]  # a name may hold "/" (aws.partner/...)


def _create_partner_event_source(self: EventsBackend, name: str, account_id: str) -> Any:
    created = original(EventsBackend, "create_partner_event_source")(self, name, account_id)
    created.state = "ACTIVE"  # created again after a delete (moto keeps the deleted one)
    return created


def _put_partner_events(self: EventsBackend, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answers = []
    for entry in entries:
        source = self.partner_event_sources.get(entry.get("Source", ""))
        if source is None:
            answers.append({"ErrorCode": "InvalidArgument", "ErrorMessage": f"no event source {entry.get('Source')}"})
            continue
        answers.append({"EventId": str(uuid.uuid4())})
        for account_id in source.accounts:
            backend = events_backends[account_id][self.region_name]
            if backend.event_sources.get(source.name) is not source or source.state != "ACTIVE":
                continue
            if source.name in backend.event_buses:  # the partner event bus the account associated with it
                backend.put_events([{**entry, "EventBusName": source.name}])
    return answers
