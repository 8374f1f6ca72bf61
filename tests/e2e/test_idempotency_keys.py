"""Defect 7: a client that retries a create or a command after a timeout gets the first answer, not a duplicate.

Over HTTP on the local cloud: Bloom's web shop opens carts on Rosaflor's stock with an `Idempotency-Key`
header; Petal & Stem, another buyer of Rosaflor's, happens to use the same keys.
"""

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest

from infra.localcloud import demo

pytestmark = pytest.mark.e2e


@pytest.fixture
def shops(cloud, api, suffix):
    ids = demo.seed(cloud, suffix)["inventory_line_ids"]
    rosaflor, bloom, petal = (f"{c}{suffix}" for c in ("rosaflor", "bloom", "petal"))
    for buyer in (bloom, petal):
        assert api(buyer, "Admin").put("/customers/FLORA", json={
            "name": "Flora's Boutique", "email": "orders@flora.example"}).status == 200
    return Shops(api, ids["FR50HB"], rosaflor, bloom, petal)


class Shops:
    def __init__(self, api, line_id, rosaflor, bloom, petal):
        self.line_id, self.vendor_id = line_id, rosaflor
        self.bloom, self.petal = api(bloom, "AccountsReceivable"), api(petal, "AccountsReceivable")
        self.bloom_admin = api(bloom, "Admin")
        self.rosaflor = api(rosaflor, "Admin")
        lines = self.bloom_admin.get("/availability", params={"location": "NYC"}).json()["lines"]
        self.ship_date = next(ln for ln in lines if ln["line_id"] == line_id)["earliest_ship_date"]

    def cart(self, boxes=2):
        return {"customer_code": "FLORA", "ship_date": self.ship_date, "vendor_company_id": self.vendor_id,
                "line_id": self.line_id, "boxes": boxes}

    def stock(self):
        line = self.rosaflor.get(f"/inventory/{self.line_id}").json()["line"]
        return line["boxes_on_hand"], line["boxes_held"], line["boxes_sold"]


def post(client, path, body=None, key=None):
    return client.request("POST", path, body, headers={"Idempotency-Key": key} if key else None)


def test_a_retried_cart_is_opened_once_and_answered_the_same(shops):
    first = post(shops.bloom, "/carts", shops.cart(), key="cart-7f3a")
    assert first.status == 201, first.json()
    again = post(shops.bloom, "/carts", shops.cart(), key="cart-7f3a")
    assert (again.status, again.json()) == (first.status, first.json())
    assert again.header("Idempotent-Replayed") == "true" and first.header("Idempotent-Replayed") is None
    assert shops.stock() == (10, 2, 0)  # 12 on hand: two boxes held once, not twice
    # Without a key, a repeat is a new request (the header is what makes a retry safe).
    assert post(shops.bloom, "/carts", shops.cart()).json()["cart_id"] != first.json()["cart_id"]


def test_the_same_key_with_another_body_is_refused_and_changes_nothing(shops):
    assert post(shops.bloom, "/carts", shops.cart(2), key="cart-1").status == 201
    other = post(shops.bloom, "/carts", shops.cart(3), key="cart-1")
    assert other.status == 422
    error = other.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert error["details"] == [{"field": "header.Idempotency-Key", "message": error["details"][0]["message"]}]
    assert shops.stock() == (10, 2, 0)


def test_another_company_with_the_same_key_gets_its_own_cart(shops):
    bloom = post(shops.bloom, "/carts", shops.cart(2), key="shared-key")
    petal = post(shops.petal, "/carts", shops.cart(1), key="shared-key")  # another body: still its own request
    assert (bloom.status, petal.status) == (201, 201)
    assert petal.json()["cart_id"] != bloom.json()["cart_id"]
    assert petal.header("Idempotent-Replayed") is None
    assert shops.petal.get(f"/carts/{petal.json()['cart_id']}").status == 200
    assert shops.petal.get(f"/carts/{bloom.json()['cart_id']}").status == 404  # and never sees Bloom's
    assert shops.stock() == (9, 3, 0)


def test_concurrent_duplicates_execute_once(shops):
    threads = 6
    start = Barrier(threads)

    def attempt(_):
        start.wait()
        return post(shops.bloom, "/carts", shops.cart(2), key="burst-1")

    with ThreadPoolExecutor(threads) as pool:
        answers = list(pool.map(attempt, range(threads)))
    done = [a for a in answers if a.status == 201]
    busy = [a for a in answers if a.status == 409]
    assert len(done) + len(busy) == threads, [(a.status, a.json()) for a in answers]
    assert done and len({a.json()["cart_id"] for a in done}) == 1
    assert all(a.json()["error"]["code"] == "in_progress" and a.header("Retry-After") for a in busy)
    assert shops.stock() == (10, 2, 0)  # one cart's two boxes, however many requests ran at once
    # Once the first has finished, every retry gets its answer.
    assert post(shops.bloom, "/carts", shops.cart(2), key="burst-1").json() == done[0].json()


def test_checkout_prebook_and_purchase_orders_are_safe_to_retry(shops, cloud):
    cart = post(shops.bloom, "/carts", shops.cart(2), key="c-1").json()
    checked = [post(shops.bloom, f"/carts/{cart['cart_id']}/checkout", key="co-1") for _ in range(2)]
    assert [c.status for c in checked] == [200, 200] and checked[0].json() == checked[1].json()
    assert post(shops.bloom, f"/carts/{cart['cart_id']}/checkout").status == 409  # no key: already checked out

    prebook = {"customer_code": "FLORA", "ship_date": shops.ship_date, "carrier": "FedEx", "ship_via": "GROWER",
               "lines": [{"vendor_company_id": shops.vendor_id, "line_id": shops.line_id, "boxes": 1}]}
    made = [post(shops.bloom_admin, "/prebooks", prebook, key="pb-1") for _ in range(2)]
    assert [m.status for m in made] == [201, 201] and made[0].json() == made[1].json()
    assert len(shops.bloom_admin.items("/prebooks")) == 2  # the checkout's and this one: not three

    path = f"/prebooks/{made[0].json()['prebook_id']}/purchase-orders"
    pos = [post(shops.bloom_admin, path, key="po-1") for _ in range(2)]
    assert [p.status for p in pos] == [201, 201] and pos[0].json() == pos[1].json()
    cloud.drain()
    assert shops.stock() == (9, 0, 3)  # the cart's two boxes and the PO's one, sold once each
    assert len(shops.rosaflor.items("/orders")) == 2  # the cart's order and the PO's, once each
