"""Vendor invoices for K2K orders and the buyer's PO reconciliation: models and the rules that need no AWS.

The vendor's side: confirming a K2K order bills its active lines (numbered per
vendor, no gap, no duplicate); the vendor may revise or void the invoice, each
change a new version with its own PDF.

The buyer's side, one reconciliation per PO: the vendor invoice is uploaded
onto it only when both companies switched their automation on, and otherwise
it says which side is off. Procurement approves (AP -> AA), accounting approves
(AA -> A) and marks it paid; accounting can send it back to AP. A vendor update
sends it back to AP with a warning.

Everything the buyer's record holds about the vendor's invoice is derived from
the newest invoice version it has seen, so duplicate and reordered events end
in the same state.
"""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from k2k import pricing
from k2k.access import ACCOUNTING_ROLES, PROCUREMENT_ROLES
from k2k.auth import Role
from k2k.bounds import Boxes, BunchesPerBox, Input, Name, StemsPerBunch, UnitMoney, Version
from k2k.errors import Conflict, Forbidden, Invalid
from k2k.events import event_type
from k2k.inventory import BoxType, UnitType
from k2k.models import Model
from k2k.money import ZERO, cents
from k2k.network import Code, Side
from k2k.orders import LineStatus, OrderStatus, Prebook, ProductPrebookLine, PurchaseOrder, VendorOrder
from k2k.procurement import ShippedLine

# Settings -> K2K Network -> Automations, as the companies see them.
VENDOR_AUTOMATION = "Allow automatic invoice synchronization with the buyer company"
BUYER_AUTOMATION = "Allow invoices coming from K2K orders to be automatically uploaded"


ChargeAmount = Annotated[Decimal, Field(ge=-1_000_000, le=1_000_000, max_digits=10, decimal_places=2)]
Balance = Annotated[Decimal, Field(ge=0, le=100_000_000, max_digits=12, decimal_places=3,
                                   description="invoice balances carry up to 3 decimals")]


# -- the vendor's invoice -------------------------------------------------------------------------

class InvoiceStatus(StrEnum):
    ISSUED = "ISSUED"
    VOIDED = "VOIDED"


class InvoiceLine(Model):
    """One billed line, by the box code the boxes carry from the vendor's warehouse to the buyer."""

    line_no: int
    box_code: str
    product: str
    box_type: BoxType | None = None
    unit_type: UnitType
    boxes: int
    bunches_per_box: int
    stems_per_bunch: int
    unit_price: Decimal = Field(description="per stem or bunch, 3 decimals")
    units: int = Field(description="stems or bunches billed")
    total: Decimal = Field(description="to the cent")


class Charge(Model):
    """An amount on the invoice that is not a box line (freight, handling, a discount when negative)."""

    description: str = Field(min_length=1, max_length=80)
    amount: ChargeAmount


class ChargeIn(Input, Charge):
    """A charge as the vendor states it in a correction."""


class Invoice(Model):
    invoice_no: int = Field(description="per vendor, consecutive from 1, never reused")
    vendor_company_id: str
    vendor_name: str
    buyer_company_id: str
    buyer_name: str
    customer_code: str | None = Field(default=None, description="the buyer as the vendor's customer")
    order_id: str = Field(description="the vendor's K2K order, or (K2K for Procurement) its prebook the buyer's "
                                      "PO became")
    po_id: str = Field(description="the buyer's purchase order")
    awb: str | None = None
    ship_date: date
    invoice_date: date
    lines: list[InvoiceLine]
    charges: list[Charge] = Field(default_factory=list)
    subtotal: Decimal
    total: Decimal
    status: InvoiceStatus = InvoiceStatus.ISSUED
    void_reason: str | None = None
    version: int = Field(default=1, description="1 when issued; each update or void adds one, with a new PDF")
    issued_at: datetime
    updated_at: datetime

    @property
    def ref(self) -> str:
        """The invoice as an event aggregate (unique within its vendor, the producer)."""
        return invoice_ref(self.invoice_no)


