"""K2K for Procurement over HTTP on the local cloud: Bloom asks Rosaflor to take its POs as prebooks; Bloom's
PO of three lines to Rosaflor appears in Rosaflor as a prebook for its customer BLOOM, without anyone keying
it again; Rosaflor confirms two lines (one with fewer stems) and rejects the third, and Bloom's PO shows each
line's answer with the differences named - and, as the connection says, is approved by that confirmation;
Rosaflor ships under its box codes and the boxes arrive in Bloom's staging area, from which Bloom receives them;
the shipment bills it, and with both companies' automations on the invoice lands on Bloom's PO in PO
Reconciliation as AP, line by line, where procurement and accounting approve it as any K2K invoice.
Tulipa (no connection) sees none of it; Petal, connected to Rosaflor for Sales only, transfers nothing."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from infra.localcloud import demo

pytestmark = pytest.mark.e2e

BOX = {"length": "40", "width": "10", "height": "10"}


def automation(admin, field, on=True):
    """Switch one of a company's K2K invoice automations (Setup -> Settings -> K2K Network -> Automations)."""
    current = admin.get("/company").json()
    settings = current["settings"]
    settings["automations"][field] = on
    changed = admin.put("/company/settings", json={"settings": settings, "version": current["version"]})
    assert changed.status == 200, changed.json()


