"""The publishing handlers on emulated AWS, each called directly with the event shape Lambda sends."""

import json
from datetime import timedelta
from decimal import Decimal as D
from pathlib import Path

from boto3.dynamodb.types import TypeSerializer

from infra.localcloud import demo
from k2k.services import availability

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "events"


def _sqs_event(*messages: dict) -> dict:
    return {"Records": [{
        "messageId": f"0d8b6a44-6f1c-4a5e-9b7a-4c3c2b1a0f{n:02d}", "receiptHandle": "handle", "body": json.dumps(m),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1763820191000",
                       "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1763820191000"},
        "messageAttributes": {}, "md5OfBody": "x", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:k2k-AvailabilitySyncQueue", "awsRegion": "us-east-1"}
        for n, m in enumerate(messages)]}


def test_the_sync_consumer_projects_a_line_change_and_ignores_an_older_one(cloud, api, suffix):
    lines = demo.seed(cloud, suffix)["inventory_line_ids"]
    vendor, buyer = api(f"rosaflor{suffix}", "Admin"), api(f"bloom{suffix}", "Admin")
    current = vendor.get(f"/inventory/{lines['FR50HB']}").json()["line"]
    message = json.loads((FIXTURES / "InventoryLineChanged.json").read_text())
    message["detail"]["metadata"]["occurred_at"] = cloud.now().isoformat()  # a snapshot taken now: trusted
    newer = {**current, "price": "0.50", "version": current["version"] + 1}
    message["detail"]["data"] = newer
    assert cloud.invoke("AvailabilitySyncFunction", _sqs_event(message)) == {"batchItemFailures": []}
    seen = {ln["box_code"]: ln for ln in buyer.get("/availability").json()["lines"]}
    assert seen["FR50HB"]["vendor_price"] == "0.500"
    message["detail"]["data"] = {**current, "price": "0.10"}  # the version before: stale
    assert cloud.invoke("AvailabilitySyncFunction", _sqs_event(message)) == {"batchItemFailures": []}
    seen = {ln["box_code"]: ln for ln in buyer.get("/availability").json()["lines"]}
    assert seen["FR50HB"]["vendor_price"] == "0.500"


def test_a_line_event_older_than_the_tombstones_ttl_cannot_bring_back_a_removed_line(cloud, api, suffix):
    """Issue 13: tombstones expire (TTL), so the buyer's read does not page over dead rows for ever; a late
    snapshot of the line, delivered once its tombstone may be gone, is applied as the line is now: gone."""
    lines = demo.seed(cloud, suffix)["inventory_line_ids"]
    vendor, buyer = api(f"rosaflor{suffix}", "Admin"), api(f"bloom{suffix}", "Admin")
    line = vendor.get(f"/inventory/{lines['FR50HB']}").json()["line"]
    stale = json.loads((FIXTURES / "InventoryLineChanged.json").read_text())
    stale["detail"]["data"] = line
    stale["detail"]["metadata"]["occurred_at"] = cloud.now().isoformat()  # the line as it was, before removal
    assert vendor.delete(f"/inventory/{line['line_id']}").status == 204
    cloud.drain()
    table, key = cloud.client("dynamodb"), {"pk": {"S": f"C#bloom{suffix}#AVAIL"},
                                             "sk": {"S": f"V#rosaflor{suffix}#L#{line['line_id']}"}}

    def row():
        return table.get_item(TableName=cloud.name("K2KTable"), Key=key, ConsistentRead=True).get("Item")

    def buyer_sees():
        return "FR50HB" in {ln["box_code"] for ln in buyer.get("/availability").json()["lines"]}

    def deliver():
        assert cloud.invoke("AvailabilitySyncFunction", _sqs_event(stale)) == {"batchItemFailures": []}

    tombstone = row()
    assert tombstone["published"] == {"BOOL": False}
    expires = int(tombstone["purge_at"]["N"])
    assert abs(expires - (cloud.now() + availability.TOMBSTONE_TTL).timestamp()) < 60
    deliver()  # late, but its tombstone refuses it
    assert not buyer_sees() and row()["published"] == {"BOOL": False}

    cloud.advance(availability.TOMBSTONE_TTL + timedelta(minutes=1))
    deliver()  # expired, not yet deleted (DynamoDB deletes lazily): still nothing to see
    assert not buyer_sees()
    assert cloud.sweep_ttl() >= 1 and row() is None  # DynamoDB's TTL sweep has run: the tombstone is gone
    deliver()  # the snapshot is older than the TTL: projected as the line is now, which is removed
    assert row() is None and not buyer_sees()


