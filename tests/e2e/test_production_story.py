"""Producing finished goods (seed 003), over HTTP on the local cloud.

Bloom Wholesale pre-sells 20 spring bouquets to the Grand Hotel at $25.00 each, costing $310.00 in all
(200 roses at $0.85, 20 vases at $3.00, $4.00 labour a bouquet): the prebook shows a 38.00% GPM. Bloom
buys the roses and the vases on standalone POs naming its production company, Petalworks, as customer,
receives them into inventory, and hands them over on a $0.00 invoice, which empties those lines. A PO
from the prebook to Petalworks as vendor carries the labour; when the bouquets come back through
staging, automatic billing invoices the Grand Hotel 20 x $25.00 = $500.00, and its statement shows it.
"""

import json
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal as D

import pytest

pytestmark = pytest.mark.e2e


class Bloom:
    """A company of this test's own with its customers, vendors and catalogue, and automatic billing on."""

    def __init__(self, api, suffix):
        self.company_id = f"bloom{suffix}"
        operator = api("", "Operator")
        for cid, name, location in ((self.company_id, "Bloom Wholesale", "NYC"), (f"petal{suffix}", "Petal & Stem",
                                                                                  "ATL")):
            made = operator.post("/operator/companies", json={"company_id": cid, "name": name,
                                                              "locations": [{"code": location, "name": location}]})
            assert made.status == 201, made.json()
        self.admin = api(self.company_id, "Admin")
        self.seller = api(self.company_id, "Salesperson")
        self.buyer = api(self.company_id, "ProcurementManager")
        self.ar = api(self.company_id, "AccountsReceivable")
        self.other = api(f"petal{suffix}", "Admin")
        company = self.admin.get("/company").json()
        company["settings"]["buyer"]["automatic_billing_allocation"] = True
        assert self.admin.put("/company/settings", json={"settings": company["settings"]}).status == 200
        for code, name in (("HOTEL", "Grand Hotel"), ("PETALWORKS", "Petalworks Production")):
            assert self.admin.put(f"/customers/{code}", json={"name": name}).status == 200
        for code, name in (("ECUAROSE", "Ecuarose Farms"), ("GLASSCO", "Glass Co"),
                           ("PETALWORKS", "Petalworks Production")):
            assert self.admin.put(f"/vendors/{code}", json={"name": name}).status == 200
        for code, description, kind in (("ROSE-RED", "Rose Freedom red 50cm", "LIVE_GOODS"),
                                        ("VASE-8", "Glass vase 8in", "HARD_GOODS"),
                                        ("BQ-SPRING", "Spring bouquet", "FINISHED_GOODS")):
            made = self.admin.put(f"/products/{code}", json={"description": description, "kind": kind})
            assert made.status == 200, made.json()
        self.ship = "2030-03-02"

    def prebook(self, *lines):
        made = self.seller.post("/prebooks", json={"customer_code": "HOTEL", "ship_date": self.ship,
                                                   "lines": list(lines)})
        assert made.status == 201, made.json()
        return made.json()

    def approved_and_arrived(self, po_id):
        approved = self.buyer.post(f"/purchase-orders/{po_id}/approve", json={})
        assert approved.status == 200, approved.json()
        arrived = self.buyer.post(f"/purchase-orders/{po_id}/confirm", json={})
        assert arrived.status == 200, arrived.json()
        return arrived.json()

    def standalone(self, vendor_code, line):
        made = self.buyer.post("/purchase-orders", json={
            "kind": "standalone", "vendor_code": vendor_code, "customer_code": "PETALWORKS", "ship_date": self.ship,
            "lines": [line]})
        assert made.status == 201, made.json()
        return self.approved_and_arrived(made.json()["po_id"])

    def receive(self, po):
        answer = self.buyer.post("/staging/receive", json={"box_code": po["lines"][0]["box_code"],
                                                           "po_id": po["po_id"]})
        assert answer.status == 200, answer.json()
        return answer.json()

    def balance(self, code):
        return D(self.admin.get(f"/customers/{code}").json()["balance"])


def outbox(cloud, company_id):
    """The events the company's changes wrote (the outbox items the relay publishes)."""
    out = cloud.client("dynamodb").query(
        TableName=cloud.name("K2KTable"), KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"C#{company_id}#OUTBOX"}})
    return [(i["detail_type"]["S"], i["detail"]["S"]) for i in out["Items"]]


@pytest.fixture
def bloom(cloud, api, suffix):
    return Bloom(api, suffix)


