"""Vendor invoices and the buyer's PO reconciliation on the store, the documents bucket and SES.

- Issuing (OrderConfirmed): the invoice, the vendor's counter, an order guard
  and the InvoiceIssued outbox event are one transaction. The counter moves
  only from the value read, so numbers have no gap and no duplicate; the guard
  (one per order id) makes a redelivered OrderConfirmed a no-op that burns no
  number. The PDF of a version is rendered after its commit, from committed
  data only, so a lost race never leaves a wrong PDF behind.
- Each invoice event (issued, updated, voided) then makes sure its PDF
  exists, applies the version to the buyer's reconciliation (when both
  automations are on) and emails both companies (at least once, and only
  once unless the function dies between sending and recording it).
- Reconciliation steps are conditional on the record's version.
"""

import base64
import binascii
import uuid
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from k2k import aws, clock, keys, paging, store
from k2k import invoices as rules
from k2k.auth import Caller
from k2k.bounds import MAX_PDF_BASE64, MAX_PDF_BYTES, Confirm, Input, Note, Version
from k2k.errors import Conflict, Invalid, NotFound
from k2k.events import Event, new_event, outbox
from k2k.invoices import (
    STATUS_LABELS,
    Action,
    Balance,
    Difference,
    Invoice,
    InvoiceChange,
    InvoiceIssued,
    InvoiceUpdated,
    InvoiceVoided,
    Notice,
    ReconciledPo,
    Reconciliation,
    RecStatus,
    StagedQuantity,
    VendorInvoiceApproved,
)
from k2k.models import Model
from k2k.network import Company
from k2k.notifications import Marks, send_once
from k2k.observability import logger
from k2k.orders import OrderConfirmed, PurchaseOrder
from k2k.paging import Page
from k2k.procurement import PrebookShipped
from k2k.purchasing import AnyPurchaseOrder, reconciled
from k2k.services import order_data, procurement, purchasing
from k2k.services.network import get_company, read_company
from k2k.services.order_data import staging_prefix
from k2k.services.partner_audience import read_audience
from k2k.store import ConditionFailed, LostRace, Reads, Store, as_int, plain, retrying, to_item

NOTICES = "invoice-notices"  # the marks of the emails sent for an invoice event (k2k.notifications.send_once)
ATTEMPTS = 100  # numbering under contention: each round, one of the racing confirmations wins
LINK_SECONDS = 300


# -- keys ---------------------------------------------------------------------------------------

def invoice_key(vendor: str, invoice_no: int) -> dict[str, str]:
    return {"pk": keys.company_pk(vendor), "sk": f"INVOICE#{invoice_no:010d}"}


def order_invoice_key(vendor: str, order_id: str) -> dict[str, str]:
    """One per order: a second OrderConfirmed for the same order cannot make a second invoice."""
    return {"pk": keys.company_pk(vendor), "sk": f"INVOICE_ORDER#{order_id}"}


def counter_key(vendor: str) -> dict[str, str]:
    return {"pk": keys.company_pk(vendor), "sk": "COUNTER#INVOICE"}


def rec_key(buyer: str, po_id: str) -> dict[str, str]:
    return {"pk": keys.company_pk(buyer), "sk": f"REC#{po_id}"}


# A reconciliation with a status is also on gsi1 under it (a sparse index, moved with every status change), so a
# page of one status reads that page, not every reconciliation the buyer ever had.
def _recs_of_status_pk(buyer: str, status: RecStatus) -> str:
    return f"{keys.company_pk(buyer)}#REC#{status.value}"


def _rec_item(rec: Reconciliation) -> store.Item:
    item = to_item(rec, **rec_key(rec.buyer_company_id, rec.po_id), kind="REC")
    if rec.status is not None:
        item.update(gsi1pk=_recs_of_status_pk(rec.buyer_company_id, rec.status), gsi1sk=rec.po_id)
    return item


def _get(db: Store, key: dict[str, str]) -> store.Item | None:
    return db.get(key["pk"], key["sk"])


