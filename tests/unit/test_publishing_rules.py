"""Every publishing rule of DOMAIN.md decides what a connected buyer sees."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest

from k2k.inventory import LineFields, Rule, age_ineligibility, ineligibility
from k2k.network import VendorTerms
from k2k.services.availability import CLOCK_MARGIN, TOMBSTONE_TTL, expiring, snapshot_trusted

TODAY = date(2026, 11, 22)


def line(**changes) -> LineFields:
    base = dict(box_code="FR50HB", product="Rose Freedom 50cm", box_type="HB", unit_type="STEM",
                bunches_per_box=10, stems_per_bunch=25, boxes_on_hand=12, price=D("0.35"), location="MIA",
                inventory_type="M", received_date=TODAY, dimensions={"length": 40, "width": 10, "height": 10})
    return LineFields.model_validate({**base, **changes})


def test_an_open_market_line_in_priced_boxes_is_published():
    assert ineligibility(line(), VendorTerms()) == []


@pytest.mark.parametrize(("changes", "rule"), [
    ({"inventory_type": "P"}, Rule.NOT_OPEN_MARKET),
    ({"inventory_type": "S"}, Rule.NOT_OPEN_MARKET),
    ({"inventory_type": "F", "available_date": date(2026, 12, 1)}, Rule.NOT_OPEN_MARKET),
    ({"price": None}, Rule.NO_PRICE),
    ({"price": D("0")}, Rule.NO_PRICE),
    ({"box_type": None}, Rule.NOT_IN_BOXES),
    ({"boxes_on_hand": 0}, Rule.NO_BOXES),
    ({"on_hold": True}, Rule.ON_HOLD),
    ({"mixed_box": True}, Rule.MIXED_BOX),
    ({"dimensions": None}, Rule.NO_DIMENSIONS),
    ({"location": "BOG"}, Rule.LOCATION_NOT_CONNECTED),
])
def test_each_rule_alone_keeps_a_line_from_the_buyer(changes, rule):
    terms = VendorTerms(connected_locations=["MIA"])
    assert ineligibility(line(**changes), terms) == [rule]


def test_future_sales_are_published_only_when_the_vendor_shares_them():
    future = line(inventory_type="F", available_date=date(2026, 12, 1), received_date=None)
    assert ineligibility(future, VendorTerms(share_future_sales=True)) == []
    assert ineligibility(future, VendorTerms(share_future_sales=False)) == [Rule.NOT_OPEN_MARKET]


def test_no_connected_locations_listed_means_every_vendor_location():
    assert ineligibility(line(location="BOG"), VendorTerms(connected_locations=None)) == []
    assert ineligibility(line(location="BOG"), VendorTerms(connected_locations=[])) == [Rule.LOCATION_NOT_CONNECTED]


def test_broken_rules_are_all_reported():
    assert set(ineligibility(line(on_hold=True, price=None), VendorTerms())) == {Rule.ON_HOLD, Rule.NO_PRICE}


class TestAging:
    def test_boxes_age_out_after_ten_days_by_default(self):
        terms = VendorTerms()
        assert age_ineligibility("M", date(2026, 11, 12), terms, TODAY) == []  # 10 days old
        assert age_ineligibility("M", date(2026, 11, 11), terms, TODAY) == [Rule.TOO_OLD]  # 11 days

    def test_a_minimum_age_holds_fresh_boxes_back(self):
        terms = VendorTerms(min_age_days=2, max_age_days=5)
        assert age_ineligibility("M", TODAY, terms, TODAY) == [Rule.TOO_YOUNG]
        assert age_ineligibility("M", date(2026, 11, 20), terms, TODAY) == []

    def test_future_sales_have_no_age_yet(self):
        assert age_ineligibility("F", None, VendorTerms(min_age_days=3), TODAY) == []

    def test_a_window_that_ends_before_it_starts_is_refused(self):
        with pytest.raises(ValueError):
            VendorTerms(min_age_days=5, max_age_days=2)


def test_a_future_sales_line_needs_its_arrival_date():
    with pytest.raises(ValueError, match="available_date"):
        line(inventory_type="F", available_date=None)


def test_a_line_events_snapshot_is_trusted_only_while_no_tombstone_that_would_refuse_it_can_have_expired():
    """Issue 13: a tombstone refusing a snapshot was written after the snapshot was taken, so it lives at
    least TOMBSTONE_TTL past it; a snapshot nearer that age (less a margin for clocks) is read again."""
    taken = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
    assert snapshot_trusted(taken, taken)
    assert snapshot_trusted(taken, taken + TOMBSTONE_TTL - CLOCK_MARGIN - timedelta(seconds=1))
    assert not snapshot_trusted(taken, taken + TOMBSTONE_TTL - CLOCK_MARGIN)
    assert not snapshot_trusted(taken, taken + timedelta(days=14))  # redriven from a dead-letter queue
    assert CLOCK_MARGIN < TOMBSTONE_TTL


def test_a_row_no_longer_published_expires_and_a_published_row_never_does():
    now = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
    tombstone = expiring({"pk": "p", "sk": "s", "published": False, "line_version": 3}, now)
    assert tombstone["purge_at"] == int((now + TOMBSTONE_TTL).timestamp())
    assert "purge_at" not in expiring({"pk": "p", "sk": "s", "published": True, "purge_at": 1}, now)