def test_a_buyer_s_po_becomes_the_vendor_s_prebook_and_the_vendor_s_answer_comes_back(cloud, api, suffix):
    demo.seed(cloud, suffix)
    rosaflor, bloom, petal, tulipa = (f"{c}{suffix}" for c in ("rosaflor", "bloom", "petal", "tulipa"))
    bloom_admin, rosa_admin = api(bloom, "Admin"), api(rosaflor, "Admin")
    buyer = api(bloom, "ProcurementUser", user="buyer@bloom.example")
    seller = api(rosaflor, "Salesperson", user="ana@rosaflor.example")

    # The connection: the buyer asks with its settings, the vendor accepts (each has the other already).
    assert buyer.post("/procurement-connections", json={"vendor_company_id": rosaflor}).status == 403  # setup's
    asked = bloom_admin.post("/procurement-connections", json={
        "vendor_company_id": rosaflor, "settings": {"transfer": "ALL", "auto_approve_on_confirm": True}})
    assert asked.status == 201, asked.json()
    conn_id = asked.json()["connection_id"]
    assert bloom_admin.post(f"/procurement-connections/{conn_id}/accept").status == 409  # only the vendor accepts
    accepted = rosa_admin.post(f"/procurement-connections/{conn_id}/accept")
    assert accepted.status == 200, accepted.json()
    assert (accepted.json()["status"], accepted.json()["buyer_customer_code"], accepted.json()["vendor_code"]) == (
        "ACTIVE", "BLOOM", "ROSA")
    again = bloom_admin.post("/procurement-connections", json={"vendor_company_id": rosaflor})
    assert again.status == 409
    assert api(tulipa, "Admin").get(f"/procurement-connections/{conn_id}").status == 404
    assert [c["connection_id"] for c in rosa_admin.items("/procurement-connections")] == [conn_id]

    for code, desc, kind in (("ROSE-FR50", "Rose Freedom 50cm", "LIVE_GOODS"),
                             ("HYD-WH", "Hydrangea White", "LIVE_GOODS"), ("VASE-8", "Glass vase 8in", "HARD_GOODS")):
        for admin in (bloom_admin, api(petal, "Admin")):
            assert admin.put(f"/products/{code}", json={"description": desc, "kind": kind}).status == 200
    ship = (cloud.now() + timedelta(days=4)).date().isoformat()
    lines = [{"product_code": "ROSE-FR50", "quantity": 200, "unit_cost": "0.30",
              "packing": {"box_type": "HB", "boxes": 2, "bunches_per_box": 4, "stems_per_bunch": 25,
                          "dimensions": BOX}},
             {"product_code": "HYD-WH", "quantity": 30, "unit_cost": "1.10"},
             {"product_code": "VASE-8", "quantity": 20, "unit_cost": "3.50"}]
    po = buyer.post("/purchase-orders", json={"kind": "standalone", "vendor_code": "ROSA", "ship_date": ship,
                                              "lines": lines})
    assert po.status == 201, po.json()
    po = po.json()
    # Petal is Rosaflor's buyer for Sales only: its PO to Rosaflor stays its own.
    petal_po = api(petal, "Admin").post("/purchase-orders", json={"kind": "standalone", "vendor_code": "ROSA",
                                                                   "ship_date": ship, "lines": lines[1:2]})
    assert petal_po.status == 201, petal_po.json()
    cloud.drain()

    # The vendor sees a prebook for its customer BLOOM, with the same lines at the buyer's cost.
    [prebook] = seller.items("/prebooks")
    assert (prebook["customer_code"], prebook["ship_date"], prebook["source"]) == ("BLOOM", ship, "PROCUREMENT")
    assert prebook["transferred_from"]["po_id"] == po["po_id"]
    assert [(ln["product_code"], ln["quantity"], ln["unit_price"], ln["box_type"], ln["boxes"])
            for ln in prebook["lines"]] == [("ROSE-FR50", 200, "0.30", "HB", 2), ("HYD-WH", 30, "1.10", None, 30),
                                            ("VASE-8", 20, "3.50", None, 20)]
    assert api(tulipa, "Admin").get(f"/prebooks/{prebook['prebook_id']}").status == 404
    assert api(bloom, "Admin").get(f"/prebooks/{prebook['prebook_id']}").status == 404  # the vendor's document

    # The vendor answers: the roses with fewer stems, the hydrangeas as they are, the vases rejected.
    bad = seller.post(f"/prebooks/{prebook['prebook_id']}/confirm",
                      json={"lines": [{"line_no": 9, "status": "REJECTED"}]})
    assert bad.status == 422 and bad.json()["error"]["details"][0]["field"] == "lines.0.line_no"
    answered = seller.post(f"/prebooks/{prebook['prebook_id']}/confirm", json={"lines": [
        {"line_no": 1, "status": "CONFIRMED", "quantity": 150}, {"line_no": 3, "status": "REJECTED"}]})
    assert answered.status == 200, answered.json()
    assert [(ln["quantity"], ln["status"]) for ln in answered.json()["lines"]] == [
        (150, "ACTIVE"), (30, "ACTIVE"), (20, "DELETED")]
    assert seller.post(f"/prebooks/{prebook['prebook_id']}/confirm", json={}).status == 409  # answered once
    cloud.drain()

    mine = buyer.get(f"/purchase-orders/{po['po_id']}").json()["purchase_order"]
    assert [(ln["vendor_answer"]["status"], ln["vendor_answer"]["quantity"], ln["vendor_answer"]["differences"])
            for ln in mine["lines"]] == [("CHANGED", 150, ["quantity 200 -> 150"]), ("CONFIRMED", 30, []),
                                         ("REJECTED", 0, ["rejected by the vendor"])]
    assert [ln["quantity"] for ln in mine["lines"]] == [200, 30, 20]  # what was ordered stays on the PO
    assert (mine["status"], mine["vendor_prebook_id"]) == ("APPROVED", prebook["prebook_id"])  # auto-approved
    assert mine["approved_by"].startswith("vendor confirmation")

    # The vendor ships what it confirmed under its own box codes; the boxes wait in Bloom's staging area.
    automation(rosa_admin, "vendor_invoice_sync")  # both automations on: the invoice goes onto Bloom's PO
    automation(bloom_admin, "buyer_invoice_upload")
    ship_at = f"/prebooks/{prebook['prebook_id']}/ship"
    rejected = seller.post(ship_at, json={"awb": "AWB-7788", "lines": [
        {"line_no": 1, "box_code": "RF-FR50", "boxes": 2}, {"line_no": 3, "box_code": "RF-VASE", "boxes": 20}]})
    assert rejected.status == 422 and "rejected" in rejected.json()["error"]["message"]
    shipped = seller.post(ship_at, json={"awb": "AWB-7788", "lines": [
        {"line_no": 1, "box_code": "RF-FR50", "boxes": 2}, {"line_no": 2, "box_code": "RF-HYD", "boxes": 30}]})
    assert shipped.status == 200, shipped.json()
    assert seller.post(ship_at, json={"awb": "AWB-7788", "lines": [
        {"line_no": 1, "box_code": "RF-FR50", "boxes": 2}, {"line_no": 2, "box_code": "RF-HYD", "boxes": 30}]}
                       ).status == 409  # shipped once
    cloud.drain()
    staged = {s["box_code"]: s for s in buyer.items("/staging")}
    assert {c: (s["po_id"], s["awb"], s["boxes_confirmed"]) for c, s in staged.items()} == {
        "RF-FR50": (po["po_id"], "AWB-7788", 2), "RF-HYD": (po["po_id"], "AWB-7788", 30)}
    assert buyer.get(f"/purchase-orders/{po['po_id']}").json()["purchase_order"]["status"] == "CONFIRMED"
    for code in ("RF-FR50", "RF-HYD"):
        receipt = buyer.post("/staging/receive", json={"box_code": code})
        assert receipt.status == 200, receipt.json()
    # Every box it will ever get is in: the rejected vases are not waited for.
    assert buyer.get(f"/purchase-orders/{po['po_id']}").json()["purchase_order"]["status"] == "RECEIVED"

    # The shipment billed the prebook: the confirmed quantities at the confirmed prices, by box code.
    [invoice] = [i for i in rosa_admin.items("/invoices") if i["po_id"] == po["po_id"]]
    assert (invoice["order_id"], invoice["awb"], invoice["customer_code"], invoice["total"]) == (
        prebook["prebook_id"], "AWB-7788", "BLOOM", "78.00")
    assert [(ln["box_code"], ln["boxes"], ln["units"], ln["unit_price"], ln["total"]) for ln in invoice["lines"]] == [
        ("RF-FR50", 2, 150, "0.30", "45.00"), ("RF-HYD", 30, 30, "1.10", "33.00")]
    # ... and it lands in Bloom's PO reconciliation as AP: every line matched (the rejected vases expect nothing).
    procurement, accounting = api(bloom, "ProcurementManager"), api(bloom, "AccountsReceivable")
    rec = procurement.get(f"/reconciliation/{po['po_id']}").json()
    assert (rec["status"], rec["vendor_invoice"]["source"], rec["vendor_invoice"]["invoice_no"], rec["order_id"],
            rec["po_total"], rec["differences"], rec["warnings"]) == (
        "AP", "K2K", str(invoice["invoice_no"]), prebook["prebook_id"], "78.00", [], [])
    assert [r["po_id"] for r in procurement.items("/reconciliation", params={"status": "AP"})] == [po["po_id"]]
    assert api(tulipa, "Admin").get(f"/reconciliation/{po['po_id']}").status == 404
    # The vendor adds freight: the PO's invoice returns to AP with a warning and the total's difference flagged.
    corrected = rosa_admin.put(f"/invoices/{invoice['invoice_no']}", json={
        "charges": [{"description": "Freight", "amount": "12.00"}], "version": 1})
    assert corrected.status == 200, corrected.json()
    cloud.drain()
    rec = procurement.get(f"/reconciliation/{po['po_id']}").json()
    assert [w["code"] for w in rec["warnings"]] == ["UPDATED"]
    assert [(d["kind"], d["expected"], d["actual"]) for d in rec["differences"]] == [
        ("INVOICE_TOTAL", "78.00", "90.00")]
    # Approving works as in K2K for Sales: procurement (AP -> AA), then accounting (AA -> A).
    approved = procurement.post(f"/reconciliation/{po['po_id']}/approve", json={"version": rec["version"]})
    assert approved.status == 200 and approved.json()["status"] == "AA", approved.json()
    approved = accounting.post(f"/reconciliation/{po['po_id']}/approve", json={})
    assert approved.status == 200 and approved.json()["status"] == "A", approved.json()

    # Cancelling: the buyer may until the vendor answers (the vendor's prebook is cancelled with it); after that
    # it is a request the vendor accepts (or rejects).
    assert buyer.post(f"/purchase-orders/{po['po_id']}/cancel", json={}).status == 409  # received
    second = buyer.post("/purchase-orders", json={"kind": "standalone", "vendor_code": "ROSA", "ship_date": ship,
                                                  "lines": lines[:1]}).json()
    third = buyer.post("/purchase-orders", json={"kind": "standalone", "vendor_code": "ROSA", "ship_date": ship,
                                                 "lines": lines[:1]}).json()
    cloud.drain()
    pb2, pb3 = (f"PB-{bloom}-{p['po_id']}" for p in (second, third))
    assert seller.post(f"/prebooks/{pb3}/confirm", json={}).status == 200
    cloud.drain()
    late = buyer.post(f"/purchase-orders/{third['po_id']}/cancel", json={})
    assert late.status == 200 and late.json()["status"] == "APPROVED", late.json()
    assert (late.json()["change_request"]["kind"], late.json()["change_request"]["status"]) == ("CANCEL", "PENDING")
    cloud.drain()
    assert seller.post(f"/prebooks/{pb3}/change-request", json={"decision": "ACCEPT"}).status == 200
    cloud.drain()
    assert buyer.get(f"/purchase-orders/{third['po_id']}").json()["purchase_order"]["status"] == "CANCELLED"
    assert [ln["status"] for ln in seller.get(f"/prebooks/{pb3}").json()["lines"]] == ["CANCELLED"]
    cancelled = buyer.post(f"/purchase-orders/{second['po_id']}/cancel", json={})
    assert cancelled.status == 200 and cancelled.json()["status"] == "CANCELLED", cancelled.json()
    cloud.drain()
    theirs = seller.get(f"/prebooks/{pb2}").json()
    assert [ln["status"] for ln in theirs["lines"]] == ["CANCELLED"] and theirs["transferred_from"]["cancelled_at"]
    too_late = seller.post(f"/prebooks/{pb2}/confirm", json={})
    assert too_late.status == 409 and "cancelled" in too_late.json()["error"]["message"]

    # Tenant walls: Tulipa sees neither document; Petal's PO was never transferred.
    assert api(tulipa, "Admin").get(f"/purchase-orders/{po['po_id']}").status == 404
    third = api(tulipa, "Admin")
    assert third.items("/prebooks") == [] and third.items("/procurement-connections") == []
    assert len(seller.items("/prebooks")) == 3  # Bloom's three POs; none of Petal's
    petal_mine = api(petal, "Admin").get(f"/purchase-orders/{petal_po.json()['po_id']}").json()["purchase_order"]
    assert petal_mine["status"] == "PENDING_APPROVAL" and petal_mine["vendor_prebook_id"] is None


