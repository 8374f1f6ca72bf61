"""A stateful property test of K2K orders over HTTP on the local cloud: whatever a shop, a vendor and the
event plumbing do, in any order, no box is lost, stranded or billed twice.

Hypothesis (`RuleBasedStateMachine`) runs random sequences of: add to a cart (new or open), checkout,
vendor confirm, void, delete an order line, delete an inventory line, staging receipt, cart-timer expiry
(the clock moved past the timer), and delivering the events those caused, each time with a fault mode
drawn from none / every batch twice / newest first / both / each message's first delivery lost. After
every step it checks, reading only what the API answers:

- every vendor line of the example: boxes on hand + held + sold = boxes received, and the buckets agree
  with the documents: held = the boxes of active lines of open carts, sold - shipped = the boxes of
  active checked-out lines of open orders, shipped = those of confirmed orders;
- no document references a missing line: every active line of an open cart or an open order names a
  vendor line that still exists (a line holding boxes cannot disappear);
- every billed box is billed once: at most one issued invoice per order, its boxes those the vendor
  confirmed (exactly one, once the events are delivered); the buyer's receipts never exceed the boxes
  confirmed, and its customer invoices never bill more boxes than were received;
- at the end of each example, once everything is delivered: no open cart holds a missing line, and no
  event ended in a dead-letter queue.

Driven through the REST API (the shop's and the vendor's real calls, events by the local cloud's
pollers), not the services: the faults under test are the plumbing's. Each example works on vendor lines
of its own; the buyer keeps e-commerce POs separate, so each cart has its own PO and vendor order and no
document spans examples. `make test` runs SMALL, `make proof` FULL (examples x steps) in each of PARTS tests.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from infra.localcloud import demo
from infra.localcloud.client import ApiClient
from infra.localcloud.tokens import mint

SMALL = (10, 10)  # examples, steps per example
FULL = (10, 30)  # per part: PARTS x 10 = 200 examples of 30 steps in make proof
# Tests of their own companies and seed: xdist's workers share them out evenly (a part is about a minute of CPU,
# so neither worker is left with a long one at the end), and no company's lists grow long.
PARTS = 20
CART_TIMER = timedelta(minutes=61)  # past the buyer's 60-minute cart timer
FAULTS = [{}, {"duplicate": True}, {"reorder": True}, {"duplicate": True, "reorder": True},
          {"drop_then_redeliver": True}]
ALLOWED = {200, 201, 204, 404, 409, 422}  # a refusal is a fine answer to a random step; a 5xx never is


class Story:
    """The companies a run works in (seeded once per test), and what the steps achieved across examples."""

    def __init__(self, cloud: Any) -> None:
        suffix = f"-{uuid.uuid4().hex[:6]}"
        demo.seed(cloud, suffix)
        self.cloud = cloud
        self.vendor_id, self.buyer_id = f"rosaflor{suffix}", f"bloom{suffix}"
        self.vendor = ApiClient(cloud.base_url, mint(self.vendor_id, ["Admin"]))
        self.buyer = ApiClient(cloud.base_url, mint(self.buyer_id, ["Admin"]))
        current = self.buyer.get("/company").json()
        settings_ = current["settings"]
        settings_["buyer"]["automatic_billing_allocation"] = True
        settings_["automations"]["separate_ecommerce_pos"] = True
        got = self.buyer.put("/company/settings", json={"settings": settings_, "version": current["version"]})
        assert got.status == 200, got.text
        self.dead_letters = dead_letters(cloud)
        self.done: Counter[str] = Counter()  # rule -> steps that changed something (2xx)
        self.refused: Counter[str] = Counter()
        self.why: Counter[tuple[str, int, str]] = Counter()  # refusals by step, status and message


class OrderMachine(RuleBasedStateMachine):
    story: Story  # set by the test

    carts = Bundle("carts")

    def __init__(self) -> None:
        super().__init__()
        self.received: dict[str, int] = {}  # vendor line id -> boxes it was created with
        self.box_codes: dict[str, str] = {}
        self.cart_ids: list[str] = []
        self.order_ids: dict[str, str] = {}  # buyer's po id -> vendor's order id
        self.ship_date = ""
        self.confirmed = False  # an order of this example was confirmed: there is something to receive
        self.customer = ""  # the buyer's end customer of this example: its invoices are this example's

    # -- the world of one example -------------------------------------------------------------------------

    @initialize()
    def vendor_lines(self) -> None:
        story = self.story
        tag = uuid.uuid4().hex[:6].upper()
        self.ship_date = (story.cloud.now() + timedelta(days=4)).date().isoformat()
        self.customer = f"SM{tag}"
        assert story.buyer.put(f"/customers/{self.customer}", json={"name": f"Flora {tag}"}).status == 200
        for n, boxes in enumerate((6, 4)):
            box_code = f"SM{tag}{n}"
            got = story.vendor.post("/inventory", json={
                "box_code": box_code, "product": f"Rose SM {n}", "box_type": "HB", "unit_type": "STEM",
                "bunches_per_box": 10, "stems_per_bunch": 25, "boxes_on_hand": boxes, "price": "0.35",
                "location": "MIA", "dimensions": {"length": "40", "width": "10", "height": "10"}})
            assert got.status == 201, got.text
            self.received[got.json()["line_id"]] = boxes
            self.box_codes[got.json()["line_id"]] = box_code
        story.cloud.drain()

    # -- helpers --------------------------------------------------------------------------------------------

    def _answer(self, step: str, got: Any) -> Any:
        assert got.status in ALLOWED, f"{step} answered {got.status}: {got.text}"
        (self.story.done if got.status < 300 else self.story.refused)[step] += 1
        if got.status >= 300:
            self.story.why[(step, got.status, str((got.json() or {}).get("error", {}).get("message"))[:80])] += 1
        return got.json() if got.status < 300 and got.body else None

    def _orders(self, status: str | None = None) -> list[dict[str, Any]]:
        """The vendor's orders of this example, each read by id (the vendor's list grows with every example)."""
        out = []
        for order_id in self.order_ids.values():
            got = self.story.vendor.get(f"/orders/{order_id}")
            assert got.status == 200, got.text
            if status in (None, got.json()["status"]):
                out.append(got.json())
        return out

    def _track(self, cart: dict[str, Any]) -> None:
        """The buyer's POs a cart's lines went to, and the vendor order of each."""
        for po_id in sorted({ln["po_id"] for ln in cart["lines"] if ln.get("po_id")} - set(self.order_ids)):
            got = self.story.buyer.get(f"/purchase-orders/{po_id}")
            assert got.status == 200, got.text
            self.order_ids[po_id] = got.json()["purchase_order"]["order_id"]

    def _deliver(self, faults: dict[str, Any]) -> None:
        """Deliver the events under these faults, then (faults over) what they left to redeliver."""
        cloud = self.story.cloud
        if not faults:
            cloud.drain()
            return
        cloud.faults.apply(faults)
        try:
            cloud.drain()
        finally:
            cloud.faults.reset()
        cloud.drain()

    def _add(self, line: int, boxes: int, cart: str | None = None) -> Any:
        body = {"customer_code": self.customer, "ship_date": self.ship_date, "vendor_company_id": self.story.vendor_id,
                "line_id": list(self.received)[line], "boxes": boxes}
        if cart is None:
            answer = self._answer("open cart", self.story.buyer.post("/carts", json=body))
        else:
            answer = self._answer("add to cart", self.story.buyer.post(f"/carts/{cart}/lines", json=body))
        if answer is not None:
            self._track(answer)
        return answer

    # -- the rules ------------------------------------------------------------------------------------------

    @rule(target=carts, line=st.integers(0, 1), boxes=st.integers(1, 2))
    def open_cart(self, line: int, boxes: int) -> Any:
        body = self._add(line, boxes)
        if body is None:
            return multiple()
        self.cart_ids.append(body["cart_id"])
        return str(body["cart_id"])

    @rule(cart=carts, line=st.integers(0, 1), boxes=st.integers(1, 2))
    def add_to_cart(self, cart: str, line: int, boxes: int) -> None:
        self._add(line, boxes, cart)

    @rule(cart=carts)
    def checkout(self, cart: str) -> None:
        self._answer("checkout", self.story.buyer.post(f"/carts/{cart}/checkout"))

    @rule(line=st.integers(0, 1), boxes=st.integers(1, 2))
    def buy(self, line: int, boxes: int) -> None:
        """The shop's usual path in one step: a cart of one line, checked out."""
        body = self._add(line, boxes)
        if body is not None:
            self.cart_ids.append(body["cart_id"])
            self.checkout(body["cart_id"])

    @precondition(lambda self: self.cart_ids)
    @rule(pick=st.integers(0, 5), awb=st.booleans())
    def confirm(self, pick: int, awb: bool) -> None:
        orders = self._orders("OPEN")
        checked_out = [o for o in orders if any(ln["checked_out"] for ln in o["lines"])] or orders
        if checked_out:
            order = checked_out[pick % len(checked_out)]
            if self._answer("confirm", self.story.vendor.post(f"/orders/{order['order_id']}/confirm",
                                                              json={"awb": "AWB123"} if awb else {})):
                self.confirmed = True

    @precondition(lambda self: self.cart_ids)
    @rule(pick=st.integers(0, 5))
    def void(self, pick: int) -> None:
        orders = self._orders("OPEN") or self._orders()
        if orders:
            order = orders[pick % len(orders)]
            self._answer("void", self.story.vendor.post(f"/orders/{order['order_id']}/void",
                                                        json={"confirm": "CONFIRM", "reason": "state machine"}))

    @precondition(lambda self: self.cart_ids)
    @rule(pick=st.integers(0, 5), line=st.integers(0, 2))
    def delete_order_line(self, pick: int, line: int) -> None:
        orders = self._orders("OPEN") or self._orders()
        if orders:
            order = orders[pick % len(orders)]
            active = [ln["line_no"] for ln in order["lines"] if ln["status"] == "ACTIVE"] or [1]
            line_no = active[line % len(active)]
            self._answer("delete order line",
                         self.story.vendor.delete(f"/orders/{order['order_id']}/lines/{line_no}"))

    @rule(line=st.integers(0, 1), now=st.integers(0, 3))
    def delete_inventory_line(self, line: int, now: int) -> None:
        if now:  # a quarter as often as the other steps: a deleted line leaves little else to do
            return
        self._answer("delete inventory line", self.story.vendor.delete(f"/inventory/{list(self.received)[line]}"))

    @precondition(lambda self: self.confirmed)
    @rule(pick=st.integers(0, 5), boxes=st.integers(1, 2), all_of_them=st.booleans())
    def receive(self, pick: int, boxes: int, all_of_them: bool) -> None:
        self._deliver({})  # what the vendor confirmed reaches the buyer's staging by its events
        orders = self._orders("CONFIRMED")
        if orders:
            order = orders[pick % len(orders)]
            active = [ln for ln in order["lines"] if ln["status"] == "ACTIVE"]
            box_code = active[pick % len(active)]["box_code"]
            body = {"box_code": box_code, "po_id": order["po_id"], **({} if all_of_them else {"boxes": boxes})}
            self._answer("receive", self.story.buyer.post("/staging/receive", json=body))

    @precondition(lambda self: self.cart_ids)
    @rule(faults=st.sampled_from(FAULTS))
    def deliver_events(self, faults: dict[str, Any]) -> None:
        self._deliver(faults)
        self.story.done["deliver events"] += 1
        self._billed_once(self._orders(), all_delivered=True)

    @precondition(lambda self: self.cart_ids)
    @rule(faults=st.sampled_from(FAULTS), now=st.integers(0, 2))
    def cart_timers_run_out(self, faults: dict[str, Any], now: int) -> None:
        if now:  # a third as often: every open cart of the example ends here
            return
        self._deliver({})  # the timers of the carts opened so far are set
        self.story.cloud.advance(CART_TIMER)
        self._deliver(faults)
        self.story.done["cart timers run out"] += 1

    # -- the invariants -------------------------------------------------------------------------------------

    @invariant()
    def no_box_is_lost_stranded_or_billed_twice(self) -> None:
        if not self.received:
            return
        orders = self._orders()
        self._stock_is_conserved(orders)
        if self.cart_ids:
            self._billed_once(orders, all_delivered=False)

    def _stock_is_conserved(self, orders: list[dict[str, Any]]) -> None:
        held, unshipped, shipped = Counter[str](), Counter[str](), Counter[str]()
        for order in orders:
            for ln in order["lines"]:
                if ln["status"] != "ACTIVE":
                    continue
                if order["status"] == "CONFIRMED":
                    shipped[ln["vendor_line_id"]] += ln["boxes"]
                elif order["status"] == "OPEN":
                    (unshipped if ln["checked_out"] else held)[ln["vendor_line_id"]] += ln["boxes"]
        for line_id, received in self.received.items():
            got = self.story.vendor.get(f"/inventory/{line_id}")
            if got.status == 404:
                assert held[line_id] == unshipped[line_id] == 0, (
                    f"line {line_id} was removed while open orders hold its boxes: in carts {held[line_id]}, "
                    f"sold and not shipped {unshipped[line_id]}")
                continue
            assert got.status == 200, got.text
            line = got.json()["line"]
            on_hand, in_carts, sold = line["boxes_on_hand"], line["boxes_held"], line["boxes_sold"]
            assert on_hand + in_carts + sold == received, f"{line_id}: {on_hand} + {in_carts} + {sold} != {received}"
            assert in_carts == held[line_id], f"{line_id}: {in_carts} held, open orders' cart lines {held[line_id]}"
            assert line["boxes_shipped"] == shipped[line_id], (
                f"{line_id}: {line['boxes_shipped']} shipped, confirmed orders have {shipped[line_id]}")
            assert sold - line["boxes_shipped"] == unshipped[line_id], (
                f"{line_id}: {sold - line['boxes_shipped']} sold unshipped, open orders have {unshipped[line_id]}")

    def teardown(self) -> None:
        """Once per example (a cart read per cart is too slow for every step): the carts agree with the
        orders, and no open cart holds boxes of a line that is gone."""
        if not self.cart_ids:
            return
        self._deliver({})
        self._billed_once(self._orders(), all_delivered=True)
        assert dead_letters(self.story.cloud) == self.story.dead_letters, "an event failed into a dead-letter queue"
        for cart_id in self.cart_ids:
            cart = self.story.buyer.get(f"/carts/{cart_id}").json()
            for ln in cart["lines"]:
                if cart["status"] == "OPEN" and ln["status"] == "ACTIVE":
                    got = self.story.vendor.get(f"/inventory/{ln['vendor_line_id']}")
                    assert got.status == 200, f"open cart {cart_id} holds boxes of a missing line: {ln}"

    def _billed_once(self, listed: list[dict[str, Any]], all_delivered: bool) -> None:
        orders = {o["order_id"]: o for o in listed}
        invoices = [i for i in self.story.vendor.items("/invoices", limit=200) if i["order_id"] in orders]
        issued = Counter(i["order_id"] for i in invoices if i["status"] == "ISSUED")
        assert all(n == 1 for n in issued.values()), f"orders invoiced more than once: {issued}"
        for invoice in invoices:
            if invoice["status"] != "ISSUED":
                continue
            order = orders[invoice["order_id"]]
            confirmed = {ln["line_no"]: ln["boxes"] for ln in order["lines"] if ln["status"] == "ACTIVE"}
            billed = {ln["line_no"]: ln["boxes"] for ln in invoice["lines"]}
            assert billed == confirmed, f"invoice {invoice['invoice_no']} bills {billed}, confirmed {confirmed}"
        if all_delivered:
            unbilled = [o for o, order in orders.items() if order["status"] == "CONFIRMED" and o not in issued]
            assert not unbilled, f"confirmed orders without an invoice once events were delivered: {unbilled}"
        po_ids = {o["po_id"] for o in orders.values()}
        staged = [s for s in self.story.buyer.items("/staging", limit=200) if s["po_id"] in po_ids]
        for s in staged:
            assert s["boxes_received"] <= s["boxes_confirmed"], f"received more than confirmed: {s}"
            if s["boxes_received"]:
                self.story.done["received boxes"] += 1
        received = sum(s["boxes_received"] for s in staged)
        invoiced = self.story.buyer.items("/customer-invoices", {"customer_code": self.customer})
        billed_boxes = sum(ln["boxes"] for inv in invoiced if inv["status"] != "VOIDED" for ln in inv["lines"])
        assert billed_boxes <= received, f"customer invoices bill {billed_boxes} boxes, staging received {received}"