class InvoiceLineIn(Input):
    """A line as the vendor writes it when it corrects an invoice."""

    box_code: Code
    product: Name
    box_type: BoxType | None = None
    unit_type: UnitType = UnitType.STEM
    boxes: Boxes
    bunches_per_box: BunchesPerBox
    stems_per_bunch: StemsPerBunch = 1
    unit_price: UnitMoney


class InvoiceChange(Input):
    """The vendor's correction: new lines and/or charges; what is left out stays as it is."""

    lines: list[InvoiceLineIn] | None = Field(default=None, min_length=1, max_length=500)
    charges: list[ChargeIn] | None = Field(default=None, max_length=50)
    version: Version


def invoice_ref(invoice_no: int) -> str:
    return f"INV-{invoice_no}"


def next_invoice_no(last: int) -> int:
    """The number after the vendor's last one. Gapless because the counter moves in the same
    transaction as the invoice it numbers, conditional on the value read."""
    return last + 1


def pdf_key(vendor_company_id: str, invoice_no: int, version: int) -> str:
    """Each version has its own object: an update never overwrites what the buyer already saw."""
    return f"invoices/{vendor_company_id}/{invoice_no}/v{version}.pdf"


def billed_line(line_no: int, box_code: str, product: str, box_type: BoxType | None, unit_type: UnitType,
                boxes: int, bunches_per_box: int, stems_per_bunch: int, unit_price: Decimal) -> InvoiceLine:
    units = boxes * pricing.units_per_box(unit_type.value, bunches_per_box, stems_per_bunch)
    return InvoiceLine(line_no=line_no, box_code=box_code, product=product, box_type=box_type, unit_type=unit_type,
                       boxes=boxes, bunches_per_box=bunches_per_box, stems_per_bunch=stems_per_bunch,
                       unit_price=unit_price,
                       units=units, total=pricing.line_total(boxes, unit_type.value, bunches_per_box,
                                                             stems_per_bunch, unit_price))


def totals(lines: list[InvoiceLine], charges: list[Charge]) -> tuple[Decimal, Decimal]:
    """(subtotal of the lines, invoice total), each to the cent."""
    subtotal = cents(sum((ln.total for ln in lines), ZERO))
    return subtotal, cents(subtotal + sum((c.amount for c in charges), ZERO))


def bill_order(order: VendorOrder, invoice_no: int, vendor_name: str, now: datetime) -> Invoice:
    """The invoice of a confirmed K2K order: its active lines at the price the buyer was quoted."""
    if order.status is not OrderStatus.CONFIRMED:
        raise Conflict(f"order {order.order_id} is {order.status.value}; only confirmed orders are billed")
    lines = [billed_line(n, ln.box_code, ln.product, ln.box_type, ln.unit_type, ln.boxes, ln.bunches_per_box,
                         ln.stems_per_bunch, ln.unit_cost)
             for n, ln in enumerate((ln for ln in order.lines if ln.active), start=1)]
    if not lines:
        raise Invalid(f"order {order.order_id} has no active line to bill")
    subtotal, total = totals(lines, [])
    return Invoice(invoice_no=invoice_no, vendor_company_id=order.vendor_company_id, vendor_name=vendor_name,
                   buyer_company_id=order.buyer_company_id, buyer_name=order.buyer_name,
                   customer_code=order.customer_code, order_id=order.order_id, po_id=order.po_id, awb=order.awb,
                   ship_date=order.ship_date, invoice_date=order.updated_at.date(), lines=lines,
                   subtotal=subtotal, total=total, issued_at=now, updated_at=now)


