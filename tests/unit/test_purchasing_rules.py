"""Products and standalone POs: the rules, without AWS."""

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest
from pydantic import ValidationError

from k2k.errors import Invalid
from k2k.inventory import InventoryLine, LineFields, Rule, ineligibility
from k2k.network import BuyerSettings, VendorTerms
from k2k.products import Product, ProductIn, ProductKind, UnitType, product, unit_refusal
from k2k.purchasing import (
    Packing,
    PlannedLine,
    PoLine,
    box_code_refusal,
    check_ship_date,
    fully_received,
    landed_cost,
    new_line,
    packed,
    received_line,
)
from k2k.store import plain, to_item

ROSE = Product(code="ROSE-FR50", description="Rose Freedom 50cm", kind=ProductKind.LIVE_GOODS, unit=UnitType.STEM)
VASE = Product(code="VASE-8", description="Glass vase 8in", kind=ProductKind.HARD_GOODS, unit=UnitType.UNIT)
SETTINGS = BuyerSettings(freight_cube_rate=D("1.50"), handling_per_box=D("0.75"), duties_pct=D("0"),
                         k2k_gpm_pct_by_location={"NYC": D("30")})
BOX = {"length": "40", "width": "10", "height": "10"}


def test_each_kind_of_product_is_counted_in_its_own_units():
    assert unit_refusal(ProductKind.LIVE_GOODS, UnitType.BUNCH) is None
    assert unit_refusal(ProductKind.HARD_GOODS, UnitType.STEM) == "hard goods are counted in UNIT, not STEM"
    assert product("BQT", ProductIn(description="Bouquet", kind=ProductKind.FINISHED_GOODS)).unit is UnitType.UNIT
    assert product("ROSE", ProductIn(description="Rose", kind=ProductKind.LIVE_GOODS)).unit is UnitType.STEM
    with pytest.raises(ValidationError, match="live goods are counted in STEM or BUNCH, not UNIT"):
        ProductIn(description="Rose", kind=ProductKind.LIVE_GOODS, unit=UnitType.UNIT)


def test_200_roses_packed_in_two_half_boxes_or_loose_and_a_packing_that_does_not_hold_the_quantity():
    two_hb = Packing(box_type="HB", boxes=2, bunches_per_box=4, stems_per_bunch=25)
    assert packed(ROSE, 200, two_hb, "lines.0") is two_hb
    assert packed(VASE, 20, None, "lines.1") == Packing(boxes=20)  # loose: one unit a "box"
    with pytest.raises(Invalid) as refused:
        packed(ROSE, 250, two_hb, "lines.0")
    assert refused.value.details == [{"field": "lines.0.quantity",
                                      "message": "2 boxes of this packing hold 200 stems, not the quantity 250"}]


def test_landed_cost_of_boxed_goods_adds_freight_and_handling_as_k2k_boxes_do_loose_units_bear_duties_only():
    boxed = Packing(box_type="HB", boxes=2, bunches_per_box=4, stems_per_bunch=25, dimensions=BOX)
    # 0.30 + 1.50 x 2.3148 ft3 / 100 stems + 0.75 / 100 stems, as BuyerSettings.landed_cost prices a K2K box.
    assert landed_cost(SETTINGS, D("0.30"), UnitType.STEM, boxed) == D("0.342") == SETTINGS.landed_cost(
        D("0.30"), cube=D(40 * 10 * 10) / D(1728), units=100)
    assert landed_cost(SETTINGS, D("3.50"), UnitType.UNIT, Packing(boxes=20)) == D("3.500")
    with_duties = SETTINGS.model_copy(update={"duties_pct": D("10")})
    assert landed_cost(with_duties, D("3.50"), UnitType.UNIT, Packing(boxes=20)) == D("3.850")


