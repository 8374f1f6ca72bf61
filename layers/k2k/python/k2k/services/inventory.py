"""Vendor inventory lines on the store: the one owner of their keys, their versioned writes and their
stock moves (StockMove). Every change writes the line and its event together.

A line with boxes held in carts or sold on orders not yet confirmed cannot be removed: the removal
is conditional on it (`removal_refusal` says why in words), so every expiry, void or deletion can
still give its boxes back. Lines removed before that rule existed are skipped by `present`.
"""

import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from k2k import bounds, clock, idempotency, keys, paging, pricing, store
from k2k.auth import Caller
from k2k.errors import Conflict, Invalid, NotFound
from k2k.events import Event, new_event, outbox
from k2k.inventory import (
    AvailabilityResyncRequested,
    InventoryLine,
    InventoryLineRemoved,
    InventoryStockMoved,
    InventoryType,
    LineFields,
    LinePatch,
    Rule,
    age_ineligibility,
    apply_patch,
    ineligibility,
    removal_refusal,
    stock_refusal,
)
from k2k.models import Model
from k2k.network import Company
from k2k.paging import Page
from k2k.services.network import active_connections_as_vendor, get_company
from k2k.store import ConditionFailed, LostRace, Store, plain, to_item


def _now() -> datetime:
    return clock.now()


def _line_key(company_id: str, line_id: str) -> dict[str, str]:
    return {"pk": keys.company_pk(company_id), "sk": keys.inventory_sk(line_id)}


def _box_code_key(company_id: str, box_code: str) -> dict[str, str]:
    return {"pk": keys.company_pk(company_id), "sk": f"BOXCODE#{box_code}"}


def check_location(company: Company, location: str) -> None:
    if location not in company.location_codes:
        raise Invalid(f"location {location} is not one of {', '.join(company.location_codes)}", field="location")


def new_line(company: Company, fields: LineFields, now: datetime, today: date | None = None) -> InventoryLine:
    """A line as the vendor creates it (validated against the company, not yet stored)."""
    check_location(company, fields.location)
    if fields.received_date is None and fields.inventory_type is not InventoryType.FUTURE_SALES:
        # Received today where the vendor is, which is how its boxes age.
        local_today = today or pricing.local_now(company.settings.timezone, now).date()
        fields = fields.model_copy(update={"received_date": local_today})
    return InventoryLine(**fields.model_dump(), line_id=uuid.uuid4().hex[:16],
                         vendor_company_id=company.company_id, version=1, updated_at=now)


def create_ops(line: InventoryLine) -> list[store.Op]:
    """Transaction items that create a line: the line, its unique box code, its event."""
    event = new_event(line, company_id=line.vendor_company_id, aggregate_id=line.line_id, aggregate_version=1)
    return [
        store.put(to_item(line, **_line_key(line.vendor_company_id, line.line_id), kind="INVENTORY"),
                  condition="attribute_not_exists(pk)"),
        store.put({**_box_code_key(line.vendor_company_id, line.box_code), "kind": "BOXCODE",
                   "line_id": line.line_id}, condition="attribute_not_exists(pk)"),
        outbox(event),
    ]


def create_line(db: Store, caller: Caller, fields: LineFields) -> InventoryLine:
    if (before := idempotency.done(db, InventoryLine)) is not None:  # a keyed request's re-execution
        return before  # type: ignore[no-any-return]
    line = new_line(get_company(db, caller.company_id), fields, _now())
    try:
        db.transact([*create_ops(line), *idempotency.outcome(InventoryLine, line)])
    except ConditionFailed as e:
        raise Conflict(f"box code {line.box_code} is already used by another line") from e
    return line


def get_line(db: Store, company_id: str, line_id: str) -> InventoryLine:
    item = db.get(keys.company_pk(company_id), keys.inventory_sk(line_id))
    if item is None:
        raise NotFound("inventory line not found")
    return InventoryLine.model_validate(plain(item))


def read_line(reads: store.Reads, company_id: str, line_id: str) -> Callable[[], InventoryLine | None]:
    """The line (None when it is not there), read with others in one batch (store.Reads)."""
    found = reads.want(_line_key(company_id, line_id))
    return lambda: InventoryLine.model_validate(plain(item)) if (item := found()) else None