def bill_prebook(prebook: Prebook, vendor_company_id: str, vendor_name: str, buyer_name: str, awb: str,
                 shipped: list[ShippedLine], invoice_no: int, now: datetime) -> Invoice:
    """K2K for Procurement: the invoice of a shipped transferred prebook, as a confirmed K2K order's is - each
    shipped line under its box code, its boxes as shipped, the quantity and price the vendor confirmed."""
    source = prebook.transferred_from
    if source is None or source.shipped_at is None:
        raise Conflict(f"prebook {prebook.prebook_id} is not a shipped prebook of a customer's PO")
    by_no = {ln.line_no: ln for ln in prebook.lines if isinstance(ln, ProductPrebookLine)}
    lines = []
    for n, s in enumerate(sorted(shipped, key=lambda s: s.line_no), start=1):
        ln = by_no[s.line_no]
        if ln.status is not LineStatus.ACTIVE:
            raise Conflict(f"line {s.line_no} of prebook {prebook.prebook_id} is {ln.status.value}")
        price = ln.unit_price or ZERO
        lines.append(InvoiceLine(line_no=n, box_code=s.box_code, product=ln.description, box_type=ln.box_type,
                                 unit_type=ln.unit, boxes=s.boxes, bunches_per_box=ln.bunches_per_box or 1,
                                 stems_per_bunch=ln.stems_per_bunch or 1, unit_price=price, units=ln.quantity,
                                 total=cents(ln.quantity * price)))
    if not lines:
        raise Invalid(f"prebook {prebook.prebook_id} shipped no line to bill")
    subtotal, total = totals(lines, [])
    return Invoice(invoice_no=invoice_no, vendor_company_id=vendor_company_id, vendor_name=vendor_name,
                   buyer_company_id=source.buyer_company_id, buyer_name=buyer_name,
                   customer_code=prebook.customer_code, order_id=prebook.prebook_id, po_id=source.po_id, awb=awb,
                   ship_date=prebook.ship_date, invoice_date=source.shipped_at.date(), lines=lines,
                   subtotal=subtotal, total=total, issued_at=now, updated_at=now)


def _still_open(invoice: Invoice, version: int) -> None:
    if invoice.status is InvoiceStatus.VOIDED:
        raise Conflict(f"invoice {invoice.invoice_no} is voided")
    if version != invoice.version:
        raise Conflict(f"invoice {invoice.invoice_no} changed meanwhile (version {invoice.version}, not {version})")


def revise(invoice: Invoice, change: InvoiceChange, now: datetime) -> Invoice:
    """The vendor corrects amounts or lines: a new version, totals recomputed to the cent."""
    _still_open(invoice, change.version)
    lines = invoice.lines if change.lines is None else [
        billed_line(n, ln.box_code, ln.product, ln.box_type, ln.unit_type, ln.boxes, ln.bunches_per_box,
                    ln.stems_per_bunch, ln.unit_price) for n, ln in enumerate(change.lines, start=1)]
    charges: list[Charge] = invoice.charges if change.charges is None else [*change.charges]
    subtotal, total = totals(lines, charges)
    if total < 0:
        raise Invalid("the invoice total cannot be negative", field="charges")
    return invoice.model_copy(update={"lines": lines, "charges": charges, "subtotal": subtotal, "total": total,
                                      "version": invoice.version + 1, "updated_at": now})


def void(invoice: Invoice, confirm: str, reason: str | None, version: int | None, now: datetime) -> Invoice:
    """Voiding needs the word CONFIRM typed, like voiding an order."""
    if confirm != "CONFIRM":
        raise Invalid("type CONFIRM to void the invoice", field="confirm")
    _still_open(invoice, invoice.version if version is None else version)
    return invoice.model_copy(update={"status": InvoiceStatus.VOIDED, "void_reason": reason,
                                      "version": invoice.version + 1, "updated_at": now})


# -- events ---------------------------------------------------------------------------------------

@event_type("k2k.invoices", "InvoiceIssued")
class InvoiceIssued(Model):
    """A vendor billed a confirmed K2K order: number, amount, lines by box code; its PDF is version 1."""

    invoice: Invoice


