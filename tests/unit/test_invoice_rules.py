"""Vendor invoices and PO reconciliation, as the trade reads them (k2k.invoices, no AWS)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest

from k2k.auth import Role
from k2k.errors import Conflict, Forbidden, Invalid
from k2k.inventory import BoxType, UnitType
from k2k.invoices import (
    Action,
    Charge,
    DifferenceKind,
    InvoiceChange,
    InvoiceLineIn,
    InvoiceSource,
    InvoiceStatus,
    RecStatus,
    StagedQuantity,
    WarningCode,
    attach_manual,
    bill_order,
    bill_prebook,
    differences,
    invoice_document,
    k2k_po,
    move,
    next_invoice_no,
    pdf_key,
    receive_vendor_invoice,
    revise,
    sync_decision,
    void,
    warnings,
)
from k2k.network import Side
from k2k.orders import (
    LineStatus,
    OrderLine,
    OrderStatus,
    PoStatus,
    Prebook,
    ProductPrebookLine,
    PurchaseOrder,
    Source,
    VendorOrder,
)
from k2k.procurement import ShippedLine, TransferredFrom
from k2k.products import ProductKind

NOW = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
PROCUREMENT = frozenset({Role.PROCUREMENT_USER})
ACCOUNTING = frozenset({Role.ACCOUNTS_RECEIVABLE})
BOTH_ON = sync_decision("Rosaflor Farms", True, "Bloom Wholesale", True)


def line(line_no=1, box_code="FR50HB", boxes=2, unit_cost="0.350", unit_type=UnitType.STEM, bunches=10, stems=25,
         status=LineStatus.ACTIVE, product="Rose Freedom 50cm", box_type=BoxType.HB):
    return OrderLine(line_no=line_no, vendor_line_id=f"L{line_no}", box_code=box_code, product=product,
                     box_type=box_type, unit_type=unit_type, bunches_per_box=bunches, stems_per_bunch=stems,
                     boxes=boxes, unit_cost=D(unit_cost), customer_code="FLORA", checked_out=True, status=status)


def confirmed_order(*lines, status=OrderStatus.CONFIRMED):
    return VendorOrder(order_id="K2K-1", vendor_company_id="rosaflor", buyer_company_id="bloom",
                       buyer_name="Bloom Wholesale", customer_code="BLOOM", po_id="PO-1", ship_date=date(2026, 11, 25),
                       status=status, lines=list(lines or [line()]), awb="AWB-1", version=2, created_at=NOW,
                       updated_at=NOW)


def purchase_order(*lines):
    """The buyer's K2K PO as its reconciliation reads it."""
    return k2k_po(PurchaseOrder(po_id="PO-1", buyer_company_id="bloom", vendor_company_id="rosaflor",
                         vendor_name="Rosaflor Farms", vendor_code="ROSA", order_id="K2K-1",
                         ship_date=date(2026, 11, 25), source=Source.PREBOOK, separate=False,
                         status=PoStatus.CONFIRMED, lines=list(lines or [line()]), created_at=NOW, updated_at=NOW))


def issued(*lines, no=7):
    return bill_order(confirmed_order(*lines), no, "Rosaflor Farms", NOW)


def a_correction(invoice, **changes):
    base = [InvoiceLineIn(box_code=ln.box_code, product=ln.product, box_type=ln.box_type, unit_type=ln.unit_type,
                          boxes=ln.boxes, bunches_per_box=ln.bunches_per_box, stems_per_bunch=ln.stems_per_bunch,
                          unit_price=ln.unit_price) for ln in invoice.lines]
    return revise(invoice, InvoiceChange(**{"lines": base, "version": invoice.version, **changes}),
                  NOW + timedelta(hours=1))


# -- billing a confirmed order --------------------------------------------------------------------

def test_confirming_two_hb_of_freedom_roses_bills_500_stems_at_35_cents():
    invoice = issued()
    assert [(ln.box_code, ln.boxes, ln.units, ln.unit_price, ln.total) for ln in invoice.lines] == [
        ("FR50HB", 2, 500, D("0.350"), D("175.00"))]
    assert (invoice.subtotal, invoice.total, invoice.version) == (D("175.00"), D("175.00"), 1)
    assert (invoice.po_id, invoice.awb, invoice.customer_code) == ("PO-1", "AWB-1", "BLOOM")