def test_a_vendor_resync_reads_its_inventory_once_whatever_the_number_of_buyers(cloud, api, suffix):
    """Issue 13: resync_vendor read the vendor's whole inventory again for every connected buyer."""
    lines = demo.seed(cloud, suffix)["inventory_line_ids"]
    vendor = f"rosaflor{suffix}"
    buyers = [api(f"bloom{suffix}", "Admin"), api(f"petal{suffix}", "Admin")]
    message = json.loads((FIXTURES / "AvailabilityResyncRequested.json").read_text())
    message["detail"]["data"] = {"vendor_company_id": vendor, "buyer_company_id": None}
    price = api(vendor, "Admin").patch(f"/inventory/{lines['FR50HB']}", json={"price": "0.40"})
    assert price.status == 200, price.json()  # the resync, not the line's own event, brings it to the buyers
    cloud.reset_counters()
    assert cloud.invoke("AvailabilitySyncFunction", _sqs_event(message)) == {"batchItemFailures": []}
    queries = cloud.aws_calls["AvailabilitySyncFunction"]["dynamodb.Query"]
    assert queries == 1 + 1 + len(buyers)  # its buyers, its inventory (one page), each buyer's rows
    for buyer in buyers:
        seen = {ln["box_code"]: ln for ln in buyer.get("/availability").json()["lines"]}
        assert D(seen["FR50HB"]["vendor_price"]) >= D("0.40")  # Petal's terms add a 10% markup


def test_a_malformed_event_fails_alone_and_its_batch_neighbours_are_applied(cloud):
    good = json.loads((FIXTURES / "AvailabilityResyncRequested.json").read_text())
    bad = json.loads((FIXTURES / "InventoryLineChanged.json").read_text())
    bad["detail"]["data"]["boxes_on_hand"] = "twelve"
    out = cloud.invoke("AvailabilitySyncFunction", _sqs_event(good, bad))
    assert out == {"batchItemFailures": [{"itemIdentifier": "0d8b6a44-6f1c-4a5e-9b7a-4c3c2b1a0f01"}]}


def test_the_relay_publishes_outbox_inserts_only_and_in_order(cloud):
    message = json.loads((FIXTURES / "AvailabilityResyncRequested.json").read_text())
    item = {"pk": "C#rosaflor#OUTBOX", "sk": "e1", "kind": "OUTBOX", "source": message["source"],
            "detail_type": message["detail-type"], "detail": json.dumps(message["detail"])}
    image = {k: TypeSerializer().serialize(v) for k, v in item.items()}
    record = {"eventID": "1", "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
              "awsRegion": "us-east-1", "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x",
              "dynamodb": {"Keys": {"pk": image["pk"], "sk": image["sk"]}, "NewImage": image,
                           "SequenceNumber": "100", "SizeBytes": 300, "StreamViewType": "NEW_IMAGE"}}
    not_outbox = {**record, "dynamodb": {**record["dynamodb"], "SequenceNumber": "101",
                                         "NewImage": {"pk": {"S": "C#x"}, "sk": {"S": "COMPANY"}}}}
    out = cloud.invoke("EventRelayFunction", {"Records": [record, not_outbox]})
    assert out == {"batchItemFailures": []}
    sqs, queue = cloud.client("sqs"), cloud.queue_url("AvailabilitySyncQueue")
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    for m in got:  # read here, not by the consumer: gone, rather than back in the queue for another test
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    bodies = [json.loads(m["Body"]) for m in got]
    assert [(b["detail-type"], b["detail"]["data"]) for b in bodies] == [
        ("AvailabilityResyncRequested", message["detail"]["data"])]


def test_the_api_refuses_a_request_without_verified_claims(cloud):
    event = {"resource": "/availability", "path": "/availability", "httpMethod": "GET", "headers": {},
             "queryStringParameters": None, "pathParameters": None, "body": None, "isBase64Encoded": False,
             "requestContext": {"requestId": "r1", "authorizer": {}}}
    out = cloud.invoke("PublishInventoryFunction", event)
    assert out["statusCode"] == 401
    assert json.loads(out["body"])["error"]["code"] == "unauthorized"
