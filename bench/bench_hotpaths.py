"""Hot paths that must not grow with history: add-to-cart, the staging receipt, a page of the buyer's PO
reconciliations of one status, a page of one customer's invoices and of the open invoices of one date, and
the vendor's refused removal of a line a cart holds (its 409 names the orders holding it), measured with 10
and then 10,000 past purchase orders, staging items, (paid) reconciliations, customer invoices of another
customer, imported open invoices of other dates and (confirmed) vendor orders.

The history is seeded directly, with batch writes of copies of a real PO, staging item, reconciliation,
customer invoice and vendor order that one order's life made through the API, and of open invoices made
by the import's own item builder (same shapes and sizes as the application writes them), so 10,000
documents take seconds instead of 10,000 HTTP calls. Each step is then an HTTP call through the local
cloud: its DynamoDB requests are counted by operation at the boto3 level, and so are the items each
read evaluates - DynamoDB bills a read by the size of what it evaluates (a Query's filtered-out items
included), and moto's ConsumedCapacity is a constant, so items read is the figure that shows growth:
ScannedCount for a Query, one per GetItem, the items a BatchGetItem found. "consumers" is what the events of
the step then cost (the availability projection, notices...), drained and counted apart.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3

from bench.common import ok, quiet_cloud
from infra.localcloud import demo
from k2k import keys
from k2k.imports.writers import invoice_item
from k2k.store import Item, Store

SIZES = (10, 10_000)
STEPS = ("add to cart", "remove held line (409)", "staging receipt", "reconciliations AP", "invoices of FLORA",
         "open invoices of a date")
SEARCHED_DAY = date(2026, 3, 9)  # two open invoices of this date; the imported history is of other dates


class ReadMeter:
    """DynamoDB requests by operation and the items they read, from botocore's after-call event."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.items_read = 0
        self._lock = threading.Lock()

    def install(self) -> None:
        # On boto3's default session, where the local cloud's functions make their clients: a client
        # copies the session's handlers when it is made, so this goes on before any function runs.
        session = boto3.DEFAULT_SESSION
        assert session is not None
        session.events.register("after-call.dynamodb", self._after, unique_id="bench-hotpaths-reads")

    def reset(self) -> tuple[Counter[str], int]:
        with self._lock:
            seen = (self.requests, self.items_read)
            self.requests, self.items_read = Counter(), 0
        return seen

    def _after(self, model: Any = None, parsed: Any = None, **_: Any) -> None:
        name = model.name
        read = 0
        if name in ("Query", "Scan"):
            read = int(parsed.get("ScannedCount", 0))
        elif name == "GetItem":
            read = 1
        elif name == "BatchGetItem":  # the items found (after-call is not given the request's keys)
            read = sum(len(items) for items in parsed.get("Responses", {}).values())
        with self._lock:
            self.requests[name] += 1
            self.items_read += read


def _copies(template: Item, sk_prefix: str, po_id: str, n: int) -> list[Item]:
    """n copies of a stored document under new PO ids (the sort key and every po_id in it)."""
    out = []
    for _ in range(n):
        new_id = uuid.uuid4().hex[:12]
        item = {**template, "sk": template["sk"].replace(po_id, new_id), "po_id": new_id}
        if sk_prefix == "PO#":
            item["lines"] = [{**ln, "po_id": new_id} if "po_id" in ln else ln for ln in item.get("lines", [])]
        if sk_prefix == "REC#":  # a past reconciliation, paid long ago: on the index under its own status
            item.update(status="PAID", gsi1pk=f"{item['pk']}#REC#PAID", gsi1sk=new_id)
        out.append(item)
    return out


def _past_invoices(invoice: Item, n: int) -> list[Item]:
    """n copies of a customer invoice, billed to another customer (PAST) before any of FLORA's: not on its page."""
    out = []
    for _ in range(n):
        new_id = f"AR-000000{uuid.uuid4().hex[:8]}"  # numbered before all of FLORA's
        out.append({**invoice, "sk": f"ARINV#{new_id}", "invoice_id": new_id, "customer_code": "PAST",
                    "gsi2pk": keys.customer_invoices_pk("bloom", "PAST")})
    return out


def _past_orders(order: Item, n: int) -> list[Item]:
    """n copies of the vendor's (confirmed) order of one life, under new order ids."""
    out = []
    for _ in range(n):
        new_id = f"K2K-{uuid.uuid4().hex[:12].upper()}"
        out.append({**order, "sk": f"ORDER#{new_id}", "order_id": new_id})
    return out


def _open_invoices(n: int, day: date | None = None) -> list[Item]:
    """n open invoices as the import writes them: FLORA's of `day`, else another customer's (PAST) of some
    day before SEARCHED_DAY."""
    at = datetime.now(UTC)
    return [invoice_item("bloom", "bench", i, {
        "invoice_no": f"OI-{uuid.uuid4().hex[:10]}", "customer_code": "FLORA" if day else "PAST",
        "customer_po": f"PO-{i % 50}",
        "invoice_date": day or SEARCHED_DAY - timedelta(days=1 + i % 700), "location": "NYC",
        "balance": Decimal("125.50")}, at) for i in range(n)]


