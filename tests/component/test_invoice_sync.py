"""Billing confirmed K2K orders and syncing the invoices to the buyer's PO, on the local cloud.

The vendor order and the buyer's PO are written here from the orders models and
the OrderConfirmed event goes through the outbox, the relay, the bus rule and
the invoice queue like in AWS; the invoice API is called over HTTP.
"""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime
from decimal import Decimal as D
from typing import Any

import pytest
import requests

from k2k.events import new_event, outbox
from k2k.inventory import BoxType, UnitType
from k2k.orders import LineStatus, OrderConfirmed, OrderLine, OrderStatus, PoStatus, PurchaseOrder, Source, VendorOrder
from k2k.services.order_data import po_key
from k2k.store import Store, to_item

COMPANIES = {"rosaflor": "Rosaflor Farms", "bloom": "Bloom Wholesale", "tulipa": "Tulipa Trading"}
NOW = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)


def order_line(line_no: int = 1, box_code: str = "FR50HB", boxes: int = 2, unit_cost: str = "0.350",
               bunches: int = 10, stems: int = 25, status: LineStatus = LineStatus.ACTIVE) -> OrderLine:
    return OrderLine(line_no=line_no, vendor_line_id=f"LINE-{box_code}", box_code=box_code, product=f"Rose {box_code}",
                     box_type=BoxType.HB, unit_type=UnitType.STEM, bunches_per_box=bunches, stems_per_bunch=stems,
                     boxes=boxes, unit_cost=D(unit_cost), customer_code="FLORA", checked_out=True, status=status)


class InvoiceWorld:
    """Rosaflor (vendor) sells to Bloom (buyer); Tulipa is a stranger to both.

    Their ids are this test's own (`id["bloom"]` is "bloom-3f9a1c"); methods take the short names.
    """

    def __init__(self, cloud: Any, api: Any, suffix: str, emails: Any) -> None:
        self.cloud = cloud
        self.api = api
        self.emails = emails  # emails() -> what SES was asked to send during this test
        self.id = {short: f"{short}{suffix}" for short in COMPANIES}
        self.db = Store(cloud.name("K2KTable"))
        self.bucket = cloud.name("DocumentsBucket")
        operator = api(None, "Operator")
        for short, name in COMPANIES.items():
            created = operator.post("/operator/companies", json={
                "company_id": self.id[short], "name": name, "locations": [{"code": "MIA", "name": "Miami"}]})
            assert created.status == 201, created.json()
        self.vendor = self.user("rosaflor", "Admin")
        self.buyer = self.user("bloom", "Admin")
        self.procurement = self.user("bloom", "ProcurementUser")
        self.accounting = self.user("bloom", "AccountsReceivable")
        self.orders = 0

    def user(self, company: str, *roles: str) -> Any:
        return self.api(self.id[company], *roles)

    def automations(self, company: str, *, on: bool, emails: list[str] | None = None) -> None:
        client = self.user(company, "Admin")
        current = client.get("/company").json()
        settings = current["settings"]
        field = "vendor_invoice_sync" if company == "rosaflor" else "buyer_invoice_upload"
        settings["automations"][field] = on
        settings["notification_emails"] = emails if emails is not None else [f"accounts@{self.id[company]}.example"]
        changed = client.put("/company/settings", json={"settings": settings, "version": current["version"]})
        assert changed.status == 200, changed.json()

    def both_on(self) -> None:
        self.automations("rosaflor", on=True)
        self.automations("bloom", on=True)

    def confirm(self, *lines: OrderLine, drain: bool = True) -> tuple[PurchaseOrder, VendorOrder]:
        """The buyer's PO as the orders capability leaves it, and the vendor's OrderConfirmed event."""
        po, order = self.confirmed_order(*lines)
        self.emit_confirmed(order)
        if drain:
            self.cloud.drain()
        return po, order

    def confirmed_order(self, *lines: OrderLine) -> tuple[PurchaseOrder, VendorOrder]:
        """The confirmed vendor order, and the buyer's PO written as the orders capability leaves it."""
        self.orders += 1
        po_id, order_id = f"PO-{self.orders:04d}", f"K2K-{self.orders:04d}"
        lines = lines or (order_line(),)
        po = PurchaseOrder(po_id=po_id, buyer_company_id=self.id["bloom"], vendor_company_id=self.id["rosaflor"],
                           vendor_name="Rosaflor Farms", vendor_code="ROSA", order_id=order_id,
                           ship_date=date(2026, 11, 25), source=Source.PREBOOK, separate=False,
                           status=PoStatus.CONFIRMED, lines=list(lines), awb=f"AWB-{self.orders}",
                           confirmed_lines=[ln for ln in lines if ln.active], version=3, created_at=NOW,
                           updated_at=NOW)
        order = VendorOrder(order_id=order_id, vendor_company_id=self.id["rosaflor"], buyer_company_id=self.id["bloom"],
                            buyer_name="Bloom Wholesale", customer_code="BLOOM", po_id=po_id,
                            ship_date=po.ship_date, status=OrderStatus.CONFIRMED, lines=list(lines),
                            awb=po.awb, version=2, created_at=NOW, updated_at=NOW)
        self.db.put(to_item(po, **po_key(self.id["bloom"], po_id), kind="PO"))
        return po, order

    def emit_confirmed(self, order: VendorOrder) -> None:
        self.db.transact([outbox(new_event(OrderConfirmed(order=order, deleted_lines=[]),
                                           company_id=self.id["rosaflor"],
                                           aggregate_id=order.order_id, aggregate_version=order.version))])

    def stage(self, po: PurchaseOrder, received: dict[str, int]) -> None:
        """The buyer's staging area as the orders capability writes it (contract: STAGING#<po>#<line>)."""
        for ln in po.confirmed_lines:
            self.db.put({"pk": f"C#{self.id['bloom']}", "sk": f"STAGING#{po.po_id}#{ln.line_no:04d}", "kind": "STAGING",
                         "po_id": po.po_id, "line_no": ln.line_no, "box_code": ln.box_code,
                         "boxes_confirmed": ln.boxes, "boxes_received": received.get(ln.box_code, 0)})

    def rec(self, po_id: str, client: Any = None) -> dict[str, Any]:
        got = (client or self.buyer).get(f"/reconciliation/{po_id}")
        assert got.status == 200, got.json()
        return got.json()

    def pdf(self, invoice_no: int, version: int = 1) -> bytes:
        """The vendor's invoice PDF as stored in the documents bucket."""
        key = f"invoices/{self.id['rosaflor']}/{invoice_no}/v{version}.pdf"
        return self.cloud.client("s3").get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def outbox(self, company: str, detail_type: str) -> list[dict[str, Any]]:
        return [i for i in self.db.query(f"C#{self.id[company]}#OUTBOX") if i["detail_type"] == detail_type]