# -- the documents bucket -------------------------------------------------------------------------

class Documents:
    """Invoice PDFs: written once per version, read only through short-lived links."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    @property
    def s3(self) -> Any:
        return aws.client("s3")

    def exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as e:
            if e.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def put_pdf(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/pdf")

    def link(self, key: str, filename: str) -> str:
        return str(self.s3.generate_presigned_url("get_object", ExpiresIn=LINK_SECONDS, Params={
            "Bucket": self.bucket, "Key": key, "ResponseContentType": "application/pdf",
            "ResponseContentDisposition": attachment(filename)}))


def attachment(filename: str) -> str:
    """A Content-Disposition that no filename can break (RFC 6266): a quoted ASCII fallback with quotes,
    backslashes, control and non-ASCII characters replaced, and the exact name as RFC 5987 `filename*`.
    Vendor invoice numbers are typed by people (`12"B`, `Factura 7/ñ`)."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in filename)
    return f'attachment; filename="{fallback}"; filename*=UTF-8\'\'{quote(filename, safe="")}'


def ensure_pdf(docs: Documents, invoice: Invoice) -> str:
    """The PDF of this invoice version, rendered from committed data if it is not there yet."""
    key = rules.pdf_key(invoice.vendor_company_id, invoice.invoice_no, invoice.version)
    if not docs.exists(key):
        from k2k.pdf import render  # fpdf2 adds a third of a second to a cold start: only when rendering

        docs.put_pdf(key, render(rules.invoice_document(invoice)))
    return key


class PdfLink(Model):
    url: str
    expires_in: int = LINK_SECONDS
    version: int
    filename: str


# -- the vendor's invoices ----------------------------------------------------------------------

def _load_invoice(db: Store, vendor: str, invoice_no: int) -> Invoice | None:
    item = _get(db, invoice_key(vendor, invoice_no))
    return Invoice.model_validate(plain(item)) if item else None


def get_invoice(db: Store, vendor: str, invoice_no: int) -> Invoice:
    found = _load_invoice(db, vendor, invoice_no)
    if found is None:
        raise NotFound("invoice not found")
    return found


def list_invoices(db: Store, caller: Caller, limit: int, token: str | None) -> "Page[Invoice]":
    items, next_token = paging.read(db, caller.company_id, keys.company_pk(caller.company_id), "INVOICE#",
                                    limit=limit, token=token)
    return Page(items=[Invoice.model_validate(plain(i)) for i in items], next_token=next_token)


def issue_for_order(db: Store, docs: Documents, confirmed: OrderConfirmed) -> Invoice:
    """Automatic billing: the confirmed order's invoice, numbered, with its PDF. Idempotent per order."""
    order = confirmed.order
    return _issue(db, docs, order.vendor_company_id, order.buyer_company_id, order.order_id,
                  lambda vendor, no: rules.bill_order(order, no, vendor.name, clock.now()))


def issue_for_prebook(db: Store, docs: Documents, shipped: PrebookShipped) -> Invoice | None:
    """K2K for Procurement: the vendor's shipment of a prebook its customer's PO became bills it, as confirming
    a K2K order does (numbered in the same series, with its PDF); InvoiceIssued then takes it to the buyer's PO
    reconciliation. Idempotent per prebook; a shipment between companies with no procurement connection is
    not billed (as the transfer consumer does not stage it)."""
    if procurement.connection_of(db, shipped.buyer_company_id, shipped.vendor_company_id) is None:
        logger.warning("shipment from an unconnected vendor not billed", extra={"po_id": shipped.po_id})
        return None
    buyer = get_company(db, shipped.buyer_company_id)
    prebook = order_data.get_prebook(db, shipped.vendor_company_id, shipped.prebook_id)
    return _issue(db, docs, shipped.vendor_company_id, shipped.buyer_company_id, prebook.prebook_id,
                  lambda vendor, no: rules.bill_prebook(prebook, vendor.company_id, vendor.name, buyer.name,
                                                        shipped.awb, shipped.lines, no, clock.now()))


