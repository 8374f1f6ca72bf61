"""Seed 000, "Create a Purchase Order with K2K Products", over HTTP on the local cloud: Bloom Wholesale's
procurement buys Rosaflor Farms' boxes for its own stock straight from its K2K availability
(`POST /purchase-orders` with `"kind": "k2k"`). Rosaflor's K2K order exists at once, the boxes are sold off
its open market, and from there the PO goes the way of every K2K PO: Rosaflor confirms, its invoice waits
on Bloom's PO in reconciliation, the boxes arrive in Bloom's staging area and go into its inventory at the
landed cost its availability showed. Nobody is billed: the PO names no end customer.
"""

from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal as D
from types import SimpleNamespace

import pytest

from infra.localcloud import demo

pytestmark = pytest.mark.e2e


@pytest.fixture
def market(cloud, api, suffix):
    """The demo companies; Rosaflor syncs its invoices, Bloom uploads them and bills automatically."""
    ids = demo.seed(cloud, suffix)["inventory_line_ids"]
    rosaflor, bloom = f"rosaflor{suffix}", f"bloom{suffix}"
    for company, field, extra in ((rosaflor, "vendor_invoice_sync", None),
                                  (bloom, "buyer_invoice_upload", "automatic_billing_allocation")):
        admin = api(company, "Admin")
        current = admin.get("/company").json()
        settings = current["settings"]
        settings["automations"][field] = True
        settings["notification_emails"] = [f"orders@{company}.example"]
        if extra:
            settings["buyer"][extra] = True  # a receipt would bill a prebook's customer: this PO has none
        assert admin.put("/company/settings", json={"settings": settings, "version": current["version"]}).status == 200
    cloud.drain()
    procurement = api(bloom, "ProcurementUser")
    shown = {ln["box_code"]: ln for ln in procurement.get("/availability", params={"location": "CHI"}).json()["lines"]}
    return SimpleNamespace(ids=ids, suffix=suffix, rosaflor=rosaflor, bloom=bloom, shown=shown, procurement=procurement,
                           seller=api(rosaflor, "SalesManager"), vendor=api(rosaflor, "Admin"),
                           buyer=api(bloom, "Admin"), ship=max(ln["earliest_ship_date"] for ln in shown.values()))


def _po(market, *lines, **extra):
    """The body of a PO with K2K products: (box code, boxes) per line, Rosaflor's earliest ship date."""
    return {"kind": "k2k", "vendor_company_id": market.rosaflor, "ship_date": market.ship,
            "lines": [{"line_id": market.ids[code], "boxes": boxes} for code, boxes in lines], **extra}


def _stock(market, box_code):
    line = market.vendor.get(f"/inventory/{market.ids[box_code]}").json()["line"]
    return line["boxes_on_hand"], line["boxes_held"], line["boxes_sold"]


