"""Partner events: a company's K2K events reach its own AWS account or its webhook, and no one else's.

Rosaflor Farms sells to Bloom Wholesale (demo seed, ids of this test's own); Petal & Stem is connected
to Rosaflor too, but not a party to Bloom's order; Tulipa Trading is connected to no one. The
company's AWS account is a second account in the emulator (STS AssumeRole into it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.localcloud import demo
from infra.localcloud.template import REGION

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"
BLOOM_ACCOUNT, PETAL_ACCOUNT = "222222222222", "444444444444"


class Receiver:
    """A partner's webhook endpoint on this machine: records each delivery; answers 500 while failing."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[str, dict[str, str], bytes]] = []
        self.failing = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.deliveries.append((self.path, dict(self.headers.items()), body))
                self.send_response(500 if receiver.failing else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def at(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        return [(headers, body) for p, headers, body in self.deliveries if p == path]

    def types_at(self, path: str) -> list[str]:
        return [json.loads(body)["detail-type"] for _, body in self.at(path)]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


def account(cloud, account_id: str) -> boto3.Session:
    """A session in another AWS account of the emulator: the company's own."""
    creds = cloud.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/k2k-integration",
                                            RoleSessionName="partner-events")["Credentials"]
    return boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"], region_name=REGION)


def receive_in_account(session: boto3.Session, source_name: str) -> tuple[Any, str]:
    """What the company does in its account: a bus for the partner source, a rule, a queue."""
    events, sqs = session.client("events"), session.client("sqs")
    events.create_event_bus(Name=source_name, EventSourceName=source_name)
    queue = sqs.create_queue(QueueName=f"k2k-{source_name.rsplit('/', 1)[-1]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="k2k-orders", EventBusName=source_name,
                    EventPattern=json.dumps({"source": [source_name]}))
    events.put_targets(Rule="k2k-orders", EventBusName=source_name, Targets=[{"Id": "queue", "Arn": arn}])
    return sqs, queue


def drained(sqs: Any, queue: str) -> list[dict[str, Any]]:
    out = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        out += [json.loads(m["Body"]) for m in batch]
        sqs.delete_message_batch(QueueUrl=queue, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                          for i, m in enumerate(batch)])
    return out


def buy_and_confirm(api, ids, rosaflor, bloom) -> dict[str, Any]:
    """Flora's Boutique, Bloom's customer, buys two HB online; Rosaflor confirms the K2K order."""
    buyer, shop, seller = api(bloom, "Admin"), api(bloom, "AccountsReceivable"), api(rosaflor, "SalesManager")
    flora = {"name": "Flora's Boutique", "email": "orders@flora.example"}
    assert buyer.put("/customers/FLORA", json=flora).status == 200
    line = next(ln for ln in buyer.get("/availability", params={"location": "NYC"}).json()["lines"]
                if ln["box_code"] == "FR50HB")
    cart = shop.post("/carts", json={"customer_code": "FLORA", "ship_date": line["earliest_ship_date"],
                                     "vendor_company_id": rosaflor, "line_id": ids["FR50HB"], "boxes": 2,
                                     "location": "NYC"})
    assert cart.status == 201, cart.json()
    assert shop.post(f"/carts/{cart.json()['cart_id']}/checkout").status == 200
    [order] = seller.items("/orders")
    confirmed = seller.post(f"/orders/{order['order_id']}/confirm", json={})
    assert confirmed.status == 200, confirmed.json()
    return confirmed.json()


