"""The real template.yaml on the local cloud: what the `cloud` fixture gives every e2e test.

These check the wiring that comes from the template (resources, routes, the
authorizer, S3 to EventBridge to the import queue), not the handlers' logic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from infra.localcloud import tokens
from infra.localcloud.client import ApiClient
from infra.localcloud.runtime import LocalCloud
from k2k.store import INDEX_KEYS, plain


def test_the_template_s_resources_exist_as_declared(cloud: LocalCloud) -> None:
    ddb = cloud.client("dynamodb")
    table = ddb.describe_table(TableName=cloud.name("K2KTable"))["Table"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    indexes = table.get("GlobalSecondaryIndexes", [])
    assert [i["IndexName"] for i in indexes] == ["gsi1", "gsi2", "gsi3"]
    assert {i["IndexName"]: tuple(k["AttributeName"] for k in i["KeySchema"]) for i in indexes} == INDEX_KEYS
    # Every index's key attributes are bookkeeping: never handed to a model as a document's field.
    assert plain({k["AttributeName"]: "x" for i in indexes for k in i["KeySchema"]}) == {}
    ttl = ddb.describe_time_to_live(TableName=cloud.name("K2KTable"))["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "purge_at")
    sqs = cloud.client("sqs")
    attrs = sqs.get_queue_attributes(QueueUrl=cloud.queue_url("AvailabilitySyncQueue"),
                                     AttributeNames=["All"])["Attributes"]
    assert json.loads(attrs["RedrivePolicy"])["deadLetterTargetArn"].endswith(":k2k-AvailabilitySyncDLQ")
    assert attrs["VisibilityTimeout"] == "180"
    events = cloud.client("events")
    targets = events.list_targets_by_rule(Rule=cloud.name("AvailabilitySyncRule"), EventBusName="k2k-dev")
    assert [t["Arn"] for t in targets["Targets"]] == [
        "arn:aws:sqs:us-east-1:123456789012:k2k-AvailabilitySyncQueue"]
    assert cloud.client("ses").list_identities()["Identities"] == ["noreply@k2k.example.com"]
    assert {"Api", "UserPool", "DeadLetterAlarmTopic"} <= cloud.resources.skipped.keys()


def test_every_route_of_the_template_is_served_and_guarded(cloud: LocalCloud) -> None:
    anonymous = ApiClient(cloud.base_url)
    guarded = [r for r in cloud.template.routes if r.authorizer is not None]
    assert guarded
    for route in guarded:
        path = re.sub(r"\{[^}]+\}", "x", route.path)
        method = "GET" if route.method == "ANY" else route.method
        got = anonymous.request(method, path)
        assert (got.status, got.json()) == (401, {"message": "Unauthorized"}), (route.function, method, path)
    assert sum(cloud.invocations.values()) == 0
    unknown = anonymous.get("/no/such/route")  # locally a clear 404, not API Gateway's puzzling 403
    assert (unknown.status, unknown.json()["error"]["code"]) == (404, "not_found")


def test_the_api_fixture_calls_as_a_user_of_a_company(cloud: LocalCloud,
                                                       api: Callable[..., ApiClient]) -> None:
    client = api("rosaflor", "Admin", "Setup")
    assert client.base_url == cloud.base_url and client.token
    claims = tokens.verify(client.token)
    assert (claims["custom:company_id"], claims["cognito:groups"]) == ("rosaflor", ["Admin", "Setup"])


def test_a_workbook_dropped_in_s3_reaches_the_import_queue(cloud: LocalCloud, suffix: str) -> None:
    s3, sqs, queue = cloud.client("s3"), cloud.client("sqs"), cloud.queue_url("ImportQueue")
    bucket = cloud.name("DropBucket")
    s3.put_object(Bucket=bucket, Key=f"imports/rosaflor{suffix}/customers/book.xlsx", Body=b"PK")
    s3.put_object(Bucket=bucket, Key=f"exports/rosaflor{suffix}/book.xlsx", Body=b"PK")
    out = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    for m in out:  # read here, not by the worker: gone, rather than back in the queue for another test
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    keys = [json.loads(m["Body"])["detail"]["object"]["key"] for m in out]
    assert keys == [f"imports/rosaflor{suffix}/customers/book.xlsx"]
