"""DynamoDB requests (and transactions among them) spent on one K2K order's whole life:
cart -> checkout -> vendor confirm -> staging receipt billed to the customer, events included
(every consumer each step triggers), for a vendor with 1, 10 and 100 connected buyers; and on a
PO with K2K products bought from the availability (three lines, one step).

Counted at the AWS SDK of the functions involved (botocore events of the local cloud, which moto
serves; its timings are not used). The N-dependent part is the availability fan-out: one vendor
line's stock on hand changes (add to cart), so each connected buyer's availability row is
rewritten (services/availability.py)."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench.common import ok, quiet_cloud
from infra.localcloud import demo

STEPS = ("add to cart", "checkout", "vendor confirms", "staging receipt")
BOXES = 1  # per order life: three lives at N = 1, 10, 100 from the demo's 12 boxes of FR50HB


def _dynamodb(cloud: Any) -> tuple[Counter[str], Counter[str]]:
    """This step's DynamoDB requests by operation, and by function."""
    by_op: Counter[str] = Counter()
    by_fn: Counter[str] = Counter()
    for fn, counts in cloud.aws_calls.items():
        for op, n in counts.items():
            if op.startswith("dynamodb."):
                by_op[op.split(".", 1)[1]] += n
                by_fn[fn.removesuffix("Function")] += n
    return by_op, by_fn


def _connect_buyer(api: Callable[..., Any], n: int) -> None:
    buyer = f"bench-buyer-{n:03d}"
    ok(api("", "Operator").post("/operator/companies", json={
        "company_id": buyer, "name": f"Buyer {n}", "locations": [{"code": "NYC", "name": "New York"}]}), 201)
    ok(api("rosaflor", "Admin").put(f"/customers/BB{n:03d}", json={"name": f"Buyer {n}", "k2k_company_id": buyer}))
    b = api(buyer, "Admin")
    ok(b.put("/vendors/ROSA", json={"name": "Rosaflor Farms", "k2k_company_id": "rosaflor"}))
    settings = ok(b.get("/company"))["settings"]
    settings["buyer"]["freight_cube_rate"] = "1.50"
    ok(b.put("/company/settings", json={"settings": settings}))
    conn = ok(b.post("/connections", json={"vendor_company_id": "rosaflor"}), 201)
    ok(api("rosaflor", "Admin").post(f"/connections/{conn['connection_id']}/accept"))


Counts = tuple[Counter[str], Counter[str]]


def _life(cloud: Any, bloom: Any, rosa: Any, line_id: str, ship_date: str) -> dict[str, Counts]:
    """One order's life, each step's requests (the API call and every consumer it triggers)."""
    per_step: dict[str, Counts] = {}

    def run(name: str, call: Callable[[], Any]) -> Any:
        cloud.reset_counters()
        result = call()
        cloud.drain()
        per_step[name] = _dynamodb(cloud)
        return result

    cart = run("add to cart", lambda: ok(bloom.post("/carts", json={
        "customer_code": "FLORA", "ship_date": ship_date, "vendor_company_id": "rosaflor", "line_id": line_id,
        "boxes": BOXES}), 201))
    run("checkout", lambda: ok(bloom.post(f"/carts/{cart['cart_id']}/checkout")))
    order = next(o for o in ok(rosa.get("/orders", params={"limit": 200}))["items"]
                 if o["po_id"] == cart["lines"][0]["po_id"])
    run("vendor confirms", lambda: ok(rosa.post(f"/orders/{order['order_id']}/confirm", json={})))
    receipt = run("staging receipt", lambda: ok(bloom.post("/staging/receive", json={
        "box_code": "FR50HB", "po_id": order["po_id"]})))
    assert receipt["billed"], receipt
    return per_step


