"""A web shop's cart request whose Lambda dies after the cart was made, before its answer was kept: the
shop's retry with the same Idempotency-Key does not make a second cart while the first invocation could
still be running (Powertools' in-progress marker lasts the invocation's timeout), nor once that marker has
expired and the request runs again: the cart's transaction committed the answer with it
(k2k.idempotency.outcome), so the re-execution answers that cart, as created.
"""

from infra.localcloud import demo
from tests.reliability.fault_stories import Client

FUNCTION = "CreatePoFunction"


def test_a_retry_after_a_crash_between_the_cart_and_its_answer_makes_no_second_cart(cloud, api, suffix):
    ids = demo.seed(cloud, suffix)["inventory_line_ids"]
    rosaflor, bloom = f"rosaflor{suffix}", f"bloom{suffix}"
    assert api(bloom, "Admin").put("/customers/FLORA", json={"name": "Flora", "email": "o@flora.example"}).status == 200
    shop, vendor = api(bloom, "AccountsReceivable"), api(rosaflor, "Admin")
    lines = api(bloom, "Admin").get("/availability", params={"location": "NYC"}).json()["lines"]
    ship = next(ln for ln in lines if ln["line_id"] == ids["FR50HB"])["earliest_ship_date"]
    cart = {"customer_code": "FLORA", "ship_date": ship, "vendor_company_id": rosaflor,
            "line_id": ids["FR50HB"], "boxes": 2}

    def post(key):
        return shop.request("POST", "/carts", cart, headers={"Idempotency-Key": key})

    def held():
        return vendor.get(f"/inventory/{ids['FR50HB']}").json()["line"]["boxes_held"]

    # How many AWS calls a keyed cart takes when the shop has carts already (its first takes one read
    # fewer): the last one keeps the answer (Powertools' UpdateItem).
    assert post("first").status == 201
    cloud.aws_calls.reset()
    assert post("measure").status == 201
    last = sum(cloud.aws_calls[FUNCTION].values())
    assert held() == 4

    cloud.faults.apply({"crash_after": {FUNCTION: last}})  # dies at the call that would keep the answer
    crashed = post("cart-after-timeout")
    assert crashed.status == 502
    assert [(c.function, c.operation) for c in cloud.crashes] == [(FUNCTION, "dynamodb.UpdateItem")]
    assert held() == 6  # the cart was made: its transaction committed before the crash

    retry = post("cart-after-timeout")
    assert retry.status == 409 and retry.json()["error"]["code"] == "in_progress"
    assert held() == 6  # and the retry did not make another

    Client(cloud, bloom).wait_out_timeouts()  # the crashed invocation's timeout has passed: the marker expired
    other = shop.request("POST", "/carts", {**cart, "boxes": 1}, headers={"Idempotency-Key": "cart-after-timeout"})
    assert other.status == 422 and other.json()["error"]["code"] == "idempotency_key_reused"  # another request
    again = post("cart-after-timeout")
    assert again.status == 201, again.json()
    assert shop.get(f"/carts/{again.json()['cart_id']}").json() == again.json()  # the cart the crash made
    assert held() == 6  # not held twice
