"""K2K for Procurement on the store: its connections (the one owner of their documents), the transfer of a
buyer's PO into the vendor's prebook, and the vendor's answer going back (k2k.procurement has the rules).

A procurement connection is stored twice, like a Sales one, under its own keys (`PROC#B#<buyer>` in the
vendor's partition, `PROC#V#<vendor>` in the buyer's), so Sales' queries over `CONN#` never see it.
The transferred prebook is written under the id `procurement.prebook_id_for` gives, conditional on being
new: a second delivery of the same PurchaseOrderCreated finds it and does nothing. Prebooks are
order_data's documents and POs purchasing's; this module only composes their writes.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field

from k2k import clock, keys, network, paging, store
from k2k.auth import Caller
from k2k.bounds import Input
from k2k.errors import Conflict, Invalid, NotFound
from k2k.events import new_event, outbox
from k2k.network import CompanyId, ConnectionStatus
from k2k.observability import logger
from k2k.orders import Classification, LineStatus, PoStatus, Prebook, ProductPrebookLine, Source
from k2k.paging import Page
from k2k.procurement import (
    AnswerStatus,
    ChangeAnswerIn,
    LineChange,
    PoChangeIn,
    PrebookAnswered,
    PrebookAnswerIn,
    PrebookChangeAnswered,
    PrebookChanged,
    PrebookShipped,
    ProcurementConnection,
    ProcurementConnectionChanged,
    ProcurementSettings,
    ProcurementSettingsIn,
    PurchaseOrderChangeRequested,
    RequestKind,
    RequestStatus,
    ShipIn,
    TransferredFrom,
    accept,
    answer_line,
    answer_request,
    answered_line,
    check_answers,
    check_shipment,
    missing_setup,
    prebook_id_for,
    transfers,
    with_quantities,
)
from k2k.purchasing import StandalonePurchaseOrder, line_changes
from k2k.services import accounts, order_data, purchasing
from k2k.services.network import get_company, vendor_linked_to
from k2k.store import ConditionFailed, LostRace, Store, plain, retrying, to_item

KIND = "PROCUREMENT_CONNECTION"
PREBOOK_KIND = "PREBOOK"


def _as_vendor(vendor_id: str, buyer_id: str) -> dict[str, str]:
    return {"pk": keys.company_pk(vendor_id), "sk": f"PROC#B#{buyer_id}"}


def _as_buyer(buyer_id: str, vendor_id: str) -> dict[str, str]:
    return {"pk": keys.company_pk(buyer_id), "sk": f"PROC#V#{vendor_id}"}


def _conn(item: store.Item) -> ProcurementConnection:
    return ProcurementConnection.model_validate(plain(item))


# -- connections --------------------------------------------------------------------------------

def get_connection(db: Store, caller: Caller, connection_id: str) -> ProcurementConnection:
    vendor_id, buyer_id = network.parse_connection_id(connection_id)
    item = db.get(*_as_vendor(vendor_id, buyer_id).values())
    if item is None:
        raise NotFound("procurement connection not found")
    conn = _conn(item)
    conn.side_of(caller.company_id)  # 404 for a company that is not a party
    return conn


def list_connections(db: Store, caller: Caller, limit: int, token: str | None) -> Page[ProcurementConnection]:
    """Where the company is vendor or buyer."""
    items, next_token = paging.read(db, caller.company_id, keys.company_pk(caller.company_id), "PROC#",
                                    limit=limit, token=token)
    return Page(items=[_conn(i) for i in items], next_token=next_token)


def connection_of(db: Store, buyer_id: str, vendor_id: str) -> ProcurementConnection | None:
    item = db.get(*_as_buyer(buyer_id, vendor_id).values(), consistent=True)
    return _conn(item) if item else None


def _write(db: Store, conn: ProcurementConnection, change: str, *, read_version: int | None) -> None:
    """Both copies and the event in one transaction, conditional on the version read."""
    if read_version is None:
        condition, values = "attribute_not_exists(pk)", None
    else:
        condition, values = "version = :v", {":v": read_version}
    event = new_event(ProcurementConnectionChanged(connection=conn, change=change),
                      company_id=conn.vendor_company_id, aggregate_id=conn.connection_id,
                      aggregate_version=conn.version)
    items = [to_item(conn, **_as_vendor(conn.vendor_company_id, conn.buyer_company_id), kind=KIND),
             to_item(conn, **_as_buyer(conn.buyer_company_id, conn.vendor_company_id), kind=KIND)]
    try:
        db.transact([*(store.put(i, condition, values) for i in items), outbox(event)])
    except ConditionFailed as e:
        if read_version is None:
            raise Conflict("a procurement connection between these companies already exists") from e
        raise Conflict("the procurement connection changed meanwhile; read it again") from e


class ProcurementRequest(Input):  # the body of POST /procurement-connections
    vendor_company_id: CompanyId
    settings: ProcurementSettingsIn = Field(default_factory=ProcurementSettingsIn)


def request_connection(db: Store, caller: Caller, vendor_company_id: str,
                       settings: ProcurementSettings) -> ProcurementConnection:
    """The buyer asks a vendor to take its POs as prebooks, with its settings (which POs, auto-approval)."""
    if vendor_company_id == caller.company_id:
        raise Conflict("a company cannot connect to itself")
    buyer = get_company(db, caller.company_id)
    try:
        vendor = get_company(db, vendor_company_id)
    except NotFound as e:
        raise Invalid(f"no K2K company {vendor_company_id}", field="vendor_company_id") from e
    now = clock.now()
    conn = ProcurementConnection(
        connection_id=network.connection_id(vendor.company_id, buyer.company_id),
        vendor_company_id=vendor.company_id, vendor_name=vendor.name, buyer_company_id=buyer.company_id,
        buyer_name=buyer.name, status=ConnectionStatus.REQUESTED,
        settings=ProcurementSettings.model_validate(settings.model_dump()), requested_at=now, updated_at=now)
    _write(db, conn, "requested", read_version=None)
    return conn


def accept_connection(db: Store, caller: Caller, connection_id: str) -> ProcurementConnection:
    """The vendor accepts; as for Sales, each must have the other as customer / vendor."""
    conn = get_connection(db, caller, connection_id)
    customer = accounts.customer_linked_to(db, conn.vendor_company_id, conn.buyer_company_id)
    vendor = vendor_linked_to(db, conn.buyer_company_id, conn.vendor_company_id)
    gaps = missing_setup(customer is not None, vendor is not None, conn.vendor_name, conn.buyer_name)
    status = accept(conn, conn.side_of(caller.company_id), gaps)
    assert customer is not None and vendor is not None
    changed = conn.model_copy(update={"status": status, "buyer_customer_code": customer.code,
                                      "vendor_code": vendor.code, "version": conn.version + 1,
                                      "updated_at": clock.now()})
    _write(db, changed, "accepted", read_version=conn.version)
    return changed


# -- transfer: the buyer's PO becomes the vendor's prebook --------------------------------------

def transfer_po(db: Store, po: StandalonePurchaseOrder) -> Prebook | None:
    """The vendor's prebook for a PO its procurement connection transfers; None when it does not transfer
    (no K2K vendor, no active procurement connection - a Sales one does not count - or not marked) or was
    transferred already."""
    if po.vendor_company_id is None:
        return None
    conn = connection_of(db, po.buyer_company_id, po.vendor_company_id)
    if not transfers(conn, po.k2k_transfer):
        return None
    assert conn is not None and conn.buyer_customer_code is not None
    # As it is now, not as the event saw it: a change made before this transfer ran is in it (its own event
    # finds no prebook yet), and the transaction checks no change or cancel came after this read.
    po = purchasing.get_po(db, po.buyer_company_id, po.po_id)
    if po.status is PoStatus.CANCELLED:
        return None
    lines: list = [ProductPrebookLine(
        line_no=ln.line_no, product_code=ln.product_code, description=ln.description, kind=ln.kind, unit=ln.unit,
        quantity=ln.quantity, unit_price=ln.unit_cost, box_type=ln.box_type, boxes=ln.boxes,
        bunches_per_box=ln.bunches_per_box, stems_per_bunch=ln.stems_per_bunch) for ln in po.lines]
    prebook = Prebook(prebook_id=prebook_id_for(po.buyer_company_id, po.po_id),
                      buyer_company_id=conn.vendor_company_id, customer_code=conn.buyer_customer_code,
                      ship_date=po.ship_date, classification=Classification.PREBOOK, source=Source.PROCUREMENT,
                      lines=lines, transferred_from=TransferredFrom(buyer_company_id=po.buyer_company_id,
                                                                    po_id=po.po_id, revision=po.revision),
                      created_at=clock.now())
    try:
        db.transact([order_data.write(prebook, order_data.prebook_key(conn.vendor_company_id, prebook.prebook_id),
                                      PREBOOK_KIND, None),
                     purchasing.unchanged_since(po.buyer_company_id, po.po_id, po.revision)])
    except ConditionFailed as e:
        if e.failed_at(1):
            raise LostRace from e  # changed or cancelled since read: the redelivery transfers it as it is then
        logger.info("PO already transferred", extra={"po_id": po.po_id, "prebook_id": prebook.prebook_id})
        return None
    return prebook


# -- the vendor's answer ---------------------------------------------------------------------------

def answer_prebook(db: Store, caller: Caller, prebook_id: str, body: PrebookAnswerIn) -> Prebook:
    """The vendor confirms a transferred prebook: lines as they are, with another quantity or price, or
    rejected (the line is DELETED on the prebook). Once; its PrebookAnswered event carries the answer
    back to the buyer's PO in the same transaction."""

    def attempt() -> Prebook:
        prebook = order_data.get_prebook(db, caller.company_id, prebook_id)
        source = prebook.transferred_from
        if source is None:
            raise Conflict("this prebook was not transferred from a customer's PO: there is nothing to answer")
        if body.version is not None and body.version != prebook.version:
            raise Conflict(f"the prebook changed meanwhile (version {prebook.version}, not {body.version})")
        if source.confirmed_at is not None:
            raise Conflict("this prebook was answered already")
        if source.cancelled_at is not None:
            raise Conflict("the customer cancelled this purchase order")
        check_answers({ln.line_no for ln in prebook.lines}, body.lines)
        given = {a.line_no: a for a in body.lines}
        answers, lines = [], []
        for ln in prebook.lines:
            assert isinstance(ln, ProductPrebookLine)  # a transferred prebook has product lines only
            a = answer_line(ln.line_no, ln.quantity, ln.unit_price or Decimal("0"), given.get(ln.line_no),
                            product_code=ln.product_code, description=ln.description)
            answers.append(a)
            lines.append(ln.model_copy(update={"status": LineStatus.DELETED} if a.status is AnswerStatus.REJECTED
                                       else answered_line(a)))
        now = clock.now()
        done = order_data.bump(prebook, lines=lines,
                               transferred_from=source.model_copy(update={"confirmed_at": now}))
        event = new_event(PrebookAnswered(vendor_company_id=caller.company_id, prebook_id=prebook_id,
                                          buyer_company_id=source.buyer_company_id, po_id=source.po_id,
                                          answers=answers),
                          company_id=caller.company_id, aggregate_id=prebook_id, aggregate_version=done.version)
        try:
            db.transact([order_data.written(done, order_data.prebook_key(caller.company_id, prebook_id),
                                            PREBOOK_KIND), outbox(event),
                         purchasing.unchanged_since(source.buyer_company_id, source.po_id, source.revision)])
        except ConditionFailed as e:
            po = purchasing.get_po(db, source.buyer_company_id, source.po_id)
            if po.status is PoStatus.CANCELLED:
                raise Conflict("the customer cancelled this purchase order") from e
            if po.revision != source.revision:
                raise Conflict("the customer changed this purchase order meanwhile: its change reaches this "
                               "prebook in a moment; read it again and answer that") from e
            raise LostRace from e
        return done

    return retrying(attempt, f"prebook {prebook_id}")


