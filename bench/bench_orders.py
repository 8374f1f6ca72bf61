"""DynamoDB requests (and transactions among them) spent on one K2K order's whole life:
cart -> checkout -> vendor confirm -> staging receipt billed to the customer, events included;
and on a PO with K2K products bought from the availability (three lines, one step)."""

from __future__ import annotations

from collections import Counter

from bench.common import ok, quiet_cloud
from infra.localcloud import demo


def main() -> None:
    with quiet_cloud() as (cloud, api):
        ids = demo.seed(cloud)["inventory_line_ids"]
        bloom = api("bloom", "Admin")
        ok(bloom.put("/customers/FLORA", json={"name": "Flora's Boutique", "email": "orders@flora.example"}))
        company = ok(bloom.get("/company"))
        company["settings"]["buyer"]["automatic_billing_allocation"] = True
        ok(bloom.put("/company/settings", json={"settings": company["settings"]}))
        ship = next(ln for ln in ok(bloom.get("/availability"))["lines"] if ln["box_code"] == "FR50HB")
        cloud.drain()
        steps = {
            "add to cart": lambda: ok(bloom.post("/carts", json={
                "customer_code": "FLORA", "ship_date": ship["earliest_ship_date"], "vendor_company_id": "rosaflor",
                "line_id": ids["FR50HB"], "boxes": 2}), 201),
        }
        per_step: dict[str, Counter[str]] = {}

        def run(name, call):  # type: ignore[no-untyped-def]
            cloud.reset_counters()
            result = call()
            cloud.drain()
            total: Counter[str] = Counter()
            for counts in cloud.aws_calls.values():
                total.update({op: n for op, n in counts.items() if op.startswith("dynamodb.")})
            per_step[name] = total
            return result

        cart = run("add to cart", steps["add to cart"])
        run("checkout", lambda: ok(bloom.post(f"/carts/{cart['cart_id']}/checkout")))
        [order] = ok(api("rosaflor", "Admin").get("/orders"))["items"]
        run("vendor confirms", lambda: ok(api("rosaflor", "Admin").post(f"/orders/{order['order_id']}/confirm",
                                                                          json={})))
        receipt = run("staging receipt", lambda: ok(bloom.post("/staging/receive", json={"box_code": "FR50HB"})))
        assert receipt["billed"], receipt
        print(f"{'step':<18} {'requests':>8} {'transactions':>13}   (API call + every consumer it triggers)")
        for name, counts in per_step.items():
            print(f"{name:<18} {sum(counts.values()):>8} {counts['dynamodb.TransactWriteItems']:>13}   "
                  + ", ".join(f"{op.split('.')[1]} {n}" for op, n in sorted(counts.items())))
        grand = sum((c for c in per_step.values()), Counter())
        print(f"{'whole order':<18} {sum(grand.values()):>8} {grand['dynamodb.TransactWriteItems']:>13}")
        codes = ("FR50HB", "MND60QB", "HYDWFB")  # every line Rosaflor publishes to Bloom
        ship_date = max(ln["earliest_ship_date"] for ln in ok(bloom.get("/availability"))["lines"])
        run("PO, K2K (3 lines)", lambda: ok(bloom.post("/purchase-orders", json={
            "kind": "k2k", "vendor_company_id": "rosaflor", "ship_date": ship_date,
            "lines": [{"line_id": ids[code], "boxes": 1} for code in codes]}), 201))
        counts = per_step["PO, K2K (3 lines)"]
        print(f"{'PO, K2K (3 lines)':<18} {sum(counts.values()):>8} {counts['dynamodb.TransactWriteItems']:>13}   "
              + ", ".join(f"{op.split('.')[1]} {n}" for op, n in sorted(counts.items())))
