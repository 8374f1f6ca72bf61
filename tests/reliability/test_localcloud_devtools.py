"""The local cloud's own helpers, over HTTP under /_local/: the emails sent, a tail of the bus, the clock.

Each test plays the demo's story with companies of its own (demo.seed's suffix),
so it holds on a local cloud that other tests share. Resetting everything is
shown on a `make run` of its own (tests/e2e/test_readme_walk.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from infra.localcloud import demo, devtools
from infra.localcloud.client import ApiClient
from infra.localcloud.runtime import LocalCloud


@pytest.fixture
def local(cloud: LocalCloud) -> Iterator[ApiClient]:
    """A client of the helpers, installed on the test's local cloud (before the story, to see all of it)."""
    tools = devtools.install(cloud)
    yield ApiClient(cloud.base_url)
    tools.close()


class Story:
    """Rosaflor publishes to Bloom; Bloom's web shop sells to Flora's Boutique (this test's own companies)."""

    def __init__(self, cloud: LocalCloud, api: Callable[..., ApiClient]) -> None:
        self.suffix = "-" + uuid.uuid4().hex[:8]
        self.line = demo.seed(cloud, self.suffix)["inventory_line_ids"]["FR50HB"]
        self.vendor_id, self.buyer_id = f"rosaflor{self.suffix}", f"bloom{self.suffix}"
        self.vendor = api(self.vendor_id, "Admin")
        self.buyer = api(self.buyer_id, "Admin")
        self.shop = api(self.buyer_id, "AccountsReceivable")
        self.flora = f"orders@flora{self.suffix}.example"
        assert self.buyer.put("/customers/FLORA", json={"name": "Flora's Boutique", "email": self.flora}).status == 200

    def open_cart(self) -> dict[str, Any]:
        lines = self.buyer.get("/availability", params={"location": "NYC"}).json()["lines"]
        ship_date = next(ln for ln in lines if ln["line_id"] == self.line)["earliest_ship_date"]
        cart = self.shop.post("/carts", json={"customer_code": "FLORA", "ship_date": ship_date,
                                              "vendor_company_id": self.vendor_id, "line_id": self.line,
                                              "boxes": 2})
        assert cart.status == 201, cart.json()
        opened: dict[str, Any] = cart.json()
        return opened


@pytest.fixture
def story(local: ApiClient, cloud: LocalCloud, api: Callable[..., ApiClient]) -> Story:
    return Story(cloud, api)


def test_the_email_a_checkout_sends_is_listed_with_its_recipient_subject_and_body(
        cloud: LocalCloud, local: ApiClient, story: Story) -> None:
    cart = story.open_cart()
    assert story.shop.post(f"/carts/{cart['cart_id']}/checkout").status == 200
    cloud.drain()

    got = local.get("/_local/emails", params={"to": story.flora})
    assert got.status == 200
    [email] = got.json()["emails"]
    assert email["to"] == [story.flora]
    assert email["subject"].endswith("confirmed") and "2 x Rose Freedom 50cm" in email["body"]
    assert email["from"] and email["message_id"]
    sent_at = datetime.fromisoformat(email["time"])
    assert abs(sent_at - cloud.now()) < timedelta(minutes=5)  # the application's clock


def test_the_events_tail_shows_what_crossed_the_bus_with_its_producer(
        cloud: LocalCloud, local: ApiClient, story: Story) -> None:
    assert story.vendor.patch(f"/inventory/{story.line}", json={"price": "0.40"}).status == 200
    cloud.drain()

    events = local.get("/_local/events", params={"limit": 100}).json()["events"]
    changed = [e for e in events if e["aggregate_id"] == story.line]
    assert changed, events
    last = changed[-1]
    assert (last["detail_type"], last["source"], last["producer"]) == (
        "InventoryLineChanged", "k2k.inventory", story.vendor_id)
    assert last["time"] and last["occurred_at"] and last["event_id"]
    # The tail is a tail: the limit keeps the newest.
    assert local.get("/_local/events", params={"limit": 1}).json()["events"] == events[-1:]


def test_advancing_the_clock_lets_a_cart_timer_expire_the_cart(
        cloud: LocalCloud, local: ApiClient, story: Story) -> None:
    cart = story.open_cart()
    cloud.drain()
    before = datetime.fromisoformat(local.get("/_local/clock").json()["now"])

    advanced = local.post("/_local/clock", json={"minutes": 61})

    assert advanced.status == 200
    assert advanced.json()["advanced_by_seconds"] == 3660
    assert datetime.fromisoformat(advanced.json()["now"]) - before >= timedelta(minutes=61)
    # The timer fired and its effects were delivered before the answer: the cart is expired now.
    assert story.shop.get(f"/carts/{cart['cart_id']}").json()["status"] == "EXPIRED"
    kinds = [e["detail_type"] for e in local.get("/_local/events", params={"limit": 100}).json()["events"]
             if e["aggregate_id"] == cart["cart_id"]]
    assert "CartTimerElapsed" in kinds and "CartExpired" in kinds


@pytest.mark.parametrize("body", [None, {}, {"minutes": -1}, {"weeks": 1}, {"minutes": "61"}, {"minutes": True},
                                  {"minutes": 0}, {"days": 400}])
def test_the_clock_refuses_what_is_not_a_step_forward(cloud: LocalCloud, local: ApiClient, body: Any) -> None:
    before = cloud.clock_offset
    got = local.post("/_local/clock", json=body)
    assert got.status == 422
    assert got.json()["error"]["code"] == "invalid"
    assert cloud.clock_offset == before


def test_the_helpers_answer_404_and_405_like_the_api(local: ApiClient) -> None:
    missing = local.get("/_local/mails")
    assert missing.status == 404
    assert missing.json()["error"] == {"code": "not_found",
                                       "message": "no route GET /_local/mails: the API's routes are at /docs"}
    wrong = local.request("DELETE", "/_local/clock")
    assert (wrong.status, wrong.headers["Allow"]) == (405, "GET, POST")
    assert wrong.json()["error"]["code"] == "method_not_allowed"
    assert local.get("/_local/events", params={"limit": "lots"}).status == 422


def test_the_tail_keeps_only_the_newest_events(cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devtools, "EVENTS_KEPT", 3)
    tools = devtools.install(cloud)
    try:
        bus = cloud.client("events")
        for n in range(5):  # a source no rule of the application listens to
            bus.put_events(Entries=[{"Source": "k2k.local-test", "DetailType": "Counted", "EventBusName":
                                     cloud.name("K2KBus"), "Detail": json.dumps({"metadata": {"aggregate_id": n}})}])
        events = ApiClient(cloud.base_url).get("/_local/events", params={"limit": 10}).json()["events"]
        assert [e["aggregate_id"] for e in events] == [2, 3, 4]
    finally:
        tools.close()