def _issue(db: Store, docs: Documents, vendor_id: str, buyer_id: str, order_id: str,
           bill: Callable[[Company, int], Invoice]) -> Invoice:
    """The one invoice of a vendor's order (or prebook): the guard, the counter, the invoice and InvoiceIssued
    in one transaction, numbered from the counter read; a second call finds the guard and burns no number.
    The vendor, the guard, the counter and both companies' partner subscriptions (the event's partner stamp,
    services/partner_audience.py) are read in one consistent BatchGetItem."""

    def attempt() -> Invoice:
        reads = Reads()
        vendor_read = read_company(reads, vendor_id)
        guard_read = reads.want(order_invoice_key(vendor_id, order_id))
        counter_read = reads.want(counter_key(vendor_id))
        stamp = read_audience(reads, [vendor_id, buyer_id])
        reads.run(db)
        if (guard := guard_read()) is not None:  # billed already (a redelivered event): that invoice
            existing = _load_invoice(db, vendor_id, as_int(guard["invoice_no"]))
            assert existing is not None, f"invoice {guard['invoice_no']} of {vendor_id} is missing"
            return existing
        counter = counter_read()
        last = as_int(counter["last"]) if counter else 0
        invoice = bill(vendor_read(), rules.next_invoice_no(last))
        no = invoice.invoice_no
        if counter is None:
            move = store.update(counter_key(vendor_id), "SET #last = :no", values={":no": no},
                                names={"#last": "last"}, condition="attribute_not_exists(pk)")
        else:
            move = store.update(counter_key(vendor_id), "SET #last = :no", values={":no": no, ":read": last},
                                names={"#last": "last"}, condition="#last = :read")
        try:
            db.transact([
                store.put({**order_invoice_key(vendor_id, order_id), "kind": "INVOICE_ORDER",
                           "invoice_no": no}, condition="attribute_not_exists(pk)"),
                move,
                store.put(to_item(invoice, **invoice_key(vendor_id, no), kind="INVOICE"),
                          condition="attribute_not_exists(pk)"),
                outbox(stamp(new_event(InvoiceIssued(invoice=invoice), company_id=vendor_id,
                                       aggregate_id=invoice.ref, aggregate_version=invoice.version))),
            ])
        except ConditionFailed:
            raise LostRace from None  # another confirmation took the number, or this order was billed meanwhile
        logger.info("invoice issued", extra={"invoice_no": no, "order_id": order_id})
        return invoice

    invoice = retrying(attempt, f"the invoice numbers of {vendor_id}", ATTEMPTS)
    ensure_pdf(docs, invoice)
    return invoice


def _write_version(db: Store, docs: Documents, changed: Invoice, read_version: int, event: BaseModel) -> Invoice:
    try:
        db.transact([
            store.put(to_item(changed, **invoice_key(changed.vendor_company_id, changed.invoice_no), kind="INVOICE"),
                      condition="version = :v", values={":v": read_version}),
            outbox(new_event(event, company_id=changed.vendor_company_id, aggregate_id=changed.ref,
                             aggregate_version=changed.version)),
        ])
    except ConditionFailed as e:
        raise Conflict(f"invoice {changed.invoice_no} changed meanwhile; read it again") from e
    try:
        ensure_pdf(docs, changed)
    except Exception:  # committed: the InvoiceUpdated/Voided consumer renders it if this did not
        logger.exception("PDF not rendered with the change", extra={"invoice_no": changed.invoice_no})
    return changed


def update_invoice(db: Store, docs: Documents, caller: Caller, invoice_no: int, change: InvoiceChange) -> Invoice:
    current = get_invoice(db, caller.company_id, invoice_no)
    revised = rules.revise(current, change, clock.now())
    return _write_version(db, docs, revised, current.version,
                          InvoiceUpdated(invoice=revised, previous_total=current.total))