@pytest.fixture
def world(cloud, api, suffix, emails) -> InvoiceWorld:
    return InvoiceWorld(cloud, api, suffix, emails)


# -- the vendor's invoice -------------------------------------------------------------------------

def test_a_confirmed_order_is_billed_numbered_and_rendered(world):
    world.both_on()
    po, _ = world.confirm(order_line(1, "FR50HB", boxes=2), order_line(2, "MND60QB", boxes=1, unit_cost="0.421",
                                                                     bunches=5),
                          order_line(3, "CARNHB", status=LineStatus.DELETED))
    [invoice] = world.vendor.items("/invoices")
    assert invoice["invoice_no"] == 1
    assert [(ln["box_code"], ln["units"], ln["total"]) for ln in invoice["lines"]] == [
        ("FR50HB", 500, "175.00"), ("MND60QB", 125, "52.63")]
    assert (invoice["total"], invoice["po_id"], invoice["awb"]) == ("227.63", po.po_id, "AWB-1")
    assert world.pdf(1).startswith(b"%PDF-")


def test_the_vendor_downloads_its_pdf_through_a_short_lived_link(world):
    world.confirm()
    link = world.vendor.get("/invoices/1/pdf").json()
    assert link["expires_in"] == 300 and link["version"] == 1
    assert "Expires=" in link["url"] or "X-Amz-Expires=300" in link["url"]
    downloaded = requests.get(link["url"], timeout=10)  # moto serves the presigned URL in-process
    assert downloaded.status_code == 200
    assert downloaded.content == world.pdf(1)


