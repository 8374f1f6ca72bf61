"""K2K for Procurement's rules, without AWS: which POs transfer, who accepts, how an answer reads."""

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from k2k.errors import Conflict, Invalid
from k2k.network import ConnectionStatus, Side
from k2k.procurement import (
    AnswerStatus,
    LineAnswerIn,
    PrebookAnswerIn,
    ProcurementConnection,
    ProcurementSettings,
    ShipIn,
    TransferMode,
    accept,
    answer_line,
    check_answers,
    check_shipment,
    missing_setup,
    prebook_id_for,
    transfers,
)

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