class InvoiceVoid(Input):
    confirm: Confirm
    reason: Note | None = None
    version: Version | None = None


def void_invoice(db: Store, docs: Documents, caller: Caller, invoice_no: int, body: InvoiceVoid) -> Invoice:
    current = get_invoice(db, caller.company_id, invoice_no)
    voided = rules.void(current, body.confirm, body.reason, body.version, clock.now())
    return _write_version(db, docs, voided, current.version, InvoiceVoided(invoice=voided))


def invoice_pdf(db: Store, docs: Documents, caller: Caller, invoice_no: int, version: int | None) -> PdfLink:
    invoice = get_invoice(db, caller.company_id, invoice_no)
    wanted = version or invoice.version
    if not 1 <= wanted <= invoice.version:
        raise NotFound(f"invoice {invoice_no} has no version {wanted}")
    key = rules.pdf_key(invoice.vendor_company_id, invoice_no, wanted)
    if wanted == invoice.version:
        ensure_pdf(docs, invoice)
    elif not docs.exists(key):
        raise NotFound(f"the PDF of version {wanted} is not available")
    return PdfLink(url=docs.link(key, f"invoice-{invoice_no}-v{wanted}.pdf"), version=wanted,
                   filename=f"invoice-{invoice_no}-v{wanted}.pdf")


# -- invoice events: PDF, the buyer's reconciliation, emails -------------------------------------

def on_invoice_event(db: Store, docs: Documents, event: Event) -> Reconciliation:
    """InvoiceIssued / InvoiceUpdated / InvoiceVoided, each step idempotent, in this order so a
    retry after any failure finishes the job."""
    invoice = Invoice.model_validate(event.data["invoice"])
    ensure_pdf(docs, invoice)
    reads = Reads()  # both companies, the buyer's reconciliation of the PO and the emails' marks, in one batch
    vendor_read = read_company(reads, invoice.vendor_company_id)
    buyer_read = read_company(reads, invoice.buyer_company_id)
    rec_read = reads.want(rec_key(invoice.buyer_company_id, invoice.po_id))
    marks = {company: Marks.read(reads, *_notice_scope(event, invoice, company))
             for company in (invoice.vendor_company_id, invoice.buyer_company_id)}
    reads.run(db)
    vendor, buyer = vendor_read(), buyer_read()
    rec = sync_to_buyer(db, invoice, vendor, buyer, rec_read)
    if rec.sync is not None and rec.sync.invoice_version > invoice.version:
        logger.info("stale invoice event ignored", extra={"invoice_no": invoice.invoice_no,
                                                          "invoice_version": invoice.version})
        return rec  # a newer version was already told: an email about this one would mislead
    notify(db, event, invoice, rec, vendor, buyer, marks)
    return rec


def sync_to_buyer(db: Store, invoice: Invoice, vendor: Company, buyer: Company,
                  read: Callable[[], store.Item | None]) -> Reconciliation:
    """Apply this invoice version to the buyer's PO reconciliation, or record why it was not. `read`: the
    reconciliation as read with the companies; after a lost race it is read again."""
    decision = rules.sync_decision(vendor.name, vendor.settings.automations.vendor_invoice_sync,
                                   buyer.name, buyer.settings.automations.buyer_invoice_upload)
    key = rec_key(invoice.buyer_company_id, invoice.po_id)
    first = [read]

    def attempt() -> Reconciliation:
        item = first.pop()() if first else _get(db, key)
        rec = Reconciliation.model_validate(plain(item)) if item else None
        if rec is not None and rec.vendor_company_id != invoice.vendor_company_id:
            # Never attach one vendor's invoice to another vendor's PO: the event goes to the DLQ.
            raise Conflict(f"PO {invoice.po_id} of {invoice.buyer_company_id} is not from {vendor.name}")
        updated = rules.receive_vendor_invoice(rec, invoice, decision)
        if updated is None:
            assert rec is not None
            logger.info("invoice version already applied", extra={"po_id": invoice.po_id,
                                                                  "invoice_version": invoice.version})
            return rec
        _put_rec(db, updated, rec)
        return updated

    return retrying(attempt, f"the reconciliation of {invoice.po_id}", ATTEMPTS)