def test_a_cancel_and_the_vendor_s_answer_racing_cannot_both_win(cloud, api, suffix):
    demo.seed(cloud, suffix)
    rosaflor, bloom = f"rosaflor{suffix}", f"bloom{suffix}"
    buyer, seller = api(bloom, "Admin"), api(rosaflor, "Admin")
    conn = buyer.post("/procurement-connections", json={"vendor_company_id": rosaflor}).json()
    assert seller.post(f"/procurement-connections/{conn['connection_id']}/accept").status == 200
    assert buyer.put("/products/HYD-WH", json={"description": "Hydrangea", "kind": "LIVE_GOODS"}).status == 200
    ship = (cloud.now() + timedelta(days=4)).date().isoformat()
    line = {"product_code": "HYD-WH", "quantity": 10, "unit_cost": "1.10"}
    pos = [buyer.post("/purchase-orders", json={"kind": "standalone", "vendor_code": "ROSA", "ship_date": ship,
                                                "lines": [line]}).json()["po_id"] for _ in range(4)]
    cloud.drain()
    with ThreadPoolExecutor(max_workers=2) as pool:
        for po_id in pos:
            cancel = pool.submit(buyer.post, f"/purchase-orders/{po_id}/cancel", json={})
            answer = pool.submit(seller.post, f"/prebooks/PB-{bloom}-{po_id}/confirm", json={})
            statuses = sorted((cancel.result().status, answer.result().status))
            assert statuses == [200, 409], (po_id, statuses)  # exactly one wins
    cloud.drain()
    for po_id in pos:
        po = buyer.get(f"/purchase-orders/{po_id}").json()["purchase_order"]
        prebook = seller.get(f"/prebooks/PB-{bloom}-{po_id}").json()
        # Both sides agree on who won: a cancelled PO has a cancelled, unanswered prebook; an answered one stands.
        if po["status"] == "CANCELLED":
            assert prebook["transferred_from"].get("confirmed_at") is None
            assert [ln["status"] for ln in prebook["lines"]] == ["CANCELLED"]
        else:
            assert po["vendor_answered_at"] and prebook["transferred_from"].get("cancelled_at") is None


