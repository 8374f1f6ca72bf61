"""The orders' documents on the store: the one owner of their keys and versioned load/save.

Carts, prebooks and purchase orders live in the buyer's partition, the vendor's K2K order in the
vendor's, staged boxes in the buyer's (docs/orders.md, docs/data-model.md). Use cases
(services/orders.py, vendor_orders.py, staging.py) read and write them only through this module;
a document is saved conditional on the version it was read at, and a step that loses that race
raises store.LostRace, which store.retrying runs again from fresh reads. Stock moves of vendor
lines are the inventory's (services/inventory.py, StockMove): `transact` commits them with the
documents and turns a failed stock condition into the customer's answer.

No hot document (issue 13 part 3): a line joining a pending PO is an item of its own under the PO
(and its vendor copy under the vendor order), and the two headers are touched only by atomic ADDs
conditional on still taking the line (`reserve_line`, `line_added`), so concurrent adds to one PO
never conflict with each other. A header keeps the lines its last whole-document write embedded;
the numbers of lines added since are in its `line_items` set, and every read here completes the
document from those items (one more batch, only when there are some). A whole-document write
(checkout, expiry, confirm, void, delete, a prebook's POs) embeds every line again and empties the
set, conditional on the version read, which every add moves: a step that read before an add goes
again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from k2k import keys, paging, store
from k2k.errors import NotFound
from k2k.orders import (
    MAX_ORDER_LINES,
    Cart,
    LineStatus,
    OrderLine,
    OrderStatus,
    PoStatus,
    Prebook,
    PurchaseOrder,
    VendorOrder,
    active_lines,
)
from k2k.paging import Page
from k2k.services.inventory import StockMove, refusal
from k2k.store import ConditionFailed, Item, LostRace, Reads, Store, plain, to_item


class Versioned(Protocol):
    version: int

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Any: ...


D = TypeVar("D", bound=Versioned)
M = TypeVar("M", bound=BaseModel)


# -- keys ---------------------------------------------------------------------------------------

def cart_key(buyer: str, cart_id: str) -> dict[str, str]:
    return {"pk": keys.company_pk(buyer), "sk": f"CART#{cart_id}"}


def po_key(buyer: str, po_id: str) -> dict[str, str]:
    return {"pk": keys.company_pk(buyer), "sk": f"PO#{po_id}"}


def prebook_key(buyer: str, prebook_id: str) -> dict[str, str]:
    return {"pk": keys.company_pk(buyer), "sk": f"PREBOOK#{prebook_id}"}


def order_key(vendor: str, order_id: str) -> dict[str, str]:
    return {"pk": keys.company_pk(vendor), "sk": f"ORDER#{order_id}"}


# Lines that joined a PO (and their vendor copies) as items of their own, outside the PO# and ORDER#
# prefixes that lists read: POLINE#<po_id>#0007, ORDERLINE#<order_id>#0007.
def po_line_key(buyer: str, po_id: str, line_no: int) -> dict[str, str]:
    return {"pk": keys.company_pk(buyer), "sk": f"POLINE#{po_id}#{line_no:04d}"}


def order_line_key(vendor: str, order_id: str, line_no: int) -> dict[str, str]:
    return {"pk": keys.company_pk(vendor), "sk": f"ORDERLINE#{order_id}#{line_no:04d}"}


PO_KIND, ORDER_KIND = "PO", "ORDER"  # a K2K PO item's kind is its document's ("k2k"; "PO" before)
_HEADER_KINDS = ("k2k", PO_KIND, ORDER_KIND)
# A header's bookkeeping, not its document's: the last line number handed out (PO), the count of
# active lines (PO: the bound a joining line is checked against), the numbers of the lines that are
# items of their own and not yet embedded.
_HEADER_ONLY = ("line_seq", "active_lines", "line_items")


def _document(item: Item) -> Item:
    return {k: v for k, v in plain(item).items() if k not in _HEADER_ONLY}


def _line_keys(item: Item) -> list[dict[str, str]]:
    """The keys of the lines a PO or vendor order header names as items of their own, not embedded."""
    embedded = {int(ln["line_no"]) for ln in item.get("lines", [])}
    missing = sorted(int(n) for n in item.get("line_items", ()) if int(n) not in embedded)
    if item.get("kind") == ORDER_KIND:
        return [order_line_key(item["vendor_company_id"], item["order_id"], n) for n in missing]
    return [po_line_key(item["buyer_company_id"], item["po_id"], n) for n in missing]


def _with_lines(item: Item, lines: Sequence[Item | None]) -> Item:
    """The header's document with its line items added in line order."""
    found = [_document(ln) for ln in lines if ln is not None]
    if not found:
        return item
    return {**item, "lines": sorted([*item.get("lines", []), *found], key=lambda ln: int(ln["line_no"]))}