def line_by_box_code(db: Store, company_id: str, box_code: str) -> InventoryLine | None:
    """The company's line holding this box code, if any (box codes are unique per company)."""
    held = db.get(*_box_code_key(company_id, box_code).values())
    if held is None:
        return None
    try:
        return get_line(db, company_id, held["line_id"])
    except NotFound:  # removed since: its box code goes with it, in one transaction; read as free
        return None


def get_lines(db: Store, company_id: str, line_ids: Sequence[str]) -> dict[str, InventoryLine]:
    """These lines of the company, by id (absent ones are left out): one batch read per 100."""
    found = db.batch_get([_line_key(company_id, line_id) for line_id in dict.fromkeys(line_ids)])
    return {line.line_id: line for line in (InventoryLine.model_validate(plain(i)) for i in found)}


def list_lines(db: Store, caller: Caller, limit: int, token: str | None) -> "Page[InventoryLine]":
    items, next_token = paging.read(db, caller.company_id, keys.company_pk(caller.company_id), keys.INVENTORY_PREFIX,
                                    limit=limit, token=token)
    return Page(items=[InventoryLine.model_validate(plain(i)) for i in items], next_token=next_token)


def update_line(db: Store, caller: Caller, line_id: str, patch: LinePatch) -> InventoryLine:
    """Apply a vendor's change. Without an expected version, a change that lost a race with a
    stock movement (carts, orders) is applied again to the fresh line; with one, it is a 409."""
    company = get_company(db, caller.company_id)
    for _ in range(5):
        current = get_line(db, caller.company_id, line_id)
        if patch.version is not None and patch.version != current.version:
            raise Conflict(f"the line changed meanwhile (version {current.version}, not {patch.version})")
        try:
            changed = apply_patch(current, patch, _now())
        except ValidationError as e:  # the patched line as a whole breaks a rule (a future line with no date)
            details = bounds.problems(e, ("body",))
            raise Invalid(f"invalid input: {', '.join(d['field'] for d in details)}", details=details) from e
        check_location(company, changed.location)
        event = new_event(changed, company_id=changed.vendor_company_id, aggregate_id=line_id,
                          aggregate_version=changed.version)
        try:
            db.transact([
                _patched(_line_key(caller.company_id, line_id), changed, patch.changes(), current.version),
                outbox(event),
            ])
            return changed
        except ConditionFailed as e:
            if patch.version is not None:
                raise Conflict("the line changed meanwhile; read it again") from e
    raise Conflict("the line keeps changing; try again")


def change_ops(current: InventoryLine, changed: InventoryLine, names: Iterable[str]) -> list[store.Op]:
    """Transaction items that write a change made by `apply_patch` (the fields `names` names), if the line
    is still at the version it was read at, and its event."""
    event = new_event(changed, company_id=changed.vendor_company_id, aggregate_id=changed.line_id,
                      aggregate_version=changed.version)
    return [_patched(_line_key(current.vendor_company_id, current.line_id), changed, names, current.version),
            outbox(event)]


def line_for_box_code(db: Store, company_id: str, box_code: str) -> InventoryLine | None:
    """The company's line with this box code (box codes are unique per company), or None."""
    found = db.get(*_box_code_key(company_id, box_code).values())
    if found is None:
        return None
    with suppress(NotFound):
        return get_line(db, company_id, str(found["line_id"]))
    return None


def lines_for_box_codes(db: Store, company_id: str, box_codes: Iterable[str]) -> dict[str, InventoryLine]:
    """The company's lines with these box codes, by box code (absent ones left out): two batched reads."""
    found = db.batch_get([_box_code_key(company_id, code) for code in set(box_codes)])
    ids = {str(i["line_id"]) for i in found}
    items = db.batch_get([_line_key(company_id, line_id) for line_id in ids]) if ids else []
    return {line.box_code: line for line in (InventoryLine.model_validate(plain(i)) for i in items)}


def _patched(key: dict[str, str], changed: InventoryLine, names: Iterable[str], expected: int) -> store.Op:
    """Write only the fields a patch names (with the version and time), if the line is still at the
    version the patch was applied to. What else the item carries (an import's origin) stays."""
    item = to_item(changed)
    sets, removes = [], []
    values: dict[str, Any] = {":expected": expected}
    attributes: dict[str, str] = {}
    for i, name in enumerate([*names, "version", "updated_at"]):
        attributes[f"#f{i}"] = name
        if item.get(name) is None:
            removes.append(f"#f{i}")  # null clears an optional field
        else:
            sets.append(f"#f{i} = :f{i}")
            values[f":f{i}"] = item[name]
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    return store.update(key, expression, values, condition="version = :expected", names=attributes)


