"""Invoice events delivered twice and out of order leave the same state as delivered once in order.

Two orders of Rosaflor to Bloom live the same life (issued, corrected twice, maybe
voided). The events of the first are delivered as they come; those of the second
are kept aside, then delivered newest first, each twice, and twice again by the
poller. Both POs must end the same.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.component.test_invoice_sync import InvoiceWorld

FUNCTION = "InvoiceSyncFunction"


@pytest.fixture
def world(cloud, api, suffix, emails) -> InvoiceWorld:
    return InvoiceWorld(cloud, api, suffix, emails)


def hold(world: InvoiceWorld, po_id: str) -> list[str]:
    """Keep the invoice events of this PO aside (as EventBridge bodies) instead of delivering them."""
    held: list[str] = []
    real = type(world.cloud).invoke

    def mine(record: dict[str, Any]) -> bool:
        body = json.loads(record["body"])
        return body["detail-type"].startswith("Invoice") and body["detail"]["data"]["invoice"]["po_id"] == po_id

    def invoke(logical_id: str, event: dict[str, Any]) -> Any:
        if logical_id == FUNCTION:
            held.extend(r["body"] for r in event["Records"] if mine(r))
            event = {**event, "Records": [r for r in event["Records"] if not mine(r)]}
            if not event["Records"]:
                return {"batchItemFailures": []}
        return real(world.cloud, logical_id, event)

    world.cloud.invoke = invoke
    return held


def live_the_same_life(world: InvoiceWorld, numbers: list[int], voided: bool) -> None:
    for no in numbers:
        changed = world.vendor.put(f"/invoices/{no}", json={
            "charges": [{"description": "Freight", "amount": "12.50"}], "version": 1})
        assert changed.status == 200, changed.json()
    for no in numbers:
        lines = world.vendor.get(f"/invoices/{no}").json()["lines"]
        fields = ("box_code", "product", "box_type", "unit_type", "boxes", "bunches_per_box", "stems_per_bunch")
        changed = world.vendor.put(f"/invoices/{no}", json={"version": 2, "lines": [
            {**{k: ln[k] for k in fields}, "unit_price": "0.360"} for ln in lines]})
        assert changed.status == 200, changed.json()
    if voided:
        for no in numbers:
            assert world.vendor.post(f"/invoices/{no}/void", json={"confirm": "CONFIRM", "reason": "x"}).status == 200
    world.cloud.drain()


def what_the_buyer_sees(rec: dict[str, Any]) -> dict[str, Any]:
    """A reconciliation without what names this particular PO, order or invoice."""
    inv = rec["vendor_invoice"]
    return {
        "status": rec["status"], "acknowledged_version": rec["acknowledged_version"], "history": rec["history"],
        "invoice": {k: inv[k] for k in ("source", "amount", "version", "voided", "void_reason", "lines")},
        "pdf_versions": [p["version"] for p in inv["pdfs"]],
        "sync": {k: v for k, v in rec["sync"].items() if k != "invoice_no"},
        "warnings": [w["code"] for w in rec["warnings"]],
        "differences": [(d["kind"], d["expected"], d["actual"]) for d in rec["differences"]],
    }


@pytest.mark.parametrize("voided", [False, True], ids=["corrected", "voided"])
def test_duplicate_and_reordered_invoice_events_end_in_the_same_state(world, voided):
    world.both_on()
    po_a, _ = world.confirm()
    held = hold(world, "PO-0002")
    po_b, order_b = world.confirm()
    live_the_same_life(world, [1, 2], voided)
    del world.cloud.invoke
    assert [json.loads(b)["detail-type"] for b in held] == [
        "InvoiceIssued", "InvoiceUpdated", "InvoiceUpdated", *(["InvoiceVoided"] if voided else [])]

    sqs, url = world.cloud.client("sqs"), world.cloud.queue_url("InvoiceSyncQueue")
    for body in held:
        for _ in range(2):  # EventBridge delivers at least once
            sqs.send_message(QueueUrl=url, MessageBody=body)
    world.cloud.faults.duplicate = world.cloud.faults.reorder = True  # newest first, each batch twice
    world.cloud.drain()
    world.cloud.faults.reset()

    a, b = world.rec(po_a.po_id), world.rec(po_b.po_id)
    assert what_the_buyer_sees(b) == what_the_buyer_sees(a)
    assert b["status"] == ("VOIDED" if voided else "AP")
    assert b["vendor_invoice"]["version"] == (4 if voided else 3)
    assert (a["version"], b["version"]) == ((4, 1) if voided else (3, 1))  # B: the newest came first, once
    # Each company is told once, about the newest version; older ones arrived late and are not news.
    emails = [m.subject.split(":")[0] for m in world.emails() if m.subject.startswith("Invoice 2 ")]
    assert emails == [f"Invoice 2 {'voided' if voided else 'updated'}"] * 2

    # A confirmation redelivered after all that changes nothing at the vendor either.
    world.emit_confirmed(order_b)
    world.cloud.drain()
    invoice = world.vendor.get("/invoices/2").json()
    assert (invoice["version"], invoice["status"]) == ((4, "VOIDED") if voided else (3, "ISSUED"))
    assert [i["invoice_no"] for i in world.vendor.items("/invoices")] == [1, 2]


def test_an_invoice_updated_older_than_the_state_is_ignored(world):
    world.both_on()
    held = hold(world, "PO-0001")
    po, _ = world.confirm()
    live_the_same_life(world, [1], voided=False)
    del world.cloud.invoke
    sqs, url = world.cloud.client("sqs"), world.cloud.queue_url("InvoiceSyncQueue")
    sqs.send_message(QueueUrl=url, MessageBody=held[2])  # the newest: version 3
    world.cloud.drain()
    bloom = f"C#{world.id['bloom']}"
    before = world.db.get(bloom, f"REC#{po.po_id}")
    sent = len(world.emails())

    sqs.send_message(QueueUrl=url, MessageBody=held[1])  # version 2, late
    world.cloud.drain()
    assert world.db.get(bloom, f"REC#{po.po_id}") == before  # not even rewritten
    assert world.rec(po.po_id)["vendor_invoice"]["amount"] == "192.50"  # 2 HB x 250 x 0.360 + 12.50
    assert len(world.emails()) == sent  # nor emailed: the companies were told about version 3 already