@event_type("k2k.invoices", "InvoiceUpdated")
class InvoiceUpdated(Model):
    """The vendor corrected an invoice (lines or charges): a new version, with its own PDF."""

    invoice: Invoice
    previous_total: Decimal


@event_type("k2k.invoices", "InvoiceVoided")
class InvoiceVoided(Model):
    """The vendor voided an invoice (reason in invoice.void_reason)."""

    invoice: Invoice


class InvoiceSource(StrEnum):
    K2K = "K2K"  # uploaded by the automations
    MANUAL = "MANUAL"  # uploaded by hand by the buyer


@event_type("k2k.invoices", "VendorInvoiceApproved")
class VendorInvoiceApproved(Model):
    """The buyer approved a vendor invoice on its PO (procurement, then accounting: status A); it can be paid."""

    buyer_company_id: str
    po_id: str
    order_id: str
    vendor_company_id: str
    vendor_name: str
    invoice_no: str
    invoice_version: int
    source: InvoiceSource
    amount: Decimal
    approved_by: str
    approved_at: datetime


# -- automations ---------------------------------------------------------------------------------

class SyncDecision(Model):
    """Whether the vendor's invoice goes onto the buyer's PO, and if not, which side is off."""

    vendor_invoice_sync: bool = Field(description=VENDOR_AUTOMATION)
    buyer_invoice_upload: bool = Field(description=BUYER_AUTOMATION)
    off: list[Side] = Field(default_factory=list, description="the companies whose automation is off")
    reason: str | None = None

    @property
    def upload(self) -> bool:
        return not self.off


def sync_decision(vendor_name: str, vendor_on: bool, buyer_name: str, buyer_on: bool) -> SyncDecision:
    """Both automations must be on. The reason names the side that is off, so a company that
    enabled its own and sees nothing knows whom to ask."""
    off, why = [], []
    if not vendor_on:
        off.append(Side.VENDOR)
        why.append(f"the vendor {vendor_name} has not enabled '{VENDOR_AUTOMATION}'")
    if not buyer_on:
        off.append(Side.BUYER)
        why.append(f"the buyer {buyer_name} has not enabled '{BUYER_AUTOMATION}'")
    reason = ("Not uploaded automatically: " + " and ".join(why) + ".") if why else None
    return SyncDecision(vendor_invoice_sync=vendor_on, buyer_invoice_upload=buyer_on, off=off, reason=reason)


# -- the buyer's PO reconciliation -----------------------------------------------------------------

class RecStatus(StrEnum):
    AP = "AP"
    AA = "AA"
    A = "A"
    PAID = "PAID"
    VOIDED = "VOIDED"


STATUS_LABELS = {
    RecStatus.AP: "pending approval by procurement",
    RecStatus.AA: "pending accounting",
    RecStatus.A: "approved",
    RecStatus.PAID: "paid",
    RecStatus.VOIDED: "voided by the vendor",
}


class Action(StrEnum):
    APPROVE = "approve"
    PAY = "pay"
    SEND_BACK = "send_back"


# (action, from) -> (to, who may). Anything else is a 409 naming the status.
TRANSITIONS: dict[tuple[Action, RecStatus], tuple[RecStatus, frozenset[Role]]] = {
    (Action.APPROVE, RecStatus.AP): (RecStatus.AA, PROCUREMENT_ROLES),
    (Action.APPROVE, RecStatus.AA): (RecStatus.A, ACCOUNTING_ROLES),
    (Action.PAY, RecStatus.A): (RecStatus.PAID, ACCOUNTING_ROLES),
    (Action.SEND_BACK, RecStatus.AA): (RecStatus.AP, ACCOUNTING_ROLES),
    (Action.SEND_BACK, RecStatus.A): (RecStatus.AP, ACCOUNTING_ROLES),
}


class PdfVersion(Model):
    version: int
    key: str