def _put_rec(db: Store, updated: Reconciliation, read: Reconciliation | None,
             extra: list[store.Op] | None = None) -> None:
    """Save a reconciliation conditional on the version read (LostRace: it changed meanwhile)."""
    if read is None:
        op = store.put(_rec_item(updated), condition="attribute_not_exists(pk)")
    else:
        op = store.put(_rec_item(updated), condition="version = :v", values={":v": read.version})
    try:
        if extra:
            db.transact([op, *extra])
        else:
            db.put(op.key_or_item, condition=op.condition, values=op.values)
    except ConditionFailed as e:
        if e.failed_at(0):
            raise LostRace from e
        raise


def _notice_scope(event: Event, invoice: Invoice, company_id: str) -> tuple[str, str]:
    """Where the marks of one company's email about this event are kept (k2k.notifications.send_once)."""
    return keys.inbox_pk(invoice.vendor_company_id), f"{NOTICES}#{event.metadata.event_id}#{company_id}"


def notify(db: Store, event: Event, invoice: Invoice, rec: Reconciliation | None, vendor: Company,
           buyer: Company, marks: dict[str, Marks]) -> list[str]:
    """Email the vendor's and the buyer's notification addresses for this event: one email per company,
    each sent at least once and marked once sent (k2k.notifications.send_once), so a redelivery sends only
    what is not marked yet; returns the recipients of the emails sent now. `marks`: each company's, as read
    with the companies."""
    subject, text = _notice(event.detail_type, invoice, rec, vendor, buyer)
    sent: list[str] = []
    for company in (vendor, buyer):
        pk, scope = _notice_scope(event, invoice, company.company_id)
        sent += send_once(db, pk, scope, company.settings.notification_emails, subject, text,
                          marks[company.company_id])
    return sent


def _notice(detail_type: str, invoice: Invoice, rec: Reconciliation | None, vendor: Company,
            buyer: Company) -> tuple[str, str]:
    """The invoice email's subject and text (the same for both companies)."""
    what = {"InvoiceIssued": "issued", "InvoiceUpdated": "updated", "InvoiceVoided": "voided"}[detail_type]
    lines = "\n".join(f"  {ln.box_code}  {ln.boxes} x {ln.product}  {ln.units} {ln.unit_type.value.lower()}s "
                      f"at {ln.unit_price:.3f} = {ln.total:,.2f}" for ln in invoice.lines)
    summary = (f"Invoice {invoice.invoice_no} from {vendor.name} to {buyer.name}, {what}.\n"
               f"K2K order {invoice.order_id}, PO {invoice.po_id}, AWB {invoice.awb or '-'}, "
               f"ship date {invoice.ship_date}.\n{lines}\nTotal {invoice.total:,.2f}"
               + (f"\nReason: {invoice.void_reason}" if invoice.void_reason else "") + "\n")
    if rec is not None and rec.sync is not None and rec.sync.upload:
        where = "It is in the buyer's PO Reconciliation" + (f", status {rec.status.value}." if rec.status else ".")
    else:
        where = rec.sync.reason if rec is not None and rec.sync is not None and rec.sync.reason else ""
    subject = f"Invoice {invoice.invoice_no} {what}: {vendor.name} to {buyer.name}, {invoice.total:,.2f}"
    return subject, f"{summary}{where}\nThe PDF is in K2K (Invoices / PO Reconciliation)."


# -- the buyer's PO reconciliation ---------------------------------------------------------------

class ReconciliationView(Reconciliation):
    status_label: str | None = None
    po_total: Decimal
    warnings: list[Notice]
    differences: list[Difference]