def completed(db: Store, items: Sequence[Item]) -> list[Item]:
    """PO and vendor order items with the lines they name as items of their own: one more batch read,
    only when some header names any (other items are returned as they are)."""
    wanted = {id(i): _line_keys(i) for i in items if i.get("kind") in _HEADER_KINDS}
    keys_ = [k for ks in wanted.values() for k in ks]
    if not keys_:
        return list(items)
    found = {(i["pk"], i["sk"]): i for i in db.batch_get(keys_)}
    return [_with_lines(i, [found.get((k["pk"], k["sk"])) for k in wanted[id(i)]]) if wanted.get(id(i)) else i
            for i in items]


def _completing(reads: Reads, found: Callable[[], Item | None]) -> Callable[[], Item | None]:
    """A header read in a batch, completed with its line items (wanted in the batch's next round)."""
    lines: list[Callable[[], Item | None]] = []

    def more() -> None:
        item = found()
        if item is not None:
            lines.extend(reads.want(k) for k in _line_keys(item))

    reads.then(more)

    def document() -> Item | None:
        item = found()
        return _with_lines(item, [ln() for ln in lines]) if item is not None and lines else item

    return document


STAGING_PREFIX = "STAGING#"


def staging_key(buyer: str, po_id: str, line_no: int) -> dict[str, str]:
    return {"pk": keys.company_pk(buyer), "sk": f"{STAGING_PREFIX}{po_id}#{line_no:04d}"}


def staging_prefix(po_id: str | None = None) -> str:
    """The buyer's staged boxes, of one PO or of all."""
    return f"{STAGING_PREFIX}{po_id}#" if po_id else STAGING_PREFIX


# Boxes still waiting in staging, by box code: a staged line with boxes left to receive is on gsi1 under
# its box code, and the receipt that takes its last box takes it off (a sparse index), so a receipt finds
# its boxes by key however many staged lines the buyer received before. Box codes hold no '#' (bounds.Code).
def _waiting_pk(buyer: str, box_code: str) -> str:
    return f"{keys.company_pk(buyer)}#STAGEDBOX#{box_code}"


def staged(buyer: str, fields: Item) -> store.Op:
    """Put a line's boxes into the buyer's staging area, waiting under their box code: the staging item
    (po_id, line_no, box_code, boxes_confirmed and what the receipt needs; none received yet)."""
    po_id, line_no = fields["po_id"], fields["line_no"]
    return store.put({**staging_key(buyer, po_id, line_no), "kind": "STAGING", **fields, "boxes_received": 0,
                      "gsi1pk": _waiting_pk(buyer, fields["box_code"]), "gsi1sk": f"{po_id}#{line_no:04d}"},
                     condition="attribute_not_exists(pk)")


def waiting_in_staging(db: Store, buyer: str, box_code: str, po_id: str | None = None, *,
                       recheck: bool = False) -> Item | None:
    """The first staged line (by PO and line) with boxes of this code still to receive, of one PO or of any:
    it reads what waits, never the history. The index is eventually consistent, and its copy is taken as it
    is: nothing of a staged line changes but its count, and the receipt's write is conditional on the count
    read (`received`). After a lost race, `recheck` reads each line again, consistently, passing over one
    the index still shows but that was received meanwhile."""
    for entry in db.iter_query(_waiting_pk(buyer, box_code), f"{po_id}#" if po_id else None, index="gsi1"):
        item = db.get(entry["pk"], entry["sk"]) if recheck else entry
        if item is not None and item["boxes_received"] < item["boxes_confirmed"]:
            return item
    return None