class AttachedInvoice(Model):
    """The vendor invoice as it sits on the buyer's PO."""

    source: InvoiceSource
    invoice_no: str
    amount: Decimal
    invoice_date: date
    version: int = Field(description="the vendor's invoice version (K2K) or the number of uploads (by hand)")
    lines: list[InvoiceLine] = Field(default_factory=list, description="K2K invoices: the billed lines")
    pdfs: list[PdfVersion] = Field(description="every PDF, oldest first; the last is the current one")
    voided: bool = False
    void_reason: str | None = None


class SyncState(SyncDecision):
    """The automation decision for the newest K2K invoice version this PO has heard of."""

    invoice_no: int
    invoice_version: int
    invoice_status: InvoiceStatus = InvoiceStatus.ISSUED


class Transition(Model):
    action: str
    from_status: RecStatus | None = None
    to_status: RecStatus
    by: str
    at: datetime
    note: str | None = None


class Reconciliation(Model):
    po_id: str
    buyer_company_id: str
    vendor_company_id: str
    vendor_name: str
    order_id: str
    status: RecStatus | None = Field(default=None, description="null while no vendor invoice is on the PO")
    vendor_invoice: AttachedInvoice | None = None
    sync: SyncState | None = Field(default=None, description="what the automations did with the K2K invoice")
    acknowledged_version: int = Field(default=0, description="the invoice version procurement last approved")
    history: list[Transition] = Field(default_factory=list, description="what people did, oldest first")
    version: int = 0
    updated_at: datetime | None = None


def _k2k_attached(invoice: Invoice) -> AttachedInvoice:
    return AttachedInvoice(
        source=InvoiceSource.K2K, invoice_no=str(invoice.invoice_no), amount=invoice.total,
        invoice_date=invoice.invoice_date, version=invoice.version, lines=invoice.lines,
        pdfs=[PdfVersion(version=v, key=pdf_key(invoice.vendor_company_id, invoice.invoice_no, v))
              for v in range(1, invoice.version + 1)],
        voided=invoice.status is InvoiceStatus.VOIDED, void_reason=invoice.void_reason)


class ExpectedLine(Model):
    """What the buyer expects to be billed under one box code."""

    box_code: str
    boxes: int
    total: Decimal


class ReconciledPo(Model):
    """What a reconciliation reads of the buyer's PO, of either kind: a K2K PO (K2K for Sales) or a standalone
    PO its K2K vendor answered (K2K for Procurement: k2k.purchasing.reconciled)."""

    po_id: str
    buyer_company_id: str
    vendor_company_id: str
    vendor_name: str
    order_id: str = Field(description="the vendor's K2K order or prebook")
    total: Decimal
    lines: list[ExpectedLine]


def k2k_po(po: PurchaseOrder) -> ReconciledPo:
    return ReconciledPo(po_id=po.po_id, buyer_company_id=po.buyer_company_id, vendor_company_id=po.vendor_company_id,
                        vendor_name=po.vendor_name, order_id=po.order_id, total=po.total,
                        lines=[ExpectedLine(box_code=ln.box_code, boxes=ln.boxes, total=ln.total)
                               for ln in po.lines if ln.active])


def new_reconciliation(po_id: str, buyer_company_id: str, vendor_company_id: str, vendor_name: str,
                       order_id: str) -> Reconciliation:
    return Reconciliation(po_id=po_id, buyer_company_id=buyer_company_id, vendor_company_id=vendor_company_id,
                          vendor_name=vendor_name, order_id=order_id)