def test_a_po_with_k2k_products_runs_from_availability_to_the_buyers_inventory_at_landed_cost(market, cloud, emails):
    body = _po(market, ("FR50HB", 3), ("MND60QB", 1), location="CHI")
    made = market.procurement.request("POST", "/purchase-orders", body, headers={"Idempotency-Key": "po-week-10"})
    assert made.status == 201, made.json()
    po = made.json()
    assert (po["source"], po["status"], po["vendor_company_id"]) == ("AVAILABILITY", "APPROVED", market.rosaflor)
    # Each line at the vendor's price to Bloom, with the landed cost Bloom's Chicago availability showed.
    assert [(ln["box_code"], ln["boxes"], D(ln["unit_cost"]), D(ln["landed_cost"]), ln["location"],
             ln["checked_out"], ln["customer_code"]) for ln in po["lines"]] == [
        (code, boxes, D(market.shown[code]["vendor_price"]), D(market.shown[code]["landed_cost"]), "CHI", True, None)
        for code, boxes in (("FR50HB", 3), ("MND60QB", 1))]
    # The boxes are sold off Rosaflor's open market at once (no cart holds them), and a retry is the same PO.
    assert _stock(market, "FR50HB") == (9, 0, 3) and _stock(market, "MND60QB") == (5, 0, 1)
    again = market.procurement.request("POST", "/purchase-orders", body, headers={"Idempotency-Key": "po-week-10"})
    assert again.json()["po_id"] == po["po_id"] and again.header("Idempotent-Replayed") == "true"
    assert _stock(market, "FR50HB") == (9, 0, 3)
    cloud.drain()
    shown = {ln["box_code"]: ln["boxes_available"] for ln in market.procurement.get("/availability").json()["lines"]}
    assert (shown["FR50HB"], shown["MND60QB"]) == (9, 5)

    # Rosaflor has the K2K order (checked out: a firm purchase), told to its people; Bloom's business stays Bloom's.
    [order] = market.seller.items("/orders")
    assert (order["order_id"], order["po_id"], order["status"], order["k2k"]) == (po["order_id"], po["po_id"],
                                                                                    "OPEN", True)
    assert all(ln["checked_out"] and "landed_cost" not in ln and "customer_code" not in ln for ln in order["lines"])
    assert [m.subject for m in emails(f"orders@{market.rosaflor}.example")] == [
        f"New K2K order {order['order_id']} from Bloom Wholesale"]

    # Rosaflor confirms: its invoice is on Bloom's PO in reconciliation, waiting for procurement.
    assert market.seller.post(f"/orders/{order['order_id']}/confirm", json={}).status == 200
    cloud.drain()
    rec = market.buyer.get(f"/reconciliation/{po['po_id']}").json()
    # 3 HB x 250 stems x $0.35 + 1 QB x 125 stems x $0.42
    assert (rec["status"], rec["vendor_invoice"]["amount"], D(rec["po_total"])) == ("AP", "315.00", D("315.00"))

    # The boxes wait in Bloom's staging area under Rosaflor's box codes, for no end customer.
    staged = market.procurement.items("/staging")
    assert sorted((s["box_code"], s["boxes_confirmed"], s.get("customer_code")) for s in staged) == [
        ("FR50HB", 3, None), ("MND60QB", 1, None)]
    for code, boxes in (("FR50HB", 3), ("MND60QB", 1)):
        receipt = market.procurement.post("/staging/receive", json={"box_code": code, "po_id": po["po_id"]})
        assert receipt.status == 200, receipt.json()
        assert receipt.json()["billed"] is None and receipt.json()["not_billed_because"] is None
        line = market.buyer.get(f"/inventory/{receipt.json()['into_inventory_line_id']}").json()["line"]
        assert (line["box_code"], line["boxes_on_hand"], line["location"]) == (code, boxes, "CHI")
        assert D(line["cost"]) == D(market.shown[code]["landed_cost"])  # the landed cost Bloom was shown
        assert D(line["price"]) == D(market.shown[code]["suggested_price"])  # Chicago's 25% K2K GPM
    assert market.buyer.items("/customer-invoices") == []  # nothing billed to anyone
    assert market.buyer.get(f"/purchase-orders/{po['po_id']}").json()["purchase_order"]["status"] == "CONFIRMED"
    assert _stock(market, "FR50HB") == (9, 0, 3)