def test_a_received_line_is_stocked_under_its_box_code_at_its_landed_cost_with_its_kind():
    line = new_line(1, "PO-ABC", VASE, PlannedLine(product_code="VASE-8", quantity=20, unit_cost=D("3.50")),
                    Packing(boxes=20), "PRODCO", "NYC", SETTINGS)
    assert (line.box_code, line.customer_code, line.landed_cost) == ("PO-ABC-1", "PRODCO", D("3.500"))
    fields = received_line(line, 20, SETTINGS.gpm_for("NYC"), date(2026, 12, 2))
    assert (fields.product_kind, fields.unit_type, fields.boxes_on_hand, fields.box_type) == (
        ProductKind.HARD_GOODS, UnitType.UNIT, 20, None)
    assert (fields.cost, fields.price, fields.location) == (D("3.500"), D("5.00"), "NYC")
    assert not fully_received([line]) and fully_received([line.model_copy(update={"boxes_received": 20})])


def test_hard_and_finished_goods_are_never_published_to_k2k_buyers():
    complete = dict(box_code="VB", product="Vase", box_type="HB", bunches_per_box=12, boxes_on_hand=5,
                    price=D("4"), location="MIA", dimensions=BOX)
    for kind in (ProductKind.HARD_GOODS, ProductKind.FINISHED_GOODS):
        line = LineFields(**complete, product_kind=kind, unit_type=UnitType.UNIT)
        assert ineligibility(line, VendorTerms()) == [Rule.NOT_LIVE_GOODS]
    assert ineligibility(LineFields(**complete), VendorTerms()) == []  # live goods, stems: as before
    with pytest.raises(ValidationError, match="hard goods are counted in UNIT"):
        LineFields(**complete, product_kind=ProductKind.HARD_GOODS)  # STEM by default


def test_an_inventory_line_keeps_its_kind_through_the_store():
    """`kind` is the store's own attribute of every item: a line's kind is `product_kind`, which survives."""
    line = InventoryLine(box_code="VB", product="Vase", product_kind=ProductKind.HARD_GOODS, unit_type=UnitType.UNIT,
                         bunches_per_box=1, boxes_on_hand=3, location="MIA", line_id="L1", vendor_company_id="v",
                         version=1, updated_at=datetime(2026, 12, 2, tzinfo=UTC))
    stored = to_item(line, pk="C#v", sk="INV#L1", kind="INVENTORY")
    assert stored["kind"] == "INVENTORY"
    assert InventoryLine.model_validate(plain(stored)).product_kind is ProductKind.HARD_GOODS


def test_a_ship_date_in_the_past_is_refused():
    check_ship_date(date(2026, 12, 2), date(2026, 12, 2))
    with pytest.raises(Invalid, match="in the past"):
        check_ship_date(date(2026, 12, 1), date(2026, 12, 2))


def test_a_po_line_reads_as_a_staged_line_does():
    line = PoLine(line_no=1, product_code="VASE-8", description="Glass vase", kind=ProductKind.HARD_GOODS,
                  unit=UnitType.UNIT, quantity=20, unit_cost=D("3.5"), landed_cost=D("3.5"), box_code="B",
                  boxes=20, location="NYC")
    assert (line.product, line.unit_type, line.total) == ("Glass vase", UnitType.UNIT, D("70.00"))


def test_a_po_line_is_not_stocked_under_a_box_code_that_holds_another_product():
    line = PoLine(line_no=1, product_code="VASE-8", description="Glass vase", kind=ProductKind.HARD_GOODS,
                  unit=UnitType.UNIT, quantity=20, unit_cost=D("3.5"), landed_cost=D("3.5"), box_code="B1",
                  boxes=20, location="NYC")
    held = InventoryLine(box_code="B1", product_code="ROSE-FR50", product="Rose", bunches_per_box=10,
                         boxes_on_hand=2, location="NYC", line_id="L1", vendor_company_id="c", version=1,
                         updated_at=datetime(2026, 12, 2, tzinfo=UTC))
    assert box_code_refusal(line, None) is None
    assert box_code_refusal(line, held.model_copy(update={"product_code": "VASE-8"})) is None  # more of the same
    assert box_code_refusal(line, held) == ("box code B1 is in stock as ROSE-FR50, not VASE-8; "
                                            "give this line its own box code")
