"""A buyer's customer buys a vendor's boxes through the buyer's web shop, end to end over HTTP.

Rosaflor Farms publishes to Bloom Wholesale (demo seed, with company ids of this test's own).
Flora's Boutique is a customer of Bloom's.
"""

from datetime import timedelta
from decimal import Decimal as D

import pytest

from infra.localcloud import demo

pytestmark = pytest.mark.e2e


@pytest.fixture
def shop(cloud, api, suffix, emails):
    ids = demo.seed(cloud, suffix)["inventory_line_ids"]
    rosaflor, bloom, petal = (f"{c}{suffix}" for c in ("rosaflor", "bloom", "petal"))
    vendor, buyer = api(rosaflor, "Admin"), api(bloom, "Admin")
    # Rosaflor's salesperson for the Bloom account is told of new K2K orders.
    account = next(c for c in vendor.items("/customers") if c["code"] == "BLOOM")
    change = {k: v for k, v in account.items() if k not in ("code", "balance", "entries")}  # the ledger's, not ours
    assert vendor.put("/customers/BLOOM", json={**change, "salesperson_email": "ana@rosaflor.example"}).status == 200
    for code, extra in (("FLORA", {}), ("HOLDCO", {"credit_hold": True}), ("TIGHT", {"credit_limit": "50"})):
        assert buyer.put(f"/customers/{code}", json={
            "name": code.title(), "email": f"orders@{code.lower()}.example",
            "salesperson_email": "sam@bloom.example", **extra}).status == 200
    company = buyer.get("/company").json()
    company["settings"]["buyer"]["automatic_billing_allocation"] = True
    assert buyer.put("/company/settings", json={"settings": company["settings"]}).status == 200
    return Shop(api, ids, rosaflor, bloom, petal, emails)


class Shop:
    """Bloom's web shop and people, Rosaflor's sellers, and what they look at."""

    def __init__(self, api, lines, rosaflor, bloom, petal, emails):
        self.api, self.lines, self.emails_to = api, lines, emails
        self.vendor_id, self.buyer_id, self.other_id = rosaflor, bloom, petal
        self.web = api(bloom, "AccountsReceivable")  # the buyer's web shop
        self.buyer = api(bloom, "Admin")
        self.receiving = api(bloom, "ProcurementUser")
        self.seller = api(rosaflor, "SalesManager")
        self.rosaflor = api(rosaflor, "Admin")

    def ship_date(self, box_code="FR50HB"):
        lines = self.buyer.get("/availability", params={"location": "NYC"}).json()["lines"]
        return next(ln for ln in lines if ln["box_code"] == box_code)["earliest_ship_date"]

    def available(self, box_code="FR50HB"):
        lines = self.buyer.get("/availability").json()["lines"]
        return next(ln for ln in lines if ln["box_code"] == box_code)["boxes_available"]

    def stock(self, box_code="FR50HB"):
        line = self.rosaflor.get(f"/inventory/{self.lines[box_code]}").json()["line"]
        return line["boxes_on_hand"], line["boxes_held"], line["boxes_sold"]

    def add(self, customer, boxes, box_code="FR50HB", cart_id=None):
        path = f"/carts/{cart_id}/lines" if cart_id else "/carts"
        return self.web.post(path, json={"customer_code": customer, "ship_date": self.ship_date(box_code),
                                         "vendor_company_id": self.vendor_id, "line_id": self.lines[box_code],
                                         "boxes": boxes, "location": "NYC"})


