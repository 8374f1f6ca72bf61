"""Worked K2K pricing examples, to the cent (DOMAIN.md, Prices and costs)."""

from datetime import date, time
from decimal import Decimal as D

import pytest

from k2k import pricing
from k2k.money import cents, unit


def test_a_half_box_of_freedom_roses_landed_and_priced_for_the_buyer():
    # Vendor sells Freedom 50cm at $0.35/stem; the buyer has a 10% markup ("Price B").
    price = pricing.price_to_buyer(D("0.35"), D("10"))
    assert price == D("0.385")
    # HB 40x10x10 in = 4000 in3 = 2.3148 ft3; 10 bunches x 25 stems = 250 stems.
    cube = pricing.box_cube(D(40), D(10), D(10))
    assert cube.quantize(D("0.0001")) == D("2.3148")
    units = pricing.units_per_box("STEM", 10, 25)
    assert units == 250
    # Freight at $1.50/ft3: 3.4722 per box / 250 = 0.013889 per stem.
    landed = pricing.landed_cost(price, cube=cube, units=units, cube_rate=D("1.50"))
    assert landed == D("0.399")
    # 25% K2K GPM: 0.399 / 0.75 = 0.532 -> $0.53 a stem.
    assert pricing.suggested_price(landed, D("25")) == D("0.53")


def test_duties_and_handling_add_to_the_landed_cost_per_unit():
    # $4.00 a bunch, 12 bunches a QB of 20x10x6 in (0.6944 ft3), freight $2/ft3,
    # duties 6.8%, handling $1.20 a box.
    landed = pricing.landed_cost(D("4.00"), cube=pricing.box_cube(D(20), D(10), D(6)), units=12,
                                 cube_rate=D("2"), duties_pct=D("6.8"), handling_per_box=D("1.20"))
    # 4.00 + 1.3889/12 (0.11574) + 0.272 + 0.10 = 4.48774
    assert landed == D("4.488")
    assert pricing.suggested_price(landed, D("30")) == D("6.41")


def test_bunch_lines_are_priced_per_bunch_and_stem_lines_per_stem():
    assert pricing.line_total(2, "BUNCH", 10, 25, D("4.25")) == D("85.00")
    assert pricing.line_total(2, "STEM", 10, 25, D("0.35")) == D("175.00")


def test_gpm_is_margin_over_price():
    assert pricing.gpm_pct(D("0.53"), D("0.399")) == D("24.72")
    assert pricing.gpm_pct(D("0"), D("1")) == D("0")


def test_a_gpm_of_100_percent_or_more_is_refused():
    with pytest.raises(ValueError):
        pricing.suggested_price(D("1"), D("100"))


def test_money_rounds_half_up_never_bankers():
    assert cents(D("0.125")) == D("0.13")
    assert cents(D("0.135")) == D("0.14")
    assert unit(D("0.0005")) == D("0.001")
    assert cents(0.1 + 0.2) == D("0.30")


def test_box_types_in_full_box_equivalents():
    assert {"EB": D("0.125"), "QB": D("0.25"), "HB": D("0.5"), "FB": D("1")} == pricing.FBE


class TestEarliestShipDate:
    monday = date(2026, 11, 23)

    def test_offset_three_ordered_monday_ships_thursday(self):
        assert pricing.earliest_ship_date(self.monday, time(9), 3) == date(2026, 11, 26)

    def test_past_the_vendor_cutoff_ships_a_day_later(self):
        assert pricing.earliest_ship_date(self.monday, time(15, 30), 3, cutoff=time(14)) == date(2026, 11, 27)
        assert pricing.earliest_ship_date(self.monday, time(13, 59), 3, cutoff=time(14)) == date(2026, 11, 26)

    def test_future_sales_never_ship_before_they_arrive(self):
        assert pricing.earliest_ship_date(self.monday, time(9), 1, available=date(2026, 12, 1)) == date(2026, 12, 1)