def test_bunch_lines_bill_bunches_and_stem_lines_bill_stems():
    invoice = issued(line(1, "HYDWFB", boxes=1, unit_cost="9.800", unit_type=UnitType.BUNCH, bunches=8, stems=1),
                     line(2, "MND60QB", boxes=3, unit_cost="0.421", bunches=5, stems=25))
    assert [(ln.units, ln.total) for ln in invoice.lines] == [(8, D("78.40")), (375, D("157.88"))]
    assert invoice.total == D("236.28")  # 157.875 rounds half up to the cent


def test_only_active_lines_are_billed():
    invoice = issued(line(1), line(2, "MND60QB", status=LineStatus.DELETED), line(3, "CARNHB", boxes=1))
    assert [ln.box_code for ln in invoice.lines] == ["FR50HB", "CARNHB"]
    assert [ln.line_no for ln in invoice.lines] == [1, 2]


def test_an_order_that_is_not_confirmed_is_not_billed():
    with pytest.raises(Conflict):
        bill_order(confirmed_order(status=OrderStatus.OPEN), 1, "Rosaflor Farms", NOW)


def test_an_order_with_nothing_left_to_bill_has_no_invoice():
    with pytest.raises(Invalid):
        issued(line(status=LineStatus.DELETED))


def test_numbers_follow_on_from_the_last_one_and_each_version_has_its_own_pdf():
    assert next_invoice_no(0) == 1
    assert next_invoice_no(41) == 42
    assert pdf_key("rosaflor", 42, 1) != pdf_key("rosaflor", 42, 2)


# -- the vendor corrects or voids -----------------------------------------------------------------

def test_the_vendor_corrects_a_price_and_adds_freight():
    invoice = issued()
    lines = [InvoiceLineIn(box_code="FR50HB", product="Rose Freedom 50cm", box_type=BoxType.HB, boxes=2,
                           bunches_per_box=10, stems_per_bunch=25, unit_price=D("0.345"))]
    corrected = revise(invoice, InvoiceChange(lines=lines, charges=[Charge(description="Freight", amount=D("12.50"))],
                                              version=1), NOW)
    assert (corrected.subtotal, corrected.total, corrected.version) == (D("172.50"), D("185.00"), 2)


def test_a_correction_that_leaves_lines_out_keeps_them():
    invoice = issued()
    corrected = revise(invoice, InvoiceChange(charges=[Charge(description="Discount", amount=D("-5.00"))],
                                              version=1), NOW)
    assert corrected.lines == invoice.lines
    assert corrected.total == D("170.00")


def test_a_discount_cannot_take_the_invoice_below_zero():
    with pytest.raises(Invalid):
        revise(issued(), InvoiceChange(charges=[Charge(description="Discount", amount=D("-200"))], version=1), NOW)


def test_correcting_from_an_old_version_is_a_conflict():
    corrected = a_correction(issued())
    with pytest.raises(Conflict):
        revise(corrected, InvoiceChange(charges=[], version=1), NOW)


def test_voiding_needs_the_word_confirm_and_a_voided_invoice_stays_voided():
    invoice = issued()
    with pytest.raises(Invalid):
        void(invoice, "yes", None, None, NOW)
    voided = void(invoice, "CONFIRM", "billed twice", None, NOW)
    assert (voided.status, voided.void_reason, voided.version) == (InvoiceStatus.VOIDED, "billed twice", 2)
    with pytest.raises(Conflict):
        revise(voided, InvoiceChange(charges=[], version=2), NOW)


# -- the automations ---------------------------------------------------------------------------

def test_the_invoice_is_uploaded_only_when_both_companies_switched_their_automation_on():
    assert BOTH_ON.upload and BOTH_ON.reason is None


def test_with_only_the_buyer_on_the_po_says_the_vendor_has_not_enabled_synchronization():
    decision = sync_decision("Rosaflor Farms", False, "Bloom Wholesale", True)
    assert not decision.upload
    assert decision.off == [Side.VENDOR]
    assert "vendor Rosaflor Farms" in decision.reason
    assert "Allow automatic invoice synchronization with the buyer company" in decision.reason
    assert "Bloom" not in decision.reason


