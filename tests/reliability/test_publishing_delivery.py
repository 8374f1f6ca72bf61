"""Events arrive twice, late, out of order, or a Lambda dies halfway: buyers' availability
ends exactly as if every event had been delivered once, in order.

Each run seeds companies of its own (the demo's, with a suffix) on the shared local cloud.
"""

import uuid

import pytest

from infra.localcloud import demo
from infra.localcloud.client import ApiClient
from infra.localcloud.tokens import mint


def _burst_of_vendor_changes(api, rosaflor, bloom, petal, lines):
    """Many changes before any event is delivered, so faults can reorder and repeat them."""
    vendor = api(rosaflor, "Admin")
    for body in ({"price": "0.36"}, {"price": "0.37"}, {"on_hold": True}, {"on_hold": False, "boxes_on_hand": 9},
                 {"price": "0.38"}):
        assert vendor.patch(f"/inventory/{lines['FR50HB']}", json=body).status == 200
    assert vendor.patch(f"/inventory/{lines['HYDWFB']}", json={"on_hold": True}).status == 200
    assert vendor.delete(f"/inventory/{lines['MND60QB']}").status == 204
    assert api(petal, "Admin").post(f"/connections/{rosaflor}.{petal}/suspend").status == 200
    assert api(petal, "Admin").post(f"/connections/{rosaflor}.{petal}/resume").status == 200
    conn = vendor.get(f"/connections/{rosaflor}.{bloom}").json()
    assert vendor.put(f"/connections/{rosaflor}.{bloom}/terms", json={
        "terms": {**conn["terms"], "markup_pct": "5"}}).status == 200


def _availability(api, suffix):
    """What each buyer sees, by the buyer's demo name (bloom, petal, tulipa)."""
    seen = {}
    for buyer in ("bloom", "petal", "tulipa"):
        lines = api(f"{buyer}{suffix}", "Admin").get("/availability").json()["lines"]
        seen[buyer] = {ln["box_code"]: {k: v.replace(suffix, "") if isinstance(v, str) else v
                                        for k, v in ln.items() if k != "line_id"} for ln in lines}
    return seen


def _run(cloud, faults: dict) -> dict:
    suffix = f"-{uuid.uuid4().hex[:6]}"

    def api(company, *roles):
        return ApiClient(cloud.base_url, mint(company, roles))

    lines = demo.seed(cloud, suffix)["inventory_line_ids"]
    cloud.reset_counters()
    _burst_of_vendor_changes(api, *(f"{c}{suffix}" for c in ("rosaflor", "bloom", "petal")), lines)
    cloud.faults.apply(faults)
    cloud.drain()
    crashed = list(cloud.crashes)
    cloud.faults.reset()
    cloud.drain()
    return {"availability": _availability(api, suffix), "crashed": crashed}


@pytest.fixture(scope="module")
def delivered_once(shared_cloud):
    state = _run(shared_cloud.get(), {})["availability"]
    # The burst really happened: what the buyers see is the last word of each change.
    assert state["bloom"]["FR50HB"]["boxes_available"] == 9
    assert state["bloom"]["FR50HB"]["vendor_price"] == "0.399"  # 0.38 + 5% markup
    assert state["petal"]["FR50HB"]["vendor_price"] == "0.418"  # 0.38 + 10%
    assert set(state["bloom"]) == {"FR50HB"} and set(state["petal"]) == {"FR50HB"}
    assert state["tulipa"] == {}
    return state


@pytest.mark.parametrize("faults", [
    {"duplicate": True},
    {"reorder": True},
    {"duplicate": True, "reorder": True},
    {"drop_then_redeliver": True},
], ids=["twice", "out-of-order", "twice-and-out-of-order", "dropped-then-redelivered"])
def test_faulty_delivery_leaves_the_same_availability(delivered_once, cloud, faults):
    assert _run(cloud, faults)["availability"] == delivered_once


@pytest.mark.parametrize("function,call", [
    ("AvailabilitySyncFunction", 1),
    ("AvailabilitySyncFunction", 3),
    ("EventRelayFunction", 1),
])
def test_a_lambda_dying_halfway_is_retried_to_the_same_availability(delivered_once, cloud, function, call):
    outcome = _run(cloud, {"crash_after": {function: call}})
    assert [c.function for c in outcome["crashed"]] == [function]
    assert outcome["availability"] == delivered_once