def receive_vendor_invoice(rec: Reconciliation | None, invoice: Invoice,
                           decision: SyncDecision) -> Reconciliation | None:
    """Apply a version of the vendor's invoice to the buyer's PO; None if that version (or a newer
    one) was already seen - a duplicate or a stale event changes nothing.

    Uploaded: it lands in AP; an update returns it to AP (a paid invoice stays paid, with the
    warning); a void marks it voided. Not uploaded: the PO records why, and what is on it stays.
    """
    if rec is not None and rec.sync is not None and rec.sync.invoice_version >= invoice.version:
        return None
    if rec is None:
        rec = new_reconciliation(invoice.po_id, invoice.buyer_company_id, invoice.vendor_company_id,
                                 invoice.vendor_name, invoice.order_id)
    changes: dict[str, object] = {
        "sync": SyncState(**decision.model_dump(), invoice_no=invoice.invoice_no, invoice_version=invoice.version,
                          invoice_status=invoice.status),
        "version": rec.version + 1, "updated_at": invoice.updated_at,
    }
    if decision.upload:
        attached = _k2k_attached(invoice)
        if rec.status is RecStatus.PAID:
            status = RecStatus.PAID
        elif attached.voided:
            status = RecStatus.VOIDED
        else:
            status = RecStatus.AP
        changes.update(vendor_invoice=attached, status=status)
        if rec.vendor_invoice is None or rec.vendor_invoice.source is not InvoiceSource.K2K:
            changes["acknowledged_version"] = 0  # procurement has reviewed nothing of the K2K invoice yet
    return rec.model_copy(update=changes)


def move(rec: Reconciliation, action: Action, roles: frozenset[Role], by: str, now: datetime,
         note: str | None = None) -> Reconciliation:
    """One step of the approval flow, by someone whose role allows that step."""
    if rec.status is None or rec.vendor_invoice is None:
        raise Conflict("there is no vendor invoice on this PO yet")
    step = TRANSITIONS.get((action, rec.status))
    if step is None:
        raise Conflict(f"the invoice is {rec.status.value} ({STATUS_LABELS[rec.status]}); "
                       f"'{action.value.replace('_', ' ')}' does not apply")
    to, allowed = step
    if not roles & allowed:
        raise Forbidden("this step needs one of the roles: " + ", ".join(sorted(r.value for r in allowed)))
    changes: dict[str, object] = {
        "status": to, "version": rec.version + 1, "updated_at": now,
        "history": [*rec.history, Transition(action=action.value, from_status=rec.status, to_status=to, by=by,
                                             at=now, note=note)],
    }
    if to is RecStatus.AA:  # procurement has reviewed this version: its update warning is answered
        changes["acknowledged_version"] = rec.vendor_invoice.version
    return rec.model_copy(update=changes)


def attach_manual(rec: Reconciliation | None, po: ReconciledPo, invoice_no: str, amount: Decimal,
                  invoice_date: date, key: str, by: str, now: datetime) -> Reconciliation:
    """The buyer uploads the vendor's invoice by hand (automations off): it goes to AP. A second
    upload replaces the first, whose PDF stays retrievable."""
    if rec is None:
        rec = new_reconciliation(po.po_id, po.buyer_company_id, po.vendor_company_id, po.vendor_name, po.order_id)
    current = rec.vendor_invoice
    if current is not None and current.source is InvoiceSource.K2K and not current.voided:
        raise Conflict(f"the vendor's invoice {current.invoice_no} was uploaded by the K2K automations; "
                       "it is not replaced by hand")
    if rec.status is RecStatus.PAID:
        raise Conflict("the invoice on this PO is already paid")
    previous = current if current is not None and current.source is InvoiceSource.MANUAL else None
    version = previous.version + 1 if previous else 1
    attached = AttachedInvoice(source=InvoiceSource.MANUAL, invoice_no=invoice_no, amount=amount,
                               invoice_date=invoice_date, version=version,
                               pdfs=[*(previous.pdfs if previous else []), PdfVersion(version=version, key=key)])
    history = Transition(action="upload", from_status=rec.status, to_status=RecStatus.AP, by=by, at=now,
                         note=f"vendor invoice {invoice_no} uploaded by hand")
    return rec.model_copy(update={"vendor_invoice": attached, "status": RecStatus.AP, "version": rec.version + 1,
                                  "acknowledged_version": 0, "updated_at": now,
                                  "history": [*rec.history, history]})