def test_with_only_the_vendor_on_the_po_says_the_buyer_has_not_enabled_uploads():
    decision = sync_decision("Rosaflor Farms", True, "Bloom Wholesale", False)
    assert decision.off == [Side.BUYER]
    assert "buyer Bloom Wholesale" in decision.reason
    assert "Allow invoices coming from K2K orders to be automatically uploaded" in decision.reason


def test_with_both_off_both_sides_are_named():
    decision = sync_decision("Rosaflor Farms", False, "Bloom Wholesale", False)
    assert decision.off == [Side.VENDOR, Side.BUYER]


# -- the buyer's reconciliation ------------------------------------------------------------------

def test_an_uploaded_invoice_waits_for_procurement_in_ap_with_its_amount_number_and_pdf():
    rec = receive_vendor_invoice(None, issued(), BOTH_ON)
    assert rec.status is RecStatus.AP
    inv = rec.vendor_invoice
    assert (inv.source, inv.invoice_no, inv.amount) == (InvoiceSource.K2K, "7", D("175.00"))
    assert [p.key for p in inv.pdfs] == ["invoices/rosaflor/7/v1.pdf"]
    assert warnings(rec) == []


def test_without_both_automations_nothing_is_uploaded_and_the_po_says_why():
    decision = sync_decision("Rosaflor Farms", True, "Bloom Wholesale", False)
    rec = receive_vendor_invoice(None, issued(), decision)
    assert rec.status is None and rec.vendor_invoice is None
    assert rec.sync.off == [Side.BUYER]
    [notice] = warnings(rec)
    assert notice.code is WarningCode.NOT_UPLOADED
    assert "buyer Bloom Wholesale has not enabled" in notice.message


def test_procurement_approves_then_accounting_approves_then_marks_it_paid():
    rec = receive_vendor_invoice(None, issued(), BOTH_ON)
    rec = move(rec, Action.APPROVE, PROCUREMENT, "ap@bloom", NOW)
    assert rec.status is RecStatus.AA
    rec = move(rec, Action.APPROVE, ACCOUNTING, "acct@bloom", NOW)
    assert rec.status is RecStatus.A
    rec = move(rec, Action.PAY, ACCOUNTING, "acct@bloom", NOW)
    assert rec.status is RecStatus.PAID
    assert [(t.from_status, t.to_status, t.by) for t in rec.history] == [
        (RecStatus.AP, RecStatus.AA, "ap@bloom"), (RecStatus.AA, RecStatus.A, "acct@bloom"),
        (RecStatus.A, RecStatus.PAID, "acct@bloom")]


def test_procurement_cannot_do_the_accounting_step_and_accounting_cannot_approve_for_procurement():
    rec = receive_vendor_invoice(None, issued(), BOTH_ON)
    with pytest.raises(Forbidden):
        move(rec, Action.APPROVE, ACCOUNTING, "acct@bloom", NOW)
    rec = move(rec, Action.APPROVE, PROCUREMENT, "ap@bloom", NOW)
    with pytest.raises(Forbidden):
        move(rec, Action.APPROVE, PROCUREMENT, "ap@bloom", NOW)
    assert move(rec, Action.APPROVE, frozenset({Role.CREDIT_MANAGER}), "cm@bloom", NOW).status is RecStatus.A
    assert move(rec, Action.APPROVE, frozenset({Role.ADMIN}), "admin@bloom", NOW).status is RecStatus.A


def test_accounting_sends_an_invoice_back_to_ap_from_aa_or_a():
    rec = move(receive_vendor_invoice(None, issued(), BOTH_ON), Action.APPROVE, PROCUREMENT, "ap", NOW)
    assert move(rec, Action.SEND_BACK, ACCOUNTING, "acct", NOW, "wrong PO").status is RecStatus.AP
    approved = move(rec, Action.APPROVE, ACCOUNTING, "acct", NOW)
    back = move(approved, Action.SEND_BACK, ACCOUNTING, "acct", NOW)
    assert back.status is RecStatus.AP and back.history[-1].note is None


