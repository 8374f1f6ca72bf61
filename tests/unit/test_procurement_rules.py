"""K2K for Procurement's rules, without AWS: which POs transfer, who accepts, how an answer reads."""

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from k2k.errors import Conflict, Invalid
from k2k.inventory import BoxType
from k2k.network import ConnectionStatus, Side
from k2k.orders import PoStatus
from k2k.procurement import (
    AnswerStatus,
    ChangeAnswerIn,
    LineAnswerIn,
    LineChange,
    LineChangeIn,
    PrebookAnswerIn,
    ProcurementConnection,
    ProcurementSettings,
    RequestKind,
    RequestStatus,
    ShipIn,
    TransferMode,
    accept,
    answer_line,
    answer_request,
    answered_line,
    check_answers,
    check_shipment,
    missing_setup,
    next_request,
    prebook_id_for,
    transfers,
)
from k2k.products import ProductKind, UnitType
from k2k.purchasing import PoLine, StandalonePurchaseOrder, line_changes, reconciled, with_changes

NOW = datetime(2026, 12, 2, tzinfo=UTC)


def conn(status=ConnectionStatus.ACTIVE, mode=TransferMode.ALL) -> ProcurementConnection:
    return ProcurementConnection(connection_id="rosa.bloom", vendor_company_id="rosa", vendor_name="Rosaflor",
                                 buyer_company_id="bloom", buyer_name="Bloom", status=status,
                                 settings=ProcurementSettings(transfer=mode), requested_at=NOW, updated_at=NOW)


def test_only_an_active_connection_transfers_and_a_marked_one_only_marked_pos():
    assert transfers(conn(), marked=False)
    assert not transfers(None, marked=True)  # no procurement connection (a Sales one does not count)
    assert not transfers(conn(ConnectionStatus.REQUESTED), marked=True)
    assert not transfers(conn(mode=TransferMode.MARKED), marked=False)
    assert transfers(conn(mode=TransferMode.MARKED), marked=True)


def test_one_prebook_id_per_po():
    assert prebook_id_for("bloom", "PO-1") == prebook_id_for("bloom", "PO-1") != prebook_id_for("petal", "PO-1")


def test_the_vendor_accepts_a_request_once_its_setup_is_complete():
    gaps = missing_setup(False, True, "Rosaflor", "Bloom")
    assert [g.party for g in gaps] == [Side.VENDOR]
    with pytest.raises(Invalid, match="Rosaflor must have Bloom as a customer"):
        accept(conn(ConnectionStatus.REQUESTED), Side.VENDOR, gaps)
    with pytest.raises(Conflict, match="only the vendor"):
        accept(conn(ConnectionStatus.REQUESTED), Side.BUYER, [])
    with pytest.raises(Conflict, match="not REQUESTED"):
        accept(conn(), Side.VENDOR, [])
    assert accept(conn(ConnectionStatus.REQUESTED), Side.VENDOR, []) is ConnectionStatus.ACTIVE


def test_an_answer_names_its_status_and_every_difference():
    as_is = answer_line(1, 200, D("0.30"), None)
    assert (as_is.status, as_is.quantity, as_is.differences) == (AnswerStatus.CONFIRMED, 200, [])
    changed = answer_line(1, 200, D("0.30"), LineAnswerIn(line_no=1, status="CONFIRMED", quantity=150,
                                                          unit_price=D("0.35")))
    assert (changed.status, changed.differences) == (AnswerStatus.CHANGED,
                                                     ["quantity 200 -> 150", "price 0.30 -> 0.35"])
    rejected = answer_line(3, 20, D("3.50"), LineAnswerIn(line_no=3, status="REJECTED"))
    assert (rejected.status, rejected.quantity) == (AnswerStatus.REJECTED, 0)


def test_a_line_confirmed_as_another_product_is_a_substitution_with_the_products_named():
    given = LineAnswerIn(line_no=2, status="CONFIRMED", product_code="ROSE-EXP50", description="Rose Explorer 50cm",
                         quantity=180)
    sub = answer_line(2, 200, D("0.30"), given, product_code="ROSE-FR50", description="Rose Freedom 50cm")
    assert (sub.status, sub.product_code, sub.description, sub.quantity) == (
        AnswerStatus.SUBSTITUTED, "ROSE-EXP50", "Rose Explorer 50cm", 180)
    assert sub.differences == ["product ROSE-FR50 (Rose Freedom 50cm) -> ROSE-EXP50 (Rose Explorer 50cm)",
                               "quantity 200 -> 180"]
    assert answered_line(sub) == {"quantity": 180, "unit_price": D("0.30"), "product_code": "ROSE-EXP50",
                                  "description": "Rose Explorer 50cm"}
    same = LineAnswerIn(line_no=2, status="CONFIRMED", product_code="ROSE-FR50", description="Rose Freedom 50cm")
    assert answer_line(2, 200, D("0.30"), same, product_code="ROSE-FR50").status is AnswerStatus.CONFIRMED
    with pytest.raises(ValueError, match="product_code and its description"):
        LineAnswerIn(line_no=2, status="CONFIRMED", product_code="ROSE-EXP50")
    with pytest.raises(ValueError, match="no quantity, price or substitute"):
        LineAnswerIn(line_no=2, status="REJECTED", product_code="ROSE-EXP50", description="Rose Explorer 50cm")