def test_pdf_links_are_signed_with_sigv4(world):
    # S3 refuses SigV2 on buckets created since 2020.
    world.confirm()
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in world.vendor.get("/invoices/1/pdf").json()["url"]


def test_each_vendor_order_gets_the_next_number_and_a_repeated_confirmation_burns_none(world):
    _, first = world.confirm()
    world.emit_confirmed(first)  # the same OrderConfirmed delivered again, later
    world.cloud.drain()
    world.confirm()
    numbers = [(i["invoice_no"], i["order_id"]) for i in world.vendor.items("/invoices")]
    assert numbers == [(1, "K2K-0001"), (2, "K2K-0002")]


def test_the_vendor_corrects_an_invoice_and_gets_a_new_version_and_pdf(world):
    world.confirm()
    corrected = world.vendor.put("/invoices/1", json={
        "charges": [{"description": "Freight", "amount": "12.50"}], "version": 1})
    assert corrected.status == 200, corrected.json()
    assert (corrected.json()["total"], corrected.json()["version"]) == ("187.50", 2)
    stale = world.vendor.put("/invoices/1", json={"charges": [], "version": 1})
    assert stale.status == 409
    assert world.pdf(1, 2) != world.pdf(1)
    assert world.vendor.get("/invoices/1/pdf", params={"version": 1}).json()["version"] == 1


def test_voiding_needs_confirm_and_stamps_a_new_pdf(world):
    world.confirm()
    assert world.vendor.post("/invoices/1/void", json={"confirm": "ok"}).status == 422
    voided = world.vendor.post("/invoices/1/void", json={"confirm": "CONFIRM", "reason": "billed twice"})
    assert voided.status == 200
    assert (voided.json()["status"], voided.json()["version"]) == ("VOIDED", 2)
    assert world.vendor.put("/invoices/1", json={"charges": [], "version": 2}).status == 409
    assert world.pdf(1, 2).startswith(b"%PDF-")


def test_only_admin_and_accounts_receivable_change_the_vendors_invoices(world):
    world.confirm()
    sales = world.user("rosaflor", "SalesManager")
    assert sales.get("/invoices/1").status == 200
    assert sales.put("/invoices/1", json={"charges": [], "version": 1}).status == 403
    assert sales.post("/invoices/1/void", json={"confirm": "CONFIRM"}).status == 403
    ar = world.user("rosaflor", "AccountsReceivable")
    assert ar.put("/invoices/1", json={"charges": [], "version": 1}).status == 200


def test_another_company_never_sees_the_vendors_invoice(world):
    world.confirm()
    for company in ("bloom", "tulipa"):
        stranger = world.user(company, "Admin")
        assert stranger.items("/invoices") == []
        assert stranger.get("/invoices/1").status == 404
        assert stranger.get("/invoices/1/pdf").status == 404
        assert stranger.put("/invoices/1", json={"charges": [], "version": 1}).status == 404


# -- the buyer's PO reconciliation ---------------------------------------------------------------

def test_with_both_automations_on_the_invoice_waits_on_the_buyers_po_in_ap(world):
    world.both_on()
    po, _ = world.confirm()
    rec = world.rec(po.po_id)
    assert (rec["status"], rec["status_label"]) == ("AP", "pending approval by procurement")
    assert (rec["vendor_invoice"]["invoice_no"], rec["vendor_invoice"]["amount"]) == ("1", "175.00")
    assert rec["differences"] == [] and rec["warnings"] == []
    link = world.buyer.get(f"/reconciliation/{po.po_id}/pdf").json()
    assert requests.get(link["url"], timeout=10).content == world.pdf(1)
    assert [r["po_id"] for r in world.buyer.items("/reconciliation", {"status": "AP"})] == [po.po_id]