def received(staged_item: Item, boxes: int) -> store.Op:
    """Count `boxes` of a staged line received, conditional on the count read (a racing receipt goes again);
    the receipt that takes its last box takes the line off the box-code index."""
    last = int(staged_item["boxes_received"]) + boxes >= int(staged_item["boxes_confirmed"])
    return store.update({"pk": staged_item["pk"], "sk": staged_item["sk"]},
                        "SET boxes_received = boxes_received + :n" + (" REMOVE gsi1pk, gsi1sk" if last else ""),
                        values={":n": boxes, ":read": staged_item["boxes_received"]},
                        condition="boxes_received = :read")


def _pending_key(buyer_id: str, vendor_id: str, ship_date: date) -> dict[str, str]:
    return {"pk": keys.company_pk(buyer_id), "sk": f"POPENDING#{vendor_id}#{ship_date.isoformat()}"}


def _guard_key(po: PurchaseOrder) -> dict[str, str]:
    return _pending_key(po.buyer_company_id, po.vendor_company_id, po.ship_date)


@dataclass(frozen=True)
class Guard:
    """The pending-PO guard of a buyer, vendor and ship date: the one consolidating PO pending approval
    that takes new lines, and its vendor order (None on guards written before it was kept there)."""

    po_id: str
    order_id: str | None


def _guard(item: Item | None) -> Guard | None:
    return Guard(item["po_id"], item.get("order_id")) if item else None


# -- load ---------------------------------------------------------------------------------------

def _load(db: Store, key: dict[str, str], model: type[M], what: str) -> M:
    item = db.get(key["pk"], key["sk"])
    if item is None:
        raise NotFound(f"{what} not found")
    return model.model_validate(_document(completed(db, [item])[0]))


def get_cart(db: Store, company_id: str, cart_id: str) -> Cart:
    return _load(db, cart_key(company_id, cart_id), Cart, "cart")


# -- reads in one batch (store.Reads): each answers its document, or NotFound, once the batch ran ---

def _reading(reads: Reads, key: dict[str, str], model: type[M], what: str) -> Callable[[], M]:
    found = _completing(reads, reads.want(key))

    def document() -> M:
        item = found()
        if item is None:
            raise NotFound(f"{what} not found")
        return model.model_validate(plain(item))

    return document


def read_cart(reads: Reads, company_id: str, cart_id: str) -> Callable[[], Cart]:
    return _reading(reads, cart_key(company_id, cart_id), Cart, "cart")


def read_po(reads: Reads, company_id: str, po_id: str) -> Callable[[], PurchaseOrder]:
    """A K2K PO (a standalone PO of that id is not one: NotFound)."""
    found = _completing(reads, reads.want(po_key(company_id, po_id)))

    def po() -> PurchaseOrder:
        item = found()
        if item is None or not is_k2k_po(item):
            raise NotFound("purchase order not found")
        return k2k_po(item)

    return po


def read_order(reads: Reads, vendor_id: str, order_id: str) -> Callable[[], VendorOrder]:
    return _reading(reads, order_key(vendor_id, order_id), VendorOrder, "order")


def read_guard(reads: Reads, buyer_id: str, vendor_id: str, ship_date: date) -> Callable[[], Guard | None]:
    """The pending-PO guard of this vendor and ship date: it names the one PO new lines may join (a key
    lookup, whatever the buyer's history of POs)."""
    found = reads.want(_pending_key(buyer_id, vendor_id, ship_date))
    return lambda: _guard(found())


