"""The stories the fault matrix tells, and what each leaves behind, in words that name no company or id.

A story runs on the shared local cloud in companies of its own (the demo's, with a suffix), with the faults
it is given switched on from its first request to its last delivery; then the faults are cleared and
whatever is still queued is delivered, as AWS would redeliver it. The API is called as a real client calls
it: every POST carries an Idempotency-Key, and a 5xx, a 429 or a 409 "in progress" is retried with the
same request and key. A 409 "in progress" after a crash lasts until the crashed invocation's timeout;
the client waits it out, which the test does by moving the key's in-progress expiry into the past instead
of sleeping through a Lambda timeout (what Powertools does next is then real). What a story returns is
its final state with ids and timestamps left out, so the state after a fault can be compared with the
state without one.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from infra.localcloud import demo
from infra.localcloud.client import ApiClient, ApiResponse
from infra.localcloud.template import ACCOUNT_ID, REGION
from infra.localcloud.tokens import mint
from tests.fixtures.imports import workbooks as wb

CART_TIMER = timedelta(minutes=61)  # past the buyer's 60-minute cart timer
RETRIES = 8
_IDS = re.compile(r"\b(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9A-HJKMNP-TV-Z]{26}"
                  r"|[0-9a-fA-F]{12,32})\b")


class Client:
    """An API client that retries like a real one: same request, same Idempotency-Key, until it is not a 5xx."""

    def __init__(self, cloud: Any, company: str, *roles: str) -> None:
        self.cloud, self.company = cloud, company
        self.api = ApiClient(cloud.base_url, mint(company, roles or ("Admin",)))

    def call(self, method: str, path: str, json: Any = None) -> ApiResponse:
        headers = {"Idempotency-Key": uuid.uuid4().hex} if method == "POST" else None
        for _ in range(RETRIES):
            got = self.api.request(method, path, json=json, headers=headers)
            if got.status == 409 and _code(got) == "in_progress":
                self.wait_out_timeouts()
            elif got.status < 500 and got.status != 429:
                return got
        return got

    def wait_out_timeouts(self) -> None:
        """The Lambda timeout of every crashed request of this company has passed (see the module's doc)."""
        db, table = self.cloud.client("dynamodb"), self.cloud.name("K2KTable")
        pk = {":pk": {"S": f"C#{self.company}#IDEMPOTENCY"}}
        for item in db.query(TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues=pk)["Items"]:
            if item.get("status", {}).get("S") == "INPROGRESS":
                db.update_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]},
                               UpdateExpression="SET in_progress_expiration = :past",
                               ExpressionAttributeValues={":past": {"N": "0"}})

    def get(self, path: str) -> Any:
        got = self.call("GET", path)
        assert got.status == 200, (path, got.status, got.json())
        body = got.json()
        return body["items"] if isinstance(body, dict) and "items" in body and "next_token" in body else body

    def post(self, path: str, json: Any = None) -> ApiResponse:
        return self.call("POST", path, json)

    def put(self, path: str, json: Any = None) -> ApiResponse:
        return self.call("PUT", path, json)


def _code(got: ApiResponse) -> Any:
    body = got.json() if got.body else {}
    return body.get("error", {}).get("code") if isinstance(body, dict) else None


def _ok(got: ApiResponse, *statuses: int) -> Any:
    assert got.status in (statuses or (200, 201)), (got.status, got.json())
    return got.json()


class Story:
    """One story's companies and clients, and the faults it runs under."""

    def __init__(self, cloud: Any, faults: dict[str, Any]) -> None:
        self.cloud, self.faults = cloud, faults
        self.suffix = f"-{uuid.uuid4().hex[:6]}"
        self.vendor_id, self.buyer_id = f"rosaflor{self.suffix}", f"bloom{self.suffix}"
        from moto.ses.models import ses_backends

        # Timers other tests left behind go off now, so that only this story's fire (and fail) below.
        cloud.advance(CART_TIMER)
        cloud.drain()
        cloud.reset_counters()
        self._sent = ses_backends[ACCOUNT_ID][REGION].sent_messages
        self._emails_before = len(self._sent)
        self.lines = demo.seed(cloud, self.suffix)["inventory_line_ids"]
        self.vendor, self.buyer = Client(cloud, self.vendor_id), Client(cloud, self.buyer_id)
        self.calls: dict[str, dict[str, int]] = {}  # AWS calls per function while the faults were on

    def setting(self, client: Client, change: Callable[[dict[str, Any]], None]) -> None:
        company = client.get("/company")
        change(company["settings"])
        _ok(client.put("/company/settings", json={"settings": company["settings"], "version": company["version"]}))

    def faulty(self) -> None:
        """From here on the story runs under its faults (AWS calls are counted from here too)."""
        self.cloud.reset_counters()
        self.cloud.faults.apply(self.faults)

    def drain(self) -> None:
        self.cloud.drain()

    def settle(self) -> None:
        """The faults are over; what is still queued is delivered (a crashed message's redelivery, say)."""
        self.calls.update({fn: dict(c) for fn, c in self.cloud.aws_calls.items()})
        self.cloud.faults.reset()
        self.cloud.drain()

    def emails(self) -> Counter[tuple[str, str]]:
        ours = [m for m in self._sent[self._emails_before:]
                if any(self.suffix in to for to in m.destinations.get("ToAddresses", []))]
        return Counter((",".join(sorted(to.replace(self.suffix, "") for to in m.destinations["ToAddresses"])),
                        self.plain(m.subject)) for m in ours)

    def plain(self, value: Any) -> Any:
        """value with this story's suffix and generated ids taken out."""
        if isinstance(value, str):
            return _IDS.sub("<id>", value.replace(self.suffix, ""))
        if isinstance(value, dict):
            return {k: self.plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.plain(v) for v in value]
        return value