# -- what the buyer is warned about --------------------------------------------------------------

class WarningCode(StrEnum):
    UPDATED = "UPDATED"
    VOIDED = "VOIDED"
    NOT_UPLOADED = "NOT_UPLOADED"


class Notice(Model):
    code: WarningCode
    message: str


def warnings(rec: Reconciliation) -> list[Notice]:
    """Derived from the state, never stored: they appear and clear exactly as the state does."""
    found = []
    inv = rec.vendor_invoice
    if inv is not None and inv.source is InvoiceSource.K2K:
        if inv.voided:
            why = f": {inv.void_reason}" if inv.void_reason else ""
            paid = " after it was paid" if rec.status is RecStatus.PAID else ""
            found.append(Notice(code=WarningCode.VOIDED,
                                message=f"{rec.vendor_name} voided invoice {inv.invoice_no}{paid}{why}"))
        elif inv.version > 1 and inv.version > rec.acknowledged_version:
            paid = " after it was paid" if rec.status is RecStatus.PAID else ""
            found.append(Notice(code=WarningCode.UPDATED, message=(
                f"{rec.vendor_name} updated invoice {inv.invoice_no}{paid} (version {inv.version}): "
                "review the new PDF")))
    sync = rec.sync
    # Answered once an invoice is on the PO: the K2K one, current, or one uploaded by hand.
    behind = inv is None or (inv.source is InvoiceSource.K2K and sync is not None
                             and inv.version < sync.invoice_version)
    if sync is not None and not sync.upload and behind:
        if inv is None:
            what = f"Invoice {sync.invoice_no} from {rec.vendor_name}:"
        else:  # the PO holds an older version than the vendor's
            change = "voided" if sync.invoice_status is InvoiceStatus.VOIDED else "updated"
            what = f"{rec.vendor_name} {change} invoice {sync.invoice_no} (version {sync.invoice_version}) since."
        found.append(Notice(code=WarningCode.NOT_UPLOADED, message=f"{what} {sync.reason}"))
    return found


# -- differences ---------------------------------------------------------------------------------

class DifferenceKind(StrEnum):
    INVOICE_TOTAL = "INVOICE_TOTAL"  # vendor invoice total vs PO total
    INVOICE_LINE = "INVOICE_LINE"  # one box code: invoiced vs on the PO
    RECEIVED_QUANTITY = "RECEIVED_QUANTITY"  # one box code: received vs confirmed


class Difference(Model):
    kind: DifferenceKind
    box_code: str | None = None
    expected: Decimal = Field(description="the PO's side: its total, or boxes confirmed")
    actual: Decimal = Field(description="the vendor invoice's side, or boxes received")
    message: str


class StagedQuantity(Model):
    """One PO line in the buyer's staging area (boxes confirmed by the vendor, boxes received)."""

    po_id: str
    line_no: int
    box_code: str
    boxes_confirmed: int
    boxes_received: int


def differences(invoice: AttachedInvoice | None, po: ReconciledPo,
                staged: list[StagedQuantity]) -> list[Difference]:
    """Where the vendor invoice, the PO and what arrived disagree."""
    found: list[Difference] = []
    if invoice is not None and not invoice.voided:
        po_total = po.total
        if invoice.amount != po_total:
            found.append(Difference(kind=DifferenceKind.INVOICE_TOTAL, expected=po_total, actual=invoice.amount,
                                    message=f"vendor invoice {invoice.invoice_no} totals {invoice.amount}, "
                                            f"the PO {po_total} ({invoice.amount - po_total:+})"))
        if invoice.lines:
            found += _line_differences(invoice, po)
    # Before anything is received every line would be short; the flag starts with receiving.
    if any(s.boxes_received for s in staged):
        for s in sorted(staged, key=lambda s: s.line_no):
            if s.boxes_received != s.boxes_confirmed:
                found.append(Difference(kind=DifferenceKind.RECEIVED_QUANTITY, box_code=s.box_code,
                                        expected=Decimal(s.boxes_confirmed), actual=Decimal(s.boxes_received),
                                        message=f"{s.box_code}: {s.boxes_confirmed} boxes confirmed, "
                                                f"{s.boxes_received} received"))
    return found