def pos_and_orders(db: Store, buyer_id: str, wanted: Sequence[tuple[str, str, str | None]], reads: Reads | None = None
                   ) -> dict[str, tuple[PurchaseOrder, VendorOrder]]:
    """These K2K POs of the buyer with their vendor orders, by PO id, absent ones left out: `wanted` is
    (po_id, vendor_id, order_id or None when not known), read in one batch with whatever `reads` holds
    (its answers are ready after this); an order whose id was not known takes a read after its PO."""
    reads = reads or Reads()
    pos = {po_id: read_po(reads, buyer_id, po_id) for po_id, _, _ in wanted}
    orders = {po_id: read_order(reads, vendor, order_id) for po_id, vendor, order_id in wanted if order_id}
    reads.run(db)
    out: dict[str, tuple[PurchaseOrder, VendorOrder]] = {}
    for po_id, po_read in pos.items():
        try:
            po = po_read()
            order = orders[po_id]() if po_id in orders else get_order(db, po.vendor_company_id, po.order_id)
        except NotFound:
            continue
        out[po_id] = (po, order)
    return out


# K2K POs and standalone POs (services/purchasing.py, their owner) share the PO# key space: the item's
# kind attribute is the PO's `kind` ("k2k", or "PO" as K2K POs were stored before standalone ones).
STANDALONE_PO_KIND = "standalone"
PO_PREFIX = "PO#"


def is_k2k_po(item: Item) -> bool:
    return item.get("kind") != STANDALONE_PO_KIND


def k2k_po(item: Item) -> PurchaseOrder:
    """A K2K PO item, `completed`, as its document."""
    return PurchaseOrder.model_validate(_document(item))


def k2k_pos(db: Store, items: Sequence[Item]) -> list[PurchaseOrder]:
    """Stored K2K PO items as their documents, with their line items (for a reader of both kinds of PO:
    services/purchasing.py)."""
    return [k2k_po(i) for i in completed(db, items)]


def get_po(db: Store, company_id: str, po_id: str) -> PurchaseOrder:
    """A K2K PO; a standalone PO of that id is not one (NotFound)."""
    item = db.get(*po_key(company_id, po_id).values())
    if item is None or not is_k2k_po(item):
        raise NotFound("purchase order not found")
    return k2k_pos(db, [item])[0]


def get_prebook(db: Store, company_id: str, prebook_id: str) -> Prebook:
    return _load(db, prebook_key(company_id, prebook_id), Prebook, "prebook")


def get_order(db: Store, company_id: str, order_id: str) -> VendorOrder:
    return _load(db, order_key(company_id, order_id), VendorOrder, "order")


def _page(db: Store, company_id: str, prefix: str, model: type[M], limit: int, token: str | None) -> Page[M]:
    items, next_token = paging.read(db, company_id, keys.company_pk(company_id), prefix, limit=limit, token=token)
    return Page(items=[model.model_validate(_document(i)) for i in completed(db, items)], next_token=next_token)


def list_orders(db: Store, company_id: str, limit: int, token: str | None) -> Page[VendorOrder]:
    return _page(db, company_id, "ORDER#", VendorOrder, limit, token)


def list_prebooks(db: Store, company_id: str, limit: int, token: str | None) -> Page[Prebook]:
    return _page(db, company_id, "PREBOOK#", Prebook, limit, token)


def _open_orders_pk(vendor_id: str) -> str:
    """gsi1: the vendor's orders while they are OPEN (a sparse index: a confirm or void takes them off)."""
    return f"{keys.company_pk(vendor_id)}#ORDERS#OPEN"


def orders_holding(db: Store, vendor_id: str, line_id: str) -> list[str]:
    """The vendor's open orders with an active line of this inventory line (an explanation, rarely asked):
    read from the open-orders index, so it costs the orders open now, never the vendor's history. The index
    lags its writes a little; the refusal it explains comes from the line itself."""
    items = db.query(_open_orders_pk(vendor_id), index="gsi1")
    return [i["order_id"] for i in completed(db, items) if any(
        ln["vendor_line_id"] == line_id and ln.get("status", LineStatus.ACTIVE.value) == LineStatus.ACTIVE.value
        for ln in i.get("lines", []))]


# -- save ---------------------------------------------------------------------------------------

def write(doc: BaseModel, key: dict[str, str], kind: str, read_version: int | None) -> store.Op:
    """Put a whole document, conditional on the version it was read at (None: must be new)."""
    item = to_item(doc, **key, kind=kind)
    if kind in (PO_KIND, ORDER_KIND):
        return _header_written(doc, item, kind, read_version)
    if read_version is None:
        return store.put(item, condition="attribute_not_exists(pk)")
    return store.put(item, condition="version = :v", values={":v": read_version})