def _wru(row: dict[str, Any]) -> int:
    """Write request units of one put of this row: 1 per KB started (attribute names and values, as DynamoDB
    sizes an item, approximated from their text)."""
    size = sum(len(k) + len(str(v)) for k, v in row.items())
    return -(-size // 1024)


def _fanout_tradeoff(cloud: Any) -> None:
    """Part 5 of issue 13: the availability fan-out to N buyers, as built (one conditional PutItem per buyer,
    8 at a time) against the alternative (TransactWriteItems of up to 100 conditional puts, falling back to
    one put per row when a stale row cancels the transaction). The alternative runs here only, to measure it.
    Requests counted at the SDK; write units from DynamoDB's rules (1 per KB per put, 2 in a transaction)."""
    from k2k import keys, store
    from k2k.inventory import InventoryLine
    from k2k.services import availability, network

    client = cloud.client("dynamodb")
    calls: Counter[str] = Counter()
    client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.update([model.name]))
    db = store.Store(cloud.name("K2KTable"), client=client)
    line_item = next(i for i in db.query(keys.company_pk("rosaflor"), keys.INVENTORY_PREFIX, consistent=True)
                     if i["box_code"] == "FR50HB")
    line = InventoryLine.model_validate(store.plain(line_item))
    conns = network.active_connections_as_vendor(db, "rosaflor")

    versions = itertools.count(line.version + 1)

    def as_built(changed: InventoryLine, buyers: list[Any]) -> tuple[int, int]:
        landed = availability.project_line(db, changed)  # the consumer's write path: query + one put per buyer
        return landed, sum(_wru(availability.row_for(changed, c)) for c in buyers)

    def transactions(changed: InventoryLine, buyers: list[Any]) -> tuple[int, int]:
        rows = [availability.row_for(changed, c) for c in network.active_connections_as_vendor(db, "rosaflor")]
        landed, units = 0, 0
        for start in range(0, len(rows), store.MAX_TRANSACTION_ITEMS):
            chunk = rows[start:start + store.MAX_TRANSACTION_ITEMS]
            units += 2 * sum(_wru(r) for r in chunk)  # charged whether it commits or is cancelled
            try:
                db.transact([store.put(r, condition=availability.NEWER_OR_SAME,
                                       values={":cv": r["conn_version"], ":lv": r["line_version"]}) for r in chunk])
                landed += len(chunk)
                continue
            except store.ConditionFailed:
                pass
            for r in chunk:  # one stale row cancelled them all: each on its own, as built
                units += _wru(r)
                try:
                    db.put(r, condition=availability.NEWER_OR_SAME,
                           values={":cv": r["conn_version"], ":lv": r["line_version"]})
                    landed += 1
                except store.ConditionFailed:
                    pass
        return landed, units

    print("availability fan-out of one line change to N buyers (part 5): requests / write units / rows written")
    print(f"  {'N':>4} {'as built (puts)':>20} {'a stale row':>20} {'transactions of 100':>20} {'a stale row':>20}")
    for n in (1, 10, 100):
        buyers = conns[:n]
        for c in conns[n:]:  # N active connections: suspend the others while measuring
            db.update({"pk": keys.company_pk("rosaflor"), "sk": keys.connection_as_vendor_sk(c.buyer_company_id)},
                      "SET #s = :s", values={":s": "SUSPENDED"}, names={"#s": "status"})
        out = []
        for variant in (as_built, transactions):
            for stale in (False, True):
                changed = line.model_copy(update={"version": next(versions)})
                if stale:  # a later change already reached one buyer: this event is late for that row
                    late = availability.row_for(changed.model_copy(update={"version": changed.version + 1}), buyers[-1])
                    db.put(late)
                calls.clear()
                landed, units = variant(changed, buyers)
                out.append(f"{sum(calls.values())} / {units} / {landed}")
        for c in conns[n:]:
            db.update({"pk": keys.company_pk("rosaflor"), "sk": keys.connection_as_vendor_sk(c.buyer_company_id)},
                      "SET #s = :s", values={":s": "ACTIVE"}, names={"#s": "status"})
        print(f"  {n:>4} " + " ".join(f"{cell:>20}" for cell in out))


def _line(name: str, by_op: Counter[str], by_fn: Counter[str] | None = None) -> str:
    ops = ", ".join(f"{op} {n}" for op, n in sorted(by_op.items()))
    fns = ("   [" + ", ".join(f"{fn} {n}" for fn, n in by_fn.most_common()) + "]") if by_fn else ""
    return f"  {name:<18} {sum(by_op.values()):>8} {by_op['TransactWriteItems']:>6}   {ops}{fns}"


def main() -> None:
    with quiet_cloud() as (cloud, api):
        ids = demo.seed(cloud)["inventory_line_ids"]
        bloom, rosa = api("bloom", "Admin"), api("rosaflor", "Admin")
        ok(bloom.put("/customers/FLORA", json={"name": "Flora's Boutique", "email": "orders@flora.example"}))
        company = ok(bloom.get("/company"))
        company["settings"]["buyer"]["automatic_billing_allocation"] = True
        ok(bloom.put("/company/settings", json={"settings": company["settings"]}))
        ok(rosa.post("/connections/rosaflor.petal/suspend"))  # N = 1: Bloom is Rosaflor's only active buyer
        cloud.drain()
        totals: dict[int, int] = {}
        buyers = 1
        for n in (1, 10, 100):
            if n > 1 and buyers == 1:
                ok(rosa.post("/connections/rosaflor.petal/resume"))
                buyers = 2
            while buyers < n:
                _connect_buyer(api, buyers)
                buyers += 1
            cloud.drain()
            ship = next(ln for ln in ok(bloom.get("/availability"))["lines"] if ln["box_code"] == "FR50HB")
            cloud.drain()
            per_step = _life(cloud, bloom, rosa, ids["FR50HB"], ship["earliest_ship_date"])
            grand_op = sum((c for c, _ in per_step.values()), Counter())
            grand_fn = sum((f for _, f in per_step.values()), Counter())
            totals[n] = sum(grand_op.values())
            print(f"N = {n} connected buyer(s)            requests  (API call + every consumer it triggers)")
            print(f"  {'step':<18} {'requests':>8} {'trans.':>6}   by operation   [by function]")
            for name in STEPS:
                print(_line(name, *per_step[name]))
            print(_line("whole order life", grand_op, grand_fn))
        base = totals[1]
        print("whole order life: " + ", ".join(f"N = {n}: {t}" for n, t in totals.items())
              + f"; N-dependent part: {', '.join(f'+{t - base}' for n, t in totals.items() if n > 1)} "
              "(the availability fan-out when stock on hand changes)")
        codes = ("FR50HB", "MND60QB", "HYDWFB")  # every line Rosaflor publishes to Bloom
        ship_date = max(ln["earliest_ship_date"] for ln in ok(bloom.get("/availability"))["lines"])
        cloud.drain()
        cloud.reset_counters()
        ok(bloom.post("/purchase-orders", json={
            "kind": "k2k", "vendor_company_id": "rosaflor", "ship_date": ship_date,
            "lines": [{"line_id": ids[code], "boxes": 1} for code in codes]}), 201)
        cloud.drain()
        print(f"PO, K2K (3 lines), N = {buyers}:\n" + _line("one step", *_dynamodb(cloud)))
        _fanout_tradeoff(cloud)