def removal_ops(current: InventoryLine) -> list[store.Op]:
    """Transaction items that remove a line read at `current.version`, and its event. The removal is
    conditional: whatever a read said, nothing held or sold unshipped at the write (`removal_refusal`)."""
    company_id, line_id = current.vendor_company_id, current.line_id
    removed = InventoryLineRemoved(line_id=line_id, vendor_company_id=company_id, version=current.version + 1)
    event = new_event(removed, company_id=company_id, aggregate_id=line_id, aggregate_version=removed.version)
    return [
        store.delete(_line_key(company_id, line_id),
                     condition="version = :v AND (attribute_not_exists(boxes_held) OR boxes_held = :zero) "
                               "AND (attribute_not_exists(boxes_sold) OR boxes_sold = :zero "
                               "OR boxes_sold = boxes_shipped)",
                     values={":v": current.version, ":zero": 0}),
        store.delete(_box_code_key(company_id, current.box_code)),
        outbox(event),
    ]


def remove_line(db: Store, caller: Caller, line_id: str) -> None:
    current = get_line(db, caller.company_id, line_id)
    refuse_removal(db, current)
    try:
        db.transact(removal_ops(current))
    except ConditionFailed as e:
        with suppress(NotFound):  # removed meanwhile: the version check says so below
            refuse_removal(db, get_line(db, caller.company_id, line_id))
        raise Conflict("the line changed meanwhile; read it again") from e


def refuse_removal(db: Store, line: InventoryLine) -> None:
    """Conflict (409, naming the orders that hold it) when the line has boxes held or sold unshipped."""
    why = removal_refusal(line)
    if why is None:
        return
    from k2k.services.order_data import orders_holding  # the orders' owner, which moves stock through here

    holding = orders_holding(db, line.vendor_company_id, line.line_id)
    raise Conflict(why, details=[{"field": "line_id", "message": f"held by K2K order {order_id}"}
                                 for order_id in holding] or None)


# -- stock moves ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class StockMove:
    """Boxes of one vendor line moving between its buckets (docs/orders.md, Stock): negative numbers
    leave a bucket, positive ones enter it. `price`: the vendor's price the buyer was quoted, which
    a take off hand requires unchanged (and the line not on hold)."""

    vendor_id: str
    line_id: str
    box_code: str = ""
    on_hand: int = 0
    held: int = 0
    sold: int = 0
    shipped: int = 0
    price: Decimal | None = None

    @property
    def takes(self) -> bool:
        """Takes boxes the customer is waiting for (off hand, or held to sold): never silently dropped."""
        return self.on_hand < 0 or (self.held < 0 and self.sold > 0)

    @property
    def moves_availability(self) -> bool:
        """Boxes on hand - the only stock figure buyers see - change: their availability must follow.
        Held -> sold (a checkout) and sold -> shipped (a confirm) change nothing a buyer sees, so they
        publish no event and rewrite no buyer's row (issue 13: that was 2 + N requests per checkout)."""
        return self.on_hand != 0

    def op(self) -> store.Op:
        """The conditional update: no bucket below zero, the line still there, the quoted price kept."""
        conditions = ["attribute_exists(pk)"]
        values: dict[str, Any] = {":oh": self.on_hand, ":held": self.held, ":sold": self.sold,
                                  ":shipped": self.shipped, ":one": 1, ":zero": 0}
        for attr, delta, name in (("boxes_on_hand", self.on_hand, ":need_oh"),
                                  ("boxes_held", self.held, ":need_held"),
                                  ("boxes_sold", self.sold, ":need_sold")):
            if delta < 0:
                conditions.append(f"{attr} >= {name}")
                values[name] = -delta
        if self.price is not None:  # the cost the buyer was quoted is the cost it pays
            conditions.append("price = :price AND on_hold = :false")
            values.update({":price": self.price, ":false": False})
        return store.update(
            _line_key(self.vendor_id, self.line_id),
            "SET boxes_on_hand = boxes_on_hand + :oh, "
            "boxes_held = if_not_exists(boxes_held, :zero) + :held, "
            "boxes_sold = if_not_exists(boxes_sold, :zero) + :sold, "
            "boxes_shipped = if_not_exists(boxes_shipped, :zero) + :shipped, version = version + :one",
            values=values, condition=" AND ".join(conditions))

    def event(self, stamp: Callable[[Event], Event] | None = None) -> store.Op:
        """InventoryStockMoved: buyers' availability follows (it re-reads the line). For moves of boxes on
        hand (`moves_availability`). `stamp`: the producer's partner stamp (services/partner_audience.py)."""
        event = new_event(InventoryStockMoved(vendor_company_id=self.vendor_id, line_id=self.line_id),
                          company_id=self.vendor_id, aggregate_id=self.line_id, aggregate_version=0)
        return outbox(stamp(event) if stamp else event)


