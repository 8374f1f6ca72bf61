"""K2K boxes received from staging enter the buyer's stock at the landed cost it bought them at (DOMAIN.md,
Customer accounts; Prices and costs), priced for the location they were bought for."""

from datetime import date
from decimal import Decimal as D

from k2k.inventory import Dimensions, InventoryType
from k2k.orders import OrderLine, received_line, receiving_location


def freedom(**changes):
    line = OrderLine(
        line_no=1, vendor_line_id="L1", box_code="FR50HB", product="Rose Freedom 50cm", box_type="HB",
        unit_type="STEM", bunches_per_box=10, stems_per_bunch=25, boxes=2, unit_cost=D("0.350"),
        customer_code="FLORA", checked_out=True, landed_cost=D("0.367"), location="CHI", product_code="FR50",
        category="Roses", colour="Red", grade="Select",
        dimensions=Dimensions(length=D(40), width=D(10), height=D(10)))
    return line.model_copy(update=changes)


def test_a_received_box_costs_its_landed_cost_and_sells_at_the_locations_gpm():
    fields = received_line(freedom(), 1, "CHI", D("25"), date(2026, 3, 9))
    assert fields.cost == D("0.367")  # not the vendor's 0.350
    assert fields.price == D("0.49")  # 0.367 / 0.75 = 0.4893
    assert (fields.box_code, fields.boxes_on_hand, fields.location) == ("FR50HB", 1, "CHI")
    assert fields.received_date == date(2026, 3, 9)
    assert fields.inventory_type is InventoryType.OPEN_MARKET


def test_a_received_box_keeps_the_product_as_the_vendor_described_it():
    fields = received_line(freedom(), 2, "NYC", D("30"), date(2026, 3, 9))
    assert (fields.product_code, fields.category, fields.colour, fields.grade) == ("FR50", "Roses", "Red", "Select")
    assert fields.dimensions == Dimensions(length=D(40), width=D(10), height=D(10))
    assert (fields.box_type, fields.unit_type, fields.bunches_per_box, fields.stems_per_bunch) == ("HB", "STEM", 10, 25)


def test_a_line_bought_before_landed_costs_were_kept_is_received_at_the_vendors_price():
    fields = received_line(freedom(landed_cost=None), 1, "NYC", D("30"), date(2026, 3, 9))
    assert fields.cost == D("0.350") and fields.price == D("0.50")


def test_boxes_go_to_the_location_they_were_bought_for_else_the_companys_first():
    assert receiving_location("CHI", ["NYC", "CHI"]) == "CHI"
    assert receiving_location(None, ["NYC", "CHI"]) == "NYC"
    assert receiving_location("LAX", ["NYC", "CHI"]) == "NYC"  # a location since closed


def test_the_vendors_copy_of_a_line_leaves_out_the_buyers_landed_cost_and_location():
    vendor_sees = freedom().for_vendor().model_dump()
    for private in ("landed_cost", "location", "customer_code"):
        assert private not in vendor_sees
    assert vendor_sees["unit_cost"] == D("0.350")