def test_steps_out_of_order_are_conflicts_naming_the_status():
    rec = receive_vendor_invoice(None, issued(), BOTH_ON)
    with pytest.raises(Conflict, match="AP"):
        move(rec, Action.PAY, ACCOUNTING, "acct", NOW)
    with pytest.raises(Conflict):
        move(rec, Action.SEND_BACK, ACCOUNTING, "acct", NOW)


def test_the_vendor_updates_an_invoice_and_the_buyers_approval_goes_back_to_ap_with_a_warning():
    invoice = issued()
    rec = receive_vendor_invoice(None, invoice, BOTH_ON)
    rec = move(move(rec, Action.APPROVE, PROCUREMENT, "ap", NOW), Action.APPROVE, ACCOUNTING, "acct", NOW)
    corrected = a_correction(invoice, charges=[Charge(description="Freight", amount=D("10.00"))])
    rec = receive_vendor_invoice(rec, corrected, BOTH_ON)
    assert rec.status is RecStatus.AP
    assert rec.vendor_invoice.amount == D("185.00")
    assert [p.version for p in rec.vendor_invoice.pdfs] == [1, 2]  # the old PDF stays retrievable
    [notice] = warnings(rec)
    assert notice.code is WarningCode.UPDATED and "version 2" in notice.message
    # Procurement reviews it and approves again: the warning is answered.
    assert warnings(move(rec, Action.APPROVE, PROCUREMENT, "ap", NOW)) == []


def test_an_update_after_payment_keeps_it_paid_and_warns():
    invoice = issued()
    rec = receive_vendor_invoice(None, invoice, BOTH_ON)
    for action, roles in ((Action.APPROVE, PROCUREMENT), (Action.APPROVE, ACCOUNTING), (Action.PAY, ACCOUNTING)):
        rec = move(rec, action, roles, "x", NOW)
    rec = receive_vendor_invoice(rec, a_correction(invoice), BOTH_ON)
    assert rec.status is RecStatus.PAID
    assert "after it was paid" in warnings(rec)[0].message


def test_a_voided_invoice_is_voided_on_the_po_too():
    invoice = issued()
    rec = receive_vendor_invoice(None, invoice, BOTH_ON)
    rec = receive_vendor_invoice(rec, void(invoice, "CONFIRM", "wrong customer", None, NOW), BOTH_ON)
    assert rec.status is RecStatus.VOIDED
    assert warnings(rec)[0].code is WarningCode.VOIDED and "wrong customer" in warnings(rec)[0].message
    with pytest.raises(Conflict):
        move(rec, Action.APPROVE, PROCUREMENT, "ap", NOW)


def test_a_repeated_or_older_invoice_version_changes_nothing():
    invoice = issued()
    corrected = a_correction(invoice)
    rec = receive_vendor_invoice(None, corrected, BOTH_ON)
    assert receive_vendor_invoice(rec, corrected, BOTH_ON) is None
    assert receive_vendor_invoice(rec, invoice, BOTH_ON) is None


def test_the_newest_version_decides_whatever_order_the_versions_arrive_in():
    invoice = issued()
    corrected = a_correction(invoice)
    voided = void(corrected, "CONFIRM", None, None, NOW + timedelta(hours=2))
    in_order = None
    for v in (invoice, corrected, voided):
        in_order = receive_vendor_invoice(in_order, v, BOTH_ON) or in_order
    backwards = None
    for v in (voided, corrected, invoice):
        backwards = receive_vendor_invoice(backwards, v, BOTH_ON) or backwards
    assert in_order.model_dump(exclude={"version"}) == backwards.model_dump(exclude={"version"})


def test_an_update_that_is_not_uploaded_leaves_the_old_invoice_and_says_why():
    invoice = issued()
    rec = receive_vendor_invoice(None, invoice, BOTH_ON)
    vendor_off = sync_decision("Rosaflor Farms", False, "Bloom Wholesale", True)
    rec = receive_vendor_invoice(rec, a_correction(invoice), vendor_off)
    assert rec.vendor_invoice.version == 1
    [notice] = warnings(rec)
    assert notice.code is WarningCode.NOT_UPLOADED
    assert notice.message.startswith("Rosaflor Farms updated invoice 7 (version 2) since. Not uploaded")