def test_two_hb_bought_online_run_all_the_way_to_the_customers_invoice(shop, cloud):
    # The customer adds two HB of Freedom roses: the stock is held at once.
    cart = shop.add("FLORA", 2)
    assert cart.status == 201, cart.json()
    cart = cart.json()
    assert cart["status"] == "OPEN" and cart["lines"][0]["boxes"] == 2
    assert D(cart["lines"][0]["unit_price"]) == D("0.52")  # Bloom's NYC price: landed 0.367 at 30% GPM
    assert shop.stock() == (10, 2, 0)
    cloud.drain()
    assert shop.available() == 10

    # The vendor already has the K2K order, its line not checked out, and its salesperson was told.
    [order] = shop.seller.items("/orders")
    assert order["k2k"] is True and order["buyer_name"] == "Bloom Wholesale"
    assert [(ln["box_code"], ln["boxes"], ln["checked_out"]) for ln in order["lines"]] == [("FR50HB", 2, False)]
    assert shop.emails_to("ana@rosaflor.example")

    # Checkout: a prebook for Flora's, the vendor's line checked out.
    done = shop.web.post(f"/carts/{cart['cart_id']}/checkout")
    assert done.status == 200, done.json()
    prebook = done.json()["prebook"]
    assert prebook["customer_code"] == "FLORA" and prebook["classification"] == "P"
    cloud.drain()
    assert shop.stock() == (10, 0, 2)
    assert shop.emails_to("orders@flora.example")
    assert shop.seller.get(f"/orders/{order['order_id']}").json()["lines"][0]["checked_out"] is True

    # The vendor confirms; an AWB is assigned and the buyer's PO is confirmed.
    confirmed = shop.seller.post(f"/orders/{order['order_id']}/confirm", json={})
    assert confirmed.status == 200, confirmed.json()
    assert confirmed.json()["status"] == "CONFIRMED" and confirmed.json()["awb"]
    po = shop.buyer.get(f"/purchase-orders/{order['po_id']}").json()["purchase_order"]
    assert po["status"] == "CONFIRMED" and po["awb"] == confirmed.json()["awb"]

    # The boxes wait in Bloom's staging area under Rosaflor's box code...
    [staged] = shop.receiving.items("/staging")
    assert (staged["box_code"], staged["boxes_confirmed"], staged["boxes_received"]) == ("FR50HB", 2, 0)
    # ...and receiving them bills Flora's automatically: 2 boxes x 250 stems x $0.52.
    receipt = shop.receiving.post("/staging/receive", json={"box_code": "FR50HB"})
    assert receipt.status == 200, receipt.json()
    invoice = receipt.json()["billed"]
    assert invoice["customer_code"] == "FLORA" and D(invoice["total"]) == D("260.00")
    assert [i["invoice_id"] for i in shop.buyer.items("/customer-invoices")] == [invoice["invoice_id"]]
    assert shop.receiving.post("/staging/receive", json={"box_code": "FR50HB"}).status == 404  # nothing left


def test_a_customer_on_credit_hold_is_not_billed_the_boxes_go_to_inventory(shop, cloud):
    cart = shop.add("HOLDCO", 1).json()
    assert shop.web.post(f"/carts/{cart['cart_id']}/checkout").status == 200
    cloud.drain()
    [order] = shop.seller.items("/orders")
    assert shop.seller.post(f"/orders/{order['order_id']}/confirm", json={"awb": "369-12345675"}).status == 200
    receipt = shop.receiving.post("/staging/receive", json={"box_code": "FR50HB"}).json()
    assert receipt["billed"] is None
    assert receipt["not_billed_because"] == "the customer is on credit hold"
    stocked = shop.buyer.items("/inventory")
    assert [(ln["box_code"], ln["boxes_on_hand"]) for ln in stocked] == [("FR50HB", 1)]
    assert shop.buyer.items("/customer-invoices") == []


def test_a_customer_over_its_credit_limit_is_not_billed(shop, cloud):
    cart = shop.add("TIGHT", 1).json()  # 250 stems x $0.52 = $130 > $50 limit
    shop.web.post(f"/carts/{cart['cart_id']}/checkout")
    cloud.drain()
    [order] = shop.seller.items("/orders")
    shop.seller.post(f"/orders/{order['order_id']}/confirm", json={})
    receipt = shop.receiving.post("/staging/receive", json={"box_code": "FR50HB"}).json()
    assert "credit limit" in receipt["not_billed_because"]


