"""Standalone purchase orders on the store: the one owner of their documents, and their use cases
(k2k.purchasing has the rules).

A standalone PO is one item in the company's partition under the same `PO#<po_id>` key as K2K POs
(services/order_data.py owns those, and the key); its item kind is "standalone". Every step writes the
PO conditional on the version read, with its event, in one transaction. Confirming puts its lines in
the staging area (order_data.staging_key) where services/staging.py receives them by box code.
"""

import uuid
from collections.abc import Callable, Sequence
from datetime import date

from pydantic import BaseModel, Field

from k2k import clock, idempotency, keys, paging, pricing, store
from k2k.auth import Caller
from k2k.bounds import Code, Input, Version
from k2k.errors import Conflict, Invalid, NotFound
from k2k.events import new_event, outbox
from k2k.orders import PoStatus
from k2k.paging import Page
from k2k.procurement import (
    ANSWERED_MEANWHILE,
    SHIPPED,
    ChangeRequest,
    LineAnswer,
    LineChange,
    PurchaseOrderChangeRequested,
    RequestKind,
    RequestStatus,
    ShippedLine,
    next_request,
)
from k2k.purchasing import (
    AnyPurchaseOrder,
    PlannedLine,
    PoLine,
    PurchaseOrderAnswered,
    PurchaseOrderApproved,
    PurchaseOrderCancelled,
    PurchaseOrderChanged,
    PurchaseOrderConfirmed,
    PurchaseOrderCreated,
    PurchaseOrderReceived,
    StandalonePoIn,
    StandalonePurchaseOrder,
    as_shipped,
    box_code_refusal,
    check_cancellable,
    check_changeable,
    check_ship_date,
    check_status,
    fully_received,
    new_line,
    packed,
    with_changes,
)
from k2k.services import accounts, inventory, order_data, products
from k2k.services.network import get_company, get_vendor
from k2k.store import ConditionFailed, Item, LostRace, Store, plain, retrying, to_item

KIND = order_data.STANDALONE_PO_KIND


def _key(company_id: str, po_id: str) -> dict[str, str]:
    return order_data.po_key(company_id, po_id)


def _write(po: StandalonePurchaseOrder, read_version: int | None) -> store.Op:
    item = to_item(po, **_key(po.buyer_company_id, po.po_id))  # its kind attribute: "standalone"
    if read_version is None:
        return store.put(item, condition="attribute_not_exists(pk)")
    return store.put(item, condition="version = :v", values={":v": read_version})


def _document(item: Item) -> StandalonePurchaseOrder:
    return StandalonePurchaseOrder.model_validate(plain(item))


def _event(po: StandalonePurchaseOrder, data: BaseModel) -> store.Op:
    return outbox(new_event(data, company_id=po.buyer_company_id, aggregate_id=po.po_id,
                            aggregate_version=po.version))


# -- reads --------------------------------------------------------------------------------------

def get_po(db: Store, company_id: str, po_id: str) -> StandalonePurchaseOrder:
    """A standalone PO; a K2K PO of that id is not one (NotFound)."""
    item = db.get(*_key(company_id, po_id).values())
    if item is None or order_data.is_k2k_po(item):
        raise NotFound("purchase order not found")
    return _document(item)


def _any(db: Store, items: Sequence[Item]) -> list[AnyPurchaseOrder]:
    """PO items of either kind as their documents (K2K POs read whole by their owner, order_data)."""
    k2k = iter(order_data.k2k_pos(db, [i for i in items if order_data.is_k2k_po(i)]))
    return [next(k2k) if order_data.is_k2k_po(i) else _document(i) for i in items]


def get_any_po(db: Store, company_id: str, po_id: str) -> AnyPurchaseOrder:
    item = db.get(*_key(company_id, po_id).values())
    if item is None:
        raise NotFound("purchase order not found")
    return _any(db, [item])[0]


