"""Invoice numbers under concurrency and failure: no gap, no duplicate, one invoice per order.

Fifty Lambdas bill fifty confirmations of one vendor at once, while DynamoDB
cancels some of their transactions as conflicts (moto never does: injected with
a botocore hook). Then the function dies at each AWS call of billing and of
syncing in turn (every call it makes, counted on the events that ran whole), and the redelivered event still
finishes the job.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from infra.localcloud.template import ACCOUNT_ID, REGION
from k2k import aws
from k2k.events import new_event
from k2k.orders import OrderConfirmed
from tests.component.test_invoice_sync import InvoiceWorld

CONFLICT_EVERY = 3
FUNCTION = "InvoiceSyncFunction"


def sqs_event(k2k_event: Any) -> dict[str, Any]:
    """One SQS record carrying an EventBridge event, as Lambda receives it from the invoice queue."""
    body = json.dumps({"version": "0", "id": str(uuid.uuid4()), "detail-type": k2k_event.detail_type,
                       "source": k2k_event.source, "account": ACCOUNT_ID, "time": "2026-11-22T14:00:00Z",
                       "region": REGION, "resources": [], "detail": k2k_event.detail()})
    return {"Records": [{"messageId": str(uuid.uuid4()), "receiptHandle": "r", "body": body, "attributes": {},
                         "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                         "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:InvoiceSyncQueue",
                         "awsRegion": REGION}]}


@pytest.fixture
def conflicts():
    """Every CONFLICT_EVERY-th TransactWriteItems is cancelled with TransactionConflict, as DynamoDB
    does when two transactions touch the same item at once."""
    counter = itertools.count(1)
    lock = threading.Lock()
    injected = []

    def cancel(params: Any = None, **_: Any) -> Any:
        with lock:
            n = next(counter)
        if n % CONFLICT_EVERY:
            return None
        injected.append(n)
        reasons = [{"Code": "TransactionConflict"} if i == 1 else {"Code": "None"}
                   for i in range(len(params.get("TransactItems", [])))]
        return (AWSResponse("https://dynamodb", 400, {}, None),
                {"Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                 "CancellationReasons": reasons, "ResponseMetadata": {"HTTPStatusCode": 400}})

    events = boto3.DEFAULT_SESSION.events
    events.register("before-call.dynamodb.TransactWriteItems", cancel, unique_id="invoice-conflicts")
    aws.reset_clients()  # clients copy the session's handlers when they are created
    yield injected
    events.unregister("before-call.dynamodb.TransactWriteItems", unique_id="invoice-conflicts")
    aws.reset_clients()


@pytest.fixture
def world(cloud, api, suffix, emails) -> InvoiceWorld:
    return InvoiceWorld(cloud, api, suffix, emails)


def invoices_of(world: InvoiceWorld) -> list[dict[str, Any]]:
    return world.db.query(f"C#{world.id['rosaflor']}", "INVOICE#", consistent=True)


def test_fifty_lambdas_billing_one_vendor_at_once_number_fifty_invoices_consecutively(world, conflicts):
    world.both_on()
    orders = [world.confirmed_order()[1] for _ in range(50)]

    def bill(order):
        event = new_event(OrderConfirmed(order=order, deleted_lines=[]), company_id=world.id["rosaflor"],
                          aggregate_id=order.order_id, aggregate_version=order.version)
        return world.cloud.invoke(FUNCTION, sqs_event(event))

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(bill, orders))
    assert all(r["batchItemFailures"] == [] for r in results)
    assert conflicts, "no conflict was injected"

    billed = invoices_of(world)
    assert sorted(int(i["invoice_no"]) for i in billed) == list(range(1, 51))
    assert sorted(i["order_id"] for i in billed) == sorted(o.order_id for o in orders)
    assert world.db.get(f"C#{world.id['rosaflor']}", "COUNTER#INVOICE")["last"] == 50
    issued = [json.loads(i["detail"])["data"]["invoice"]["invoice_no"]
              for i in world.outbox("rosaflor", "InvoiceIssued")]
    assert sorted(issued) == list(range(1, 51))  # one InvoiceIssued per invoice, no more
    for n in (1, 25, 50):
        assert world.pdf(n).startswith(b"%PDF-")
    world.cloud.drain()
    assert {r["status"] for r in world.buyer.items("/reconciliation")} == {"AP"}
    assert len(world.buyer.items("/reconciliation")) == 50


def crash_at(world: InvoiceWorld, detail_type: str, call: int, whole: list[int]) -> None:
    """The next invocation that carries `detail_type` dies at its AWS call number `call`; if it makes fewer
    calls, it runs to the end and `whole` gets the number it made."""
    real = type(world.cloud).invoke

    def invoke(logical_id: str, event: dict[str, Any]) -> Any:
        if logical_id == FUNCTION and any(json.loads(r["body"])["detail-type"] == detail_type
                                          for r in event.get("Records", [])):
            world.cloud.faults.crash_after[FUNCTION] = call
            del world.cloud.invoke  # armed once
            before = world.cloud.aws_calls.total(function=FUNCTION)
            out = real(world.cloud, logical_id, event)  # a crash raises past this
            whole.append(world.cloud.aws_calls.total(function=FUNCTION) - before)
            return out
        return real(world.cloud, logical_id, event)

    world.cloud.invoke = invoke


# The AWS calls of one event at least (what each does is in services/invoices.py): billing reads the vendor, the
# order's guard and the counter in one batch, commits one transaction, checks for the PDF and uploads it; syncing
# checks for the PDF, reads both companies, the reconciliation and the emails' marks in one batch, writes the
# reconciliation, and for each of the two companies sends its email and writes its mark.
LEAST_CALLS = {"OrderConfirmed": 4, "InvoiceIssued": 7}


@pytest.mark.parametrize("detail_type", ["OrderConfirmed", "InvoiceIssued"])
def test_a_function_that_dies_at_any_aws_call_still_bills_syncs_and_emails_each_order(world, detail_type):
    world.both_on()
    dead_letters = world.cloud.queue_depth("InvoiceSyncDLQ")  # the cloud is shared: counted from here
    confirmed = []
    whole: list[int] = []
    for call in range(1, 12):
        crash_at(world, detail_type, call, whole)
        confirmed.append(world.confirm()[0])
    crashed_at = [c.call for c in world.cloud.crashes]
    assert whole and len(set(whole)) == 1, whole  # armed past its last call, each event of the kind made as many
    calls = whole[0]
    assert calls >= LEAST_CALLS[detail_type]
    assert crashed_at == list(range(1, calls + 1))  # it died at every call it makes, once each

    billed = invoices_of(world)
    assert sorted(int(i["invoice_no"]) for i in billed) == list(range(1, 12))
    assert sorted(i["po_id"] for i in billed) == sorted(po.po_id for po in confirmed)
    assert {world.rec(po.po_id)["status"] for po in confirmed} == {"AP"}
    for n in range(1, 12):
        assert world.pdf(n).startswith(b"%PDF-")
    sent = Counter(m.subject.split(" issued")[0] for m in world.emails())
    assert set(sent) == {f"Invoice {n}" for n in range(1, 12)}  # no invoice email is lost
    assert all(2 <= count <= 4 for count in sent.values())  # one per company; again if it died just after sending
    assert world.cloud.queue_depth("InvoiceSyncDLQ") == dead_letters
