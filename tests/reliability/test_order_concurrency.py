"""Two buyers' customers want the last boxes at the same moment: nothing is oversold, and every box
is always on hand, held in a cart or sold - whatever mix of adds, checkouts, expiries and voids."""

import random
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from types import SimpleNamespace

import pytest

from infra.localcloud import demo


@pytest.fixture
def market(cloud, api, suffix):
    """Rosaflor's last 10 boxes of FR50HB; 16 customers at each of Bloom and Petal; who is who."""
    ids = demo.seed(cloud, suffix)["inventory_line_ids"]
    rosaflor, bloom, petal = (f"{c}{suffix}" for c in ("rosaflor", "bloom", "petal"))
    vendor = api(rosaflor, "Admin")
    assert vendor.patch(f"/inventory/{ids['FR50HB']}", json={"boxes_on_hand": 10}).status == 200
    for buyer in (bloom, petal):
        admin = api(buyer, "Admin")
        for n in range(16):
            assert admin.put(f"/customers/C{n:02d}", json={"name": f"Customer {n}"}).status == 200
    # Petal gives every web purchase its own PO; Bloom consolidates into one pending PO.
    settings = api(petal, "Admin").get("/company").json()["settings"]
    settings["automations"]["separate_ecommerce_pos"] = True
    assert api(petal, "Admin").put("/company/settings", json={"settings": settings}).status == 200
    cloud.drain()
    ship = api(bloom, "Admin").get("/availability").json()["lines"][0]["earliest_ship_date"]
    return SimpleNamespace(ids=ids, ship=ship, rosaflor=rosaflor, bloom=bloom, petal=petal)


def stock_of(api, market):
    line = api(market.rosaflor, "Admin").get(f"/inventory/{market.ids['FR50HB']}").json()["line"]
    return line["boxes_on_hand"], line["boxes_held"], line["boxes_sold"]


def test_32_customers_of_two_buyers_compete_for_10_boxes(market, api, cloud):
    shops = {b: api(b, "SalesManager") for b in (market.bloom, market.petal)}

    def buy(n):
        buyer = market.bloom if n % 2 else market.petal
        return buyer, shops[buyer].post("/carts", json={
            "customer_code": f"C{n // 2:02d}", "ship_date": market.ship, "vendor_company_id": market.rosaflor,
            "line_id": market.ids["FR50HB"], "boxes": 1})

    with ThreadPoolExecutor(max_workers=32) as pool:  # every request answered, however long it takes
        results = list(pool.map(buy, range(32)))
    won = [(b, r.json()) for b, r in results if r.status == 201]
    lost = [r for _, r in results if r.status != 201]
    assert len(won) == 10
    assert all(r.status == 409 for r in lost), {r.status for r in lost}
    assert stock_of(api, market) == (0, 10, 0)
    cloud.drain()
    orders = api(market.rosaflor, "Admin").items("/orders")
    assert sum(ln["boxes"] for o in orders for ln in o["lines"] if ln["status"] == "ACTIVE") == 10
    # Bloom's carts share one pending PO; each of Petal's has its own.
    bloom_pos = api(market.bloom, "Admin").items("/purchase-orders")
    petal_pos = api(market.petal, "Admin").items("/purchase-orders")
    bloom_won = sum(1 for b, _ in won if b == market.bloom)
    assert len(bloom_pos) == (1 if bloom_won else 0)
    assert len(petal_pos) == 10 - bloom_won
    assert api(market.bloom, "Admin").get("/availability").json()["lines"][0]["box_code"] != "FR50HB"  # sold out


def test_every_box_is_on_hand_held_or_sold_after_any_mix_of_steps(market, api, cloud):
    rng = random.Random(20261122)
    shop = api(market.bloom, "SalesManager")
    seller = api(market.rosaflor, "SalesManager")
    carts = []
    for step in range(40):
        action = rng.choice(["add", "add", "checkout", "expire", "void", "delete", "confirm"])
        if action == "add":
            body = {"customer_code": f"C{rng.randrange(16):02d}", "ship_date": market.ship,
                    "vendor_company_id": market.rosaflor, "line_id": market.ids["FR50HB"],
                    "boxes": rng.randint(1, 3)}
            r = shop.post("/carts", json=body)
            if r.status == 201:
                carts.append(r.json()["cart_id"])
        elif action == "checkout" and carts:
            shop.post(f"/carts/{rng.choice(carts)}/checkout")
        elif action == "expire":
            cloud.advance(timedelta(minutes=rng.choice([10, 61])))
        elif action in ("void", "delete", "confirm"):
            cloud.drain()
            open_orders = [o for o in seller.items("/orders") if o["status"] == "OPEN"]
            if open_orders:
                order = rng.choice(open_orders)
                if action == "void":
                    seller.post(f"/orders/{order['order_id']}/void", json={"confirm": "CONFIRM"})
                elif action == "confirm":
                    seller.post(f"/orders/{order['order_id']}/confirm", json={})
                else:
                    live = [ln for ln in order["lines"] if ln["status"] == "ACTIVE"]
                    if live:
                        seller.delete(f"/orders/{order['order_id']}/lines/{rng.choice(live)['line_no']}")
        cloud.drain()
        on_hand, held, sold = stock_of(api, market)
        assert min(on_hand, held, sold) >= 0, step
        assert on_hand + held + sold == 10, (step, action, on_hand, held, sold)
    # And what is held is exactly what open carts hold; what is sold, what live checked-out lines carry.
    orders = seller.items("/orders")
    live = [ln for o in orders for ln in o["lines"] if ln["status"] == "ACTIVE"]
    assert sum(ln["boxes"] for ln in live if not ln["checked_out"]) == stock_of(api, market)[1]
    assert sum(ln["boxes"] for ln in live if ln["checked_out"]) == stock_of(api, market)[2]