def pos_by_id(db: Store, company_id: str, po_ids: Sequence[str]) -> list[AnyPurchaseOrder]:
    """These POs of the company, of either kind (absent ones are left out): one batch read."""
    return _any(db, db.batch_get([_key(company_id, po_id) for po_id in dict.fromkeys(po_ids)]))


def list_pos(db: Store, company_id: str, limit: int, token: str | None) -> "Page[AnyPurchaseOrder]":
    """Every PO of the company, K2K and standalone, in one list (one key prefix)."""
    items, next_token = paging.read(db, company_id, keys.company_pk(company_id), order_data.PO_PREFIX,
                                    limit=limit, token=token)
    return Page(items=_any(db, items), next_token=next_token)


# -- create ---------------------------------------------------------------------------------------

def plan_po(db: Store, caller: Caller, vendor_code: str, customer_code: str | None, ship_date: date,
            lines: Sequence[PlannedLine], location: str | None = None, *, k2k_transfer: bool = False,
            ) -> tuple[StandalonePurchaseOrder, list[store.Op]]:
    """A new standalone PO, pending approval, and the ops that write it with its PurchaseOrderCreated
    event (a caller may add them to its own transaction: POs from a prebook). Refuses (422, naming the
    field) a vendor that is not the company's, an unknown customer or product, a ship date in the past,
    a packing that does not hold the quantity."""
    company = get_company(db, caller.company_id)
    vendor = get_vendor(db, company.company_id, vendor_code)
    if vendor is None:
        raise Invalid(f"vendor {vendor_code} is not one of your vendors (PUT /vendors/{{vendor_code}})",
                      field="vendor_code")
    for field, code in [("customer_code", customer_code),
                        *((f"lines.{n}.customer_code", ln.customer_code) for n, ln in enumerate(lines))]:
        if code is not None:
            accounts.require_customer(db, company.company_id, code, field)
    if location is not None and location not in company.location_codes:
        raise Invalid(f"location {location} is not one of {', '.join(company.location_codes)}", field="location")
    now = clock.now()
    check_ship_date(ship_date, pricing.local_now(company.settings.timezone, now).date())
    known = products.products_by_code(db, company.company_id, [ln.product_code for ln in lines])
    po_id = f"PO-{uuid.uuid4().hex[:12].upper()}"
    po_lines: list[PoLine] = []
    for n, ln in enumerate(lines):
        product = known.get(ln.product_code)
        if product is None:
            raise Invalid(f"product {ln.product_code} is not in your catalogue (PUT /products/{{product_code}})",
                          field=f"lines.{n}.product_code")
        packing = packed(product, ln.quantity, ln.packing, f"lines.{n}")
        po_lines.append(new_line(n + 1, po_id, product, ln, packing, customer_code,
                                 location or company.location_codes[0], company.settings.buyer))
    codes = [ln.box_code for ln in po_lines]
    if len(set(codes)) != len(codes):
        raise Invalid("each line needs its own box code", field="lines")
    for n, (planned, line) in enumerate(zip(lines, po_lines, strict=True)):
        if planned.box_code is not None:
            why = box_code_refusal(line, inventory.line_by_box_code(db, company.company_id, line.box_code))
            if why:
                raise Invalid(why, field=f"lines.{n}.box_code")
    po = StandalonePurchaseOrder(
        po_id=po_id, buyer_company_id=company.company_id, vendor_code=vendor.code, vendor_name=vendor.name,
        vendor_company_id=vendor.k2k_company_id, customer_code=customer_code, ship_date=ship_date,
        status=PoStatus.PENDING_APPROVAL, lines=po_lines, k2k_transfer=k2k_transfer,
        created_by=caller.email or caller.user_id, created_at=now, updated_at=now)
    return po, [_write(po, None), _event(po, PurchaseOrderCreated(purchase_order=po))]