def main() -> None:
    meter = ReadMeter()
    with quiet_cloud() as (cloud, api):
        meter.install()
        ids = demo.seed(cloud)["inventory_line_ids"]
        table = cloud.name("K2KTable")
        direct = Store(table, client=cloud.client("dynamodb"))  # seeding: not the application's calls
        bloom = api("bloom", "Admin")
        rosaflor = api("rosaflor", "Admin")
        ok(bloom.put("/customers/FLORA", json={"name": "Flora's Boutique", "email": "orders@flora.example"}))
        company = ok(bloom.get("/company"))
        company["settings"]["buyer"]["automatic_billing_allocation"] = True
        company["settings"]["automations"]["buyer_invoice_upload"] = True  # vendor invoices reach the POs (AP)
        ok(bloom.put("/company/settings", json={"settings": company["settings"]}))
        vendor = ok(rosaflor.get("/company"))
        vendor["settings"]["automations"]["vendor_invoice_sync"] = True
        ok(rosaflor.put("/company/settings", json={"settings": vendor["settings"]}))
        cloud.drain()

        def life(measured: dict[str, tuple[Counter[str], int, Counter[str], int]] | None) -> str:
            """One order's life; the add-to-cart and the receipt measured (the request, then its consumers)."""
            ship = next(ln for ln in ok(bloom.get("/availability"))["lines"] if ln["box_code"] == "FR50HB")

            def step(name: str, call: Any) -> Any:
                meter.reset()
                result = call()
                request = meter.reset()
                cloud.drain()
                consumers = meter.reset()
                if measured is not None:
                    measured[name] = (*request, *consumers)
                return result

            cart = step("add to cart", lambda: ok(bloom.post("/carts", json={
                "customer_code": "FLORA", "ship_date": ship["earliest_ship_date"], "vendor_company_id": "rosaflor",
                "line_id": ids["FR50HB"], "boxes": 1}), 201))
            refused = step("remove held line (409)", lambda: rosaflor.delete(f"/inventory/{ids['FR50HB']}"))
            assert refused.status == 409, refused.json()
            assert len(refused.json()["error"]["details"]) == 1, refused.json()  # this cart's order, no other
            ok(bloom.post(f"/carts/{cart['cart_id']}/checkout"))
            cloud.drain()
            order_id = refused.json()["error"]["details"][0]["message"].split()[-1]  # "held by K2K order <id>"
            ok(rosaflor.post(f"/orders/{order_id}/confirm", json={}))
            cloud.drain()
            receipt = step("staging receipt", lambda: ok(bloom.post("/staging/receive",
                                                                    json={"box_code": "FR50HB"})))
            assert receipt["boxes"] == 1, receipt
            # The first page (of one) of the POs whose vendor invoice waits for procurement: this one's.
            page = step("reconciliations AP", lambda: ok(bloom.get("/reconciliation",
                                                                   params={"status": "AP", "limit": 1})))
            assert page["items"][0]["status"] == "AP", page
            invoices = step("invoices of FLORA", lambda: ok(bloom.get("/customer-invoices", params={
                "customer_code": "FLORA", "limit": 1})))
            assert [i["customer_code"] for i in invoices["items"]] == ["FLORA"] and invoices["next_token"], invoices
            dated = step("open invoices of a date", lambda: ok(bloom.get("/open-invoices", params={
                "invoice_date": SEARCHED_DAY.isoformat(), "limit": 1})))
            assert [i["invoice_date"] for i in dated["items"]] == [SEARCHED_DAY.isoformat()] and dated["next_token"]
            return str(receipt["po_id"])

        direct.batch_put(_open_invoices(2, SEARCHED_DAY))
        po_id = life(None)  # the documents every copy is made from
        pk = "C#bloom"
        po_item = direct.get(pk, f"PO#{po_id}")
        [staged_item] = direct.query(pk, f"STAGING#{po_id}#")
        rec_item = direct.get(pk, f"REC#{po_id}")
        [invoice] = direct.query(pk, "ARINV#")
        [order] = direct.query("C#rosaflor", "ORDER#")
        assert po_item is not None and rec_item is not None and order["status"] == "CONFIRMED"
        past = 1
        results: dict[int, dict[str, tuple[Counter[str], int, Counter[str], int]]] = {}
        for size in SIZES:
            history = [*_copies(po_item, "PO#", po_id, size - past),
                       *_copies(staged_item, "STAGING#", po_id, size - past),
                       *_copies(rec_item, "REC#", po_id, size - past),
                       *_past_invoices(invoice, size - past), *_past_orders(order, size - past),
                       *_open_invoices(size - past)]
            direct.batch_put(history)
            # The table's stream now holds these writes: the relay's poller passes them over (they are no
            # outbox items) a few pages per drain, and a drain ends at a round that delivered nothing.
            for _ in range(len(history) // 1000 + 2):
                cloud.drain()
            past = size
            results[size] = {}
            life(results[size])
            past += 1  # the measured life's own PO and staging item are history for the next size

    head = "".join(f"{f'{size:,} past':>24}" for size in SIZES)
    print(f"{'':<38}{head}")
    for name in STEPS:
        for label, pick in (("requests", lambda r: sum(r[0].values())), ("items read", lambda r: r[1]),
                            ("  + consumers: requests", lambda r: sum(r[2].values())),
                            ("  + consumers: items read", lambda r: r[3])):
            figures = [pick(results[size][name]) for size in SIZES]
            verdict = "equal" if len(set(figures)) == 1 else "GROWS"
            print(f"{name + ' ' + label if not label.startswith(' ') else label:<38}"
                  + "".join(f"{f:>24}" for f in figures) + f"   {verdict}")
        for size in SIZES:
            request = results[size][name][0]
            print(f"{'':<4}{size:>6,} past: " + ", ".join(f"{op} {n}" for op, n in sorted(request.items())))
