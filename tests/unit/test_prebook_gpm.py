"""Prebooks for finished goods (seed 003): a product line's cost and price make its GPM, and the prebook's."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from k2k.errors import Invalid
from k2k.orders import (
    MAX_PREBOOK_LINES,
    MAX_PREBOOK_VENDORS,
    K2kPrebookLine,
    LineStatus,
    Prebook,
    ProductPrebookLine,
    billing_price,
    check_prebook_size,
    line_gpm,
    prebook_gpm,
    product_sale_price,
)


def bouquets(n: int = 1, **fields) -> ProductPrebookLine:
    return ProductPrebookLine(**{"line_no": n, "product_code": "BQ-SPRING", "description": "Spring bouquet",
                                 "kind": "FINISHED_GOODS", "unit": "UNIT", "quantity": 20, "unit_price": D("25.00"),
                                 "cost": D("310.00"), **fields})


def roses(n: int = 2) -> K2kPrebookLine:
    return K2kPrebookLine(line_no=n, vendor_company_id="rosaflor", vendor_line_id="L1", box_code="FR50HB",
                          product="Rose Freedom 50cm", boxes=1, unit_type="STEM", bunches_per_box=10,
                          stems_per_bunch=25, unit_price=D("0.52"), unit_cost=D("0.35"))


def test_twenty_bouquets_at_25_dollars_costing_310_make_a_gpm_of_38_percent():
    # Revenue 20 x $25.00 = $500.00; (500 - 310) / 500 = 38.00%.
    assert line_gpm(20, D("25.00"), D("310.00")) == D("38.00")
    assert bouquets().gpm_pct == D("38.00")


def test_no_sales_price_or_no_cost_means_no_gpm():
    assert line_gpm(20, None, D("310.00")) is None
    assert line_gpm(20, D("0.00"), D("310.00")) is None  # $0.00 is "no sales price yet"
    assert line_gpm(20, D("25.00"), None) is None
    assert bouquets(unit_price=None).gpm_pct is None


def test_a_loss_is_a_negative_gpm_and_a_free_cost_is_100_percent():
    assert line_gpm(20, D("10.00"), D("310.00")) == D("-55.00")
    assert line_gpm(20, D("25.00"), D("0")) == D("100.00")


def test_the_prebook_gpm_weighs_its_priced_product_lines_by_revenue():
    # $500 revenue at $310 cost and $100 revenue at $90 cost: (600 - 400) / 600 = 33.33%.
    lines = [bouquets(1), bouquets(2, quantity=4, cost=D("90.00")), bouquets(3, unit_price=None), roses(4)]
    assert prebook_gpm(lines) == D("33.33")


def test_a_prebook_with_no_priced_product_line_shows_no_gpm():
    assert prebook_gpm([bouquets(unit_price=None), roses()]) is None
    assert prebook_gpm([bouquets(status=LineStatus.CANCELLED)]) is None


def test_the_prebook_shows_its_gpm_and_reads_lines_stored_before_products_existed():
    stored = roses().model_dump(exclude={"line_type"})  # a K2K line as stored before line types
    prebook = Prebook.model_validate({
        "prebook_id": "PB-1", "buyer_company_id": "bloom", "customer_code": "FLORA", "ship_date": date(2026, 12, 9),
        "source": "PREBOOK", "created_at": datetime(2026, 12, 2, tzinfo=UTC),
        "lines": [bouquets().model_dump(), stored]})
    assert [type(ln) for ln in prebook.lines] == [ProductPrebookLine, K2kPrebookLine]
    dumped = prebook.model_dump(mode="json")
    assert dumped["gpm_pct"] == "38.00" and dumped["lines"][0]["gpm_pct"] == "38.00"
    assert Prebook.model_validate(dumped) == prebook  # what the table holds reads back the same


def test_a_product_line_without_a_price_is_billed_at_the_price_its_cost_suggests():
    assert product_sale_price(bouquets(), D("30")) == D("25.00")
    # $310 / 20 = $15.50 a bouquet at a 38% GPM: 15.50 / 0.62 = $25.00.
    assert product_sale_price(bouquets(unit_price=None), D("38")) == D("25.00")
    assert product_sale_price(bouquets(unit_price=D("0"), cost=None), D("38")) is None


def test_product_lines_count_as_lines_but_name_no_k2k_vendor_until_they_are_bought():
    check_prebook_size([None] * MAX_PREBOOK_LINES)
    check_prebook_size([f"v{n}" for n in range(MAX_PREBOOK_VENDORS)] + [None] * 5)
    with pytest.raises(Invalid, match="at most 30 lines"):
        check_prebook_size([None] * (MAX_PREBOOK_LINES + 1))


def test_what_a_received_line_is_billed_at():
    assert billing_price(bouquets(), D("30")) == D("25.00")
    assert billing_price(bouquets(unit_price=None, cost=None), D("30")) is None
    assert billing_price(roses(), D("30")) == D("0.52")
    quoted = roses().model_copy(update={"unit_price": None, "suggested_price": D("0.53")})
    assert billing_price(quoted, D("30")) == D("0.53")  # a K2K line: the price its landed cost suggested