def test_an_expired_cart_cancels_everything_it_created_and_returns_the_stock(shop, cloud):
    cart = shop.add("FLORA", 3).json()
    cloud.drain()
    assert shop.stock() == (9, 3, 0)
    cloud.advance(timedelta(minutes=61))  # the buyer's cart timer is 60 minutes
    cloud.drain()
    assert shop.stock() == (12, 0, 0)
    assert shop.web.get(f"/carts/{cart['cart_id']}").json()["status"] == "EXPIRED"
    [order] = shop.seller.items("/orders")
    assert order["status"] == "VOIDED" and order["lines"][0]["status"] == "CANCELLED"
    po = shop.buyer.get(f"/purchase-orders/{order['po_id']}").json()["purchase_order"]
    assert po["status"] == "CANCELLED"
    late = shop.web.post(f"/carts/{cart['cart_id']}/checkout")
    assert late.status == 409 and "expired" in late.json()["error"]["message"]
    assert shop.available() == 12


def test_checking_out_in_time_beats_the_timer(shop, cloud):
    cart = shop.add("FLORA", 1).json()
    cloud.advance(timedelta(minutes=59))
    assert shop.web.post(f"/carts/{cart['cart_id']}/checkout").status == 200
    cloud.advance(timedelta(minutes=5))
    cloud.drain()  # the timer goes off after the checkout: nothing to cancel
    assert shop.stock() == (11, 0, 1)
    assert shop.web.get(f"/carts/{cart['cart_id']}").json()["status"] == "CHECKED_OUT"


def test_confirm_deletes_lines_never_checked_out_and_tells_everyone(shop, cloud):
    first = shop.add("FLORA", 1).json()
    browsing = shop.add("HOLDCO", 2).json()  # another customer still shopping joins the pending PO
    assert shop.web.post(f"/carts/{first['cart_id']}/checkout").status == 200
    cloud.drain()
    [order] = shop.seller.items("/orders")
    assert len(order["lines"]) == 2
    confirmed = shop.seller.post(f"/orders/{order['order_id']}/confirm", json={}).json()
    assert [(ln["boxes"], ln["status"]) for ln in confirmed["lines"]] == [(1, "ACTIVE"), (2, "DELETED")]
    cloud.drain()
    assert shop.stock() == (11, 0, 1)
    cart = shop.web.get(f"/carts/{browsing['cart_id']}").json()
    assert cart["lines"][0]["status"] == "DELETED"
    for address in ("sam@bloom.example", "orders@holdco.example"):
        assert any("never checked out" in m.subject for m in shop.emails_to(address)), address


def test_the_vendor_voids_an_order_and_the_buyer_is_told(shop, cloud):
    cart = shop.add("FLORA", 2).json()
    shop.web.post(f"/carts/{cart['cart_id']}/checkout")
    cloud.drain()
    [order] = shop.seller.items("/orders")
    refused = shop.seller.post(f"/orders/{order['order_id']}/void", json={"confirm": "yes"})
    assert refused.status == 422
    voided = shop.seller.post(f"/orders/{order['order_id']}/void",
                              json={"confirm": "CONFIRM", "reason": "frost damage"})
    assert voided.status == 200 and voided.json()["status"] == "VOIDED"
    cloud.drain()
    assert shop.stock() == (12, 0, 0)
    po = shop.buyer.get(f"/purchase-orders/{order['po_id']}").json()["purchase_order"]
    assert po["status"] == "CANCELLED"
    prebook = shop.buyer.get(f"/prebooks/{po['lines'][0]['prebook_id']}").json()
    assert prebook["lines"][0]["status"] == "VOIDED"
    told = shop.emails_to("sam@bloom.example")
    assert any("frost damage" in m.body for m in told)


def test_the_vendor_deletes_one_line_and_its_boxes_return_to_open_market(shop, cloud):
    cart = shop.add("FLORA", 1).json()
    shop.add("FLORA", 1, box_code="HYDWFB", cart_id=cart["cart_id"])
    shop.web.post(f"/carts/{cart['cart_id']}/checkout")
    cloud.drain()
    [order] = shop.seller.items("/orders")
    hyd = next(ln for ln in order["lines"] if ln["box_code"] == "HYDWFB")
    changed = shop.seller.delete(f"/orders/{order['order_id']}/lines/{hyd['line_no']}")
    assert changed.status == 200 and changed.json()["status"] == "OPEN"
    cloud.drain()
    assert shop.stock("HYDWFB") == (3, 0, 0)
    assert shop.stock("FR50HB") == (11, 0, 1)