def on_prebook_answered(db: Store, data: PrebookAnswered) -> StandalonePurchaseOrder | None:
    """The answer onto the buyer's PO (once; see purchasing.record_answer), approving it when the
    connection auto-approves on the vendor's confirmation."""
    conn = connection_of(db, data.buyer_company_id, data.vendor_company_id)
    if conn is None:  # the event names a vendor the buyer is not connected to: not the buyer's PO to change
        logger.warning("answer from an unconnected vendor ignored", extra={"po_id": data.po_id})
        return None
    return purchasing.record_answer(db, data.buyer_company_id, data.po_id, data.vendor_company_id,
                                    data.prebook_id, data.answers, conn.settings.auto_approve_on_confirm)


# -- the vendor's shipment -------------------------------------------------------------------------

def ship_prebook(db: Store, caller: Caller, prebook_id: str, body: ShipIn) -> Prebook:
    """The vendor ships an answered transferred prebook (every line it confirmed, under its box codes, on
    one AWB); its PrebookShipped event puts the boxes in the buyer's staging area. Once."""

    def attempt() -> Prebook:
        prebook = order_data.get_prebook(db, caller.company_id, prebook_id)
        source = prebook.transferred_from
        if source is None:
            raise Conflict("this prebook was not transferred from a customer's PO: ship it as any prebook")
        if source.confirmed_at is None:
            raise Conflict("answer the prebook first (POST /prebooks/{prebook_id}/confirm)")
        if source.shipped_at is not None:
            raise Conflict("this prebook was shipped already")
        if source.change_request is not None and source.change_request.status is RequestStatus.PENDING:
            raise Conflict(WAITING_REQUEST)
        rejected = {ln.line_no for ln in prebook.lines if ln.status is LineStatus.DELETED}
        shipped = check_shipment(rejected, {ln.line_no for ln in prebook.lines} - rejected, body)
        done = order_data.bump(prebook, transferred_from=source.model_copy(
            update={"shipped_at": clock.now(), "awb": body.awb}))
        event = new_event(PrebookShipped(vendor_company_id=caller.company_id, prebook_id=prebook_id,
                                         buyer_company_id=source.buyer_company_id, po_id=source.po_id,
                                         awb=body.awb, lines=shipped),
                          company_id=caller.company_id, aggregate_id=prebook_id, aggregate_version=done.version)
        try:
            db.transact([order_data.written(done, order_data.prebook_key(caller.company_id, prebook_id),
                                            PREBOOK_KIND), outbox(event),
                         purchasing.no_pending_request(source.buyer_company_id, source.po_id)])
        except ConditionFailed as e:
            if e.failed_at(2):  # asked after this read; its request reaches the prebook in a moment
                raise Conflict(WAITING_REQUEST) from e
            raise LostRace from e
        return done

    return retrying(attempt, f"prebook {prebook_id}")


