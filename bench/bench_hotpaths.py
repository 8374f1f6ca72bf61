"""Hot paths that must not grow with history: add-to-cart, the staging receipt and a page of the buyer's PO
reconciliations of one status, measured for one buyer with 10 and then 10,000 past purchase orders, staging
items and (paid) reconciliations.

The history is seeded directly, with batch writes of copies of a real PO and staging item that one
order's life made through the API (same shapes and sizes as the application writes them), so 10,000
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
from typing import Any

import boto3

from bench.common import ok, quiet_cloud
from infra.localcloud import demo
from k2k.store import Item, Store

SIZES = (10, 10_000)
STEPS = ("add to cart", "staging receipt", "reconciliations AP")


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
            ok(bloom.post(f"/carts/{cart['cart_id']}/checkout"))
            cloud.drain()
            [order] = [o for o in ok(rosaflor.get("/orders"))["items"] if o["status"] == "OPEN"]
            ok(rosaflor.post(f"/orders/{order['order_id']}/confirm", json={}))
            cloud.drain()
            receipt = step("staging receipt", lambda: ok(bloom.post("/staging/receive",
                                                                    json={"box_code": "FR50HB"})))
            assert receipt["boxes"] == 1, receipt
            # The first page (of one) of the POs whose vendor invoice waits for procurement: this one's.
            page = step("reconciliations AP", lambda: ok(bloom.get("/reconciliation",
                                                                   params={"status": "AP", "limit": 1})))
            assert page["items"][0]["status"] == "AP", page
            return str(receipt["po_id"])

        po_id = life(None)  # the documents every copy is made from
        pk = "C#bloom"
        po_item = direct.get(pk, f"PO#{po_id}")
        [staged_item] = direct.query(pk, f"STAGING#{po_id}#")
        rec_item = direct.get(pk, f"REC#{po_id}")
        assert po_item is not None and rec_item is not None
        past = 1
        results: dict[int, dict[str, tuple[Counter[str], int, Counter[str], int]]] = {}
        for size in SIZES:
            history = [*_copies(po_item, "PO#", po_id, size - past),
                       *_copies(staged_item, "STAGING#", po_id, size - past),
                       *_copies(rec_item, "REC#", po_id, size - past)]
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
    print(f"{'':<30}{head}")
    for name in STEPS:
        for label, pick in (("requests", lambda r: sum(r[0].values())), ("items read", lambda r: r[1]),
                            ("  + consumers: requests", lambda r: sum(r[2].values())),
                            ("  + consumers: items read", lambda r: r[3])):
            figures = [pick(results[size][name]) for size in SIZES]
            verdict = "equal" if len(set(figures)) == 1 else "GROWS"
            print(f"{name + ' ' + label if not label.startswith(' ') else label:<30}"
                  + "".join(f"{f:>24}" for f in figures) + f"   {verdict}")
        for size in SIZES:
            request = results[size][name][0]
            print(f"{'':<4}{size:>6,} past: " + ", ".join(f"{op} {n}" for op, n in sorted(request.items())))
