"""Seed 002 over HTTP on the local cloud: the vendor confirms a K2K order, its invoice exists with a PDF,
and with both automations on it waits on the buyer's PO in PO Reconciliation until paid.

Rosaflor Farms (vendor) sells to Bloom Wholesale and Petal & Stem (buyers), as the demo seeds them;
a buyer's prebook makes the K2K PO and the vendor's order, like a salesperson would.
"""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal as D

import pytest
import requests

from infra.localcloud import demo

pytestmark = pytest.mark.e2e
# Concurrent confirmations of one vendor's orders over HTTP. Billing itself under 50 concurrent Lambdas
# and injected transaction conflicts is tests/reliability/test_invoice_numbering.py's.
N = 20


@pytest.fixture
def k2k(cloud, api, suffix):
    lines = demo.seed(cloud, suffix)["inventory_line_ids"]
    company = {c: f"{c}{suffix}" for c in ("rosaflor", "bloom", "petal")}

    class World:
        vendor = api(company["rosaflor"], "Admin")
        vendor_ar = api(company["rosaflor"], "AccountsReceivable")
        vendor_sales = api(company["rosaflor"], "SalesManager")
        bloom = api(company["bloom"], "Admin")
        procurement = api(company["bloom"], "ProcurementManager")
        accounting = api(company["bloom"], "AccountsReceivable")
        petal = api(company["petal"], "Admin")

        def automations(self, short, on, emails=None):
            """Turn a company's invoice automation on or off ("rosaflor", "bloom" or "petal")."""
            client = api(company[short], "Admin")
            current = client.get("/company").json()
            settings = current["settings"]
            field = "vendor_invoice_sync" if short == "rosaflor" else "buyer_invoice_upload"
            settings["automations"][field] = on
            settings["notification_emails"] = emails or [f"accounts@{company[short]}.example"]
            changed = client.put("/company/settings", json={"settings": settings, "version": current["version"]})
            assert changed.status == 200, changed.json()

        def buy(self, client, boxes=2, box_code="FR50HB", customer="FLORA"):
            """A salesperson's prebook for an end customer, and the K2K PO it makes (the vendor's order)."""
            if client.get(f"/customers/{customer}").status == 404:  # a customer is created once, then versioned
                assert client.put(f"/customers/{customer}", json={"name": "Flora Events"}).status == 200
            prebook = client.post("/prebooks", json={
                "customer_code": customer, "ship_date": (cloud.now().date() + timedelta(days=5)).isoformat(),
                "lines": [{"vendor_company_id": company["rosaflor"], "line_id": lines[box_code], "boxes": boxes}]})
            assert prebook.status == 201, prebook.json()
            pos = client.post(f"/prebooks/{prebook.json()['prebook_id']}/purchase-orders")
            assert pos.status == 201, pos.json()
            [po] = pos.json()
            return po

        def confirm(self, po):
            confirmed = self.vendor.post(f"/orders/{po['order_id']}/confirm", json={})
            assert confirmed.status == 200, confirmed.json()
            cloud.drain()
            return confirmed.json()

        def rec(self, po, client=None):
            got = (client or self.bloom).get(f"/reconciliation/{po['po_id']}")
            assert got.status == 200, got.json()
            return got.json()

        def step(self, client, po, action, **body):
            moved = client.post(f"/reconciliation/{po['po_id']}/{action}", json=body)
            assert moved.status == 200, moved.json()
            return moved.json()

        def drain(self):
            cloud.drain()

        def restock(self, box_code, boxes):
            assert self.vendor.patch(f"/inventory/{lines[box_code]}", json={"boxes_on_hand": boxes}).status == 200
            cloud.drain()

    return World()


def download(link):
    got = requests.get(link["url"], timeout=10)  # the presigned GET, answered by the emulator
    assert got.status_code == 200
    return got.content