WAITING_REQUEST = ("the customer asked to change or cancel this purchase order: answer its request first "
                   "(POST /prebooks/{prebook_id}/change-request)")


def on_prebook_shipped(db: Store, data: PrebookShipped) -> StandalonePurchaseOrder | None:
    """The shipment into the buyer's staging area, on the PO it was transferred from (once)."""
    if connection_of(db, data.buyer_company_id, data.vendor_company_id) is None:
        logger.warning("shipment from an unconnected vendor ignored", extra={"po_id": data.po_id})
        return None
    return purchasing.stage_shipment(db, data.buyer_company_id, data.po_id, data.vendor_company_id, data.awb,
                                     data.lines)


# -- cancellation ----------------------------------------------------------------------------------

def _unanswered(po: StandalonePurchaseOrder) -> list[store.Op]:
    """The buyer's direct change or cancel checks, in its transaction, that the vendor has not answered the
    prebook (if there is one): with the answer checking the PO's revision, the two cannot both win."""
    if po.vendor_company_id is None:
        return []
    key = order_data.prebook_key(po.vendor_company_id, prebook_id_for(po.buyer_company_id, po.po_id))
    return [store.check(key, "attribute_not_exists(pk) OR attribute_not_exists(transferred_from.confirmed_at)")]


def _unshipped(po: StandalonePurchaseOrder) -> list[store.Op]:
    """A request checks, in its transaction, that the vendor has not shipped (the shipment checks no request
    waits): a request and a shipment racing cannot both win."""
    assert po.vendor_company_id is not None and po.vendor_prebook_id is not None
    key = order_data.prebook_key(po.vendor_company_id, po.vendor_prebook_id)
    return [store.check(key, "attribute_not_exists(transferred_from.shipped_at)")]


