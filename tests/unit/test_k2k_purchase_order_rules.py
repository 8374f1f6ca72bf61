"""The rules of a PO with K2K products (seed 000), without AWS: over which connection it may be bought, each
availability line once, within an order's size, and a line bought for stock that names no end customer."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest
from pydantic import ValidationError

from k2k.errors import Conflict, Invalid
from k2k.network import Connection, ConnectionStatus, VendorTerms
from k2k.orders import (
    MAX_ORDER_LINES,
    OrderLine,
    PoStatus,
    PurchaseOrder,
    Source,
    VendorOrderLine,
    check_distinct_lines,
    check_k2k_vendor,
    choose_po,
)
from k2k.services.orders import K2kPoIn

NOW = datetime(2026, 12, 2, 9, tzinfo=UTC)


def connection(status: ConnectionStatus) -> Connection:
    return Connection(connection_id="rosaflor.bloom", vendor_company_id="rosaflor", vendor_name="Rosaflor Farms",
                      buyer_company_id="bloom", buyer_name="Bloom Wholesale", status=status, terms=VendorTerms(),
                      requested_at=NOW, updated_at=NOW)


def stock_line(n: int = 1) -> OrderLine:
    return OrderLine(line_no=n, vendor_line_id=f"L{n}", box_code=f"BOX{n}", product="Rose Freedom 50cm",
                     box_type="HB", unit_type="STEM", bunches_per_box=10, stems_per_bunch=25, boxes=2,
                     unit_cost=D("0.35"), checked_out=True, landed_cost=D("0.367"), location="CHI")


def test_a_po_with_k2k_products_is_bought_over_an_active_connection_only():
    assert check_k2k_vendor(connection(ConnectionStatus.ACTIVE), "rosaflor").vendor_name == "Rosaflor Farms"
    with pytest.raises(Invalid, match="no K2K connection with vendor tulipa") as none:
        check_k2k_vendor(None, "tulipa")
    assert none.value.details == [{"field": "vendor_company_id", "message": none.value.message}]
    for status in (ConnectionStatus.SUSPENDED, ConnectionStatus.REQUESTED):
        with pytest.raises(Conflict, match=f"with Rosaflor Farms is {status.value.lower()}") as refused:
            check_k2k_vendor(connection(status), "rosaflor")
        assert refused.value.details[0]["field"] == "vendor_company_id"


def test_each_availability_line_is_on_a_po_once():
    check_distinct_lines(["A", "B", "C"])
    with pytest.raises(Invalid, match="line B is on this PO twice") as twice:
        check_distinct_lines(["A", "B", "C", "B"])
    assert twice.value.details[0]["field"] == "lines.3.line_id"


def test_a_po_with_k2k_products_is_one_order_at_most_its_size_and_says_its_kind():
    line = {"line_id": "L1", "boxes": 1}
    body = {"kind": "k2k", "vendor_company_id": "rosaflor", "ship_date": "2026-12-04"}
    assert len(K2kPoIn.model_validate({**body, "lines": [line] * MAX_ORDER_LINES}).lines) == MAX_ORDER_LINES
    for wrong in ({**body, "lines": [line] * (MAX_ORDER_LINES + 1)}, {**body, "lines": []},
                  {**body, "kind": "standalone", "lines": [line]}, {**body, "lines": [line], "customer_code": "X"}):
        with pytest.raises(ValidationError):
            K2kPoIn.model_validate(wrong)


def test_a_line_bought_for_stock_names_no_end_customer_and_the_vendor_sees_none_of_the_buyers_fields():
    line = stock_line()
    assert line.customer_code is None and line.cart_id is None and line.prebook_id is None
    assert set(line.for_vendor().model_dump()) == set(VendorOrderLine.model_fields)
    assert "landed_cost" not in line.for_vendor().model_dump()


def test_a_po_bought_from_availability_is_approved_at_once_so_no_later_purchase_joins_it():
    po = PurchaseOrder(po_id="PO-1", buyer_company_id="bloom", vendor_company_id="rosaflor", vendor_name="Rosaflor",
                       vendor_code="ROSA", order_id="K2K-1", ship_date=date(2026, 12, 4), source=Source.AVAILABILITY,
                       separate=False, status=PoStatus.APPROVED, lines=[stock_line()], created_at=NOW, updated_at=NOW)
    assert choose_po([po], "rosaflor", date(2026, 12, 4), Source.ECOMMERCE, "CART-1", False) is None
    assert choose_po([po], "rosaflor", date(2026, 12, 4), Source.PREBOOK, None, False) is None