def create_po(db: Store, caller: Caller, body: StandalonePoIn) -> StandalonePurchaseOrder:
    lines = [PlannedLine(product_code=ln.product_code, quantity=ln.quantity, unit_cost=ln.unit_cost,
                         customer_code=ln.customer_code, box_code=ln.box_code, packing=ln.packing)
             for ln in body.lines]
    if (before := idempotency.done(db, StandalonePurchaseOrder)) is not None:  # a keyed re-execution
        return before  # type: ignore[no-any-return]
    po, ops = plan_po(db, caller, body.vendor_code, body.customer_code, body.ship_date, lines, body.location,
                      k2k_transfer=body.k2k_transfer)
    db.transact([*ops, *idempotency.outcome(StandalonePurchaseOrder, po)])
    return po


# -- approve and confirm ------------------------------------------------------------------------

class ApproveIn(Input):
    version: Version | None = Field(default=None, description="the version you read; 409 if it changed since")


class ConfirmIn(Input):
    awb: Code | None = Field(default=None, description="the air waybill the goods came on; default: made up")
    version: Version | None = Field(default=None, description="the version you read; 409 if it changed since")


def _step(db: Store, caller: Caller, po_id: str, version: int | None, wanted: PoStatus, doing: str,
          ) -> StandalonePurchaseOrder:
    po = get_po(db, caller.company_id, po_id)
    if version is not None and version != po.version:
        raise Conflict(f"the purchase order changed meanwhile (version {po.version}, not {version})")
    check_status(po, wanted, doing)
    return po


def approve(db: Store, caller: Caller, po_id: str, body: ApproveIn) -> StandalonePurchaseOrder:
    def attempt() -> StandalonePurchaseOrder:
        if (before := idempotency.done(db, StandalonePurchaseOrder)) is not None:  # a keyed re-execution
            return before  # type: ignore[no-any-return]
        po = _step(db, caller, po_id, body.version, PoStatus.PENDING_APPROVAL, "approved")
        now = clock.now()
        done = po.model_copy(update={"status": PoStatus.APPROVED, "approved_by": caller.email or caller.user_id,
                                     "version": po.version + 1, "updated_at": now})
        _commit(db, [_write(done, po.version), _event(done, PurchaseOrderApproved(purchase_order=done)),
                     *idempotency.outcome(StandalonePurchaseOrder, done)])
        return done

    return retrying(attempt, f"purchase order {po_id}")


def confirm(db: Store, caller: Caller, po_id: str, body: ConfirmIn) -> StandalonePurchaseOrder:
    """The goods arrived: each line waits in the staging area under its box code, to be received
    (POST /staging/receive) into inventory at its landed cost."""

    def attempt() -> StandalonePurchaseOrder:
        if (before := idempotency.done(db, StandalonePurchaseOrder)) is not None:  # a keyed re-execution
            return before  # type: ignore[no-any-return]
        po = _step(db, caller, po_id, body.version, PoStatus.APPROVED, "confirmed")
        now = clock.now()
        awb = body.awb or f"PO-{uuid.uuid4().hex[:8].upper()}"
        done = po.model_copy(update={"status": PoStatus.CONFIRMED, "awb": awb, "version": po.version + 1,
                                     "updated_at": now})
        staged = [_staged(done, ln) for ln in done.lines]
        _commit(db, [_write(done, po.version), *staged, _event(done, PurchaseOrderConfirmed(purchase_order=done)),
                     *idempotency.outcome(StandalonePurchaseOrder, done)])
        return done

    return retrying(attempt, f"purchase order {po_id}")


