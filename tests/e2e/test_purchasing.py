"""Bloom Wholesale buys for a production run (seed 003) over HTTP on the local cloud: its catalogue has live,
hard and finished goods; it buys 200 roses from a grower outside K2K and 20 vases from a glass supplier on
standalone POs naming the production company as customer; the procurement manager approves them; the goods
arrive in staging under their box codes and are received into Bloom's inventory at their landed cost."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal as D

import pytest

from infra.localcloud import demo

pytestmark = pytest.mark.e2e

BOX = {"length": "40", "width": "10", "height": "10"}  # 2.3148 cubic feet


def catalogue(admin):
    for code, body in {"ROSE-FR50": {"description": "Rose Freedom 50cm", "kind": "LIVE_GOODS"},
                       "VASE-8": {"description": "Glass vase 8in", "kind": "HARD_GOODS"},
                       "BQT-RED": {"description": "Red rose bouquet in a vase", "kind": "FINISHED_GOODS"}}.items():
        put = admin.put(f"/products/{code}", json=body)
        assert put.status == 200, put.json()


def test_standalone_pos_for_live_and_hard_goods_are_approved_and_received_at_landed_cost(cloud, api, suffix):
    ids = demo.seed(cloud, suffix)["inventory_line_ids"]
    bloom, rosaflor = f"bloom{suffix}", f"rosaflor{suffix}"
    admin = api(bloom, "Admin")
    buyer = api(bloom, "ProcurementUser", user="buyer@bloom.example")
    manager = api(bloom, "ProcurementManager", user="pm@bloom.example")

    catalogue(admin)
    products = {p["code"]: p for p in buyer.items("/products")}
    assert {c: (p["kind"], p["unit"]) for c, p in products.items()} == {
        "ROSE-FR50": ("LIVE_GOODS", "STEM"), "VASE-8": ("HARD_GOODS", "UNIT"), "BQT-RED": ("FINISHED_GOODS", "UNIT")}
    assert buyer.put("/products/X", json={"description": "x", "kind": "HARD_GOODS"}).status == 403  # kept by setup
    # Vendors outside K2K, and the production company as a customer.
    for code, name in (("ECUAROSE", "Ecuarose Farms"), ("GLASSCO", "Glass Co")):
        assert admin.put(f"/vendors/{code}", json={"name": name}).status == 200
    assert admin.put("/customers/PRODCO", json={"name": "Bouquet Makers Inc"}).status == 200

    ship = (cloud.now() + timedelta(days=3)).date().isoformat()
    roses = buyer.post("/purchase-orders", json={
        "kind": "standalone", "vendor_code": "ECUAROSE", "customer_code": "PRODCO", "ship_date": ship,
        "lines": [{"product_code": "ROSE-FR50", "quantity": 200, "unit_cost": "0.30", "box_code": "ECU-FR50",
                   "packing": {"box_type": "HB", "boxes": 2, "bunches_per_box": 4, "stems_per_bunch": 25,
                               "dimensions": BOX}}]})
    assert roses.status == 201, roses.json()
    vases = buyer.post("/purchase-orders", json={
        "kind": "standalone", "vendor_code": "GLASSCO", "customer_code": "PRODCO", "ship_date": ship,
        "lines": [{"product_code": "VASE-8", "quantity": 20, "unit_cost": "3.50"}]})
    assert vases.status == 201, vases.json()
    roses, vases = roses.json(), vases.json()
    assert (roses["kind"], roses["status"], roses["vendor_name"]) == ("standalone", "PENDING_APPROVAL",
                                                                     "Ecuarose Farms")
    [rose_line], [vase_line] = roses["lines"], vases["lines"]
    assert rose_line["customer_code"] == vase_line["customer_code"] == "PRODCO"
    # Landed cost as for K2K boxes: 0.30 + freight 1.50 x 2.3148 ft3 / 100 stems + handling 0.75 / 100 stems.
    assert D(rose_line["landed_cost"]) == D("0.342")
    assert D(vase_line["landed_cost"]) == D("3.500")  # loose units: duties only (0% here)
    assert vase_line["box_code"] == f"{vases['po_id']}-1" and vase_line["boxes"] == 20

    # Who buys does not approve; the procurement manager does, once.
    assert buyer.post(f"/purchase-orders/{roses['po_id']}/approve", json={}).status == 403
    assert buyer.post(f"/purchase-orders/{roses['po_id']}/confirm", json={}).status == 409  # not approved yet
    for po in (roses, vases):
        approved = manager.post(f"/purchase-orders/{po['po_id']}/approve", json={"version": 1})
        assert approved.status == 200, approved.json()
        assert (approved.json()["status"], approved.json()["approved_by"]) == ("APPROVED", "pm@bloom.example")
    again = manager.post(f"/purchase-orders/{roses['po_id']}/approve", json={})
    assert again.status == 409 and "approved" in again.json()["error"]["message"]

    # The goods arrive: they wait in staging under their box codes, then go into inventory.
    for po in (roses, vases):
        confirmed = buyer.post(f"/purchase-orders/{po['po_id']}/confirm", json={"awb": "AWB-1234"})
        assert confirmed.status == 200, confirmed.json()
        assert confirmed.json()["status"] == "CONFIRMED"
    staged = {s["box_code"]: s for s in buyer.items("/staging")}
    assert staged["ECU-FR50"]["po_kind"] == "standalone" and staged["ECU-FR50"]["vendor_code"] == "ECUAROSE"
    assert staged[vase_line["box_code"]]["boxes_confirmed"] == 20

    received = {}
    for code, boxes in (("ECU-FR50", 2), (vase_line["box_code"], 20)):
        receipt = buyer.post("/staging/receive", json={"box_code": code})
        assert receipt.status == 200, receipt.json()
        assert receipt.json()["boxes"] == boxes and receipt.json()["billed"] is None
        received[code] = buyer.get(f"/inventory/{receipt.json()['into_inventory_line_id']}").json()
    rose_stock, vase_stock = received["ECU-FR50"]["line"], received[vase_line["box_code"]]["line"]
    assert (rose_stock["product_kind"], rose_stock["unit_type"], rose_stock["boxes_on_hand"]) == (
        "LIVE_GOODS", "STEM", 2)
    assert D(rose_stock["cost"]) == D("0.342") and D(rose_stock["price"]) == D("0.49")  # NYC sells at 30% GPM
    assert (vase_stock["product_kind"], vase_stock["unit_type"], vase_stock["boxes_on_hand"]) == (
        "HARD_GOODS", "UNIT", 20)
    assert D(vase_stock["cost"]) == D("3.500") and D(vase_stock["price"]) == D("5.00")
    assert vase_stock["product_code"] == "VASE-8" and vase_stock["location"] == "NYC"
    assert buyer.post("/staging/receive", json={"box_code": "ECU-FR50"}).status == 404  # nothing left waiting

    # Both POs are received, and listed with Bloom's other POs, each with its kind.
    listed = {p["po_id"]: p for p in buyer.items("/purchase-orders")}
    assert {listed[p["po_id"]]["status"] for p in (roses, vases)} == {"RECEIVED"}
    one = buyer.get(f"/purchase-orders/{vases['po_id']}").json()
    assert one["purchase_order"]["kind"] == "standalone" and one["differences"] == []
    assert one["purchase_order"]["lines"][0]["boxes_received"] == 20

    # Tenant walls: another company sees none of it.
    petal = api(f"petal{suffix}", "Admin")
    assert petal.get(f"/purchase-orders/{roses['po_id']}").status == 404
    assert petal.post(f"/purchase-orders/{roses['po_id']}/approve", json={}).status == 404
    assert petal.get("/products/VASE-8").status == 404

    # Hard goods are never published to K2K buyers, however complete the line.
    vendor = api(rosaflor, "Admin")
    vase_line_at_vendor = vendor.post("/inventory", json={
        "box_code": "VASE8-BOX", "product": "Glass vase 8in", "product_kind": "HARD_GOODS", "box_type": "HB",
        "unit_type": "UNIT", "bunches_per_box": 12, "boxes_on_hand": 5, "price": "4.00", "location": "MIA",
        "dimensions": BOX})
    assert vase_line_at_vendor.status == 201, vase_line_at_vendor.json()
    cloud.drain()
    publication = vendor.get(f"/inventory/{vase_line_at_vendor.json()['line_id']}").json()["publication"]
    assert publication and all(p["reasons"] == ["not live goods (hard and finished goods are never published)"]
                               for p in publication)
    shown = {ln["box_code"] for ln in admin.get("/availability").json()["lines"]}
    assert "VASE8-BOX" not in shown and "FR50HB" in shown and ids


def lone_company(api, suffix):
    """Bloom alone (no K2K), with its catalogue and a glass supplier."""
    company = f"bloom{suffix}"
    operator = api("", "Operator", user="operator@k2k.example")
    assert operator.post("/operator/companies", json={"company_id": company, "name": "Bloom Wholesale",
                                                      "locations": [{"code": "NYC", "name": "New York"}]}).status == 201
    admin = api(company, "Admin")
    catalogue(admin)
    assert admin.put("/vendors/GLASSCO", json={"name": "Glass Co"}).status == 200
    return admin


def test_receipts_racing_on_one_po_each_count_once_and_approvals_racing_approve_once(cloud, api, suffix):
    admin = lone_company(api, suffix)
    ship = (cloud.now() + timedelta(days=1)).date().isoformat()
    lines = [{"product_code": "VASE-8", "quantity": 10 + n, "unit_cost": "3.50", "box_code": f"V{n}{suffix}"}
             for n in range(6)]
    po = admin.post("/purchase-orders", json={"kind": "standalone", "vendor_code": "GLASSCO", "ship_date": ship,
                                              "lines": lines})
    assert po.status == 201, po.json()
    po_id = po.json()["po_id"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        approvals = list(pool.map(lambda _: admin.post(f"/purchase-orders/{po_id}/approve", json={}), range(4)))
    assert sorted(a.status for a in approvals) == [200, 409, 409, 409], [a.json() for a in approvals]
    assert admin.post(f"/purchase-orders/{po_id}/confirm", json={}).status == 200
    with ThreadPoolExecutor(max_workers=6) as pool:
        receipts = list(pool.map(lambda ln: admin.post("/staging/receive", json={"box_code": ln["box_code"]}), lines))
    assert [r.status for r in receipts] == [200] * 6, [r.json() for r in receipts]
    done = admin.get(f"/purchase-orders/{po_id}").json()["purchase_order"]
    # Created, approved, confirmed, then one version per receipt: none lost, none counted twice.
    assert (done["status"], done["version"]) == ("RECEIVED", 3 + 6)
    assert [ln["boxes_received"] for ln in done["lines"]] == [10 + n for n in range(6)]
    stock = {ln["box_code"]: ln["boxes_on_hand"] for ln in admin.items("/inventory")}
    assert stock == {ln["box_code"]: ln["quantity"] for ln in lines}


def test_bad_purchase_orders_are_refused_naming_what_is_wrong(cloud, api, suffix):
    admin = lone_company(api, suffix)
    ship = (cloud.now() + timedelta(days=1)).date().isoformat()

    def refused(body, field, status=422):
        got = admin.post("/purchase-orders", json={"kind": "standalone", "vendor_code": "GLASSCO",
                                                   "ship_date": ship, **body})
        assert got.status == status, got.json()
        # The field, as the request names it (the body's own fields may come under body. and the PO's kind).
        assert any(d["field"] == field or d["field"].endswith("." + field) for d in got.json()["error"]["details"]), \
            got.json()
        return got.json()["error"]

    vase = {"product_code": "VASE-8", "quantity": 20, "unit_cost": "3.50"}
    assert "not in your catalogue" in refused({"lines": [{**vase, "product_code": "NOPE"}]},
                                              "lines.0.product_code")["message"]
    assert "not one of your vendors" in refused({"vendor_code": "ROSA", "lines": [vase]}, "vendor_code")["message"]
    refused({"customer_code": "NOBODY", "lines": [vase]}, "customer_code")
    refused({"ship_date": (cloud.now() - timedelta(days=2)).date().isoformat(), "lines": [vase]}, "ship_date")
    refused({"lines": [{**vase, "packing": {"boxes": 3, "bunches_per_box": 6}}]}, "lines.0.quantity")
    refused({"lines": [{**vase, "quantity": 0}]}, "lines.0.quantity")
    refused({"lines": []}, "lines")
    assert "own box code" in refused({"lines": [{**vase, "box_code": "VB1"}, {**vase, "box_code": "VB1"}]},
                                     "lines")["message"]
    # A box code in stock as another product: the vases would join the roses' line.
    roses = admin.post("/inventory", json={"box_code": "ROSEBOX", "product_code": "ROSE-FR50", "product": "Rose",
                                           "bunches_per_box": 10, "boxes_on_hand": 2, "location": "NYC"})
    assert roses.status == 201, roses.json()
    assert "in stock as ROSE-FR50" in refused({"lines": [{**vase, "box_code": "ROSEBOX"}]},
                                              "lines.0.box_code")["message"]
    # A product's unit must fit its kind.
    wrong = admin.put("/products/VASE-9", json={"description": "Vase", "kind": "HARD_GOODS", "unit": "STEM"})
    assert wrong.status == 422 and "UNIT" in wrong.json()["error"]["details"][0]["message"]
    assert admin.get("/products/VASE-9").status == 404
    assert admin.post("/purchase-orders/PO-NOSUCH/approve", json={}).status == 404
    assert admin.items("/purchase-orders") == []