def test_a_salesperson_prebook_becomes_an_auto_approved_po_and_a_vendor_order(shop, cloud):
    seller = shop.buyer  # Admin; a Salesperson creates, procurement makes the POs
    prebook = seller.post("/prebooks", json={
        "customer_code": "FLORA", "ship_date": shop.ship_date(), "carrier": "FedEx", "ship_via": "GROWER",
        "lines": [{"vendor_company_id": shop.vendor_id, "line_id": shop.lines["FR50HB"], "boxes": 2},
                  {"vendor_company_id": shop.vendor_id, "line_id": shop.lines["FR50HB"], "boxes": 1,
                   "unit_price": "0.60"}]})
    assert prebook.status == 201, prebook.json()
    assert prebook.json()["lines"][0]["unit_price"] is None  # no sales price yet
    pos = shop.receiving.post(f"/prebooks/{prebook.json()['prebook_id']}/purchase-orders")
    assert pos.status == 201, pos.json()
    [po] = pos.json()
    assert po["status"] == "APPROVED" and [ln["boxes"] for ln in po["lines"]] == [2, 1]
    assert shop.stock() == (9, 0, 3)
    cloud.drain()
    [order] = shop.seller.items("/orders")
    assert all(ln["checked_out"] for ln in order["lines"])
    again = shop.receiving.post(f"/prebooks/{prebook.json()['prebook_id']}/purchase-orders")
    assert again.status == 409
    # Confirmed and received: the $0.00 line is billed at the suggested price, the other at $0.60.
    shop.seller.post(f"/orders/{order['order_id']}/confirm", json={})
    first = shop.receiving.post("/staging/receive", json={"box_code": "FR50HB", "po_id": po["po_id"]}).json()
    second = shop.receiving.post("/staging/receive", json={"box_code": "FR50HB", "po_id": po["po_id"]}).json()
    assert sorted(D(r["billed"]["lines"][0]["unit_price"]) for r in (first, second)) == [D("0.52"), D("0.60")]


def test_a_prebook_of_k2k_boxes_and_bouquets_is_bought_in_one_step(shop):
    bouquet = {"description": "Spring bouquet", "kind": "FINISHED_GOODS"}
    assert shop.buyer.put("/products/BQ", json=bouquet).status == 200
    assert shop.buyer.put("/vendors/PETALWORKS", json={"name": "Petalworks Production"}).status == 200
    prebook = shop.buyer.post("/prebooks", json={"customer_code": "FLORA", "ship_date": shop.ship_date(), "lines": [
        {"vendor_company_id": shop.vendor_id, "line_id": shop.lines["FR50HB"], "boxes": 1},
        {"product_code": "BQ", "quantity": 10, "unit_price": "25.00", "cost": "150.00"}]}).json()
    assert [ln["line_type"] for ln in prebook["lines"]] == ["K2K", "PRODUCT"] and prebook["gpm_pct"] == "40.00"
    pos = shop.receiving.post(f"/prebooks/{prebook['prebook_id']}/purchase-orders", json={
        "lines": [{"line_no": 2, "vendor_code": "PETALWORKS", "unit_cost": "4.00"}]})
    assert pos.status == 201, pos.json()
    k2k, standalone = sorted(pos.json(), key=lambda po: po["kind"])
    assert (k2k["kind"], k2k["status"], standalone["kind"], standalone["vendor_code"]) == (
        "k2k", "APPROVED", "standalone", "PETALWORKS")
    assert shop.stock() == (11, 0, 1)
    lines = shop.buyer.get(f"/prebooks/{prebook['prebook_id']}").json()["lines"]
    assert [ln["po_id"] for ln in lines] == [k2k["po_id"], standalone["po_id"]]