def cancel_po(db: Store, caller: Caller, po_id: str, body: purchasing.ApproveIn) -> StandalonePurchaseOrder:
    """The buyer cancels a standalone PO: directly until its K2K vendor answers it (the prebook is cancelled
    with it); after that, a cancel request the vendor accepts or rejects, until it ships."""
    return purchasing.cancel(db, caller, po_id, body, _unanswered, _unshipped)


def change_po(db: Store, caller: Caller, po_id: str, body: PoChangeIn) -> StandalonePurchaseOrder:
    """The buyer changes quantities: directly until its K2K vendor answers (PurchaseOrderChanged takes them to
    the prebook); after that, a change request the vendor accepts or rejects, until it ships."""
    return purchasing.change(db, caller, po_id, lambda po: line_changes(po, body.lines), body.version, _unanswered,
                             _unshipped)


def on_po_changed(db: Store, po: StandalonePurchaseOrder) -> Prebook | None:
    """The buyer's change onto the vendor's unanswered prebook, with PrebookChanged (once: a prebook that
    reflects this revision or a later one is left as it is; no prebook yet - its transfer carries the change)."""
    if po.vendor_company_id is None:
        return None
    vendor_id, prebook_id = po.vendor_company_id, prebook_id_for(po.buyer_company_id, po.po_id)

    def attempt() -> Prebook | None:
        try:
            prebook = order_data.get_prebook(db, vendor_id, prebook_id)
        except NotFound:
            return None
        source = prebook.transferred_from
        if (source is None or source.po_id != po.po_id or source.revision >= po.revision
                or source.confirmed_at is not None or source.cancelled_at is not None):
            return None
        done = order_data.bump(prebook, lines=with_quantities(prebook.lines, po.lines),
                               transferred_from=source.model_copy(update={"revision": po.revision}))
        changed = PrebookChanged(vendor_company_id=vendor_id, prebook_id=prebook_id,
                                 buyer_company_id=po.buyer_company_id, po_id=po.po_id, revision=po.revision,
                                 lines=[LineChange(line_no=ln.line_no, quantity=ln.quantity, boxes=ln.boxes)
                                        for ln in po.lines])
        _save_prebook(db, vendor_id, done, changed)
        return done

    return retrying(attempt, f"prebook {prebook_id}")


