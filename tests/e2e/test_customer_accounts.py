"""What a customer owes, over HTTP on the local cloud: one ledger behind every balance.

Bloom Wholesale moves Flora's Boutique's open invoices and credits from its old
system, bills Flora's from staging as Rosaflor's boxes arrive, raises a $0.00
transfer invoice by hand, voids it, takes a payment, and reads Flora's statement.
A second customer with little credit left is billed by ten receipts at once.
"""

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal as D

import pytest

from infra.localcloud import demo
from tests.fixtures.imports import workbooks as wb

pytestmark = pytest.mark.e2e


class Books:
    def __init__(self, cloud, api, suffix):
        self.cloud = cloud
        self.lines = demo.seed(cloud, suffix)["inventory_line_ids"]
        self.vendor_id, self.buyer_id = f"rosaflor{suffix}", f"bloom{suffix}"
        self.admin = api(self.buyer_id, "Admin")
        self.ar = api(self.buyer_id, "AccountsReceivable")
        self.seller = api(self.vendor_id, "SalesManager")
        self.other = api(f"petal{suffix}", "AccountsReceivable")  # another buyer of Rosaflor's
        company = self.admin.get("/company").json()
        company["settings"]["buyer"]["automatic_billing_allocation"] = True
        assert self.admin.put("/company/settings", json={"settings": company["settings"]}).status == 200

    def customer(self, code, **fields):
        made = self.admin.put(f"/customers/{code}", json={"name": code.title(), **fields})
        assert made.status == 200, made.json()

    def balance(self, code):
        return D(self.ar.get(f"/customers/{code}").json()["balance"])

    def drop(self, kind, name, data):
        key = f"imports/{self.buyer_id}/{kind}/{name}"
        self.cloud.client("s3").put_object(Bucket=self.cloud.name("DropBucket"), Key=key, Body=data)
        self.cloud.drain()  # S3 -> EventBridge -> import queue -> worker

    def ordered_and_confirmed(self, customer, boxes):
        """A prebook of `boxes` lines of one HB of Freedom roses at $0.52, its PO, confirmed by Rosaflor."""
        ship = next(ln for ln in self.admin.get("/availability", params={"location": "NYC"}).json()["lines"]
                    if ln["box_code"] == "FR50HB")["earliest_ship_date"]
        prebook = self.admin.post("/prebooks", json={
            "customer_code": customer, "ship_date": ship, "carrier": "FedEx", "ship_via": "GROWER",
            "lines": [{"vendor_company_id": self.vendor_id, "line_id": self.lines["FR50HB"], "boxes": 1,
                       "unit_price": "0.52"} for _ in range(boxes)]})
        assert prebook.status == 201, prebook.json()
        [po] = self.admin.post(f"/prebooks/{prebook.json()['prebook_id']}/purchase-orders").json()
        self.cloud.drain()
        order = next(o for o in self.seller.items("/orders") if o["po_id"] == po["po_id"])
        assert self.seller.post(f"/orders/{order['order_id']}/confirm", json={}).status == 200
        return po["po_id"]

    def receive(self, po_id):
        answer = self.admin.post("/staging/receive", json={"box_code": "FR50HB", "po_id": po_id, "boxes": 1})
        assert answer.status == 200, answer.json()
        return answer.json()

    def ledger(self, code):
        entries, token = [], None
        while True:
            page = self.ar.get(f"/customers/{code}/statement",
                               params={"limit": 3, **({"next_token": token} if token else {})}).json()
            entries += page["entries"]
            token = page["next_token"]
            if not token:
                return entries


@pytest.fixture
def books(cloud, api, suffix):
    return Books(cloud, api, suffix)