def record_answer(db: Store, buyer_id: str, po_id: str, vendor_company_id: str, prebook_id: str,
                  answers: Sequence[LineAnswer], auto_approve: bool) -> StandalonePurchaseOrder | None:
    """K2K for Procurement: the vendor's answer onto each line of the PO it was transferred from, with its
    PurchaseOrderAnswered event; a PO still pending approval is approved when the connection says so.
    Once: a PO already answered is left as it is (None), so the answer delivered twice counts once; a PO
    to another vendor is not this vendor's to answer (None)."""

    def attempt() -> StandalonePurchaseOrder | None:
        po = get_po(db, buyer_id, po_id)
        if (po.vendor_answered_at is not None or po.vendor_company_id != vendor_company_id
                or po.status is PoStatus.CANCELLED):
            return None
        now = clock.now()
        by_line = {a.line_no: a for a in answers}
        lines = [ln.model_copy(update={"vendor_answer": by_line.get(ln.line_no)}) for ln in po.lines]
        updates: dict = {"lines": lines, "vendor_prebook_id": prebook_id, "vendor_answered_at": now,
                         "version": po.version + 1, "updated_at": now}
        approving = auto_approve and po.status is PoStatus.PENDING_APPROVAL
        if approving:
            updates |= {"status": PoStatus.APPROVED, "approved_by": f"vendor confirmation ({po.vendor_name})"}
        done = po.model_copy(update=updates)
        ops = [_write(done, po.version), _event(done, PurchaseOrderAnswered(purchase_order=done))]
        if approving:
            ops.append(_event(done, PurchaseOrderApproved(purchase_order=done)))
        _commit(db, ops)
        return done

    return retrying(attempt, f"purchase order {po_id}")


Guards = Callable[[StandalonePurchaseOrder], list[store.Op]]


def cancel(db: Store, caller: Caller, po_id: str, body: ApproveIn, guards: Guards = lambda po: [],
           unshipped: Guards | None = None) -> StandalonePurchaseOrder:
    """Cancel a PO not yet confirmed (k2k.purchasing.check_cancellable), with its PurchaseOrderCancelled event
    and the caller's `guards` (condition checks that must hold in the same transaction: the vendor's prebook
    not answered yet, for a PO transferred to it). A PO its K2K vendor answered gets a cancel request instead,
    with the `unshipped` checks (K2K for Procurement)."""

    def attempt() -> StandalonePurchaseOrder:
        if (before := idempotency.done(db, StandalonePurchaseOrder)) is not None:  # a keyed re-execution
            return before  # type: ignore[no-any-return]
        po = get_po(db, caller.company_id, po_id)
        if body.version is not None and body.version != po.version:
            raise Conflict(f"the purchase order changed meanwhile (version {po.version}, not {body.version})")
        if po.vendor_answered_at is not None and unshipped is not None:
            check_changeable(po)
            return _request(db, caller, po, RequestKind.CANCEL, [], unshipped(po))
        check_cancellable(po)
        done = po.model_copy(update={"status": PoStatus.CANCELLED, "version": po.version + 1,
                                     "updated_at": clock.now()})
        _commit(db, [_write(done, po.version), _event(done, PurchaseOrderCancelled(purchase_order=done)),
                     *guards(po), *idempotency.outcome(StandalonePurchaseOrder, done)])
        return done

    return retrying(attempt, f"purchase order {po_id}")


def change(db: Store, caller: Caller, po_id: str, changes: Callable[[StandalonePurchaseOrder], list[LineChange]],
           version: int | None, unanswered: Guards, unshipped: Guards) -> StandalonePurchaseOrder:
    """New quantities on a PO: revision + 1, with its PurchaseOrderChanged event and the `unanswered` checks (the
    vendor's prebook, if any, not answered yet); a PO its K2K vendor answered gets a change request instead, with
    the `unshipped` checks (K2K for Procurement)."""

    def attempt() -> StandalonePurchaseOrder:
        if (before := idempotency.done(db, StandalonePurchaseOrder)) is not None:  # a keyed re-execution
            return before  # type: ignore[no-any-return]
        po = get_po(db, caller.company_id, po_id)
        if version is not None and version != po.version:
            raise Conflict(f"the purchase order changed meanwhile (version {po.version}, not {version})")
        check_changeable(po)
        if po.vendor_answered_at is not None:
            return _request(db, caller, po, RequestKind.CHANGE, changes(po), unshipped(po))
        done = po.model_copy(update={"lines": with_changes(po.lines, changes(po)), "revision": po.revision + 1,
                                     "version": po.version + 1, "updated_at": clock.now()})
        _guarded(db, [_write(done, po.version), _event(done, PurchaseOrderChanged(purchase_order=done)),
                      *idempotency.outcome(StandalonePurchaseOrder, done)], unanswered(po), ANSWERED_MEANWHILE)
        return done

    return retrying(attempt, f"purchase order {po_id}")