def test_a_shipped_po_is_modified_on_the_buyers_side_only(shop, cloud):
    cart = shop.add("FLORA", 2).json()
    shop.web.post(f"/carts/{cart['cart_id']}/checkout")
    cloud.drain()
    [order] = shop.seller.items("/orders")
    before = shop.receiving.patch(f"/purchase-orders/{order['po_id']}/lines/1", json={"unit_cost": "0.30"})
    assert before.status == 409  # a K2K line's cost is not editable before shipment
    shop.seller.post(f"/orders/{order['order_id']}/confirm", json={})
    changed = shop.receiving.patch(f"/purchase-orders/{order['po_id']}/lines/1",
                                   json={"boxes": 1, "unit_cost": "0.33"})
    assert changed.status == 200, changed.json()
    assert {(d["field"], str(d["vendor_confirmed"]), str(d["on_po"])) for d in changed.json()["differences"]} == {
        ("boxes", "2", "1"), ("unit_cost", "0.350", "0.33")}
    assert shop.seller.get(f"/orders/{order['order_id']}").json()["lines"][0]["boxes"] == 2  # vendor untouched
    assert api_forbidden(shop)


def api_forbidden(shop):
    return shop.web.patch("/purchase-orders/x/lines/1", json={"boxes": 1}).status == 403


class TestOrderWalls:
    def test_another_buyer_cannot_see_or_touch_carts_pos_or_prebooks(self, shop, api, cloud):
        cart = shop.add("FLORA", 1).json()
        shop.web.post(f"/carts/{cart['cart_id']}/checkout")
        cloud.drain()
        [po] = shop.buyer.items("/purchase-orders")
        petal = api(shop.other_id, "Admin")
        assert petal.get(f"/carts/{cart['cart_id']}").status == 404
        assert petal.post(f"/carts/{cart['cart_id']}/checkout").status == 404
        assert petal.get(f"/purchase-orders/{po['po_id']}").status == 404
        assert petal.get(f"/prebooks/{po['lines'][0]['prebook_id']}").status == 404
        assert petal.items("/purchase-orders") == []
        assert petal.items("/staging") == []

    def test_a_vendor_sees_only_its_own_orders(self, shop, api, cloud):
        shop.add("FLORA", 1)
        cloud.drain()
        [order] = shop.seller.items("/orders")
        other_vendor = api(shop.other_id, "Admin")
        assert other_vendor.items("/orders") == []
        assert other_vendor.get(f"/orders/{order['order_id']}").status == 404
        assert other_vendor.post(f"/orders/{order['order_id']}/confirm", json={}).status == 404
        assert shop.buyer.get(f"/orders/{order['order_id']}").status == 404  # the buyer has its PO instead

    def test_roles_are_enforced_per_route(self, shop, api):
        assert api(shop.buyer_id, "Salesperson").post("/carts", json={}).status in (403, 422)
        assert api(shop.buyer_id, "Salesperson").post("/carts", json={
            "customer_code": "FLORA", "ship_date": shop.ship_date(), "vendor_company_id": shop.vendor_id,
            "line_id": shop.lines["FR50HB"], "boxes": 1}).status == 403
        assert api(shop.vendor_id, "ProcurementUser").get("/orders").status == 403
        assert api(shop.buyer_id, "SalesManager").post("/staging/receive", json={"box_code": "FR50HB"}).status == 403


def test_an_order_for_a_ship_date_too_soon_is_refused_with_the_earliest_date(shop, cloud):
    today = cloud.now().date().isoformat()  # the application's today: the shared clock may have moved on
    response = shop.web.post("/carts", json={"customer_code": "FLORA", "ship_date": today,
                                             "vendor_company_id": shop.vendor_id, "line_id": shop.lines["FR50HB"],
                                             "boxes": 1})
    assert response.status == 422
    assert "earliest ship date" in response.json()["error"]["message"]


def test_no_more_boxes_than_the_vendor_has(shop):
    response = shop.add("FLORA", 13)
    assert response.status == 409 and "12" in response.json()["error"]["message"]
    assert shop.stock() == (12, 0, 0)