def test_imports_billing_a_zero_dollar_hand_invoice_its_void_and_a_payment_all_land_in_flora_s_books(books):
    books.customer("FLORA", credit_limit="5000")
    # The old system's open invoices and credits for Flora's: the balance and the statement show them.
    books.drop("open-invoices", "flora.xlsx", wb.invoices(
        wb.invoice("A-1", "FLORA", date(2026, 11, 3), 205.5, "PO-1", "NYC"),
        wb.invoice("A-2", "FLORA", date(2026, 11, 9), 60, "PO-2", "NYC")))
    books.drop("open-credits", "flora.xlsx", wb.workbook(
        [wb.CREDIT_HEADER, ["CR-1", "FLORA", "2026-11-10", 45.1, "NYC", "Returned HB"]], sheet="Open Credits"))
    assert books.balance("FLORA") == D("220.40")
    statement = books.ar.get("/customers/FLORA/statement").json()
    assert [(e["entry_type"], e["source"], D(e["amount"]), D(e["balance_after"])) for e in statement["entries"]] == [
        ("IMPORTED_INVOICE", "A-1", D("205.5"), D("205.5")), ("IMPORTED_INVOICE", "A-2", D("60"), D("265.5")),
        ("IMPORTED_CREDIT", "CR-1", D("-45.1"), D("220.4"))]
    imported = books.ar.items("/customer-invoices", {"customer_code": "FLORA"})
    assert [(i["invoice_id"], i["source"], D(i["total"])) for i in imported] == [
        ("A-1", "IMPORT", D("205.5")), ("A-2", "IMPORT", D("60"))]
    # The same file dropped again changes nothing.
    books.drop("open-credits", "flora-again.xlsx", wb.workbook(
        [wb.CREDIT_HEADER, ["CR-1", "FLORA", "2026-11-10", 45.1, "NYC", "Returned HB"]], sheet="Open Credits"))
    assert books.balance("FLORA") == D("220.40")

    # Rosaflor's box arrives: receiving it bills Flora's 250 stems x $0.52, and the balance rises.
    receipt = books.receive(books.ordered_and_confirmed("FLORA", 1))
    assert (receipt["billed"]["invoice_id"], D(receipt["billed"]["total"])) == ("AR-000001", D("130.00"))
    assert books.balance("FLORA") == D("350.40")

    # Production's transfer invoice: two boxes of Bloom's own vases at $0.00 leave its inventory.
    vases = books.admin.post("/inventory", json={
        "box_code": "VASE8", "product": "Glass vase 8in", "unit_type": "BUNCH", "bunches_per_box": 12,
        "boxes_on_hand": 5, "location": "NYC"}).json()
    transfer = books.ar.post("/customer-invoices", json={
        "customer_code": "FLORA", "lines": [{"line_id": vases["line_id"], "boxes": 2, "unit_price": "0.00"}]})
    assert transfer.status == 201, transfer.json()
    transfer = transfer.json()
    assert (transfer["invoice_id"], D(transfer["total"]), transfer["source"]) == ("AR-000002", D("0"), "HAND")
    assert books.admin.get(f"/inventory/{vases['line_id']}").json()["line"]["boxes_on_hand"] == 3
    assert books.balance("FLORA") == D("350.40")
    assert books.ledger("FLORA")[-1]["amount"] == "0.00"

    # Voided: a reversal entry, and the vases are back.
    voided = books.ar.post("/customer-invoices/AR-000002/void", json={"reason": "production run cancelled"})
    assert voided.status == 200 and voided.json()["status"] == "VOID"
    assert books.admin.get(f"/inventory/{vases['line_id']}").json()["line"]["boxes_on_hand"] == 5
    assert books.ar.post("/customer-invoices/AR-000002/void", json={"reason": "again"}).status == 409

    # A payment, once however often it is sent.
    for _ in range(2):
        paid = books.ar.post("/customers/FLORA/payments", json={"reference": "CHK-1001", "amount": "100.40"})
        assert paid.status == 201, paid.json()
    assert books.balance("FLORA") == D("250.00")

    # The balance is the company's record: a request carrying it is refused and changes nothing.
    flora = books.admin.get("/customers/FLORA").json()
    refused = books.admin.put("/customers/FLORA", json={"name": "Flora", "balance": "0", "version": flora["version"]})
    assert refused.status == 422 and refused.json()["error"]["details"][0]["field"] == "body.balance"
    assert books.admin.get("/customers/FLORA").json() == flora
    # Renaming keeps the balance; a stale version is a 409.
    renamed = books.admin.put("/customers/FLORA", json={"name": "Flora Events", "credit_limit": "5000",
                                                        "version": flora["version"]})
    assert renamed.status == 200 and renamed.json()["name"] == "Flora Events"
    assert D(renamed.json()["balance"]) == D("250.00")
    assert books.admin.put("/customers/FLORA", json={"name": "Flora", "version": flora["version"]}).status == 409

    entries = books.ledger("FLORA")
    assert [e["entry_type"] for e in entries] == ["IMPORTED_INVOICE", "IMPORTED_INVOICE", "IMPORTED_CREDIT",
                                                  "STAGING_INVOICE", "HAND_INVOICE", "VOID", "PAYMENT"]
    assert sum(D(e["amount"]) for e in entries) == D(entries[-1]["balance_after"]) == books.balance("FLORA")
    assert [e["seq"] for e in entries] == list(range(1, 8))
    # A page at a time: the statement's opening balance is the page before's closing one, and a page that
    # ends at the last entry is the last page (no token).
    first = books.ar.get("/customers/FLORA/statement", params={"limit": 4}).json()
    rest = books.ar.get("/customers/FLORA/statement", params={"limit": 3, "next_token": first["next_token"]}).json()
    assert rest["opening_balance"] == first["entries"][-1]["balance_after"] and rest["next_token"] is None
    assert first["entries"] + rest["entries"] == entries
    # Flora's invoices one a page: those billed or raised here by number, then the imported ones; each once.
    pages, token = [], None
    while True:
        page = books.ar.get("/customer-invoices", params={"customer_code": "FLORA", "limit": 1,
                                                          **({"next_token": token} if token else {})}).json()
        pages.append([i["invoice_id"] for i in page["items"]])
        if (token := page["next_token"]) is None:
            break
    assert pages == [["AR-000001"], ["AR-000002"], ["A-1"], ["A-2"]]
    codes = [c["code"] for c in books.ar.items("/customers", limit=1)]
    assert "FLORA" in codes and codes == sorted(set(codes)) == [c["code"] for c in books.ar.items("/customers")]
    # Another company sees none of it: its own FLORA does not exist.
    assert books.other.get("/customers/FLORA/statement").status == 404
    assert books.other.post("/customer-invoices/AR-000001/void", json={"reason": "x"}).status == 404
    assert books.other.get("/customer-invoices").json() == {"items": [], "next_token": None}