def _save_prebook(db: Store, vendor_id: str, done: Prebook, event: BaseModel | None = None) -> None:
    ops = [order_data.written(done, order_data.prebook_key(vendor_id, done.prebook_id), PREBOOK_KIND)]
    if event is not None:
        ops.append(outbox(new_event(event, company_id=vendor_id, aggregate_id=done.prebook_id,
                                    aggregate_version=done.version)))
    try:
        db.transact(ops)
    except ConditionFailed as e:
        raise LostRace from e


def on_change_requested(db: Store, data: PurchaseOrderChangeRequested) -> Prebook | None:
    """The buyer's request onto the vendor's prebook, to be answered there (once: a request the prebook has,
    or an older one, is left as it is)."""
    if connection_of(db, data.buyer_company_id, data.vendor_company_id) is None:
        logger.warning("request to an unconnected vendor ignored", extra={"po_id": data.po_id})
        return None

    def attempt() -> Prebook | None:
        prebook = order_data.get_prebook(db, data.vendor_company_id, data.prebook_id)
        source = prebook.transferred_from
        if source is None or source.buyer_company_id != data.buyer_company_id or source.po_id != data.po_id:
            return None
        if source.change_request is not None and source.change_request.request_no >= data.request.request_no:
            return None
        done = order_data.bump(prebook, transferred_from=source.model_copy(update={"change_request": data.request}))
        _save_prebook(db, data.vendor_company_id, done)
        return done

    return retrying(attempt, f"prebook {data.prebook_id}")