def test_a_buyer_receives_its_order_and_invoice_in_its_own_aws_account_and_a_third_company_nothing(
        cloud, api, suffix):
    ids = demo.seed(cloud, suffix)["inventory_line_ids"]
    rosaflor, bloom, petal = (f"{c}{suffix}" for c in ("rosaflor", "bloom", "petal"))
    wanted = ["PurchaseOrderPlaced", "OrderConfirmed", "InvoiceIssued", "CartCheckedOut"]
    subs = {}
    for company, acct in ((bloom, BLOOM_ACCOUNT), (petal, PETAL_ACCOUNT)):
        created = api(company, "Setup").post("/integrations/subscriptions", json={
            "target": "aws_account", "aws_account_id": acct, "detail_types": wanted})
        assert created.status == 201, created.json()
        subs[company] = created.json()
        assert created.json()["event_source_name"] == f"aws.partner/k2k.example.com/dev/{company}"
        assert created.json()["signing_secret"] is None
    # The partner event source exists in each company's own account, nowhere else.
    bloom_account = account(cloud, BLOOM_ACCOUNT)
    source = subs[bloom]["event_source_name"]
    assert bloom_account.client("events").describe_event_source(Name=source)["State"] == "ACTIVE"
    sqs, queue = receive_in_account(bloom_account, source)
    petal_sqs, petal_queue = receive_in_account(account(cloud, PETAL_ACCOUNT), subs[petal]["event_source_name"])
    # A second source for the same company is refused: one per company.
    again = api(bloom, "Admin").post("/integrations/subscriptions", json={
        "target": "aws_account", "aws_account_id": "999999999999", "detail_types": ["OrderConfirmed"]})
    assert again.status == 409

    order = buy_and_confirm(api, ids, rosaflor, bloom)
    cloud.drain()  # one drain, no clock moved: delivered at once, not left to a retry (a machine's speed is no measure)
    got = drained(sqs, queue)
    by_type = {e["detail-type"]: e for e in got}
    assert sorted(by_type) == sorted(wanted), [e["detail-type"] for e in got]
    assert all(e["source"] == source for e in got)  # on the partner bus, in a queue of Bloom's own account
    confirmed = by_type["OrderConfirmed"]["detail"]
    assert confirmed["data"]["order"]["order_id"] == order["order_id"]
    assert confirmed["metadata"]["producer_company_id"] == rosaflor and confirmed["metadata"]["event_id"]
    assert by_type["InvoiceIssued"]["detail"]["data"]["invoice"]["order_id"] == order["order_id"]
    assert drained(petal_sqs, petal_queue) == []  # Petal is Rosaflor's buyer too, but not a party to this order

    # Unsubscribing deletes the source; what happens afterwards reaches nothing.
    assert api(bloom, "Admin").delete(f"/integrations/subscriptions/{subs[bloom]['subscription_id']}").status == 204
    assert bloom_account.client("events").describe_event_source(Name=source)["State"] == "DELETED"
    assert api(bloom, "Admin").get("/integrations/subscriptions").json()["items"] == []