def test_twenty_bouquets_presold_produced_by_a_third_party_and_billed_to_the_final_customer(bloom, cloud):
    # Pre-selling: 20 bouquets at $25.00, whose materials and labour cost $310.00 in all.
    prebook = bloom.prebook({"product_code": "BQ-SPRING", "quantity": 20, "unit_price": "25.00", "cost": "310.00"})
    [line] = prebook["lines"]
    assert (line["line_type"], line["kind"], line["quantity"], line["gpm_pct"]) == (
        "PRODUCT", "FINISHED_GOODS", 20, "38.00")
    assert prebook["gpm_pct"] == "38.00"
    assert bloom.seller.get(f"/prebooks/{prebook['prebook_id']}").json()["gpm_pct"] == "38.00"

    # The live goods and hard goods, bought for the production company and received into inventory.
    roses = bloom.standalone("ECUAROSE", {"product_code": "ROSE-RED", "quantity": 200, "unit_cost": "0.85",
                                          "packing": {"box_type": "QB", "boxes": 2, "bunches_per_box": 4,
                                                      "stems_per_bunch": 25}})
    vases = bloom.standalone("GLASSCO", {"product_code": "VASE-8", "quantity": 20, "unit_cost": "3.00"})
    assert roses["customer_code"] == vases["customer_code"] == "PETALWORKS"
    stocked = {}
    for po in (roses, vases):
        receipt = bloom.receive(po)
        assert receipt["billed"] is None and receipt["into_inventory_line_id"]
        stocked[po["lines"][0]["product_code"]] = receipt["into_inventory_line_id"]
    rose_line = bloom.admin.get(f"/inventory/{stocked['ROSE-RED']}").json()["line"]
    vase_line = bloom.admin.get(f"/inventory/{stocked['VASE-8']}").json()["line"]
    assert [(ln["product_kind"], ln["boxes_on_hand"], D(ln["cost"])) for ln in (rose_line, vase_line)] == [
        ("LIVE_GOODS", 2, D("0.85")), ("HARD_GOODS", 20, D("3.00"))]

    # Handed over to Petalworks on a $0.00 invoice: the lines are empty, Petalworks owes nothing.
    transfer = bloom.ar.post("/customer-invoices", json={"customer_code": "PETALWORKS", "lines": [
        {"line_id": stocked["ROSE-RED"], "boxes": 2, "unit_price": "0.00"},
        {"line_id": stocked["VASE-8"], "boxes": 20, "unit_price": "0.00"}]})
    assert transfer.status == 201, transfer.json()
    assert [(ln["units"], D(ln["total"])) for ln in transfer.json()["lines"]] == [(200, 0), (20, 0)]
    for line_id in stocked.values():
        assert bloom.admin.get(f"/inventory/{line_id}").json()["line"]["boxes_on_hand"] == 0
    assert bloom.balance("PETALWORKS") == 0

    # The PO from the prebook: Petalworks as vendor, its cost the labour, linked to the prebook line.
    pos = bloom.buyer.post(f"/prebooks/{prebook['prebook_id']}/purchase-orders",
                           json={"lines": [{"line_no": 1, "vendor_code": "PETALWORKS", "unit_cost": "4.00"}]})
    assert pos.status == 201, pos.json()
    [production] = pos.json()
    [po_line] = production["lines"]
    assert (production["kind"], production["vendor_code"], production["status"]) == (
        "standalone", "PETALWORKS", "PENDING_APPROVAL")
    assert (po_line["product_code"], po_line["quantity"], D(po_line["unit_cost"]), po_line["prebook_id"],
            po_line["prebook_line_no"], po_line["customer_code"]) == (
        "BQ-SPRING", 20, D("4.00"), prebook["prebook_id"], 1, "HOTEL")
    linked = bloom.seller.get(f"/prebooks/{prebook['prebook_id']}").json()["lines"][0]
    assert (linked["po_id"], linked["po_line_no"], linked["vendor_code"]) == (production["po_id"], 1, "PETALWORKS")
    # Asked again, nothing more is bought.
    again = bloom.buyer.post(f"/prebooks/{prebook['prebook_id']}/purchase-orders",
                             json={"lines": [{"line_no": 1, "vendor_code": "PETALWORKS", "unit_cost": "4.00"}]})
    assert again.status == 409, again.json()

    # The bouquets come back through staging: automatic billing invoices the Grand Hotel at the prebook price.
    production = bloom.approved_and_arrived(production["po_id"])
    cloud.faults.duplicate = True  # every event from here on is delivered twice
    key = {"Idempotency-Key": f"receive-{production['po_id']}"}
    receive = {"box_code": po_line["box_code"], "po_id": production["po_id"]}
    answer = bloom.buyer.request("POST", "/staging/receive", json=receive, headers=key)
    assert answer.status == 200, answer.json()
    receipt = answer.json()
    billed = receipt["billed"]
    assert billed is not None, receipt
    assert (billed["customer_code"], D(billed["total"]), billed["prebook_id"], receipt["into_inventory_line_id"]) == (
        "HOTEL", D("500.00"), prebook["prebook_id"], None)
    assert [(ln["units"], D(ln["unit_price"])) for ln in billed["lines"]] == [(20, D("25.00"))]
    assert bloom.balance("HOTEL") == D("500.00")
    statement = bloom.ar.get("/customers/HOTEL/statement").json()
    assert [(e["entry_type"], e["source"], D(e["amount"])) for e in statement["entries"]] == [
        ("STAGING_INVOICE", billed["invoice_id"], D("500.00"))]
    received = bloom.buyer.get(f"/purchase-orders/{production['po_id']}").json()["purchase_order"]
    assert received["status"] == "RECEIVED"

    # The client retries (same key): the same receipt. Received again, or its events delivered twice: billed once.
    replayed = bloom.buyer.request("POST", "/staging/receive", json=receive, headers=key)
    assert replayed.json() == receipt and replayed.header("Idempotent-Replayed") == "true"
    assert bloom.buyer.post("/staging/receive", json=receive).status == 404
    cloud.drain()
    assert bloom.balance("HOTEL") == D("500.00")
    assert len(bloom.ar.items("/customer-invoices", params={"customer_code": "HOTEL"})) == 1
    # Each state change of the labour PO told once, the billing receipt with its invoice.
    told = [(kind, json.loads(detail)["data"]) for kind, detail in outbox(cloud, bloom.company_id)]
    about = [kind for kind, data in told if data.get("purchase_order", {}).get("po_id") == production["po_id"]]
    assert sorted(about) == ["PurchaseOrderApproved", "PurchaseOrderConfirmed", "PurchaseOrderCreated",
                             "PurchaseOrderReceived"]
    assert [data["billed_invoice_id"] for kind, data in told
            if kind == "StagingReceived" and data["po_id"] == production["po_id"]] == [billed["invoice_id"]]