def answer_change_request(db: Store, caller: Caller, prebook_id: str, body: ChangeAnswerIn) -> Prebook:
    """The vendor accepts or rejects its customer's pending request: accepted, the prebook's lines take the
    new quantities (or are CANCELLED); PrebookChangeAnswered takes the answer back onto the PO."""

    def attempt() -> Prebook:
        prebook = order_data.get_prebook(db, caller.company_id, prebook_id)
        source = prebook.transferred_from
        if source is None:
            raise Conflict("this prebook was not transferred from a customer's PO")
        now = clock.now()
        request = answer_request(source.change_request, body, now)
        after = source.model_copy(update={"change_request": request})
        updates: dict = {}
        if request.status is RequestStatus.ACCEPTED and request.kind is RequestKind.CANCEL:
            updates["lines"] = [ln.model_copy(update={"status": LineStatus.CANCELLED}) for ln in prebook.lines]
            after = after.model_copy(update={"cancelled_at": now})
        elif request.status is RequestStatus.ACCEPTED:
            updates["lines"] = with_quantities(prebook.lines, request.lines)
        done = order_data.bump(prebook, transferred_from=after, **updates)
        _save_prebook(db, caller.company_id, done, PrebookChangeAnswered(
            vendor_company_id=caller.company_id, prebook_id=prebook_id, buyer_company_id=source.buyer_company_id,
            po_id=source.po_id, request=request))
        return done

    return retrying(attempt, f"prebook {prebook_id}")


def on_change_answered(db: Store, data: PrebookChangeAnswered) -> StandalonePurchaseOrder | None:
    """The vendor's answer onto the buyer's PO (once; see purchasing.record_change_answer)."""
    if connection_of(db, data.buyer_company_id, data.vendor_company_id) is None:
        logger.warning("answer from an unconnected vendor ignored", extra={"po_id": data.po_id})
        return None
    return purchasing.record_change_answer(db, data.buyer_company_id, data.po_id, data.vendor_company_id,
                                           data.request)


def on_po_cancelled(db: Store, po: StandalonePurchaseOrder) -> Prebook | None:
    """The vendor's prebook for a cancelled PO is cancelled too: its lines CANCELLED (once; none if the PO
    was never transferred)."""
    if po.vendor_company_id is None:
        return None
    vendor_id, prebook_id = po.vendor_company_id, prebook_id_for(po.buyer_company_id, po.po_id)

    def attempt() -> Prebook | None:
        try:
            prebook = order_data.get_prebook(db, vendor_id, prebook_id)
        except NotFound:
            return None
        source = prebook.transferred_from
        if source is None or source.cancelled_at is not None or source.po_id != po.po_id:
            return None
        done = order_data.bump(prebook, lines=[ln.model_copy(update={"status": LineStatus.CANCELLED})
                                               for ln in prebook.lines],
                               transferred_from=source.model_copy(update={"cancelled_at": clock.now()}))
        _save_prebook(db, vendor_id, done, PrebookChanged(
            vendor_company_id=vendor_id, prebook_id=prebook_id, buyer_company_id=po.buyer_company_id,
            po_id=po.po_id, revision=source.revision, cancelled=True))
        return done

    return retrying(attempt, f"prebook {prebook_id}")