def _stock(line: dict[str, Any]) -> tuple[Any, ...]:
    return (line["box_code"], line["boxes_on_hand"], line["boxes_held"], line["boxes_sold"],
            line.get("boxes_available"))


def order_story(cloud: Any, faults: dict[str, Any]) -> dict[str, Any]:
    """The order and invoice paths: carts, checkout, confirm (the invoice, its sync to the buyer's PO),
    void, staging receipt, a cart that lapses, and the notices and availability all of that moves."""
    s = Story(cloud, faults)
    vendor, buyer, ids = s.vendor, s.buyer, s.lines
    for code in ("FLORA", "FERN"):
        email = f"orders@{code.lower()}{s.suffix}.example"
        _ok(buyer.put(f"/customers/{code}", json={"name": code.title(), "email": email}))

    def on(field: str, company: str) -> Callable[[dict[str, Any]], None]:
        def change(settings: dict[str, Any]) -> None:
            settings["automations"][field] = True
            settings["notification_emails"] = [f"accounts@{company}.example"]
        return change

    s.setting(vendor, on("vendor_invoice_sync", s.vendor_id))
    s.setting(buyer, on("buyer_invoice_upload", s.buyer_id))
    s.setting(buyer, lambda settings: settings["buyer"].update(automatic_billing_allocation=True))
    ship = {ln["box_code"]: ln["earliest_ship_date"] for ln in buyer.get("/availability")["lines"]}

    s.faulty()

    def cart(box_code: str, boxes: int, customer: str = "FLORA", later: int = 0) -> str:
        ship_date = (date.fromisoformat(ship[box_code]) + timedelta(days=later)).isoformat()
        made = _ok(buyer.post("/carts", json={"customer_code": customer, "ship_date": ship_date,
                                              "vendor_company_id": s.vendor_id, "line_id": ids[box_code],
                                              "boxes": boxes}), 201)
        return str(made["cart_id"])

    kept, voided, lapsed = cart("FR50HB", 2), cart("MND60QB", 1, "FERN", later=1), cart("HYDWFB", 1)
    for cart_id in (kept, voided):
        _ok(buyer.post(f"/carts/{cart_id}/checkout"))
    s.drain()
    orders = {ln["box_code"]: o for o in vendor.get("/orders") for ln in o["lines"]}
    _ok(vendor.post(f"/orders/{orders['FR50HB']['order_id']}/confirm", json={}))
    _ok(vendor.post(f"/orders/{orders['MND60QB']['order_id']}/void", json={"confirm": "CONFIRM", "reason": "frost"}))
    s.drain()
    [po] = [p for p in buyer.get("/purchase-orders") if p.get("order_id") == orders["FR50HB"]["order_id"]]
    _ok(buyer.post("/staging/receive", json={"box_code": "FR50HB", "boxes": 2, "po_id": po["po_id"]}))
    s.drain()
    cloud.advance(CART_TIMER)
    s.drain()
    s.settle()

    customers = {c["code"]: c for c in buyer.get("/customers")}
    return s.plain({
        "stock": sorted(_stock(vendor.get(f"/inventory/{line_id}")["line"]) for line_id in ids.values()),
        "availability": sorted((ln["box_code"], ln["boxes_available"]) for ln in buyer.get("/availability")["lines"]),
        "orders": sorted((o["status"], [(ln["box_code"], ln["boxes"], ln["status"], ln["checked_out"])
                                        for ln in o["lines"]]) for o in vendor.get("/orders")),
        "carts": sorted(buyer.get(f"/carts/{c}")["status"] for c in (kept, voided, lapsed)),
        "purchase_orders": sorted(p["status"] for p in buyer.get("/purchase-orders")),
        "invoices": [(i["invoice_no"], i["status"], i["total"], i["version"]) for i in vendor.get("/invoices")],
        "reconciliation": sorted((r["status"], (r.get("vendor_invoice") or {}).get("invoice_no"),
                                  (r.get("vendor_invoice") or {}).get("amount"))
                                 for r in buyer.get("/reconciliation")),
        "staging": sorted((x["box_code"], x["boxes_confirmed"], x.get("boxes_received"))
                          for x in buyer.get("/staging")),
        "balances": [(code, customers[code].get("balance")) for code in ("FLORA", "FERN")],
        "customer_invoices": sorted((i.get("customer_code"), i.get("status"), i.get("total"))
                                    for i in buyer.get("/customer-invoices")),
        "emails": sorted(s.emails().items()),
    }) | {"calls": s.calls}