def _header_written(doc: BaseModel, item: Item, kind: str, read_version: int | None) -> store.Op:
    """A PO or vendor order written whole: every line embedded (the line items it had are in the lines
    read, since no add came between: an add moves the version), the PO's count of active lines with it.
    The last line number handed out is left as it is (an add may have taken one since: it moved the
    version, so this write then fails and the step goes again)."""
    lines = item["lines"]
    if isinstance(doc, PurchaseOrder):
        item["active_lines"] = active_lines(doc.lines)
    index_gone: list[str] = []
    if isinstance(doc, VendorOrder):  # an open order is on the vendor's open-orders index, and only then
        if doc.status == OrderStatus.OPEN:
            item.update(gsi1pk=_open_orders_pk(doc.vendor_company_id), gsi1sk=doc.order_id)
        else:
            index_gone = ["gsi1pk", "gsi1sk"]
    if read_version is None:
        if kind == PO_KIND:
            item["line_seq"] = max((int(ln["line_no"]) for ln in lines), default=0)
        return store.put(item, condition="attribute_not_exists(pk)")
    fields = {k: v for k, v in item.items() if k not in ("pk", "sk") and v is not None}
    names = {f"#a{n}": k for n, k in enumerate(fields)}
    values: dict[str, Any] = {f":a{n}": v for n, v in enumerate(fields.values())}
    gone = [k for k in type(doc).model_fields if k not in fields]
    gone = [*gone, "line_items", *index_gone]
    names.update({f"#r{n}": k for n, k in enumerate(gone)})
    expression = ("SET " + ", ".join(f"#a{n} = :a{n}" for n in range(len(fields)))
                  + " REMOVE " + ", ".join(f"#r{n}" for n in range(len(gone))))
    return store.update({"pk": item["pk"], "sk": item["sk"]}, expression, values={**values, ":v": read_version},
                        condition="version = :v", names=names)


def bump(doc: D, **changes: Any) -> D:
    """The document's next version, with these changes (saved by `written`)."""
    bumped: D = doc.model_copy(update={**changes, "version": doc.version + 1})
    return bumped


def written(doc: BaseModel, key: dict[str, str], kind: str) -> store.Op:
    """Save a document bumped once since it was read (version 1: it is new)."""
    version = doc.version  # type: ignore[attr-defined]
    return write(doc, key, kind, version - 1 if version > 1 else None)


_UNREAD: Any = object()


def pending_guard(db: Store, was: PoStatus | None, po: PurchaseOrder, guard: Guard | None = _UNREAD,
                  named: PurchaseOrder | None = _UNREAD) -> list[store.Op]:
    """At most one consolidating PO pending approval per vendor and ship date takes new lines: a guard
    item names it (and its vendor order), so two first adds racing cannot open two. A new pending PO takes
    the guard over from whatever it named when read (nothing, or a PO that cannot take more lines); a PO
    leaving pending approval removes the guard only if it still names it. `guard` and `named` (the PO it
    names) as the caller read them in its batch; read here when not given. The writes are conditional on
    the guard as read, so a guard that changed since makes the step run again."""
    if po.separate:
        return []
    key = _guard_key(po)
    pending = po.status is PoStatus.PENDING_APPROVAL
    if pending and was is not PoStatus.PENDING_APPROVAL:
        if guard is _UNREAD:
            guard = _guard(db.get(key["pk"], key["sk"]))
        item = {**key, "kind": "POGUARD", "po_id": po.po_id, "order_id": po.order_id}
        if guard is None:
            return [store.put(item, condition="attribute_not_exists(pk)")]
        if named is _UNREAD or (named is not None and named.po_id != guard.po_id):
            found = db.get(*po_key(po.buyer_company_id, guard.po_id).values())
            named = k2k_pos(db, [found])[0] if found is not None else None
        if named is not None and named.status is PoStatus.PENDING_APPROVAL and active_lines(
                named.lines) < MAX_ORDER_LINES:
            raise LostRace  # a PO this line can join opened meanwhile: go again and join it
        return [store.put(item, condition="po_id = :seen", values={":seen": guard.po_id})]
    if was is PoStatus.PENDING_APPROVAL and not pending:
        if guard is _UNREAD:
            guard = _guard(db.get(key["pk"], key["sk"]))
        if guard is None or guard.po_id != po.po_id:
            return []  # gone, or taken over by a newer PO: it is that one's now
        return [store.delete(key, condition="po_id = :po", values={":po": po.po_id})]
    return []