def _line_differences(invoice: AttachedInvoice, po: ReconciledPo) -> list[Difference]:
    def by_code(rows: list[tuple[str, int, Decimal]]) -> dict[str, tuple[int, Decimal]]:
        out: dict[str, tuple[int, Decimal]] = {}
        for code, boxes, total in rows:
            b, t = out.get(code, (0, ZERO))
            out[code] = (b + boxes, t + total)
        return out

    billed = by_code([(ln.box_code, ln.boxes, ln.total) for ln in invoice.lines])
    ordered = by_code([(ln.box_code, ln.boxes, ln.total) for ln in po.lines])
    found = []
    for code in sorted(billed.keys() | ordered.keys()):
        (ib, it), (pb, pt) = billed.get(code, (0, ZERO)), ordered.get(code, (0, ZERO))
        if (ib, it) != (pb, pt):
            found.append(Difference(kind=DifferenceKind.INVOICE_LINE, box_code=code, expected=pt, actual=it,
                                    message=f"{code}: invoiced {ib} boxes for {it}, the PO has {pb} boxes for {pt}"))
    return found


# -- the PDF's content ----------------------------------------------------------------------------

class PdfTable(Model):
    columns: list[str]
    widths: list[int] = Field(description="relative column widths")
    numeric: list[bool] = Field(description="right-aligned columns")
    rows: list[list[str]]


class InvoiceDocument(Model):
    """What an invoice PDF says, decided here; k2k.pdf only lays it out."""

    title: str
    stamp: str | None = None
    seller: list[str]
    bill_to: list[str]
    facts: list[tuple[str, str]]
    table: PdfTable
    totals: list[tuple[str, str]]
    notes: list[str] = Field(default_factory=list)
    author: str
    created_at: datetime = Field(description="the version's time, so re-rendering gives the same document")


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def invoice_document(invoice: Invoice) -> InvoiceDocument:
    rows = [[ln.box_code, ln.product, f"{ln.boxes} {ln.box_type.value if ln.box_type else ''}".strip(),
             f"{ln.units:,} {ln.unit_type.value.lower()}s", f"{ln.unit_price:.3f}", _money(ln.total)]
            for ln in invoice.lines]
    rows += [["", c.description, "", "", "", _money(c.amount)] for c in invoice.charges]
    voided = invoice.status is InvoiceStatus.VOIDED
    notes = [f"Voided: {invoice.void_reason}" if invoice.void_reason else "Voided"] if voided else []
    if invoice.version > 1:
        notes.append(f"Version {invoice.version}, replaces every earlier version of this invoice.")
    return InvoiceDocument(
        title=f"INVOICE {invoice.invoice_no}",
        stamp="VOID" if voided else None,
        seller=[invoice.vendor_name],
        bill_to=[invoice.buyer_name, *([f"Customer {invoice.customer_code}"] if invoice.customer_code else [])],
        facts=[("Invoice #", str(invoice.invoice_no)), ("Invoice date", invoice.invoice_date.isoformat()),
               ("Ship date", invoice.ship_date.isoformat()), ("AWB", invoice.awb or "-"),
               ("K2K order", invoice.order_id), ("Your PO", invoice.po_id)],
        table=PdfTable(columns=["Box code", "Product", "Boxes", "Units", "Unit price", "Total"],
                       widths=[16, 38, 10, 14, 10, 12], numeric=[False, False, True, True, True, True], rows=rows),
        totals=[("Subtotal", _money(invoice.subtotal)),
                *[(c.description, _money(c.amount)) for c in invoice.charges],
                ("Total", _money(invoice.total))],
        notes=notes, author=invoice.vendor_name, created_at=invoice.updated_at)