def k2k_po_story(cloud: Any, faults: dict[str, Any]) -> dict[str, Any]:
    """A PO with K2K products (seed 000): the buyer buys two lines from its availability for its own stock,
    the vendor confirms (its invoice synced to the buyer's PO), the buyer receives both into its inventory."""
    s = Story(cloud, faults)
    vendor, buyer, ids = s.vendor, s.buyer, s.lines

    def on(field: str, company: str) -> Callable[[dict[str, Any]], None]:
        def change(settings: dict[str, Any]) -> None:
            settings["automations"][field] = True
            settings["notification_emails"] = [f"orders@{company}.example"]
        return change

    s.setting(vendor, on("vendor_invoice_sync", s.vendor_id))
    s.setting(buyer, on("buyer_invoice_upload", s.buyer_id))
    ship = max(ln["earliest_ship_date"] for ln in buyer.get("/availability")["lines"])

    s.faulty()
    po = _ok(buyer.post("/purchase-orders", json={
        "kind": "k2k", "vendor_company_id": s.vendor_id, "ship_date": ship, "location": "CHI",
        "lines": [{"line_id": ids["FR50HB"], "boxes": 2}, {"line_id": ids["MND60QB"], "boxes": 1}]}), 201)
    s.drain()
    _ok(vendor.post(f"/orders/{po['order_id']}/confirm", json={}))
    s.drain()
    for code in ("FR50HB", "MND60QB"):
        _ok(buyer.post("/staging/receive", json={"box_code": code, "po_id": po["po_id"]}))
    s.drain()
    s.settle()

    return s.plain({
        "stock": sorted(_stock(vendor.get(f"/inventory/{line_id}")["line"]) for line_id in ids.values()),
        "availability": sorted((ln["box_code"], ln["boxes_available"]) for ln in buyer.get("/availability")["lines"]),
        "orders": sorted((o["status"], [(ln["box_code"], ln["boxes"], ln["status"], ln["checked_out"])
                                        for ln in o["lines"]]) for o in vendor.get("/orders")),
        "purchase_orders": sorted((p["status"], p["source"], [(ln["box_code"], ln["boxes"], ln["landed_cost"])
                                                              for ln in p["lines"]])
                                  for p in buyer.get("/purchase-orders")),
        "invoices": [(i["invoice_no"], i["status"], i["total"], i["version"]) for i in vendor.get("/invoices")],
        "reconciliation": sorted((r["status"], (r.get("vendor_invoice") or {}).get("amount"))
                                 for r in buyer.get("/reconciliation")),
        "staging": sorted((x["box_code"], x["boxes_confirmed"], x.get("boxes_received"))
                          for x in buyer.get("/staging")),
        "buyer_stock": sorted((ln["box_code"], ln["boxes_on_hand"], ln["cost"], ln["price"], ln["location"])
                              for ln in buyer.get("/inventory")),
        "customer_invoices": buyer.get("/customer-invoices"),
        "emails": sorted(s.emails().items()),
    }) | {"calls": s.calls}


IMPORT_HEADER = [*wb.BOXES_HEADER, "Box Length", "Box Width", "Box Height"]


def import_story(cloud: Any, faults: dict[str, Any]) -> dict[str, Any]:
    """The import path: a file dropped in the folder, the worker that imports it, the lines it makes
    reaching the connected buyer's availability, and the results email."""
    s = Story(cloud, faults)
    vendor, buyer = s.vendor, s.buyer
    _ok(vendor.put("/vendors/ECUAROSE", json={"name": "Ecuarose grower"}))
    s.faulty()
    link = _ok(vendor.post("/imports", json={"import_type": "inventory-in-boxes", "filename": "week-10.xlsx",
                                             "confirm_inventory": True}), 201, 200)
    rows = [["ECUAROSE", "369-1234", "2026-03-05", f"Explorer Rose {n}0cm", n, "HB", "Stem", 10, 25, 0.31, "MIA",
             0.42, 40, 10, 10] for n in range(4, 9)]
    rows.append(["ECUAROSE", "369-1234", "2026-03-05", "Bad row", 3, "HB", "Stem", 10, 25, 0.31, "LAX", 0.42,
                 40, 10, 10])
    cloud.client("s3").put_object(Bucket=cloud.name("DropBucket"), Key=link["job"]["key"],
                                  Body=wb.workbook([IMPORT_HEADER, *rows], sheet="Inventory in Boxes"))
    s.drain()
    s.settle()
    job = vendor.get(f"/imports/{link['job']['job_id']}")
    return s.plain({
        "job": (job["status"], job["imported"], job["rejected"]),
        "stock": sorted(_stock(ln) for ln in vendor.get("/inventory")),
        "availability": sorted((ln["box_code"], ln["boxes_available"]) for ln in buyer.get("/availability")["lines"]),
        "emails": sorted(s.emails().items()),
    }) | {"calls": s.calls}


STORIES: dict[str, Callable[[Any, dict[str, Any]], dict[str, Any]]] = {
    "order": order_story, "import": import_story, "k2k_po": k2k_po_story}
