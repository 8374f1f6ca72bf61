"""Order events delivered twice, out of order, or after a crash change nothing: same stock, same
documents, one email per notice, one timer per cart."""

from collections import Counter
from datetime import timedelta

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from infra.localcloud import demo
from infra.localcloud.client import ApiClient
from infra.localcloud.runtime import LocalCloud
from infra.localcloud.tokens import mint
from tests.conftest import TEMPLATE


def _story(faults: dict) -> dict:
    with LocalCloud(TEMPLATE) as cloud:
        def api(company, *roles):
            return ApiClient(cloud.base_url, mint(company, roles or ("Admin",)))

        def drain():
            for name, value in faults.items():
                if name == "crash_after":
                    cloud.faults.crash_after.update(value)
                else:
                    setattr(cloud.faults, name, value)
            cloud.drain()
            cloud.faults.reset()
            cloud.drain()

        ids = demo.seed(cloud)["inventory_line_ids"]
        vendor, bloom = api("rosaflor"), api("bloom")
        account = next(c for c in vendor.get("/customers").json() if c["code"] == "BLOOM")
        vendor.put("/customers/BLOOM", json={**account, "salesperson_email": "ana@rosaflor.example"})
        bloom.put("/customers/FLORA", json={"name": "Flora", "email": "orders@flora.example",
                                            "salesperson_email": "sam@bloom.example"})
        ship = next(ln for ln in bloom.get("/availability").json()["lines"]
                    if ln["box_code"] == "FR50HB")["earliest_ship_date"]

        def add(boxes, box_code="FR50HB"):
            response = bloom.post("/carts", json={"customer_code": "FLORA", "ship_date": ship,
                                                   "vendor_company_id": "rosaflor", "line_id": ids[box_code],
                                                   "boxes": boxes})
            assert response.status == 201, response.json()
            return response.json()["cart_id"]

        kept, dropped, lapsed = add(2), add(1), add(1, "HYDWFB")
        assert bloom.post(f"/carts/{kept}/checkout").status == 200
        drain()
        orders = {o["lines"][0]["box_code"]: o for o in vendor.get("/orders").json()}
        assert vendor.post(f"/orders/{orders['FR50HB']['order_id']}/confirm", json={}).status == 200
        drain()
        cloud.advance(timedelta(minutes=61))
        drain()
        stock = {}
        for box_code in ("FR50HB", "HYDWFB"):
            line = vendor.get(f"/inventory/{ids[box_code]}").json()["line"]
            stock[box_code] = (line["boxes_on_hand"], line["boxes_held"], line["boxes_sold"])
        sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
        return {
            "stock": stock,
            "orders": sorted((o["status"], tuple((ln["boxes"], ln["status"], ln["checked_out"]) for ln in o["lines"]))
                             for o in vendor.get("/orders").json()),
            "carts": sorted(bloom.get(f"/carts/{c}").json()["status"] for c in (kept, dropped, lapsed)),
            "staging": [(s["box_code"], s["boxes_confirmed"]) for s in bloom.get("/staging").json()],
            "emails": Counter((m.destinations["ToAddresses"][0], m.subject.split(" K2K-")[0].split(" PB-")[0])
                              for m in sent),
            "availability": sorted((ln["box_code"], ln["boxes_available"])
                                   for ln in bloom.get("/availability").json()["lines"]),
        }


@pytest.fixture(scope="module")
def once():
    state = _story({})
    assert state["stock"] == {"FR50HB": (10, 0, 2), "HYDWFB": (3, 0, 0)}
    assert state["carts"] == ["CHECKED_OUT", "OPEN", "OPEN"] or state["carts"].count("CHECKED_OUT") == 1
    assert sum(state["emails"].values()) >= 3
    return state


@pytest.mark.parametrize("faults", [
    {"duplicate": True},
    {"reorder": True},
    {"duplicate": True, "reorder": True},
    {"drop_then_redeliver": True},
    {"crash_after": {"OrderNoticesFunction": 2}},
    {"crash_after": {"AvailabilitySyncFunction": 2}},
    {"crash_after": {"CartTimerFunction": 1}},
], ids=["twice", "reordered", "twice-reordered", "dropped", "notices-crash", "sync-crash", "timer-crash"])
def test_faulty_delivery_of_order_events_changes_nothing(once, faults):
    assert _story(faults) == once