def test_an_answer_names_real_lines_once_and_a_rejection_carries_no_quantity():
    with pytest.raises(Invalid) as e:
        check_answers({1, 2}, [LineAnswerIn(line_no=2, status="CONFIRMED"), LineAnswerIn(line_no=5, status="REJECTED")])
    assert e.value.details[0]["field"] == "lines.1.line_no"
    with pytest.raises(ValueError):
        PrebookAnswerIn(lines=[{"line_no": 1, "status": "REJECTED"}, {"line_no": 1, "status": "CONFIRMED"}])
    with pytest.raises(ValueError):
        LineAnswerIn(line_no=1, status="REJECTED", quantity=3)


def ship(*lines) -> ShipIn:
    return ShipIn(awb="AWB-1", lines=[{"line_no": n, "box_code": code, "boxes": 1} for n, code in lines])


def test_a_shipment_carries_every_confirmed_line_once_each_under_its_own_box_code():
    assert [s.box_code for s in check_shipment({3}, {1, 2}, ship((1, "A"), (2, "B")))] == ["A", "B"]
    for body, message in ((ship((1, "A"), (3, "C")), "line 3 was rejected"),
                          (ship((1, "A")), r"line\(s\) 2 are confirmed"),
                          (ship((1, "A"), (2, "A")), "its own box code"),
                          (ship((1, "A"), (1, "B"), (2, "C")), "shipped once")):
        with pytest.raises(Invalid, match=message):
            check_shipment({3}, {1, 2}, body)


# -- changes after transfer, and what the buyer's reconciliation expects --------------------------------------

def po_line(line_no=1, quantity=200, boxes=2, answer=None, box_type=BoxType.HB):
    return PoLine(line_no=line_no, product_code="ROSE-FR50", description="Rose Freedom 50cm",
                  kind=ProductKind.LIVE_GOODS, unit=UnitType.STEM, quantity=quantity, unit_cost=D("0.30"),
                  landed_cost=D("0.35"), box_code=f"PO-1-{line_no}", box_type=box_type, boxes=boxes,
                  bunches_per_box=4, stems_per_bunch=25, location="MIA", vendor_answer=answer)


def standalone(*lines, answered=True):
    return StandalonePurchaseOrder(po_id="PO-1", buyer_company_id="bloom", vendor_code="ROSA",
                                   vendor_name="Rosaflor", vendor_company_id="rosa", ship_date=date(2026, 12, 9),
                                   status=PoStatus.APPROVED, lines=list(lines),
                                   vendor_prebook_id="PB-bloom-PO-1" if answered else None,
                                   created_at=NOW, updated_at=NOW)


def test_a_change_fills_whole_boxes_of_the_line_s_packing_and_names_the_line():
    po = standalone(po_line(), answered=False)
    assert line_changes(po, [LineChangeIn(line_no=1, quantity=300)]) == [LineChange(line_no=1, quantity=300,
                                                                                    boxes=3)]
    with pytest.raises(Invalid) as e:
        line_changes(po, [LineChangeIn(line_no=1, quantity=150)])
    assert e.value.details[0]["field"] == "lines.0.quantity"
    with pytest.raises(Invalid) as e:
        line_changes(po, [LineChangeIn(line_no=7, quantity=100)])
    assert e.value.details[0]["field"] == "lines.0.line_no"


def test_an_accepted_change_requotes_the_vendor_s_answer_against_the_new_quantity():
    answer = answer_line(1, 200, D("0.30"), LineAnswerIn(line_no=1, status="CONFIRMED", unit_price=D("0.35")))
    [line] = with_changes([po_line(answer=answer)], [LineChange(line_no=1, quantity=100, boxes=1)])
    assert (line.quantity, line.boxes, line.vendor_answer.quantity, line.vendor_answer.differences) == (
        100, 1, 100, ["price 0.30 -> 0.35"])


def test_one_request_at_a_time_and_each_answered_once():
    first = next_request(None, RequestKind.CHANGE, [], "buyer", NOW)
    assert (first.request_no, first.status) == (1, RequestStatus.PENDING)
    with pytest.raises(Conflict, match="one request at a time"):
        next_request(first, RequestKind.CANCEL, [], "buyer", NOW)
    rejected = answer_request(first, ChangeAnswerIn(decision="REJECT", reason="cut already"), NOW)
    assert (rejected.status, rejected.reason) == (RequestStatus.REJECTED, "cut already")
    with pytest.raises(Conflict, match="no change request"):
        answer_request(rejected, ChangeAnswerIn(decision="ACCEPT"), NOW)
    assert next_request(rejected, RequestKind.CANCEL, [], "buyer", NOW).request_no == 2


def test_reconciliation_expects_what_both_agreed_and_nothing_of_a_rejected_line():
    changed = answer_line(1, 200, D("0.30"), LineAnswerIn(line_no=1, status="CONFIRMED", quantity=100))
    rejected = answer_line(2, 200, D("0.30"), LineAnswerIn(line_no=2, status="REJECTED"))
    expected = reconciled(standalone(po_line(1, answer=changed), po_line(2, answer=rejected)))
    assert [(ln.box_code, ln.boxes, ln.total) for ln in expected.lines] == [("PO-1-1", 2, D("30.00"))]
    assert (expected.total, expected.order_id) == (D("30.00"), "PB-bloom-PO-1")
    assert reconciled(standalone(po_line(), answered=False)) is None  # its vendor never answered through K2K