def test_buying_a_prebook_s_products_once_behind_tenant_walls_and_roles(bloom):
    # No sales price yet: no GPM. A line needs its vendor to be bought.
    prebook = bloom.prebook({"product_code": "BQ-SPRING", "quantity": 20, "cost": "310.00"})
    assert prebook["gpm_pct"] is None and prebook["lines"][0]["gpm_pct"] is None
    path = f"/prebooks/{prebook['prebook_id']}/purchase-orders"
    unchosen = bloom.buyer.post(path)
    assert unchosen.status == 422 and "name a vendor" in unchosen.json()["error"]["message"]
    stranger = bloom.buyer.post(path, json={"lines": [{"line_no": 1, "vendor_code": "NOBODY", "unit_cost": "4"}]})
    assert stranger.status == 422 and stranger.json()["error"]["details"][0]["field"] == "lines.0.vendor_code"
    assert bloom.seller.get(f"/prebooks/{prebook['prebook_id']}").json()["lines"][0]["po_id"] is None
    body = {"lines": [{"line_no": 1, "vendor_code": "PETALWORKS", "unit_cost": "4.00"}]}

    # Another company cannot see the prebook nor buy it; a salesperson may not buy.
    assert bloom.other.get(f"/prebooks/{prebook['prebook_id']}").status == 404
    assert bloom.other.post(path, json=body).status == 404
    assert bloom.seller.post(path, json=body).status == 403

    # Four buyers at once: one PO.
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: bloom.buyer.post(path, json=body), range(4)))
    assert sorted(a.status for a in answers) == [201, 409, 409, 409], [a.json() for a in answers]
    pos = [po for po in bloom.buyer.items("/purchase-orders") if po["kind"] == "standalone"]
    assert len(pos) == 1 and pos[0]["lines"][0]["prebook_id"] == prebook["prebook_id"]

    # Bad choices are named.
    for wrong, field in (({"line_no": 2, "vendor_code": "PETALWORKS", "unit_cost": "4.00"}, "lines.0.line_no"),
                         ({"line_no": 1, "vendor_code": "PETALWORKS"}, "body.lines.0.unit_cost")):
        refused = bloom.buyer.post(path, json={"lines": [wrong]})
        assert refused.status == 422 and refused.json()["error"]["details"][0]["field"] == field, refused.json()
    unknown = bloom.seller.post("/prebooks", json={"customer_code": "HOTEL", "ship_date": bloom.ship, "lines": [
        {"product_code": "NOPE", "quantity": 1}]})
    assert unknown.status == 422 and unknown.json()["error"]["details"][0]["field"] == "lines.0.product_code"

    # With no sales price, the bouquets are billed at the price their cost suggests: $310.00 / 20 = $15.50 a
    # bouquet at the company's 25% GPM is $20.67, x 20 = $413.40.
    arrived = bloom.approved_and_arrived(pos[0]["po_id"])
    receipt = bloom.receive(arrived)
    assert (D(receipt["billed"]["lines"][0]["unit_price"]), D(receipt["billed"]["total"])) == (D("20.67"),
                                                                                              D("413.40"))
    assert bloom.balance("HOTEL") == D("413.40")