def test_changes_after_transfer_reach_the_vendor_or_are_its_to_accept_and_a_substitution_is_flagged(
        cloud, api, suffix):
    demo.seed(cloud, suffix)
    rosaflor, bloom = f"rosaflor{suffix}", f"bloom{suffix}"
    buyer, seller = api(bloom, "ProcurementUser", user="buyer@bloom.example"), api(rosaflor, "Salesperson")
    conn = api(bloom, "Admin").post("/procurement-connections", json={"vendor_company_id": rosaflor}).json()
    assert api(rosaflor, "Admin").post(f"/procurement-connections/{conn['connection_id']}/accept").status == 200
    admin = api(bloom, "Admin")
    for code in ("ROSE-FR50", "HYD-WH"):
        assert admin.put(f"/products/{code}", json={"description": code, "kind": "LIVE_GOODS"}).status == 200
    ship = (cloud.now() + timedelta(days=4)).date().isoformat()
    roses = {"product_code": "ROSE-FR50", "quantity": 200, "unit_cost": "0.30",
             "packing": {"box_type": "HB", "boxes": 2, "bunches_per_box": 4, "stems_per_bunch": 25}}
    hydrangeas = {"product_code": "HYD-WH", "quantity": 30, "unit_cost": "1.10"}
    po = buyer.post("/purchase-orders", json={"kind": "standalone", "vendor_code": "ROSA", "ship_date": ship,
                                              "lines": [roses, hydrangeas]}).json()
    po_at, pb = f"/purchase-orders/{po['po_id']}", f"/prebooks/PB-{bloom}-{po['po_id']}"
    cloud.drain()

    # Before the vendor answers, the buyer's change is the PO's and reaches the vendor's prebook.
    odd = buyer.post(f"{po_at}/change", json={"lines": [{"line_no": 1, "quantity": 150}]})
    assert odd.status == 422 and odd.json()["error"]["details"][0]["field"] == "lines.0.quantity"
    changed = buyer.post(f"{po_at}/change", json={"lines": [{"line_no": 1, "quantity": 100}]})
    assert changed.status == 200, changed.json()
    assert ([(ln["quantity"], ln["boxes"]) for ln in changed.json()["lines"]], changed.json()["revision"]) == (
        [(100, 1), (30, 30)], 1)
    cloud.drain()
    prebook = seller.get(pb).json()
    assert [(ln["quantity"], ln["boxes"]) for ln in prebook["lines"]] == [(100, 1), (30, 30)]
    assert prebook["transferred_from"]["revision"] == 1

    # The vendor confirms the roses as another variety: a substitution, flagged on the buyer's PO.
    answered = seller.post(f"{pb}/confirm", json={"lines": [
        {"line_no": 1, "status": "CONFIRMED", "product_code": "ROSE-EXP50", "description": "Rose Explorer 50cm"}]})
    assert answered.status == 200, answered.json()
    assert answered.json()["lines"][0]["product_code"] == "ROSE-EXP50"
    cloud.drain()
    mine = buyer.get(po_at).json()["purchase_order"]
    assert [(ln["vendor_answer"]["status"], ln["vendor_answer"]["differences"]) for ln in mine["lines"]] == [
        ("SUBSTITUTED", ["product ROSE-FR50 (ROSE-FR50) -> ROSE-EXP50 (Rose Explorer 50cm)"]), ("CONFIRMED", [])]

    # After the answer, a change is a request: the PO stays as it was until the vendor accepts it.
    asked = buyer.post(f"{po_at}/change", json={"lines": [{"line_no": 2, "quantity": 20}]})
    assert asked.status == 200, asked.json()
    assert asked.json()["lines"][1]["quantity"] == 30
    assert (asked.json()["change_request"]["kind"], asked.json()["change_request"]["status"]) == ("CHANGE", "PENDING")
    assert buyer.post(f"{po_at}/cancel", json={}).status == 409  # one request at a time
    shipment = {"awb": "AWB-9", "lines": [{"line_no": 1, "box_code": "RF-EXP", "boxes": 1},
                                          {"line_no": 2, "box_code": "RF-HYD2", "boxes": 20}]}
    waiting = seller.post(f"{pb}/ship", json=shipment)
    assert waiting.status == 409 and "request" in waiting.json()["error"]["message"]  # answer the request first
    cloud.drain()
    assert seller.get(pb).json()["transferred_from"]["change_request"]["status"] == "PENDING"
    accepted = seller.post(f"{pb}/change-request", json={"decision": "ACCEPT"})
    assert accepted.status == 200 and accepted.json()["lines"][1]["quantity"] == 20, accepted.json()
    assert seller.post(f"{pb}/change-request", json={"decision": "ACCEPT"}).status == 409  # answered once
    cloud.drain()
    mine = buyer.get(po_at).json()["purchase_order"]
    assert (mine["lines"][1]["quantity"], mine["lines"][1]["boxes"], mine["lines"][1]["vendor_answer"]["quantity"],
            mine["change_request"]["status"]) == (20, 20, 20, "ACCEPTED")
    # A cancel request the vendor rejects leaves the PO as it is, with the vendor's reason.
    assert buyer.post(f"{po_at}/cancel", json={}).status == 200
    cloud.drain()
    assert seller.post(f"{pb}/change-request", json={"decision": "REJECT", "reason": "cut already"}).status == 200
    cloud.drain()
    mine = buyer.get(po_at).json()["purchase_order"]
    assert (mine["status"], mine["change_request"]["kind"], mine["change_request"]["status"],
            mine["change_request"]["reason"]) == ("PENDING_APPROVAL", "CANCEL", "REJECTED", "cut already")

    # The substitute is what arrives: staged (and received) as the vendor's product, under its box code.
    assert seller.post(f"{pb}/ship", json=shipment).status == 200
    cloud.drain()
    staged = {s["box_code"]: s["product"] for s in buyer.items("/staging")}
    assert staged == {"RF-EXP": "Rose Explorer 50cm", "RF-HYD2": "HYD-WH"}
    late = buyer.post(f"{po_at}/change", json={"lines": [{"line_no": 2, "quantity": 10}]})
    assert late.status == 409  # shipped: confirmed into staging

    # A change and the vendor's answer racing: exactly one wins, and both sides agree which.
    pos = [buyer.post("/purchase-orders", json={"kind": "standalone", "vendor_code": "ROSA", "ship_date": ship,
                                                "lines": [hydrangeas]}).json()["po_id"] for _ in range(3)]
    cloud.drain()
    with ThreadPoolExecutor(max_workers=2) as pool:
        for po_id in pos:
            change = pool.submit(buyer.post, f"/purchase-orders/{po_id}/change",
                                 json={"lines": [{"line_no": 1, "quantity": 12}]})
            answer = pool.submit(seller.post, f"/prebooks/PB-{bloom}-{po_id}/confirm", json={})
            assert sorted((change.result().status, answer.result().status)) == [200, 409], po_id
    cloud.drain()
    for po_id in pos:
        mine = buyer.get(f"/purchase-orders/{po_id}").json()["purchase_order"]
        theirs = seller.get(f"/prebooks/PB-{bloom}-{po_id}").json()
        if mine["revision"] == 1:  # the change won: the vendor never answered, its prebook took the change
            assert theirs["transferred_from"].get("confirmed_at") is None and theirs["lines"][0]["quantity"] == 12
        else:  # the answer won: the order as it was, answered on both sides
            assert mine["vendor_answered_at"] and theirs["lines"][0]["quantity"] == 30 == mine["lines"][0]["quantity"]