@pytest.mark.parametrize(("vendor_on", "buyer_on", "named"), [
    (False, True, "the vendor Rosaflor Farms has not enabled 'Allow automatic invoice synchronization"),
    (True, False, "the buyer Bloom Wholesale has not enabled 'Allow invoices coming from K2K orders"),
])
def test_with_one_side_off_nothing_is_uploaded_and_the_po_names_that_side(world, vendor_on, buyer_on, named):
    world.automations("rosaflor", on=vendor_on)
    world.automations("bloom", on=buyer_on)
    po, _ = world.confirm()
    rec = world.rec(po.po_id)
    assert rec["status"] is None and rec["vendor_invoice"] is None
    assert rec["sync"]["off"] == (["VENDOR"] if not vendor_on else ["BUYER"])
    assert named in rec["sync"]["reason"]
    assert [w["code"] for w in rec["warnings"]] == ["NOT_UPLOADED"]
    assert world.buyer.get(f"/reconciliation/{po.po_id}/pdf").status == 404
    assert world.vendor.get("/invoices/1").status == 200  # the vendor's invoice exists all the same


def test_procurement_approves_accounting_approves_and_pays(world):
    world.both_on()
    po, _ = world.confirm()
    path = f"/reconciliation/{po.po_id}"
    assert world.accounting.post(f"{path}/approve", json={}).status == 403  # AP is procurement's step
    assert world.procurement.post(f"{path}/approve", json={}).json()["status"] == "AA"
    assert world.procurement.post(f"{path}/approve", json={}).status == 403  # AA is accounting's
    assert world.user("bloom", "CreditManager").post(f"{path}/send-back", json={"note": "check"}).json()[
        "status"] == "AP"
    world.procurement.post(f"{path}/approve", json={})
    approved = world.accounting.post(f"{path}/approve", json={}).json()
    assert approved["status"] == "A"
    assert world.procurement.post(f"{path}/paid", json={}).status == 403
    paid = world.accounting.post(f"{path}/paid", json={"version": approved["version"]}).json()
    assert paid["status"] == "PAID"
    assert [h["to_status"] for h in paid["history"]] == ["AA", "AP", "AA", "A", "PAID"]
    [event] = world.outbox("bloom", "VendorInvoiceApproved")
    assert '"amount":"175.00"' in event["detail"] and '"invoice_no":"1"' in event["detail"]


def test_a_step_from_a_stale_version_is_a_conflict(world):
    world.both_on()
    po, _ = world.confirm()
    read = world.rec(po.po_id)["version"]
    assert world.procurement.post(f"/reconciliation/{po.po_id}/approve", json={"version": read}).status == 200
    assert world.buyer.post(f"/reconciliation/{po.po_id}/approve", json={"version": read}).status == 409


def test_the_vendor_updates_the_invoice_and_the_buyer_sees_a_warning_back_in_ap_with_the_new_pdf(world):
    world.both_on()
    po, _ = world.confirm()
    world.procurement.post(f"/reconciliation/{po.po_id}/approve", json={})
    world.vendor.put("/invoices/1", json={"charges": [{"description": "Freight", "amount": "12.50"}], "version": 1})
    world.cloud.drain()
    rec = world.rec(po.po_id)
    assert rec["status"] == "AP"
    assert [w["code"] for w in rec["warnings"]] == ["UPDATED"]
    assert rec["vendor_invoice"]["amount"] == "187.50"
    assert [d["kind"] for d in rec["differences"]] == ["INVOICE_TOTAL"]
    new = world.buyer.get(f"/reconciliation/{po.po_id}/pdf").json()
    old = world.buyer.get(f"/reconciliation/{po.po_id}/pdf", params={"version": 1}).json()
    assert (new["version"], old["version"]) == (2, 1)
    assert requests.get(new["url"], timeout=10).content == world.pdf(1, 2)
    assert requests.get(old["url"], timeout=10).content == world.pdf(1)


def test_a_voided_invoice_shows_voided_on_the_po(world):
    world.both_on()
    po, _ = world.confirm()
    world.vendor.post("/invoices/1/void", json={"confirm": "CONFIRM", "reason": "wrong buyer"})
    world.cloud.drain()
    rec = world.rec(po.po_id)
    assert rec["status"] == "VOIDED"
    assert "wrong buyer" in rec["warnings"][0]["message"]
    assert world.procurement.post(f"/reconciliation/{po.po_id}/approve", json={}).status == 409


def test_boxes_received_short_of_what_the_vendor_confirmed_are_flagged(world):
    world.both_on()
    po, _ = world.confirm(order_line(1, "FR50HB", boxes=2), order_line(2, "MND60QB", boxes=1))
    world.stage(po, {"FR50HB": 1, "MND60QB": 1})
    [short] = world.rec(po.po_id)["differences"]
    assert (short["kind"], short["box_code"], short["expected"], short["actual"]) == (
        "RECEIVED_QUANTITY", "FR50HB", "2", "1")


