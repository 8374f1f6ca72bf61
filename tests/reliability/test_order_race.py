"""No hot document: 32 customers of one buyer add a box each of the same 40-box line at the same moment.
Every add joins the buyer's pending PO for that vendor and ship date, so they all race on one PO and one
vendor order - and none of them is refused while stock is left, none waits out another's retries until
it gives up, and the documents hold exactly what was bought (bench/bench_race.py reports the timings)."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

from bench.bench_race import BOXES, RACERS, race
from k2k.orders import MAX_ORDER_LINES
from tests.reliability.test_order_concurrency import stock_of


def test_32_customers_of_one_buyer_each_get_their_box_of_a_40_box_line_then_check_out_confirm_and_expire(
        cloud, api, suffix):
    """One race (the costly part: 32 adds on one PO), then the documents it left are run to the end:
    half the carts check out at once, the vendor confirms (one invoice per order, for what was checked
    out), the other half's timers run out - every box ends sold and shipped to staging, or back on hand."""
    out = race(cloud, api, suffix)
    results, line, pos = out["results"], out["line"], out["pos"]
    assert [status for status, _, _ in results] == [201] * RACERS, [body for _, _, body in results]
    assert (line["boxes_on_hand"], line["boxes_held"], line["boxes_sold"]) == (BOXES - RACERS, RACERS, 0)

    # Each cart holds its customer's box, on a line of a PO that holds it too.
    carts = {body["customer_code"]: body for _, _, body in results}
    assert sorted(carts) == [f"R{n:02d}" for n in range(RACERS)]
    po_lines = {(p["po_id"], ln["line_no"]): (p, ln) for p in pos for ln in p["lines"]}
    assert len(po_lines) == RACERS
    for code, cart in carts.items():
        [cl] = cart["lines"]
        po, ln = po_lines[(cl["po_id"], cl["line_no"])]
        assert (ln["customer_code"], ln["cart_id"], ln["boxes"], ln["status"]) == (code, cart["cart_id"], 1, "ACTIVE")
        assert po["status"] == "PENDING_APPROVAL" and not ln["checked_out"]

    # Consolidated: a PO takes lines until its order is full (the bound that keeps one step in one
    # transaction), then the next opens - 30 and 2, no PO with a line number twice, totals that add up.
    assert sorted(len(p["lines"]) for p in pos) == sorted([MAX_ORDER_LINES, RACERS - MAX_ORDER_LINES])
    for po in pos:
        numbers = [ln["line_no"] for ln in po["lines"]]
        assert len(set(numbers)) == len(numbers)

    # The vendor's orders say the same, line for line, and name no end customer.
    orders = [o for o in api(f"rosaflor{suffix}", "Admin").items("/orders") if o["po_id"] in {p["po_id"] for p in pos}]
    assert sorted((o["po_id"], ln["line_no"], ln["boxes"]) for o in orders for ln in o["lines"]) == sorted(
        (p, n, 1) for p, n in po_lines)
    assert not any("customer_code" in ln for o in orders for ln in o["lines"])

    # After the race the documents are whole, like any order's.
    shop = api(f"bloom{suffix}", "SalesManager")
    carts = [body for _, _, body in out["results"]]
    with ThreadPoolExecutor(max_workers=RACERS // 2) as pool:
        checked = list(pool.map(lambda c: shop.post(f"/carts/{c['cart_id']}/checkout"), carts[::2]))
    assert [r.status for r in checked] == [200] * (RACERS // 2), [r.json() for r in checked if r.status != 200]
    cloud.drain()
    vendor = api(f"rosaflor{suffix}", "Admin")
    # (An order none of whose lines was checked out has nothing to confirm: its carts expire.)
    orders = [o for o in vendor.items("/orders") if any(ln["checked_out"] for ln in o["lines"])]
    assert orders
    for order in orders:
        assert vendor.post(f"/orders/{order['order_id']}/confirm", json={}).status == 200
    cloud.advance(timedelta(minutes=61))
    cloud.drain()

    class Market:
        rosaflor = f"rosaflor{suffix}"
        ids = {"FR50HB": out["line"]["line_id"]}

    assert stock_of(api, Market) == (BOXES - RACERS // 2, 0, RACERS // 2)
    staged = api(f"bloom{suffix}", "Admin").items("/staging")
    assert sum(s["boxes_confirmed"] for s in staged) == RACERS // 2
    confirmed = [o for o in vendor.items("/orders") if o["status"] == "CONFIRMED"]
    assert sorted(o["order_id"] for o in confirmed) == sorted(o["order_id"] for o in orders)
    shipped = [ln for o in confirmed for ln in o["lines"] if ln["status"] == "ACTIVE"]
    assert not any(ln["status"] == "ACTIVE" for o in vendor.items("/orders") if o["status"] != "CONFIRMED"
                   for ln in o["lines"])
    assert len(shipped) == RACERS // 2 and all(ln["checked_out"] for ln in shipped)
    # Billed once per order, for exactly its shipped lines.
    invoices = vendor.items("/invoices")
    assert sorted(i["order_id"] for i in invoices) == sorted(o["order_id"] for o in confirmed)
    for order in confirmed:
        [invoice] = [i for i in invoices if i["order_id"] == order["order_id"]]
        lines = [ln for ln in order["lines"] if ln["status"] == "ACTIVE"]
        expected = sum(Decimal(ln["unit_cost"]) * ln["boxes"] * ln["bunches_per_box"] * ln["stems_per_bunch"]
                       for ln in lines)
        assert Decimal(invoice["subtotal"]) == expected, (invoice, lines)