def _request(db: Store, caller: Caller, po: StandalonePurchaseOrder, kind: RequestKind, lines: list[LineChange],
             guards: list[store.Op]) -> StandalonePurchaseOrder:
    """A change or cancel of a PO its K2K vendor answered: a pending request on the PO (the PO itself is as it
    was), with its PurchaseOrderChangeRequested event and the `guards` (the prebook not shipped)."""
    assert po.vendor_company_id is not None and po.vendor_prebook_id is not None
    now = clock.now()
    request = next_request(po.change_request, kind, lines, caller.email or caller.user_id, now)
    done = po.model_copy(update={"change_request": request, "version": po.version + 1, "updated_at": now})
    event = PurchaseOrderChangeRequested(buyer_company_id=po.buyer_company_id, po_id=po.po_id,
                                         vendor_company_id=po.vendor_company_id, prebook_id=po.vendor_prebook_id,
                                         request=request)
    _guarded(db, [_write(done, po.version), _event(done, event), *idempotency.outcome(StandalonePurchaseOrder, done)],
             guards, SHIPPED)
    return done


def record_change_answer(db: Store, buyer_id: str, po_id: str, vendor_company_id: str,
                         request: ChangeRequest) -> StandalonePurchaseOrder | None:
    """The vendor's answer to the PO's pending request: accepted, the change applies (new quantities, the
    vendor's answer requoted) or the PO is cancelled (PurchaseOrderCancelled); rejected, the PO stays. Once:
    a request answered already, or not this PO's pending one, is left as it is (None)."""

    def attempt() -> StandalonePurchaseOrder | None:
        po = get_po(db, buyer_id, po_id)
        mine = po.change_request
        if (po.vendor_company_id != vendor_company_id or mine is None or mine.request_no != request.request_no
                or mine.status is not RequestStatus.PENDING):
            return None
        updates: dict = {"change_request": request, "version": po.version + 1, "updated_at": clock.now()}
        accepted = request.status is RequestStatus.ACCEPTED
        cancelling = accepted and request.kind is RequestKind.CANCEL
        if accepted and request.kind is RequestKind.CHANGE:
            updates["lines"] = with_changes(po.lines, request.lines)
        if cancelling:
            updates["status"] = PoStatus.CANCELLED
        done = po.model_copy(update=updates)
        ops = [_write(done, po.version)]
        if cancelling:
            ops.append(_event(done, PurchaseOrderCancelled(purchase_order=done)))
        _commit(db, ops)
        return done

    return retrying(attempt, f"purchase order {po_id}")


def _guarded(db: Store, ops: list[store.Op], guards: list[store.Op], refused: str) -> None:
    """Commit with the other side's document checked: that check failing is the 409 `refused`; anything else
    failing is a lost race."""
    try:
        db.transact([*guards, *ops])
    except ConditionFailed as e:
        if any(e.failed_at(n) for n in range(len(guards))):
            raise Conflict(refused) from e
        raise LostRace from e


def unchanged_since(company_id: str, po_id: str, revision: int) -> store.Op:
    """A condition check for the vendor's transaction on a transferred prebook: the PO is not cancelled and no
    change of the buyer's has been made since the prebook's revision (the change is on its way to it)."""
    return store.check(_key(company_id, po_id), "#s <> :cancelled AND (attribute_not_exists(#rev) OR #rev = :rev)",
                       values={":cancelled": PoStatus.CANCELLED.value, ":rev": revision},
                       names={"#s": "status", "#rev": "revision"})