def _staged(items: list[store.Item]) -> list[StagedQuantity]:
    return [StagedQuantity(po_id=i["po_id"], line_no=as_int(i["line_no"]), box_code=i["box_code"],
                           boxes_confirmed=as_int(i["boxes_confirmed"]), boxes_received=as_int(i["boxes_received"]))
            for i in items]


def _reconciled(po: AnyPurchaseOrder) -> ReconciledPo | None:
    return rules.k2k_po(po) if isinstance(po, PurchaseOrder) else reconciled(po)


def get_po(db: Store, company_id: str, po_id: str) -> ReconciledPo:
    """A PO of the company with a K2K vendor invoice flow: a K2K PO, or a standalone PO its K2K vendor answered
    (K2K for Procurement); 404 otherwise."""
    found = _reconciled(purchasing.get_any_po(db, company_id, po_id))
    if found is None:
        raise NotFound(f"purchase order {po_id} has no K2K vendor invoice to reconcile: its vendor has not "
                       "answered it through K2K for Procurement")
    return found


def _view(rec: Reconciliation, po: ReconciledPo, staged: list[StagedQuantity]) -> ReconciliationView:
    return ReconciliationView(**rec.model_dump(), status_label=STATUS_LABELS[rec.status] if rec.status else None,
                              po_total=po.total, warnings=rules.warnings(rec),
                              differences=rules.differences(rec.vendor_invoice, po, staged))


def _load_rec(db: Store, buyer: str, po_id: str) -> Reconciliation | None:
    item = _get(db, rec_key(buyer, po_id))
    return Reconciliation.model_validate(plain(item)) if item else None


def get_reconciliation(db: Store, caller: Caller, po_id: str) -> ReconciliationView:
    """A PO of the caller's company (404 for anyone else's) with its vendor invoice, flags and warnings."""
    po = get_po(db, caller.company_id, po_id)
    rec = _load_rec(db, caller.company_id, po_id) or rules.new_reconciliation(
        po.po_id, po.buyer_company_id, po.vendor_company_id, po.vendor_name, po.order_id)
    staged = _staged(db.query(keys.company_pk(caller.company_id), staging_prefix(po_id)))
    return _view(rec, po, staged)


def list_reconciliations(db: Store, caller: Caller, status: RecStatus | None, limit: int,
                         token: str | None) -> "Page[ReconciliationView]":
    """A page of the POs with a vendor invoice or an automation notice (of one status, if given: from the
    status's index, so a page costs the page whatever the buyer's history): the page's reconciliations, their
    POs in one batch read, and each one's staged boxes."""
    cid = caller.company_id
    pk = keys.company_pk(cid)
    if status is None:
        items, next_token = paging.read(db, cid, pk, "REC#", limit=limit, token=token)
    else:
        items, next_token = paging.read(db, cid, _recs_of_status_pk(cid, status), index="gsi1", limit=limit,
                                        token=token)
    recs = [Reconciliation.model_validate(plain(i)) for i in items]
    pos = {po.po_id: po for po in (_reconciled(p) for p in purchasing.pos_by_id(db, cid, [r.po_id for r in recs]))
           if po is not None}
    return Page(items=[_view(rec, pos[rec.po_id], _staged(db.query(pk, staging_prefix(rec.po_id))))
                       for rec in recs if rec.po_id in pos], next_token=next_token)


class StepIn(Input):
    version: Version | None = None
    note: Note | None = None