def verified(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does (docs/integrate.md): HMAC-SHA256 over "<timestamp>.<body>", and a fresh timestamp."""
    stamp = headers["K2K-Timestamp"]
    expected = "v1=" + hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["K2K-Signature"]) and abs(time.time() - int(stamp)) < 300


def test_a_vendor_s_webhook_gets_signed_deliveries_without_the_buyer_s_customers_and_can_redrive_failures(
        cloud, api, suffix, receiver):
    ids = demo.seed(cloud, suffix)["inventory_line_ids"]
    rosaflor, bloom = f"rosaflor{suffix}", f"bloom{suffix}"
    setup = api(rosaflor, "Setup")
    refused = setup.post("/integrations/subscriptions", json={
        "target": "webhook", "url": "http://erp.rosaflor.example/k2k", "detail_types": ["OrderConfirmed"]})
    assert refused.status == 422 and refused.json()["error"]["details"][0]["field"] == "body.url"
    unknown = setup.post("/integrations/subscriptions", json={
        "target": "webhook", "url": receiver.url + "/rosaflor", "detail_types": ["CartTimerElapsed"]})
    assert unknown.status == 422
    created = setup.post("/integrations/subscriptions", json={
        "target": "webhook", "url": receiver.url + "/rosaflor",
        "detail_types": ["PurchaseOrderPlaced", "CartCheckedOut", "OrderConfirmed", "InvoiceIssued"]})
    assert created.status == 201, created.json()
    secret = created.json()["signing_secret"]
    sub_id = created.json()["subscription_id"]
    assert secret and "signing_secret" not in setup.get(f"/integrations/subscriptions/{sub_id}").json()

    order = buy_and_confirm(api, ids, rosaflor, bloom)
    cloud.drain()
    got = receiver.at("/rosaflor")
    # The vendor gets its order and invoice, never the buyer's checkout (its customer, its prebook).
    assert sorted(receiver.types_at("/rosaflor")) == ["InvoiceIssued", "OrderConfirmed", "PurchaseOrderPlaced"]
    for headers, body in got:
        assert verified(secret, headers, body)
        assert not verified("whsec_another", headers, body)
        assert b"FLORA" not in body and b"flora" not in body.lower()
        assert headers["K2K-Event-Id"] == json.loads(body)["detail"]["metadata"]["event_id"]

    # The receiver goes down: Bloom's next cart places a K2K order at Rosaflor; five attempts with backoff,
    # then the delivery is parked for Rosaflor.
    receiver.failing = True
    before = len(got)
    cart_line = next(ln for ln in api(bloom, "Admin").get("/availability", params={"location": "NYC"})
                     .json()["lines"] if ln["box_code"] == "FR50HB")
    cart = api(bloom, "AccountsReceivable").post("/carts", json={
        "customer_code": "FLORA", "ship_date": cart_line["earliest_ship_date"], "vendor_company_id": rosaflor,
        "line_id": ids["FR50HB"], "boxes": 1, "location": "NYC"})
    assert cart.status == 201, cart.json()
    cloud.drain()
    attempts = receiver.at("/rosaflor")[before:]
    assert [json.loads(b)["detail-type"] for _, b in attempts] == ["PurchaseOrderPlaced"] * 5
    [parked] = api(rosaflor, "Setup").items("/integrations/failed-deliveries")
    assert (parked["detail_type"], parked["attempts"], parked["subscription_id"]) == ("PurchaseOrderPlaced", 5, sub_id)
    assert "500" in parked["last_error"]
    assert api(bloom, "Setup").items("/integrations/failed-deliveries") == []  # Rosaflor's, not Bloom's
    assert api(bloom, "Setup").post(f"/integrations/failed-deliveries/{parked['delivery_id']}/redrive").status == 404

    # Back up: the redrive delivers it once, and it leaves the list.
    receiver.failing = False
    redriven = setup.post(f"/integrations/failed-deliveries/{parked['delivery_id']}/redrive")
    assert redriven.status == 200 and redriven.json()["delivered"] is True
    last_headers, last_body = receiver.at("/rosaflor")[-1]
    assert verified(secret, last_headers, last_body)
    assert json.loads(last_body)["detail"]["metadata"]["event_id"] == parked["event_id"]
    assert len(receiver.at("/rosaflor")) == before + 6
    assert setup.items("/integrations/failed-deliveries") == []
    assert setup.post(f"/integrations/failed-deliveries/{parked['delivery_id']}/redrive").status == 404
    assert order["order_id"]


def fixture_event(detail_type: str, vendor: str, buyer: str) -> dict[str, Any]:
    text = (FIXTURES / f"{detail_type}.json").read_text()
    return json.loads(text.replace('"rosaflor"', json.dumps(vendor)).replace('"bloom"', json.dumps(buyer)))


def sqs_event(message: dict[str, Any], n: int) -> dict[str, Any]:
    return {"Records": [{"messageId": f"wall-{n}", "receiptHandle": f"wall-{n}", "body": json.dumps(message),
                         "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                         "eventSource": "aws:sqs", "awsRegion": REGION}]}


def test_tenant_walls_each_event_type_reaches_exactly_the_parties_the_table_names(cloud, api, suffix, receiver):
    from k2k.partners import INTERNAL, RECIPIENTS, recipients

    vendor, buyer, third = (f"{c}{suffix}" for c in ("rosaflor", "bloom", "tulipa"))
    every = sorted(RECIPIENTS)
    for company in (vendor, buyer, third):
        created = api(company, "Admin").post("/integrations/subscriptions", json={
            "target": "webhook", "url": f"{receiver.url}/{company}", "detail_types": every})
        assert created.status == 201, created.json()
    for n, detail_type in enumerate(sorted(RECIPIENTS.keys() | INTERNAL)):
        event = fixture_event(detail_type, vendor, buyer)
        expected = recipients(detail_type, event["detail"]["data"])
        outcome = cloud.invoke("PartnerForwarderFunction", sqs_event(event, n)) if detail_type not in INTERNAL \
            else None
        assert outcome in (None, {"batchItemFailures": []}), (detail_type, outcome)
        for company in (vendor, buyer, third):
            got = receiver.types_at(f"/{company}").count(detail_type)
            assert got == (1 if company in expected else 0), (detail_type, company, got, expected)
        assert expected <= {vendor, buyer}, detail_type  # never a company that is not a party
    # The buyer's end customers (FLORA, on its carts and prebooks) never reach the vendor.
    assert all(b"FLORA" not in body for _, body in receiver.at(f"/{vendor}"))
    assert receiver.at(f"/{third}") == []
    # Every type the table lets out reaches someone here; the internal ones no one.
    assert {t for c in (vendor, buyer) for t in receiver.types_at(f"/{c}")} == set(RECIPIENTS)


def test_partners_download_the_event_catalogue_and_each_schema(api, suffix):
    setup = api(f"rosaflor{suffix}", "Setup")
    catalogue = setup.get("/integrations/event-types").json()["event_types"]
    assert "CartTimerElapsed" not in {t["detail_type"] for t in catalogue}
    confirmed = next(t for t in catalogue if t["detail_type"] == "OrderConfirmed")
    schema = setup.get(confirmed["schema_path"])
    assert schema.status == 200
    committed = json.loads((Path(__file__).resolve().parents[2] / "infra/schemas/OrderConfirmed.json").read_text())
    assert schema.json() == committed
    assert setup.get("/integrations/event-types/NoSuchEvent").status == 404
    assert api(f"rosaflor{suffix}", "Salesperson").get("/integrations/event-types").status == 403


def test_a_subscription_counts_from_the_very_next_event_and_a_company_never_has_more_than_ten(
        cloud, api, suffix, receiver):
    """The forwarder reads each company's subscriptions summary once per batch; the summary is written in the
    same transaction as each subscription, so nothing is stale: subscribed, the next event arrives; deleted, the
    next does not. A summary missing (subscriptions from before it existed) is rebuilt from the subscriptions."""
    from k2k.store import serialize

    lines = demo.seed(cloud, suffix)["inventory_line_ids"]
    vendor = f"rosaflor{suffix}"
    setup = api(vendor, "Setup")
    changes = iter(("0.36", "0.37", "0.38", "0.39", "0.40"))

    def change_price() -> None:
        assert setup.patch(f"/inventory/{lines['FR50HB']}", json={"price": next(changes)}).status == 200
        cloud.drain()

    def subscribe(path: str) -> str:
        created = setup.post("/integrations/subscriptions", json={
            "target": "webhook", "url": receiver.url + path, "detail_types": ["InventoryLineChanged"]})
        assert created.status == 201, created.json()
        return str(created.json()["subscription_id"])

    change_price()
    assert receiver.deliveries == []
    first = subscribe("/first")
    change_price()
    assert receiver.types_at("/first") == ["InventoryLineChanged"]
    subscribe("/second")
    assert setup.delete(f"/integrations/subscriptions/{first}").status == 204
    change_price()
    assert (len(receiver.at("/first")), len(receiver.at("/second"))) == (1, 1)

    cloud.client("dynamodb").delete_item(TableName=cloud.name("K2KTable"),
                                         Key=serialize({"pk": f"C#{vendor}#PARTNER", "sk": "SUBS"}))
    change_price()
    assert (len(receiver.at("/first")), len(receiver.at("/second"))) == (1, 2)

    # Eleven more at once for a company that has one: ten in all, whoever wins; the others are told 409.
    from concurrent.futures import ThreadPoolExecutor

    def racer(n: int) -> int:
        return int(setup.post("/integrations/subscriptions", json={
            "target": "webhook", "url": f"{receiver.url}/racer{n}", "detail_types": ["InventoryLineChanged"]}).status)

    with ThreadPoolExecutor(max_workers=11) as pool:
        statuses = list(pool.map(racer, range(11)))
    assert sorted(set(statuses)) == [201, 409] and statuses.count(201) <= 9
    assert len(setup.items("/integrations/subscriptions")) == 1 + statuses.count(201)
    change_price()
    assert sum(len(receiver.at(f"/racer{n}")) for n in range(11)) == statuses.count(201)


def test_an_order_no_subscription_asks_for_costs_the_forwarder_nothing_and_one_made_between_steps_counts(
        cloud, api, suffix, receiver):
    """The steps of an order read the companies' subscription summaries in the batch they read anyway and stamp
    each event with whether a subscription asked for it; the forwarder's rule lets through only those some
    subscription wants and those not stamped (services/partner_audience.py). A summary not written yet leaves
    the event unstamped: the forwarder decides, as before."""
    from k2k.store import serialize

    ids = demo.seed(cloud, suffix)["inventory_line_ids"]
    rosaflor, bloom = f"rosaflor{suffix}", f"bloom{suffix}"
    buyer, shop, seller = api(bloom, "Admin"), api(bloom, "AccountsReceivable"), api(rosaflor, "SalesManager")
    assert buyer.put("/customers/FLORA", json={"name": "Flora's Boutique"}).status == 200
    cloud.drain()  # the forwarder has seen both companies' seed events: each has a summary (no subscription)

    def forwarded(step: Any) -> tuple[Any, int]:
        before = cloud.invocations["PartnerForwarderFunction"]
        result = step()
        cloud.drain()
        return result, cloud.invocations["PartnerForwarderFunction"] - before

    line = next(ln for ln in buyer.get("/availability").json()["lines"] if ln["box_code"] == "FR50HB")
    cart, calls = forwarded(lambda: shop.post("/carts", json={
        "customer_code": "FLORA", "ship_date": line["earliest_ship_date"], "vendor_company_id": rosaflor,
        "line_id": ids["FR50HB"], "boxes": 1}).json())
    assert calls == 0  # CartOpened, PurchaseOrderPlaced, InventoryStockMoved: nobody asked
    _, calls = forwarded(lambda: shop.post(f"/carts/{cart['cart_id']}/checkout"))
    assert calls == 0

    created = api(bloom, "Setup").post("/integrations/subscriptions", json={
        "target": "webhook", "url": receiver.url + "/bloom", "detail_types": ["OrderConfirmed"]})
    assert created.status == 201, created.json()
    [order] = seller.items("/orders")
    _, calls = forwarded(lambda: seller.post(f"/orders/{order['order_id']}/confirm", json={}))
    assert calls == 1  # OrderConfirmed, which Bloom now wants; not InvoiceIssued, which nobody does
    [(_, body)] = receiver.at("/bloom")
    delivered = json.loads(body)
    assert delivered["detail-type"] == "OrderConfirmed"
    assert "partners" not in delivered["detail"]["metadata"]  # the bus's routing stamp stays on the bus

    # Bloom's summary gone (as for subscriptions older than summaries): the receipt's event goes unstamped, and
    # the forwarder, reading no summary, rebuilds it from the subscriptions (which want no StagingReceived).
    cloud.client("dynamodb").delete_item(TableName=cloud.name("K2KTable"),
                                         Key=serialize({"pk": f"C#{bloom}#PARTNER", "sk": "SUBS"}))
    _, calls = forwarded(lambda: buyer.post("/staging/receive", json={"box_code": "FR50HB", "po_id": order["po_id"]}))
    assert calls == 1
    assert len(receiver.deliveries) == 1