def test_seed_002_confirm_invoice_with_pdf_in_reconciliation_as_ap_approve_and_pay(k2k):
    k2k.automations("rosaflor", on=True)
    k2k.automations("bloom", on=True)
    po = k2k.buy(k2k.bloom, boxes=2)
    k2k.confirm(po)

    # The moment the vendor confirms, its invoice exists: number, amount, lines by box code, a PDF.
    [invoice] = k2k.vendor.items("/invoices")
    assert (invoice["invoice_no"], invoice["po_id"], invoice["order_id"]) == (1, po["po_id"], po["order_id"])
    assert [(ln["box_code"], ln["boxes"], ln["units"], ln["unit_price"], ln["total"]) for ln in invoice["lines"]] == [
        ("FR50HB", 2, 500, "0.350", "175.00")]
    assert invoice["total"] == "175.00"
    vendor_pdf = download(k2k.vendor.get("/invoices/1/pdf").json())
    assert vendor_pdf.startswith(b"%PDF-")

    # ...and it is already on the buyer's PO, waiting for procurement.
    rec = k2k.rec(po)
    assert rec["status"] == "AP"
    assert (rec["vendor_invoice"]["invoice_no"], rec["vendor_invoice"]["amount"]) == ("1", "175.00")
    assert D(rec["po_total"]) == D("175.00") and rec["differences"] == [] and rec["warnings"] == []
    assert download(k2k.bloom.get(f"/reconciliation/{po['po_id']}/pdf").json()) == vendor_pdf

    assert k2k.step(k2k.procurement, po, "approve")["status"] == "AA"
    assert k2k.step(k2k.accounting, po, "approve")["status"] == "A"
    paid = k2k.step(k2k.accounting, po, "paid")
    assert paid["status"] == "PAID"
    assert [k2k.bloom.items("/reconciliation", {"status": "PAID"})[0]["po_id"]] == [po["po_id"]]


def test_receiving_fewer_boxes_than_confirmed_is_flagged_on_the_po(k2k):
    k2k.automations("rosaflor", on=True)
    k2k.automations("bloom", on=True)
    po = k2k.buy(k2k.bloom, boxes=2)
    k2k.confirm(po)
    received = k2k.bloom.post("/staging/receive", json={"box_code": "FR50HB", "boxes": 1, "po_id": po["po_id"]})
    assert received.status == 200, received.json()
    [short] = k2k.rec(po)["differences"]
    assert (short["kind"], short["box_code"], short["expected"], short["actual"]) == (
        "RECEIVED_QUANTITY", "FR50HB", "2", "1")


@pytest.mark.parametrize(("vendor_on", "buyer_on", "side", "says"), [
    (True, False, ["BUYER"], "the buyer Bloom Wholesale has not enabled"),
    (False, True, ["VENDOR"], "the vendor Rosaflor Farms has not enabled"),
])
def test_with_only_one_side_enabled_nothing_is_uploaded_and_the_po_says_which_side(k2k, vendor_on, buyer_on,
                                                                                     side, says):
    k2k.automations("rosaflor", on=vendor_on)
    k2k.automations("bloom", on=buyer_on)
    po = k2k.buy(k2k.bloom)
    k2k.confirm(po)
    rec = k2k.rec(po)
    assert rec["status"] is None and rec["vendor_invoice"] is None
    assert rec["sync"]["off"] == side
    assert says in rec["sync"]["reason"] and says in rec["warnings"][0]["message"]
    assert k2k.vendor.get("/invoices/1").status == 200


def test_the_vendor_updates_the_invoice_and_the_buyer_sees_the_warning_back_in_ap_with_the_new_pdf(k2k):
    k2k.automations("rosaflor", on=True)
    k2k.automations("bloom", on=True)
    po = k2k.buy(k2k.bloom, boxes=2)
    k2k.confirm(po)
    k2k.step(k2k.procurement, po, "approve")
    k2k.step(k2k.accounting, po, "approve")
    first = k2k.vendor.get("/invoices/1").json()
    line = first["lines"][0]
    corrected = k2k.vendor_ar.put("/invoices/1", json={"version": 1, "lines": [
        {**{k: line[k] for k in ("box_code", "product", "box_type", "unit_type", "boxes", "bunches_per_box",
                                 "stems_per_bunch")}, "unit_price": "0.360"}]})
    assert corrected.status == 200, corrected.json()
    assert corrected.json()["total"] == "180.00"
    k2k.drain()

    rec = k2k.rec(po)
    assert rec["status"] == "AP"
    assert [w["code"] for w in rec["warnings"]] == ["UPDATED"]
    assert sorted(d["kind"] for d in rec["differences"]) == ["INVOICE_LINE", "INVOICE_TOTAL"]
    new = download(k2k.bloom.get(f"/reconciliation/{po['po_id']}/pdf").json())
    old = download(k2k.bloom.get(f"/reconciliation/{po['po_id']}/pdf", params={"version": 1}).json())
    assert new.startswith(b"%PDF-") and old.startswith(b"%PDF-") and new != old
    # Procurement reviews and approves the corrected invoice: the warning is answered.
    assert k2k.step(k2k.procurement, po, "approve")["warnings"] == []