def test_a_void_that_is_not_uploaded_says_the_invoice_was_voided():
    invoice = issued()
    rec = receive_vendor_invoice(None, invoice, BOTH_ON)
    vendor_off = sync_decision("Rosaflor Farms", False, "Bloom Wholesale", True)
    rec = receive_vendor_invoice(rec, void(invoice, "CONFIRM", None, None, NOW), vendor_off)
    assert rec.status is RecStatus.AP  # what is on the PO stays; the warning says what happened
    assert warnings(rec)[0].message.startswith("Rosaflor Farms voided invoice 7")


def test_an_invoice_uploaded_by_hand_answers_the_not_uploaded_notice():
    decision = sync_decision("Rosaflor Farms", False, "Bloom Wholesale", False)
    rec = receive_vendor_invoice(None, issued(), decision)
    assert [w.code for w in warnings(rec)] == [WarningCode.NOT_UPLOADED]
    rec = attach_manual(rec, purchase_order(), "RF-1", D("175.00"), date(2026, 11, 22), "k", "ap", NOW)
    assert warnings(rec) == []


def test_the_buyer_uploads_the_vendors_invoice_by_hand_and_a_second_upload_keeps_the_first_pdf():
    po = purchase_order()
    rec = attach_manual(None, po, "RF-2231", D("175.00"), date(2026, 11, 22), "k1", "ap@bloom", NOW)
    assert rec.status is RecStatus.AP
    assert (rec.vendor_invoice.source, rec.vendor_invoice.invoice_no) == (InvoiceSource.MANUAL, "RF-2231")
    rec = attach_manual(rec, po, "RF-2231", D("180.00"), date(2026, 11, 22), "k2", "ap@bloom", NOW)
    assert [(p.version, p.key) for p in rec.vendor_invoice.pdfs] == [(1, "k1"), (2, "k2")]
    assert rec.history[-1].action == "upload"


def test_an_invoice_synced_by_the_automations_is_not_replaced_by_hand():
    rec = receive_vendor_invoice(None, issued(), BOTH_ON)
    with pytest.raises(Conflict, match="automations"):
        attach_manual(rec, purchase_order(), "X", D("1"), date(2026, 11, 22), "k", "ap", NOW)


# -- differences ----------------------------------------------------------------------------

def test_a_vendor_invoice_that_matches_the_po_shows_no_difference():
    rec = receive_vendor_invoice(None, issued(), BOTH_ON)
    assert differences(rec.vendor_invoice, purchase_order(), []) == []


def test_an_invoice_total_above_the_po_total_is_flagged_with_the_difference():
    invoice = a_correction(issued(), charges=[Charge(description="Freight", amount=D("12.50"))])
    rec = receive_vendor_invoice(None, invoice, BOTH_ON)
    [total] = differences(rec.vendor_invoice, purchase_order(), [])
    assert (total.kind, total.expected, total.actual) == (DifferenceKind.INVOICE_TOTAL, D("175.00"), D("187.50"))
    assert "+12.50" in total.message


def test_a_po_modified_after_shipment_shows_which_box_code_disagrees_with_the_invoice():
    rec = receive_vendor_invoice(None, issued(line(1), line(2, "MND60QB", boxes=1, bunches=5)), BOTH_ON)
    po = purchase_order(line(1), line(2, "MND60QB", boxes=2, bunches=5))
    found = differences(rec.vendor_invoice, po, [])
    assert [(d.kind, d.box_code) for d in found] == [(DifferenceKind.INVOICE_TOTAL, None),
                                                     (DifferenceKind.INVOICE_LINE, "MND60QB")]
    assert "invoiced 1 boxes" in found[1].message and "the PO has 2 boxes" in found[1].message