def test_pos_with_k2k_products_and_carts_race_for_the_last_boxes_without_overselling(market, api, cloud):
    """Eight boxes left; ten web-shop carts and ten procurement POs of one box each, all at once."""
    assert market.vendor.patch(f"/inventory/{market.ids['FR50HB']}", json={"boxes_on_hand": 8}).status == 200
    for n in range(10):
        assert market.buyer.put(f"/customers/C{n:02d}", json={"name": f"Customer {n}"}).status == 200
    shop = api(market.bloom, "AccountsReceivable")
    cloud.drain()

    def buy(n):
        if n % 2:
            return "po", market.procurement.post("/purchase-orders", json=_po(market, ("FR50HB", 1)))
        return "cart", shop.post("/carts", json={"customer_code": f"C{n // 2:02d}", "ship_date": market.ship,
                                                 "vendor_company_id": market.rosaflor,
                                                 "line_id": market.ids["FR50HB"], "boxes": 1})

    with ThreadPoolExecutor(max_workers=20) as pool:  # every request answered, however long it takes
        results = list(pool.map(buy, range(20)))
    won = [kind for kind, r in results if r.status == 201]
    lost = [r for _, r in results if r.status != 201]
    assert len(won) == 8, [(k, r.status) for k, r in results]
    assert all(r.status == 409 for r in lost), {r.status for r in lost}
    # Carts hold their boxes, POs bought theirs; nothing is oversold and every box is accounted for.
    assert _stock(market, "FR50HB") == (0, won.count("cart"), won.count("po"))
    cloud.drain()
    live = [ln for o in market.seller.items("/orders") for ln in o["lines"] if ln["status"] == "ACTIVE"]
    assert sum(ln["boxes"] for ln in live if ln["checked_out"]) == won.count("po")
    assert sum(ln["boxes"] for ln in live if not ln["checked_out"]) == won.count("cart")
    pos = market.buyer.items("/purchase-orders")
    assert sum(1 for p in pos if p["source"] == "AVAILABILITY") == won.count("po")


def test_what_cannot_be_bought_is_refused_by_name_and_nothing_is_half_applied(market, api, cloud):
    buy = market.procurement

    def refused(body, status, field, says):
        got = buy.post("/purchase-orders", json=body)
        assert got.status == status, got.json()
        error = got.json()["error"]
        assert [d for d in error["details"] if d["field"] == field and says in d["message"]], error

    # A line that is not in Bloom's availability: an id Rosaflor never gave, or a line it does not publish.
    unknown = _po(market, ("FR50HB", 1))
    unknown["lines"].append({"line_id": "0123456789abcdef", "boxes": 1})
    refused(unknown, 422, "lines.1.line_id", "is not in your K2K availability")
    refused(_po(market, ("FR50HB", 1), ("ALSTHB", 1)), 409, "lines.1.line_id", "mixed or assorted box")
    # More boxes than Rosaflor has, on the second line: the first is not bought either.
    refused(_po(market, ("FR50HB", 2), ("MND60QB", 7)), 409, "lines.1.boxes", "only 6 boxes of MND60QB are left")
    refused(_po(market, ("FR50HB", 1), ("FR50HB", 2)), 422, "lines.1.line_id", "on this PO twice")
    too_soon = _po(market, ("FR50HB", 1), ship_date=(date.fromisoformat(market.ship) - timedelta(days=1)).isoformat())
    refused(too_soon, 422, "ship_date", "earliest ship date")
    refused(_po(market, ("FR50HB", 1), location="LAX"), 422, "location", "not one of NYC, CHI")
    # The body is one of POST /purchase-orders' kinds: a bound of its shape is named under its kind.
    refused({**_po(market, ("FR50HB", 1)), "lines": [{"line_id": market.ids["FR50HB"], "boxes": 1}] * 31}, 422,
            "body.k2k.lines", "at most 30 items")
    refused({**_po(market, ("FR50HB", 1)), "vendor_company_id": f"tulipa{market.suffix}"}, 422,
            "vendor_company_id", "no K2K connection")
    # Bloom suspends its connection with Rosaflor: nothing can be bought from it until it resumes.
    suspended = market.buyer.post(f"/connections/{market.rosaflor}.{market.bloom}/suspend")
    assert suspended.status == 200, suspended.json()
    refused(_po(market, ("FR50HB", 1)), 409, "vendor_company_id", "is suspended")
    assert api(market.bloom, "Salesperson").post("/purchase-orders", json=_po(market, ("FR50HB", 1))).status == 403

    cloud.drain()
    assert _stock(market, "FR50HB") == (12, 0, 0) and _stock(market, "MND60QB") == (6, 0, 0)
    assert market.seller.items("/orders") == [] and market.buyer.items("/purchase-orders") == []