def test_ten_receipts_racing_for_the_last_of_a_customer_s_credit_never_take_it_over_its_limit(books):
    books.customer("TIGHT", credit_limit="500")
    books.drop("open-invoices", "tight.xlsx", wb.invoices(wb.invoice("T-1", "TIGHT", date(2026, 11, 3), 205.5,
                                                                      "PO-T1", "NYC")))
    assert books.balance("TIGHT") == D("205.50")  # room for two boxes of $130, not three
    po_id = books.ordered_and_confirmed("TIGHT", 10)

    with ThreadPoolExecutor(max_workers=10) as pool:
        receipts = list(pool.map(lambda _: books.receive(po_id), range(10)))

    billed = [r for r in receipts if r["billed"]]
    stocked = [r for r in receipts if not r["billed"]]
    assert len(billed) == 2 and len(stocked) == 8
    assert all("over its credit limit of 500" in r["not_billed_because"] and r["into_inventory_line_id"]
               for r in stocked)
    assert books.balance("TIGHT") == D("465.50") <= D("500")
    # The two invoices took the first two numbers; the refused receipts took none.
    assert sorted(r["billed"]["invoice_id"] for r in billed) == ["AR-000001", "AR-000002"]
    entries = books.ledger("TIGHT")
    assert sum(D(e["amount"]) for e in entries) == D("465.50") and len(entries) == 3


def test_one_customer_s_invoices_are_its_own_page_by_page_whatever_the_other_customers_have(books):
    """A customer's list reads that customer's entries on its own index (billed, by hand, imported): another
    customer's invoices are never on its pages, and a void keeps the invoice on its customer's list."""
    for code in ("FLORA", "ROSE"):
        books.customer(code, credit_limit="5000")
    books.drop("open-invoices", "both.xlsx", wb.invoices(
        wb.invoice("R-1", "ROSE", date(2026, 11, 2), 10, "PO-1", "NYC"),
        wb.invoice("F-1", "FLORA", date(2026, 11, 3), 20, "PO-1", "NYC"),
        wb.invoice("R-2", "ROSE", date(2026, 11, 4), 30, "PO-2", "NYC")))

    def by_hand(code):
        raised = books.ar.post("/customer-invoices", json={"customer_code": code, "lines": [
            {"product": "Hand-tied bouquet", "boxes": 1, "units": 1, "unit_price": "25.00"}]})
        assert raised.status == 201, raised.json()
        return raised.json()["invoice_id"]

    rose_1, flora_1, rose_2 = by_hand("ROSE"), by_hand("FLORA"), by_hand("ROSE")
    assert books.ar.post(f"/customer-invoices/{flora_1}/void", json={"reason": "typo"}).status == 200

    def pages(code):
        out, token = [], None
        while True:
            page = books.ar.get("/customer-invoices", params={"customer_code": code, "limit": 1,
                                                              **({"next_token": token} if token else {})}).json()
            out.append([(i["invoice_id"], i["customer_code"], i["status"]) for i in page["items"]])
            if (token := page["next_token"]) is None:
                return out

    assert pages("FLORA") == [[(flora_1, "FLORA", "VOID")], [("F-1", "FLORA", "OPEN")]]
    assert pages("ROSE") == [[(rose_1, "ROSE", "OPEN")], [(rose_2, "ROSE", "OPEN")], [("R-1", "ROSE", "OPEN")],
                             [("R-2", "ROSE", "OPEN")]]
    assert pages("NOBODY") == [[]]
    every = [i["invoice_id"] for i in books.ar.items("/customer-invoices")]
    assert every == [rose_1, flora_1, rose_2, "F-1", "R-1", "R-2"]
    # Another company's customer of the same code has none of them.
    assert books.other.get("/customer-invoices", params={"customer_code": "ROSE"}).json() == {
        "items": [], "next_token": None}