def no_pending_request(company_id: str, po_id: str) -> store.Op:
    """A condition check for the vendor's shipment: no change or cancel of the buyer's waits for its answer."""
    return store.check(_key(company_id, po_id),
                       "attribute_not_exists(change_request.#st) OR change_request.#st <> :pending",
                       values={":pending": RequestStatus.PENDING.value}, names={"#st": "status"})


def _staged(po: StandalonePurchaseOrder, ln: PoLine) -> store.Op:
    """A confirmed line's boxes in the staging area, under its box code (services/staging.py receives them)."""
    return order_data.staged(po.buyer_company_id, {
        "po_kind": KIND, "po_id": po.po_id, "line_no": ln.line_no, "box_code": ln.box_code,
        "product": ln.description, "vendor_company_id": po.vendor_company_id, "vendor_code": po.vendor_code,
        "vendor_name": po.vendor_name, "awb": po.awb, "boxes_confirmed": ln.boxes,
        "customer_code": ln.customer_code, "prebook_id": ln.prebook_id, "prebook_line_no": ln.prebook_line_no,
        "line": to_item(ln)})


def stage_shipment(db: Store, buyer_id: str, po_id: str, vendor_company_id: str, awb: str,
                   shipped: Sequence[ShippedLine]) -> StandalonePurchaseOrder | None:
    """K2K for Procurement: the vendor shipped the PO's prebook. The PO is CONFIRMED as if the buyer had
    confirmed the goods' arrival: each shipped line waits in staging under the vendor's box code and boxes
    (a rejected line is not staged). A PO pending approval is confirmed too - the boxes are on their way.
    Once: a PO confirmed already (or another vendor's) is left as it is (None)."""

    def attempt() -> StandalonePurchaseOrder | None:
        po = get_po(db, buyer_id, po_id)
        if po.vendor_company_id != vendor_company_id or po.status not in (PoStatus.PENDING_APPROVAL,
                                                                          PoStatus.APPROVED):
            return None
        by_no = {s.line_no: s for s in shipped}
        lines = [as_shipped(ln, by_no[ln.line_no].box_code, by_no[ln.line_no].boxes) if ln.line_no in by_no else ln
                 for ln in po.lines]
        done = po.model_copy(update={"status": PoStatus.CONFIRMED, "awb": awb, "lines": lines,
                                     "version": po.version + 1, "updated_at": clock.now()})
        _commit(db, [_write(done, po.version), *(_staged(done, ln) for ln in done.lines if ln.line_no in by_no),
                     _event(done, PurchaseOrderConfirmed(purchase_order=done))])
        return done

    return retrying(attempt, f"purchase order {po_id}")


def _commit(db: Store, ops: list[store.Op]) -> None:
    try:
        db.transact(ops)
    except ConditionFailed as e:
        raise LostRace from e  # the PO changed since read: go again (its status is checked afresh)


# -- receiving from staging -----------------------------------------------------------------------

def staged_line(staged: Item) -> PoLine | None:
    """The standalone PO line of a staged item, or None for a K2K one."""
    return PoLine.model_validate(staged["line"]) if staged.get("po_kind") == KIND else None


def receipt_ops(db: Store, company_id: str, po_id: str, line_no: int, boxes: int) -> list[store.Op]:
    """Count `boxes` of a line received on its PO (for the staging receipt's transaction): the PO is
    RECEIVED, with its event, once every box of every line is. Conditional on the version read (a
    receipt racing another on the same PO goes again)."""
    po = get_po(db, company_id, po_id)
    lines = [ln.model_copy(update={"boxes_received": ln.boxes_received + boxes}) if ln.line_no == line_no else ln
             for ln in po.lines]
    done = fully_received(lines)
    changed = po.model_copy(update={"lines": lines, "version": po.version + 1, "updated_at": clock.now(),
                                    "status": PoStatus.RECEIVED if done else po.status})
    ops = [_write(changed, po.version)]
    if done:
        ops.append(_event(changed, PurchaseOrderReceived(purchase_order=changed)))
    return ops