# -- a line joining a pending PO: no hot document ------------------------------------------------

@dataclass(frozen=True)
class Joining:
    """A pending PO a new line joins, and the line number it took (`reserve_line`)."""

    po_id: str
    order_id: str
    vendor_company_id: str
    line_no: int


_TAKES_LINES = "#s = :pending AND #sep = :separate AND active_lines < :max"
_TAKES_NAMES = {"#s": "status", "#sep": "separate"}


def reserve_line(db: Store, buyer_id: str, po_id: str, *, separate: bool) -> Joining | None:
    """Take the next line number of this PO for a line joining it, if it still takes lines: pending
    approval, of the kind asked (a consolidating PO, or an e-commerce purchase's separate one), with room
    for one more active line. An atomic ADD on the header, never retried: racing adds each get their own
    number. None when the PO does not take the line (a new one is opened). A number whose add then fails
    is never used (gaps in a PO's line numbers are harmless)."""
    try:
        item = db.update(po_key(buyer_id, po_id), "ADD line_seq :one, version :one",
                         values={":one": 1, ":pending": PoStatus.PENDING_APPROVAL.value, ":separate": separate,
                                 ":max": MAX_ORDER_LINES},
                         condition=_TAKES_LINES, names=_TAKES_NAMES)
    except ConditionFailed:
        return None
    if not is_k2k_po(item):
        return None
    return Joining(po_id, item["order_id"], item["vendor_company_id"], int(item["line_seq"]))


def line_added(buyer_id: str, joining: Joining, line: OrderLine, separate: bool, now: datetime) -> list[store.Op]:
    """The writes of a line joining a PO (`reserve_line`): the PO's line and the vendor's copy, each an item
    of its own, and the two headers touched by atomic ADDs only, conditional on still taking the line (the
    PO pending approval with room, the order open), so adds to one PO never conflict with each other. The
    headers' versions move: a step that rewrites a header it read before this add goes again."""
    n = line.line_no
    stamp = {":one": 1, ":n": {n}, ":now": now.isoformat()}
    return [
        store.put(to_item(line, **po_line_key(buyer_id, joining.po_id, n), kind="POLINE"),
                  condition="attribute_not_exists(pk)"),
        store.put(to_item(line.for_vendor(), **order_line_key(joining.vendor_company_id, joining.order_id, n),
                          kind="ORDERLINE"), condition="attribute_not_exists(pk)"),
        store.update(po_key(buyer_id, joining.po_id),
                     "ADD version :one, active_lines :one, line_items :n SET updated_at = :now",
                     values={**stamp, ":pending": PoStatus.PENDING_APPROVAL.value, ":separate": separate,
                             ":max": MAX_ORDER_LINES}, condition=_TAKES_LINES, names=_TAKES_NAMES),
        store.update(order_key(joining.vendor_company_id, joining.order_id),
                     "ADD version :one, line_items :n SET updated_at = :now",
                     values={**stamp, ":open": OrderStatus.OPEN.value}, condition="#s = :open",
                     names={"#s": "status"}),
    ]


def transact(db: Store, ops: list[store.Op], moves: Sequence[StockMove] = ()) -> None:
    """Commit a step: its stock moves and its documents in one transaction. A stock move whose
    condition failed is the customer's answer (a 409 saying why, from a fresh read of the line);
    any other failed condition is a lost race (LostRace: run the step again)."""
    try:
        db.transact([*(m.op() for m in moves), *ops])
    except ConditionFailed as e:
        for i, move in enumerate(moves):
            if e.failed_at(i):
                raise refusal(db, move) from e
        raise LostRace from e