def test_the_buyer_uploads_a_vendor_invoice_by_hand_when_the_automations_are_off(world):
    po, _ = world.confirm()
    pdf = b"%PDF-1.4 the vendor's own invoice"
    body = {"invoice_no": "RF-2231", "amount": "175.000", "pdf_base64": base64.b64encode(pdf).decode()}
    assert world.accounting.post(f"/reconciliation/{po.po_id}/vendor-invoice", json=body).status == 403
    not_a_pdf = {**body, "pdf_base64": base64.b64encode(b"hello").decode()}
    refused = world.procurement.post(f"/reconciliation/{po.po_id}/vendor-invoice", json=not_a_pdf)
    assert refused.status == 422 and refused.json()["error"]["details"][0]["field"] == "pdf_base64"
    uploaded = world.procurement.post(f"/reconciliation/{po.po_id}/vendor-invoice", json=body)
    assert uploaded.status == 201, uploaded.json()
    rec = uploaded.json()
    assert (rec["status"], rec["vendor_invoice"]["source"], rec["vendor_invoice"]["invoice_no"]) == (
        "AP", "MANUAL", "RF-2231")
    assert rec["differences"] == []  # 175.000 is the PO's 175.00
    link = world.buyer.get(f"/reconciliation/{po.po_id}/pdf").json()
    assert "url" in link, link
    assert requests.get(link["url"], timeout=10).content == pdf
    assert world.user("tulipa", "Admin").post(f"/reconciliation/{po.po_id}/vendor-invoice", json=body).status == 404


def test_an_invoice_synced_by_the_automations_cannot_be_replaced_by_hand(world):
    world.both_on()
    po, _ = world.confirm()
    body = {"invoice_no": "X-1", "amount": "1.00", "pdf_base64": base64.b64encode(b"%PDF-1.4 x").decode()}
    assert world.procurement.post(f"/reconciliation/{po.po_id}/vendor-invoice", json=body).status == 409


def test_a_buyer_sees_only_its_own_pos(world):
    world.both_on()
    po, _ = world.confirm()
    stranger = world.user("tulipa", "Admin")
    assert stranger.get(f"/reconciliation/{po.po_id}").status == 404
    assert stranger.get(f"/reconciliation/{po.po_id}/pdf").status == 404
    assert stranger.post(f"/reconciliation/{po.po_id}/approve", json={}).status == 404
    assert stranger.items("/reconciliation") == []
    assert world.vendor.get(f"/reconciliation/{po.po_id}").status == 404  # the vendor has no such PO either


# -- emails --------------------------------------------------------------------------------------

def test_new_updated_and_voided_invoices_are_emailed_to_both_companies_once(world):
    world.automations("rosaflor", on=True, emails=["billing@rosaflor.example"])
    world.automations("bloom", on=True, emails=["ap@bloom.example", "controller@bloom.example"])
    world.confirm()
    world.vendor.put("/invoices/1", json={"charges": [], "version": 1})
    world.vendor.post("/invoices/1/void", json={"confirm": "CONFIRM"})
    world.cloud.faults.duplicate = True
    world.cloud.drain()
    sent = [(m.subject.split(":")[0], tuple(sorted(m.destinations["ToAddresses"]))) for m in world.emails()
            if m.subject.startswith("Invoice 1 ")]
    assert sorted(sent) == sorted([
        ("Invoice 1 issued", ("billing@rosaflor.example",)),
        ("Invoice 1 issued", ("ap@bloom.example", "controller@bloom.example")),
        ("Invoice 1 updated", ("billing@rosaflor.example",)),
        ("Invoice 1 updated", ("ap@bloom.example", "controller@bloom.example")),
        ("Invoice 1 voided", ("billing@rosaflor.example",)),
        ("Invoice 1 voided", ("ap@bloom.example", "controller@bloom.example")),
    ])
    issued = next(m for m in world.emails() if m.subject.startswith("Invoice 1 issued"))
    assert "FR50HB" in issued.body and "175.00" in issued.body and "PO Reconciliation" in issued.body