def dead_letters(cloud: Any) -> dict[str, int]:
    """Messages in every dead-letter queue of the template (the cloud is shared: compared with the start)."""
    return {q: cloud.queue_depth(q) for q in cloud.resources.queues if q.endswith("DLQ")}


def run(cloud: Any, examples: int, steps: int, part: int = 0) -> Story:
    """`examples` random examples of `steps` steps in companies of their own; a `part` of the full run seeds the
    draw with its number, so each part tries other steps and a failing part is replayed by its number (the
    small run draws derandomized)."""
    story = Story(cloud)
    machine = type("OrderStateMachine", (OrderMachine,), {"story": story})
    if part:
        machine = seed(part)(machine)
    run_state_machine_as_test(machine, settings=settings(
        max_examples=examples, stateful_step_count=steps, deadline=None, derandomize=True, database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: over HTTP it takes minutes; the run is replayable
        suppress_health_check=list(HealthCheck)))
    return story


# The steps that must have done something in a run (a few short stories, or a part of the full run).
STORY = {"open cart", "checkout", "confirm", "deliver events"}


def assert_steps_were_taken(story: Story, wanted: set[str]) -> None:
    """The invariants held over steps that did things, not only over refusals."""
    missing = wanted - set(story.done)
    assert not missing, f"never succeeded: {sorted(missing)} (done {dict(story.done)}, refused {dict(story.why)})"