def step(db: Store, caller: Caller, po_id: str, action: Action, body: StepIn) -> ReconciliationView:
    """Approve, send back or mark paid, by the roles each step needs."""
    po = get_po(db, caller.company_id, po_id)
    rec = _load_rec(db, caller.company_id, po_id)
    if rec is None:
        raise Conflict("there is no vendor invoice on this PO yet")
    if body.version is not None and body.version != rec.version:
        raise Conflict(f"the reconciliation changed meanwhile (version {rec.version}, not {body.version})")
    now = clock.now()
    moved = rules.move(rec, action, caller.roles, caller.email or caller.user_id, now, body.note)
    extra = []
    if moved.status is RecStatus.A:
        inv = moved.vendor_invoice
        assert inv is not None
        extra.append(outbox(new_event(VendorInvoiceApproved(
            buyer_company_id=moved.buyer_company_id, po_id=po_id, order_id=moved.order_id,
            vendor_company_id=moved.vendor_company_id, vendor_name=moved.vendor_name, invoice_no=inv.invoice_no,
            invoice_version=inv.version, source=inv.source, amount=inv.amount,
            approved_by=caller.email or caller.user_id, approved_at=now),
            company_id=caller.company_id, aggregate_id=po_id, aggregate_version=moved.version)))
    try:
        _put_rec(db, moved, rec, extra)
    except LostRace as e:
        raise Conflict("the reconciliation changed meanwhile; read it again") from e
    return _view(moved, po, _staged(db.query(keys.company_pk(caller.company_id), staging_prefix(po_id))))


class ManualInvoiceIn(Input):
    """The vendor's invoice, typed and attached by the buyer (when the automations are off)."""

    invoice_no: str = Field(min_length=1, max_length=20)
    amount: Balance
    invoice_date: date | None = Field(default=None, description="default: today")
    pdf_base64: str = Field(min_length=8, max_length=MAX_PDF_BASE64,
                            description="the vendor's PDF, base64-encoded (at most 4 MB)")

    def pdf(self) -> bytes:
        try:
            raw = base64.b64decode(self.pdf_base64, validate=True)
        except (binascii.Error, ValueError) as e:
            raise Invalid("not base64", field="pdf_base64") from e
        if not raw.startswith(b"%PDF-"):
            raise Invalid("not a PDF", field="pdf_base64")
        if len(raw) > MAX_PDF_BYTES:
            raise Invalid("the PDF is larger than 4 MB", field="pdf_base64")
        return raw


def upload_vendor_invoice(db: Store, docs: Documents, caller: Caller, po_id: str,
                          body: ManualInvoiceIn) -> ReconciliationView:
    po = get_po(db, caller.company_id, po_id)
    pdf = body.pdf()
    now = clock.now()
    by = caller.email or caller.user_id
    # Check before storing anything; a unique key, so a lost race never overwrites the winner's PDF.
    rules.attach_manual(_load_rec(db, caller.company_id, po_id), po, body.invoice_no, body.amount,
                        body.invoice_date or now.date(), "", by, now)
    key = f"reconciliation/{caller.company_id}/{po_id}/{uuid.uuid4().hex}.pdf"
    docs.put_pdf(key, pdf)

    def attempt() -> Reconciliation:
        rec = _load_rec(db, caller.company_id, po_id)
        updated = rules.attach_manual(rec, po, body.invoice_no, body.amount, body.invoice_date or now.date(),
                                      key, by, now)
        _put_rec(db, updated, rec)
        return updated

    rec = retrying(attempt, f"the reconciliation of {po_id}", ATTEMPTS)
    return _view(rec, po, _staged(db.query(keys.company_pk(caller.company_id), staging_prefix(po_id))))


def reconciliation_pdf(db: Store, docs: Documents, caller: Caller, po_id: str, version: int | None) -> PdfLink:
    """The buyer reaches a vendor invoice PDF only through its own PO's reconciliation."""
    rec = _load_rec(db, caller.company_id, po_id)
    inv = rec.vendor_invoice if rec else None
    if inv is None:
        raise NotFound("there is no vendor invoice on this PO")
    pdf = next((p for p in inv.pdfs if p.version == (version or inv.version)), None)
    if pdf is None:
        raise NotFound(f"vendor invoice {inv.invoice_no} has no version {version}")
    name = f"vendor-invoice-{inv.invoice_no}-v{pdf.version}.pdf"
    return PdfLink(url=docs.link(pdf.key, name), version=pdf.version, filename=name)