def test_with_the_automations_off_the_buyer_uploads_the_vendor_invoice_by_hand(k2k):
    k2k.automations("rosaflor", on=False)
    k2k.automations("bloom", on=False)
    po = k2k.buy(k2k.bloom)
    k2k.confirm(po)
    assert k2k.rec(po)["sync"]["off"] == ["VENDOR", "BUYER"]
    pdf = b"%PDF-1.4\n% the vendor's invoice, scanned\n"
    uploaded = k2k.procurement.post(f"/reconciliation/{po['po_id']}/vendor-invoice", json={
        "invoice_no": "RF-2231", "amount": "175.00", "pdf_base64": base64.b64encode(pdf).decode()})
    assert uploaded.status == 201, uploaded.json()
    rec = uploaded.json()
    assert (rec["status"], rec["vendor_invoice"]["source"], rec["vendor_invoice"]["invoice_no"]) == (
        "AP", "MANUAL", "RF-2231")
    assert rec["warnings"] == []  # the invoice is on the PO now, by hand
    assert download(k2k.bloom.get(f"/reconciliation/{po['po_id']}/pdf").json()) == pdf
    assert k2k.step(k2k.procurement, po, "approve")["status"] == "AA"


def test_a_buyer_sees_only_the_invoices_addressed_to_it_and_each_step_needs_its_role(k2k):
    k2k.automations("rosaflor", on=True)
    k2k.automations("bloom", on=True)
    k2k.automations("petal", on=True)
    bloom_po, petal_po = k2k.buy(k2k.bloom), k2k.buy(k2k.petal, boxes=1)
    k2k.confirm(bloom_po)
    k2k.confirm(petal_po)
    assert [r["po_id"] for r in k2k.bloom.items("/reconciliation")] == [bloom_po["po_id"]]
    assert [r["po_id"] for r in k2k.petal.items("/reconciliation")] == [petal_po["po_id"]]
    for path in ("", "/pdf"):
        assert k2k.petal.get(f"/reconciliation/{bloom_po['po_id']}{path}").status == 404
    assert k2k.petal.post(f"/reconciliation/{bloom_po['po_id']}/approve", json={}).status == 404
    assert k2k.bloom.items("/invoices") == []  # the vendor's invoices are the vendor's
    assert k2k.bloom.get("/invoices/1/pdf").status == 404

    assert k2k.accounting.post(f"/reconciliation/{bloom_po['po_id']}/approve", json={}).status == 403
    k2k.step(k2k.procurement, bloom_po, "approve")
    assert k2k.procurement.post(f"/reconciliation/{bloom_po['po_id']}/approve", json={}).status == 403
    assert k2k.procurement.post(f"/reconciliation/{bloom_po['po_id']}/send-back", json={}).status == 403
    assert k2k.step(k2k.accounting, bloom_po, "send-back")["status"] == "AP"
    # On the vendor's side, correcting and voiding invoices is for Admin and Accounts Receivable.
    assert k2k.vendor_sales.put("/invoices/1", json={"charges": [], "version": 1}).status == 403
    assert k2k.vendor_sales.post("/invoices/1/void", json={"confirm": "CONFIRM"}).status == 403
    assert k2k.vendor_ar.put("/invoices/1", json={"charges": [], "version": 1}).status == 200


def test_twenty_concurrent_confirmations_of_one_vendor_make_twenty_consecutive_invoice_numbers(k2k, cloud):
    k2k.automations("rosaflor", on=True)
    k2k.automations("bloom", on=True)
    k2k.restock("FR50HB", 60)
    pos = [k2k.buy(k2k.bloom, boxes=1) for _ in range(N)]
    cloud.drain()

    def confirm(po):
        return k2k.vendor.post(f"/orders/{po['order_id']}/confirm", json={}).status

    with ThreadPoolExecutor(max_workers=N) as pool:  # waits for every answer, however long the machine takes
        assert set(pool.map(confirm, pos)) == {200}
    cloud.faults.duplicate = True  # and every OrderConfirmed delivered twice
    cloud.drain()

    invoices = k2k.vendor.items("/invoices")
    assert sorted(i["invoice_no"] for i in invoices) == list(range(1, N + 1))
    assert sorted(i["order_id"] for i in invoices) == sorted(po["order_id"] for po in pos)
    statuses = {r["po_id"]: r["status"] for r in k2k.bloom.items("/reconciliation")}
    assert statuses == {po["po_id"]: "AP" for po in pos}
