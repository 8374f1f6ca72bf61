"""No hot document (issue 13 part 3): 32 customers of one buyer each add 1 box of a 40-box line to a
cart at the same moment, through the real API of one local cloud. Every add joins the one pending PO
of that buyer, vendor and ship date (and its vendor order), so this is the race on one document (until
its 30 lines are taken, k2k.orders.MAX_ORDER_LINES: the last two open the next PO).

Reported: how many succeeded and how many were refused while stock was left (the goal: 32 and 0),
each add's latency (p50 and max; the local cloud's wall time on a shared machine: noisy, a ratio
to compare runs of one machine, never a DynamoDB figure), the CPU time the whole race took in this
process (the local cloud, moto and every handler run here: the work done, whatever the load), the
lost races the retry helper counted
(store.RETRIES, by step) and the transactions DynamoDB cancelled for a conflict (moto never
does: the count shows the code path, not DynamoDB's behaviour), and what is left of the line."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.common import ok, quiet_cloud
from infra.localcloud import demo

RACERS = 32
BOXES = 40


def race(cloud: Any, api: Any, suffix: str = "") -> dict[str, Any]:
    """The race on a cloud seeded with the demo companies of `suffix`: its outcome and figures."""
    from k2k import store

    ids = demo.seed(cloud, suffix)["inventory_line_ids"]
    rosaflor, bloom = f"rosaflor{suffix}", f"bloom{suffix}"
    ok(api(rosaflor, "Admin").patch(f"/inventory/{ids['FR50HB']}", json={"boxes_on_hand": BOXES}))
    admin = api(bloom, "Admin")
    for n in range(RACERS):
        ok(admin.put(f"/customers/R{n:02d}", json={"name": f"Racer {n}"}))
    cloud.drain()
    ship = next(ln for ln in ok(admin.get("/availability"))["lines"]
                if ln["box_code"] == "FR50HB")["earliest_ship_date"]
    shop = api(bloom, "SalesManager")

    def add(n: int) -> tuple[int, float, Any]:
        started = time.perf_counter()
        r = shop.post("/carts", json={"customer_code": f"R{n:02d}", "ship_date": ship,
                                      "vendor_company_id": rosaflor, "line_id": ids["FR50HB"], "boxes": 1})
        return r.status, time.perf_counter() - started, r.json()

    store.RETRIES.clear()
    cpu = time.process_time()
    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        results = list(pool.map(add, range(RACERS)))
    cpu = time.process_time() - cpu
    retries = dict(store.RETRIES)
    cloud.drain()
    line = ok(api(rosaflor, "Admin").get(f"/inventory/{ids['FR50HB']}"))["line"]
    pos = api(bloom, "Admin").items("/purchase-orders")
    return {"results": results, "retries": retries, "line": line, "pos": pos, "cpu": cpu}


def main() -> None:
    with quiet_cloud() as (cloud, api):
        out = race(cloud, api)
    results, line = out["results"], out["line"]
    won = [r for r in results if r[0] == 201]
    refused = [r for r in results if r[0] != 201]
    latencies = sorted(t for _, t, _ in results)
    lost = sum(n for what, n in out["retries"].items() if what != "TransactionConflict")
    print(f"{RACERS} customers of one buyer add 1 box each of a {BOXES}-box line at once "
          "(one pending PO, 30 lines at most)")
    print(f"  succeeded {len(won)}, refused {len(refused)}"
          + (f" ({sorted({str(r[2])[:160] for r in refused})})" if refused else ""))
    print(f"  latency p50 {statistics.median(latencies):.2f} s, max {latencies[-1]:.2f} s (local wall time); "
          f"CPU of the race {out['cpu']:.2f} s (the local cloud and every handler run in this process)")
    print(f"  lost races retried {lost} {out['retries'] or ''}; "
          f"transaction conflicts retried {out['retries'].get('TransactionConflict', 0)}")
    print(f"  line after: on hand {line['boxes_on_hand']}, held {line['boxes_held']}, sold {line['boxes_sold']}; "
          f"POs {[(p['po_id'], p['status'], len(p['lines'])) for p in out['pos']]}")