def test_boxes_received_short_of_what_was_confirmed_are_flagged_once_receiving_started():
    staged = [StagedQuantity(po_id="PO-1", line_no=1, box_code="FR50HB", boxes_confirmed=2, boxes_received=0),
              StagedQuantity(po_id="PO-1", line_no=2, box_code="MND60QB", boxes_confirmed=1, boxes_received=0)]
    assert differences(None, purchase_order(), staged) == []  # nothing arrived yet: nothing to compare
    staged[1] = staged[1].model_copy(update={"boxes_received": 1})
    [short] = differences(None, purchase_order(), staged)
    assert (short.kind, short.box_code, short.expected, short.actual) == (
        DifferenceKind.RECEIVED_QUANTITY, "FR50HB", D(2), D(0))


def test_a_voided_vendor_invoice_is_not_compared_with_the_po():
    invoice = issued()
    rec = receive_vendor_invoice(None, void(invoice, "CONFIRM", None, None, NOW), BOTH_ON)
    assert differences(rec.vendor_invoice, purchase_order(line(boxes=5)), []) == []


# -- what the PDF says ----------------------------------------------------------------------

def test_the_pdf_lists_lines_by_box_code_with_unit_prices_to_three_decimals():
    doc = invoice_document(issued())
    assert doc.title == "INVOICE 7"
    assert doc.table.rows == [["FR50HB", "Rose Freedom 50cm", "2 HB", "500 stems", "0.350", "175.00"]]
    assert doc.totals[-1] == ("Total", "175.00")
    assert ("Your PO", "PO-1") in doc.facts and ("AWB", "AWB-1") in doc.facts


def test_a_voided_invoice_pdf_is_stamped_void_with_the_reason():
    doc = invoice_document(void(issued(), "CONFIRM", "billed twice", None, NOW))
    assert doc.stamp == "VOID"
    assert doc.notes[0] == "Voided: billed twice"


# -- K2K for Procurement: a shipped transferred prebook -------------------------------------

def test_a_shipped_prebook_is_billed_at_what_the_vendor_confirmed_by_the_box_codes_it_shipped():
    roses = ProductPrebookLine(line_no=1, product_code="ROSE-FR50", description="Rose Freedom 50cm",
                               kind=ProductKind.LIVE_GOODS, unit=UnitType.STEM, quantity=150, unit_price=D("0.30"),
                               box_type=BoxType.HB, boxes=2, bunches_per_box=4, stems_per_bunch=25)
    vases = ProductPrebookLine(line_no=2, product_code="VASE-8", description="Glass vase", kind=ProductKind.HARD_GOODS,
                               unit=UnitType.UNIT, quantity=20, unit_price=D("3.50"), status=LineStatus.DELETED)
    prebook = Prebook(prebook_id="PB-bloom-PO-1", buyer_company_id="rosaflor", customer_code="BLOOM",
                      ship_date=date(2026, 12, 9), source=Source.PROCUREMENT, lines=[roses, vases], created_at=NOW,
                      transferred_from=TransferredFrom(buyer_company_id="bloom", po_id="PO-1", shipped_at=NOW))
    shipped = [ShippedLine(line_no=1, box_code="RF-FR50", boxes=2)]
    invoice = bill_prebook(prebook, "rosaflor", "Rosaflor Farms", "Bloom", "AWB-7", shipped, 3, NOW)
    assert (invoice.order_id, invoice.po_id, invoice.buyer_company_id, invoice.customer_code, invoice.awb,
            invoice.total) == ("PB-bloom-PO-1", "PO-1", "bloom", "BLOOM", "AWB-7", D("45.00"))
    [line] = invoice.lines
    assert (line.box_code, line.boxes, line.units, line.unit_price, line.total) == (
        "RF-FR50", 2, 150, D("0.30"), D("45.00"))
    with pytest.raises(Conflict, match="DELETED"):  # a rejected line is never billed
        bill_prebook(prebook, "rosaflor", "Rosaflor Farms", "Bloom", "AWB-7",
                     [*shipped, ShippedLine(line_no=2, box_code="RF-V", boxes=20)], 3, NOW)
    unshipped = prebook.model_copy(update={"transferred_from": prebook.transferred_from.model_copy(
        update={"shipped_at": None})})
    with pytest.raises(Conflict, match="not a shipped prebook"):
        bill_prebook(unshipped, "rosaflor", "Rosaflor Farms", "Bloom", "AWB-7", shipped, 3, NOW)
