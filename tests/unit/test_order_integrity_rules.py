"""The pure rules behind issue 11's order defects: who sees which fields of a K2K line, why stock
refused a move, when a line may be removed, how big one step may be, and a download name."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D
from email.message import Message
from email.utils import collapse_rfc2231_value

import pytest

from k2k.errors import Invalid
from k2k.event_catalogue import all_events
from k2k.inventory import InventoryLine, removal_refusal, stock_refusal
from k2k.orders import (
    MAX_CART_LINES,
    MAX_ORDER_LINES,
    MAX_PREBOOK_LINES,
    MAX_PREBOOK_VENDORS,
    Cart,
    CartLine,
    CartStatus,
    OrderLine,
    PoStatus,
    PurchaseOrder,
    Source,
    VendorOrder,
    VendorOrderLine,
    check_cart_room,
    check_prebook_size,
    choose_po,
)
from k2k.services.invoices import attachment

NOW = datetime(2026, 12, 2, 9, tzinfo=UTC)
BUYER_ONLY = {"customer_code", "cart_id", "prebook_id", "prebook_line_no"}


def po_line(n: int = 1, **extra) -> OrderLine:
    return OrderLine(line_no=n, vendor_line_id=f"L{n}", box_code=f"BOX{n}", product="Rose Freedom 50cm",
                     box_type="HB", unit_type="STEM", bunches_per_box=10, stems_per_bunch=25, boxes=2,
                     unit_cost=D("0.35"), customer_code="FLORA", checked_out=False, cart_id="CART-1", **extra)


# -- defect 1: the privacy wall -----------------------------------------------------------------

def test_defect_1_the_vendors_copy_of_a_po_line_has_none_of_the_buyers_fields():
    vendor_copy = po_line(prebook_id="PB-1", prebook_line_no=3).for_vendor()
    dumped = vendor_copy.model_dump()
    assert not BUYER_ONLY & set(dumped)
    assert not (set(OrderLine.model_fields) - set(VendorOrderLine.model_fields)) & set(dumped)  # landed cost too
    assert dumped["box_code"] == "BOX1" and dumped["unit_cost"] == D("0.35")


def test_defect_1_a_field_added_to_the_buyers_line_later_stays_out_of_the_vendors_copy():
    class NotedPoLine(OrderLine):  # a buyer-only field someone adds to the PO line one day
        buyer_note: str | None = None

    line = NotedPoLine(**po_line().model_dump(), buyer_note="for the Smith wedding")
    assert "buyer_note" not in line.for_vendor().model_dump()


def test_defect_1_no_document_or_event_the_vendor_receives_can_hold_an_end_customer():
    def field_names(schema: dict) -> set[str]:
        names = set(schema.get("properties", {}))
        for definition in schema.get("$defs", {}).values():
            names |= set(definition.get("properties", {}))
        return names

    # The vendor's order: its lines are the vendor's view (the buyer as the vendor's customer is fine).
    order_lines = VendorOrder.model_json_schema()["$defs"]["VendorOrderLine"]["properties"]
    assert not BUYER_ONLY & set(order_lines)
    for told_vendor in ("PurchaseOrderPlaced", "OrderConfirmed", "OrderLinesRemoved"):
        model = all_events()[told_vendor].data_model
        names = field_names(model.model_json_schema())
        assert not {"cart_id", "prebook_id", "prebook_line_no", "po"} & names, told_vendor


# -- defect 11: the true reason for a refused stock move ---------------------------------------

def line(**changes) -> InventoryLine:
    fields = {"box_code": "FR50HB", "product": "Rose Freedom 50cm", "box_type": "HB", "bunches_per_box": 10,
              "stems_per_bunch": 25, "boxes_on_hand": 0, "price": D("0.35"), "location": "MIA",
              "line_id": "L1", "vendor_company_id": "rosaflor", "version": 3, "updated_at": NOW,
              "received_date": date(2026, 12, 1)}
    return InventoryLine(**{**fields, **changes})


@pytest.mark.parametrize(("now", "take", "said"), [
    (None, 1, "FR50HB is no longer available: the vendor removed it"),
    ({"on_hold": True, "boxes_on_hand": 5}, 1, "FR50HB is no longer available: the vendor put it on hold"),
    ({"price": D("0.40"), "boxes_on_hand": 5}, 1, "the price of FR50HB changed since it was quoted; "
                                                 "look at its availability again"),
    ({"boxes_on_hand": 0}, 1, "FR50HB is sold out"),
    ({"boxes_on_hand": 1}, 2, "only 1 box of FR50HB is left"),
    ({"boxes_on_hand": 3}, 5, "only 3 boxes of FR50HB are left"),
])
def test_defect_11_a_refused_take_is_explained_by_the_line_as_it_is_now(now, take, said):
    assert stock_refusal(None if now is None else line(**now), "FR50HB", take, D("0.35")) == said


def test_defect_11_a_take_that_would_succeed_now_is_a_race_to_run_again_not_a_refusal():
    assert stock_refusal(line(boxes_on_hand=4), "FR50HB", 2, D("0.35")) is None


# -- defect 2: a line with held stock cannot disappear -------------------------------------------

def test_defect_2_a_line_holding_boxes_or_selling_unshipped_ones_cannot_be_removed():
    assert removal_refusal(line(boxes_held=2)) == (
        "line FR50HB cannot be removed: 2 boxes held in buyers' carts; they must be checked out and "
        "confirmed, expire, or be deleted from their orders first")
    assert "1 box sold on orders not yet confirmed" in removal_refusal(line(boxes_sold=3, boxes_shipped=2))
    assert "and" in removal_refusal(line(boxes_held=1, boxes_sold=1))


def test_defect_2_a_line_whose_sold_boxes_all_shipped_can_be_removed():
    assert removal_refusal(line(boxes_sold=4, boxes_shipped=4, boxes_on_hand=6)) is None


# -- defect 3: one step fits one transaction ----------------------------------------------------

def test_defect_3_a_prebook_is_bounded_in_lines_and_vendors():
    check_prebook_size(["rosaflor"] * MAX_PREBOOK_LINES)
    check_prebook_size([f"v{n}" for n in range(MAX_PREBOOK_VENDORS)])
    with pytest.raises(Invalid, match=f"at most {MAX_PREBOOK_LINES} lines"):
        check_prebook_size(["rosaflor"] * (MAX_PREBOOK_LINES + 1))
    with pytest.raises(Invalid, match=f"at most {MAX_PREBOOK_VENDORS} vendors"):
        check_prebook_size([f"v{n}" for n in range(MAX_PREBOOK_VENDORS + 1)])


def test_defect_3_a_cart_takes_lines_up_to_its_limit():
    def cart(n: int) -> Cart:
        return Cart(cart_id="C", buyer_company_id="bloom", customer_code="FLORA", ship_date=date(2026, 12, 4),
                    status=CartStatus.OPEN, opened_at=NOW, expires_at=NOW, lines=[
                        CartLine(vendor_company_id="rosaflor", vendor_line_id=f"L{i}", box_code=f"B{i}", product="x",
                                 boxes=1, po_id="PO", line_no=i, unit_price=D("1")) for i in range(n)])

    check_cart_room(cart(MAX_CART_LINES - 1))
    with pytest.raises(Invalid, match=f"at most {MAX_CART_LINES} lines"):
        check_cart_room(cart(MAX_CART_LINES))


def test_defect_3_a_pending_po_that_cannot_take_the_lines_is_joined_by_none():
    def pending(lines: int) -> PurchaseOrder:
        return PurchaseOrder(po_id="PO-1", buyer_company_id="bloom", vendor_company_id="rosaflor",
                             vendor_name="Rosaflor", vendor_code=None, order_id="K2K-1", ship_date=date(2026, 12, 4),
                             source=Source.ECOMMERCE, separate=False, status=PoStatus.PENDING_APPROVAL,
                             lines=[po_line(n) for n in range(1, lines + 1)], created_at=NOW, updated_at=NOW)

    args = ("rosaflor", date(2026, 12, 4), Source.PREBOOK, None, False)
    assert choose_po([pending(MAX_ORDER_LINES - 1)], *args) is not None
    assert choose_po([pending(MAX_ORDER_LINES - 1)], *args, adding=2) is None
    assert choose_po([pending(MAX_ORDER_LINES)], *args) is None


# -- defect 11: a download name nothing can break ------------------------------------------------

@pytest.mark.parametrize("name", ['vendor-invoice-12"B-v1.pdf', "vendor-invoice-F\\7; x=y-v2.pdf",
                                  "vendor-invoice-Factura ñ\r\n7-v1.pdf"])
def test_defect_11_a_content_disposition_keeps_any_invoice_number_in_one_filename(name):
    header = Message()
    header["Content-Disposition"] = attachment(name)
    params = header.get_params(header="content-disposition")
    assert [k for k, _ in params] == ["attachment", "filename", "filename"]
    [fallback] = [v for k, v in params if isinstance(v, str) and k == "filename"]
    assert fallback.isascii() and '"' not in fallback and "\\" not in fallback and "\n" not in fallback
    [exact] = [v for k, v in params if isinstance(v, tuple)]
    assert collapse_rfc2231_value(exact) == name