def test_orders_keep_every_box_under_random_steps_and_faulty_delivery(cloud):
    story = run(cloud, *SMALL)
    assert_steps_were_taken(story, STORY)


# A part is 10 examples: its draws may never reach a step that needs others before it (a confirm needs an open
# order that no void, deleted line or cart timer ended first), and what a draw reaches also depends on ids the run
# makes up. So a part runs until it has told the story, in at most ROUNDS rounds of its examples, each round seeded
# from the part's number; every round's steps are checked by the invariants all the same.
ROUNDS = 3


@pytest.mark.proof
@pytest.mark.parametrize("part", range(1, PARTS + 1))
def test_orders_keep_every_box_under_random_steps_and_faulty_delivery_full(cloud, part):
    done: Counter[str] = Counter()
    for round_ in range(ROUNDS):
        story = run(cloud, *FULL, part=part + round_ * PARTS)
        done.update(story.done)
        # what each round did is printed (-rP: docs/guarantees.md counts them)
        print(f"part {part} round {round_ + 1}: done {dict(sorted(story.done.items()))}, "
              f"refused {dict(sorted(story.refused.items()))}")
        if not STORY - set(done):
            break
    missing = STORY - set(done)
    assert not missing, f"part {part}: never succeeded in {ROUNDS} rounds: {sorted(missing)} (done {dict(done)})"