def merged(moves: Sequence[StockMove]) -> list[StockMove]:
    """One move per vendor line (a transaction touches an item once), in first-seen order."""
    out: dict[tuple[str, str], StockMove] = {}
    for m in moves:
        was = out.get((m.vendor_id, m.line_id))
        out[(m.vendor_id, m.line_id)] = m if was is None else StockMove(
            m.vendor_id, m.line_id, was.box_code or m.box_code, was.on_hand + m.on_hand, was.held + m.held,
            was.sold + m.sold, was.shipped + m.shipped, was.price if was.price is not None else m.price)
    return list(out.values())


def events(moves: Sequence[StockMove], stamp: Callable[[Event], Event] | None = None) -> list[store.Op]:
    return [m.event(stamp) for m in moves if m.moves_availability]


def present(db: Store, moves: Sequence[StockMove]) -> list[StockMove]:
    """Moves that give boxes back or ship them, without those whose line is gone: lines removed while
    they held boxes (before removal was refused for it) have nowhere to take them, and an expiry or
    void must still converge. A line that is there now cannot go before the write: it holds them."""
    reads = store.Reads()
    kept = read_present(reads, moves)
    reads.run(db)
    return kept()


def read_present(reads: store.Reads, moves: Sequence[StockMove]) -> Callable[[], list[StockMove]]:
    """`present`, its lines read with others in one batch (store.Reads)."""
    there = {(m.vendor_id, m.line_id): reads.want(_line_key(m.vendor_id, m.line_id)) for m in moves if not m.takes}
    return lambda: [m for m in moves if m.takes or there[(m.vendor_id, m.line_id)]() is not None]


def refusal(db: Store, move: StockMove) -> Exception:
    """What a refused stock move means, from a fresh read of its line: the customer's 409 saying why
    (removed, on hold, price changed, only N left now), or LostRace when it would succeed now."""
    try:
        line: InventoryLine | None = get_line(db, move.vendor_id, move.line_id)
    except NotFound:
        line = None
    if line is None and not move.takes:
        return LostRace()  # gone since it was read: the next attempt leaves it out (`present`)
    why = stock_refusal(line, move.box_code or (line.box_code if line else move.line_id), -move.on_hand
                        if move.on_hand < 0 else 0, move.price if move.on_hand < 0 else None)
    return Conflict(why) if why else LostRace()


class Publication(Model):
    buyer_company_id: str
    buyer_name: str
    published: bool
    reasons: list[Rule]


# -- what the inventory API answers and reads beyond the domain's own models -------------------------

class LineWithPublication(Model):
    line: InventoryLine
    publication: list[Publication]


class ResyncRequest(bounds.Input):
    buyer_company_id: bounds.CompanyId | None = None


def publication(db: Store, line: InventoryLine) -> list[Publication]:
    """Why each connected buyer does or does not see this line (aging included, as of today)."""
    out = []
    for conn in active_connections_as_vendor(db, line.vendor_company_id):
        vendor_today = pricing.local_now(conn.vendor_timezone, _now()).date()
        reasons = ineligibility(line, conn.terms) + age_ineligibility(
            line.inventory_type.value, line.received_date, conn.terms, vendor_today)
        out.append(Publication(buyer_company_id=conn.buyer_company_id, buyer_name=conn.buyer_name,
                               published=not reasons, reasons=reasons))
    return out


def request_resync(db: Store, caller: Caller, buyer_company_id: str | None) -> None:
    data = AvailabilityResyncRequested(vendor_company_id=caller.company_id, buyer_company_id=buyer_company_id)
    event = new_event(data, company_id=caller.company_id, aggregate_id=caller.company_id, aggregate_version=0)
    db.transact([outbox(event)])
