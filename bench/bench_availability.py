"""DynamoDB requests spent to bring one vendor inventory change to 1, 10 and 100 connected buyers,
and for one buyer's availability read (the web shop's hot path).

Counted at the AWS SDK of the functions involved (moto serves them; its timings are not used)."""

from __future__ import annotations

from bench.common import ok, quiet_cloud

LINE = {"box_code": "FR50HB", "product": "Rose Freedom 50cm", "box_type": "HB", "unit_type": "STEM",
        "bunches_per_box": 10, "stems_per_bunch": 25, "boxes_on_hand": 500, "price": "0.35", "location": "MIA",
        "dimensions": {"length": "40", "width": "10", "height": "10"}}


def _connect_buyer(api, n: int) -> str:  # type: ignore[no-untyped-def]
    buyer = f"buyer-{n:03d}"
    ok(api("", "Operator").post("/operator/companies", json={
        "company_id": buyer, "name": f"Buyer {n}", "locations": [{"code": "NYC", "name": "New York"}]}), 201)
    ok(api("vendor", "Admin").put(f"/customers/B{n:03d}", json={"name": f"Buyer {n}", "k2k_company_id": buyer}))
    b = api(buyer, "Admin")
    ok(b.put("/vendors/V", json={"name": "Vendor", "k2k_company_id": "vendor"}))
    settings = ok(b.get("/company"))["settings"]
    settings["buyer"]["freight_cube_rate"] = "1.50"
    ok(b.put("/company/settings", json={"settings": settings}))
    conn = ok(b.post("/connections", json={"vendor_company_id": "vendor"}), 201)
    ok(api("vendor", "Admin").post(f"/connections/{conn['connection_id']}/accept"))
    return buyer


def main() -> None:
    with quiet_cloud() as (cloud, api):
        ok(api("", "Operator").post("/operator/companies", json={
            "company_id": "vendor", "name": "Vendor", "locations": [{"code": "MIA", "name": "Miami"}]}), 201)
        line = ok(api("vendor", "Admin").post("/inventory", json=LINE), 201)
        buyers: list[str] = []
        print(f"{'buyers':>7} {'vendor write':>13} {'fan-out':>8} {'total':>6}   "
              "(DynamoDB requests per inventory change)")
        for target in (1, 10, 100):
            while len(buyers) < target:
                buyers.append(_connect_buyer(api, len(buyers) + 1))
            cloud.drain()
            cloud.reset_counters()
            ok(api("vendor", "Admin").patch(f"/inventory/{line['line_id']}", json={"price": "0.36"}))
            cloud.drain()
            calls = cloud.aws_calls
            write = calls.total("dynamodb.", "PublishInventoryFunction")
            fanout = calls.total("dynamodb.", "AvailabilitySyncFunction")
            seen = ok(api(buyers[-1], "Admin").get("/availability"))["lines"]
            assert seen and seen[0]["vendor_price"] == "0.360", seen
            print(f"{target:>7} {write:>13} {fanout:>8} {write + fanout:>6}")
            ok(api("vendor", "Admin").patch(f"/inventory/{line['line_id']}", json={"price": "0.35"}))
            cloud.drain()
        cloud.reset_counters()
        lines = ok(api(buyers[0], "Admin").get("/availability"))["lines"]
        reads = cloud.aws_calls["PublishInventoryFunction"]
        print(f"availability read: {sum(reads.values())} DynamoDB requests ({dict(reads)}) for {len(lines)} line(s)")
