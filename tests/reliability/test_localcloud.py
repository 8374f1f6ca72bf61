"""The local cloud itself, on a miniature of K2K (tests/fixtures/localcloud): gateway, pollers, faults.

The fixture consumers are deliberately not idempotent: they count every
delivery, so these tests can see exactly what the pollers and fault modes do.
The miniature is not K2K's API: its clients do not check docs/openapi.json.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.localcloud import gateway, tokens
from infra.localcloud.client import TIMEOUT_SECONDS, ApiClient
from infra.localcloud.faults import Crash
from infra.localcloud.runtime import DrainError, LocalCloud

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "localcloud" / "template.yaml"


@pytest.fixture
def fx() -> Iterator[LocalCloud]:
    with LocalCloud(FIXTURE) as local:
        yield local


@pytest.fixture
def admin(fx: LocalCloud) -> ApiClient:
    return ApiClient(fx.base_url, tokens.mint("rosaflor", ["Admin", "Setup"], user="ana@rosaflor.example"),
                     contract=None)


@pytest.fixture
def delivered(fx: LocalCloud, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every (function, event) the gateway and pollers hand to a function, in order."""
    seen: list[tuple[str, dict[str, Any]]] = []
    real = fx.invoke

    def spy(logical_id: str, event: dict[str, Any]) -> Any:
        seen.append((logical_id, json.loads(json.dumps(event))))
        return real(logical_id, event)

    monkeypatch.setattr(fx, "invoke", spy)
    return seen


def send(cloud: LocalCloud, source: str, *details: dict[str, Any]) -> None:
    """Publish to the fixture bus; its rules route to the queues (moto does the routing)."""
    events = cloud.client("events")
    for detail in details:
        out = events.put_events(Entries=[{"Source": source, "DetailType": "ThingCreated",
                                          "Detail": json.dumps(detail), "EventBusName": cloud.name("Bus")}])
        assert out["FailedEntryCount"] == 0


def counter(cloud: LocalCloud, kind: str, key: str) -> int:
    item = cloud.client("dynamodb").get_item(
        TableName=cloud.name("Table"), Key={"pk": {"S": kind}, "sk": {"S": key}}).get("Item")
    return int(item["n"]["N"]) if item else 0


def log_of(cloud: LocalCloud, name: str) -> list[str]:
    item = cloud.client("dynamodb").get_item(
        TableName=cloud.name("Table"), Key={"pk": {"S": "LOG"}, "sk": {"S": name}}).get("Item")
    return [v["S"] for v in item["entries"]["L"]] if item else []


def messages(cloud: LocalCloud, queue: str) -> list[dict[str, Any]]:
    out = cloud.client("sqs").receive_message(QueueUrl=cloud.queue_url(queue), MaxNumberOfMessages=10,
                                              WaitTimeSeconds=0)
    return [json.loads(m["Body"]) for m in out.get("Messages", [])]


def records_for(delivered: list[tuple[str, dict[str, Any]]], function: str) -> list[list[dict[str, Any]]]:
    return [event["Records"] for fn, event in delivered if fn == function]


# ---------------------------------------------------------------------------------------------- gateway


def test_a_request_reaches_the_function_owning_its_route_with_its_path_parameters(fx: LocalCloud,
                                                                                  admin: ApiClient) -> None:
    assert admin.post("/things", json={"thing_id": "t1", "name": "Freedom rose"}).status == 201
    got = admin.get("/things/t1")
    assert (got.status, got.json()) == (200, {"thing_id": "t1", "name": "Freedom rose"})
    # A literal resource wins over {thing_id}, as in API Gateway.
    assert admin.get("/things/special").json() == {"special": True}
    assert admin.get("/things/nope").status == 404
    assert fx.invocations["ApiFunction"] == 4


def test_the_function_gets_an_api_gateway_rest_proxy_event(fx: LocalCloud, admin: ApiClient) -> None:
    got = admin.get("/echo/a/b/c", params={"x": ["1", "2"], "y": "3"})
    assert got.status == 200
    assert got.headers["X-Echo"] == "yes"
    event = got.json()
    assert event["resource"] == "/echo/{proxy+}"
    assert event["path"] == "/echo/a/b/c"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"proxy": "a/b/c"}
    assert event["queryStringParameters"] == {"x": "2", "y": "3"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": ["3"]}
    assert event["headers"]["Authorization"].startswith("Bearer ")
    assert event["multiValueHeaders"]["Accept"] == ["application/json"]
    assert event["body"] is None and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert (context["stage"], context["resourcePath"]) == ("test", "/echo/{proxy+}")
    assert context["httpMethod"] == "GET"
    assert context["path"] == "/test/echo/a/b/c"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["requestId"]
    lambda_context = event["context"]
    assert lambda_context["function_name"] == "k2k-EchoFunction"
    assert lambda_context["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:k2k-EchoFunction"
    assert lambda_context["memory"] == 256
    assert 0 < lambda_context["remaining_ms"] <= 10_000
    # Globals and each function's own variables, resolved from the template.
    assert event["env"] == {
        "TABLE_NAME": "k2k-Table", "BUS_NAME": "fx-test", "MODE": "test-mode", "API_ONLY": "yes",
        "WORK_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/fx-test-work-dlq",
    }


def test_bodies_and_responses_keep_their_bytes(fx: LocalCloud, admin: ApiClient) -> None:
    text = admin.request("POST", "/echo/upload", json={"boxes": 2}).json()
    assert (text["body"], text["isBase64Encoded"]) == ('{"boxes": 2}', False)
    raw = b"\xff\x00\xfe binary"
    request = urllib.request.Request(fx.base_url + "/echo/upload", data=raw, method="PUT", headers={
        "Authorization": f"Bearer {admin.token}", "Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(request) as response:
        echoed = json.loads(response.read())
        cookies = response.headers.get_all("Set-Cookie")
    assert echoed["isBase64Encoded"] is True and base64.b64decode(echoed["body"]) == raw
    assert cookies == ["a=1", "b=2"]
    png = admin.get("/echo/binary")
    assert png.status == 200 and png.headers["Content-Type"] == "image/png"
    assert png.body.startswith(b"\x89PNG")


def test_claims_reach_the_function_as_strings_as_from_the_cognito_authorizer(admin: ApiClient) -> None:
    claims = admin.get("/echo/me").json()["requestContext"]["authorizer"]["claims"]
    assert all(isinstance(v, str) for v in claims.values())
    assert claims["cognito:groups"] == "Admin,Setup"
    assert claims["custom:company_id"] == "rosaflor"
    assert claims["email"] == "ana@rosaflor.example"
    assert claims["token_use"] == "id"
    assert claims["exp"].endswith(" UTC " + claims["exp"][-4:])  # e.g. "Sun Nov 22 16:08:05 UTC 2026"


@pytest.mark.parametrize("authorization", [
    None,
    "Bearer not-a-jwt",
    "Bearer " + tokens.jwt.encode({"sub": "x", "iss": "k2k-local", "aud": "k2k-local", "token_use": "id",
                                   "exp": 4102444800}, "another-secret-of-at-least-32-bytes!!", "HS256"),
    "expired",
])
def test_without_a_valid_token_the_function_is_not_called(fx: LocalCloud, authorization: str | None) -> None:
    if authorization == "expired":
        authorization = "Bearer " + tokens.mint("rosaflor", ["Admin"], ttl_seconds=-60)
    client = ApiClient(fx.base_url, headers={"Authorization": authorization} if authorization else {},
                       contract=None)
    got = client.get("/echo/me")
    assert (got.status, got.json()) == (401, {"message": "Unauthorized"})
    assert fx.invocations["EchoFunction"] == 0
    # A route the template opens (Auth: {Authorizer: NONE}) needs no token and carries no claims.
    public = client.get("/public")
    assert (public.status, public.json()) == (200, {"claims": {}, "mode": "test-mode"})


def test_an_unknown_path_is_a_404_naming_it(fx: LocalCloud, admin: ApiClient) -> None:
    for method, path in [("GET", "/nowhere"), ("GET", "/things/a/b"), ("GET", "/"), ("POST", "/_local/x")]:
        got = admin.request(method, path)
        assert got.status == 404, (method, path)
        assert got.json()["error"]["code"] == "not_found"
        assert f"no route {method} {path}" in got.json()["error"]["message"]
    # Without a token too: the answer is about the route, not the caller.
    assert ApiClient(fx.base_url, contract=None).get("/nowhere").status == 404
    assert sum(fx.invocations.values()) == 0


def test_a_route_asked_with_another_method_is_a_405_saying_which_it_takes(fx: LocalCloud,
                                                                          admin: ApiClient) -> None:
    got = admin.request("DELETE", "/things")
    assert got.status == 405
    assert got.headers["Allow"] == "OPTIONS, POST"
    assert got.json() == {"error": {"code": "method_not_allowed",
                                    "message": "/things does not take DELETE; it takes OPTIONS, POST"}}
    assert admin.request("PATCH", "/things/t1").headers["Allow"] == "GET, OPTIONS"
    assert sum(fx.invocations.values()) == 0


def test_a_body_past_api_gateways_10_mb_is_a_413_and_reaches_no_function(fx: LocalCloud, admin: ApiClient) -> None:
    def put(size: int) -> tuple[int, Any]:
        request = urllib.request.Request(fx.base_url + "/echo/upload", data=b"x" * size, method="PUT", headers={
            "Authorization": f"Bearer {admin.token}", "Content-Type": "text/plain"})
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    status, echoed = put(gateway.MAX_PAYLOAD_BYTES)  # 10 MB exactly is taken
    assert status == 200 and len(echoed["body"]) == gateway.MAX_PAYLOAD_BYTES
    assert put(gateway.MAX_PAYLOAD_BYTES + 1) == (413, {"message": "Request Too Long"})  # API Gateway's own words
    assert fx.invocations["EchoFunction"] == 1


def test_a_preflight_is_answered_with_cors_headers(admin: ApiClient) -> None:
    got = admin.request("OPTIONS", "/things/t1", headers={"Access-Control-Request-Method": "GET",
                                                          "Access-Control-Request-Headers": "authorization"})
    assert got.status == 200
    assert got.headers["Access-Control-Allow-Origin"] == "*"
    assert got.headers["Access-Control-Allow-Methods"] == "GET,OPTIONS"
    assert got.headers["Access-Control-Allow-Headers"] == "authorization"


def test_a_failing_function_is_a_502(admin: ApiClient) -> None:
    got = admin.get("/boom")
    assert (got.status, got.json()) == (502, {"message": "Internal server error"})


def test_the_api_documents_itself(fx: LocalCloud) -> None:
    page = ApiClient(fx.base_url, contract=None).get("/docs")
    assert page.status == 200 and "SwaggerUIBundle" in page.text
    assert "/docs/swagger-ui-bundle.min.js" in page.text and "cdn" not in page.text.lower()
    script = ApiClient(fx.base_url, contract=None).get("/docs/swagger-ui-bundle.min.js")
    assert script.status == 200 and len(script.body) > 100_000
    spec = ApiClient(fx.base_url, contract=None).get("/openapi.json").json()
    assert spec["info"]["title"] == "K2K API"
    assert "/things/{thing_id}" in spec["paths"]
    assert spec["servers"] == [{"url": fx.base_url, "description": "local cloud"}]


def test_concurrent_requests_run_in_separate_execution_environments(fx: LocalCloud) -> None:
    companies = [f"company-{n}" for n in range(12)]

    def whoami(company: str) -> Any:
        return ApiClient(fx.base_url, tokens.mint(company, ["Admin"]), contract=None).get("/whoami").json()

    with ThreadPoolExecutor(max_workers=len(companies)) as pool:
        answers = list(pool.map(whoami, companies))
    # One Powertools resolver per environment, as in Lambda: no request sees another's event.
    assert answers == [{"company": c} for c in companies]


def test_each_aws_call_is_atomic_under_concurrency(fx: LocalCloud, admin: ApiClient) -> None:
    def create(_: int) -> int:
        return admin.post("/things", json={"thing_id": "contested", "name": "last box"}).status

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = sorted(pool.map(create, range(16)))
    # attribute_not_exists(pk) holds for exactly one of them; the others' transactions are cancelled.
    assert statuses == [201] + [502] * 15
    assert dict(fx.drain()) == {"RelayFunction": 1, "WorkFunction": 1}


# ---------------------------------------------------------------------------------------------- pollers


def test_a_write_travels_outbox_stream_bus_queue_to_its_consumer(fx: LocalCloud, admin: ApiClient) -> None:
    admin.post("/things", json={"thing_id": "t1", "name": "rose"})
    stats = fx.drain()
    assert dict(stats) == {"RelayFunction": 1, "WorkFunction": 1}
    assert counter(fx, "SEEN", "t1") == 1
    assert log_of(fx, "work") == ["t1"]
    again = fx.drain()
    assert (dict(again), again.rounds) == ({}, 1)


def test_the_stream_filter_passes_only_outbox_inserts_as_real_stream_records(
        fx: LocalCloud, admin: ApiClient, delivered: list[tuple[str, dict[str, Any]]]) -> None:
    admin.post("/things", json={"thing_id": "t1", "name": "rose"})
    ddb = fx.client("dynamodb")
    ddb.put_item(TableName=fx.name("Table"),
                 Item={"pk": {"S": "OTHER"}, "sk": {"S": "1"}, "kind": {"S": "NOTE"}})
    ddb.update_item(TableName=fx.name("Table"), Key={"pk": {"S": "THING#t1"}, "sk": {"S": "THING"}},
                    UpdateExpression="SET #n = :n", ExpressionAttributeNames={"#n": "name"},
                    ExpressionAttributeValues={":n": {"S": "tulip"}})
    fx.drain()
    batches = records_for(delivered, "RelayFunction")
    assert len(batches) == 1 and len(batches[0]) == 1
    record = batches[0][0]
    stream_arn = fx.resources.stream_arns["k2k-Table"]
    assert record["eventName"] == "INSERT" and record["eventSource"] == "aws:dynamodb"
    assert record["eventSourceARN"] == stream_arn and "/stream/" in stream_arn
    assert record["awsRegion"] == "us-east-1" and record["eventID"] and record["eventVersion"]
    dynamodb = record["dynamodb"]
    assert dynamodb["NewImage"]["kind"] == {"S": "OUTBOX"}
    assert dynamodb["Keys"] == {"pk": {"S": "OUTBOX"}, "sk": dynamodb["NewImage"]["sk"]}
    assert dynamodb["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert isinstance(dynamodb["ApproximateCreationDateTime"], int)
    assert int(dynamodb["SequenceNumber"]) > 0 and dynamodb["SizeBytes"] > 0


def test_sqs_partial_failures_retry_only_the_failed_message_until_it_is_dead_lettered(
        fx: LocalCloud, delivered: list[tuple[str, dict[str, Any]]]) -> None:
    send(fx, "fx.work", {"id": "a"}, {"id": "b", "fail": True}, {"id": "c"})
    fx.drain()
    assert (counter(fx, "SEEN", "a"), counter(fx, "SEEN", "b"), counter(fx, "SEEN", "c")) == (1, 2, 1)
    assert log_of(fx, "work") == ["a", "c"]
    # maxReceiveCount is 2 (from the template's mapping): after two receives moto moves it to the DLQ.
    dead = messages(fx, "WorkDLQ")
    assert [m["detail"]["id"] for m in dead] == ["b"]
    assert fx.queue_depth("WorkQueue") == 0
    b_records = [r for batch in records_for(delivered, "WorkFunction") for r in batch
                 if json.loads(r["body"])["detail"]["id"] == "b"]
    assert [r["attributes"]["ApproximateReceiveCount"] for r in b_records] == ["1", "2"]
    record = b_records[0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:k2k-WorkQueue"
    assert record["awsRegion"] == "us-east-1" and record["receiptHandle"] and record["md5OfBody"]
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= record["attributes"].keys()
    assert record["messageAttributes"] == {}


def test_message_attributes_arrive_in_lambda_shape(fx: LocalCloud,
                                                   delivered: list[tuple[str, dict[str, Any]]]) -> None:
    fx.client("sqs").send_message(
        QueueUrl=fx.queue_url("WorkQueue"), MessageBody=json.dumps({"detail": {"id": "m"}}),
        MessageAttributes={"tenant": {"DataType": "String", "StringValue": "rosaflor"},
                           "blob": {"DataType": "Binary", "BinaryValue": b"\x01\x02"}})
    fx.drain()
    (record,), = records_for(delivered, "WorkFunction")
    assert record["messageAttributes"] == {
        "tenant": {"stringValue": "rosaflor", "stringListValues": [], "binaryListValues": [],
                   "dataType": "String"},
        "blob": {"binaryValue": "AQI=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
    }
    assert "md5OfMessageAttributes" in record


def test_without_partial_failures_one_bad_message_fails_its_whole_batch(fx: LocalCloud) -> None:
    send(fx, "fx.plain", {"id": "p1"}, {"id": "p2", "fail": True})
    stats = fx.drain()
    assert stats["PlainFunction"] == 2  # both messages in one batch, twice, then both dead-lettered
    assert (counter(fx, "SEEN", "p1"), counter(fx, "SEEN", "p2")) == (2, 2)
    assert log_of(fx, "plain") == []
    assert sorted(m["detail"]["id"] for m in messages(fx, "PlainDLQ")) == ["p1", "p2"]


def test_stream_failures_are_retried_then_reported_to_the_on_failure_queue(
        fx: LocalCloud, admin: ApiClient, delivered: list[tuple[str, dict[str, Any]]]) -> None:
    admin.post("/things", json={"thing_id": "bad", "name": "x", "poison": True})
    admin.post("/things", json={"thing_id": "good", "name": "y"})
    stats = fx.drain()
    # MaximumRetryAttempts 2: three attempts at the poison record, then the next record goes on.
    assert stats["RelayFunction"] == 4
    batches = records_for(delivered, "RelayFunction")
    poison_seq = batches[0][0]["dynamodb"]["SequenceNumber"]
    assert [b[0]["dynamodb"]["SequenceNumber"] for b in batches[:3]] == [poison_seq] * 3
    assert [r["dynamodb"]["NewImage"]["detail"]["S"] for r in batches[3]] == [
        json.dumps({"id": "good", "name": "y", "fail": False})]
    (failure,) = messages(fx, "RelayDLQ")
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 3
    assert failure["requestContext"]["functionArn"].endswith(":function:k2k-RelayFunction")
    info = failure["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"]) == (poison_seq, poison_seq)
    assert info["batchSize"] == 1
    assert info["streamArn"] == fx.resources.stream_arns["k2k-Table"]
    assert counter(fx, "SEEN", "good") == 1 and counter(fx, "SEEN", "bad") == 0


def test_drain_gives_up_on_a_message_that_circulates_forever(fx: LocalCloud) -> None:
    send(fx, "fx.loose", {"id": "poison", "fail": True})  # LooseQueue has no dead-letter queue
    with pytest.raises(DrainError) as raised:
        fx.drain(max_rounds=5)
    assert raised.value.stats["PlainFunction"] == 5 and raised.value.stats.rounds == 5
    assert counter(fx, "SEEN", "poison") == 5


def test_s3_reports_uploads_through_eventbridge_to_the_rule_s_queue(fx: LocalCloud) -> None:
    s3 = fx.client("s3")
    s3.put_object(Bucket="fx-test-drop-123456789012", Key="imports/rosaflor/customers/a.xlsx", Body=b"x")
    s3.put_object(Bucket="fx-test-drop-123456789012", Key="elsewhere/a.xlsx", Body=b"x")
    (event,) = messages(fx, "DropQueue")
    assert event["detail-type"] == "Object Created"
    assert event["detail"]["object"]["key"] == "imports/rosaflor/customers/a.xlsx"


def test_background_polling_delivers_without_drain(fx: LocalCloud) -> None:
    delivered = threading.Event()
    invoke = fx.invoke

    def watched(logical_id: str, event: dict[str, Any]) -> Any:
        answer = invoke(logical_id, event)
        if counter(fx, "SEEN", "bg"):
            delivered.set()
        return answer

    vars(fx)["invoke"] = watched  # the pollers call through cloud.invoke: waiting on a delivery, not a clock
    fx.start_background(interval=0.02)
    send(fx, "fx.work", {"id": "bg"})
    assert delivered.wait(TIMEOUT_SECONDS), "the background pollers delivered nothing"  # a hang guard only
    fx.stop_background()
    assert counter(fx, "SEEN", "bg") == 1
    assert dict(fx.drain()) == {}


# ---------------------------------------------------------------------------------------------- faults


def test_duplicate_delivers_every_stream_and_queue_batch_twice(fx: LocalCloud, admin: ApiClient) -> None:
    admin.post("/things", json={"thing_id": "t1", "name": "rose"})
    fx.faults.duplicate = True
    stats = fx.drain()
    assert stats["RelayFunction"] == 2  # the stream batch twice: the event is published twice
    assert counter(fx, "SEEN", "t1") == 4  # two messages, each batch delivered twice
    fx.faults.reset()
    send(fx, "fx.work", {"id": "once"})
    fx.drain()
    assert counter(fx, "SEEN", "once") == 1


def test_reorder_delivers_queue_messages_newest_first(fx: LocalCloud) -> None:
    send(fx, "fx.work", *({"id": f"in-order-{i}"} for i in range(5)))
    fx.drain()
    assert log_of(fx, "work") == [f"in-order-{i}" for i in range(5)]
    send(fx, "fx.work", *({"id": f"reordered-{i}"} for i in range(5)))
    fx.faults.reorder = True
    fx.drain()
    assert log_of(fx, "work")[5:] == [f"reordered-{i}" for i in reversed(range(5))]


def test_reorder_reverses_stream_batches(fx: LocalCloud, admin: ApiClient,
                                         delivered: list[tuple[str, dict[str, Any]]]) -> None:
    for i in range(3):
        admin.post("/things", json={"thing_id": f"t{i}", "name": "rose"})
    fx.faults.reorder = True
    fx.drain()
    (batch,) = records_for(delivered, "RelayFunction")
    sequences = [int(r["dynamodb"]["SequenceNumber"]) for r in batch]
    assert len(sequences) == 3 and sequences == sorted(sequences, reverse=True)


def test_drop_then_redeliver_loses_each_first_delivery(fx: LocalCloud,
                                                       delivered: list[tuple[str, dict[str, Any]]]) -> None:
    send(fx, "fx.work", {"id": "d1"}, {"id": "d2"})
    fx.faults.drop_then_redeliver = True
    stats = fx.drain()
    (batch,) = records_for(delivered, "WorkFunction")
    # The function never saw the first receive of either message.
    assert [r["attributes"]["ApproximateReceiveCount"] for r in batch] == ["2", "2"]
    assert stats.rounds >= 2
    assert (counter(fx, "SEEN", "d1"), counter(fx, "SEEN", "d2")) == (1, 1)


def test_a_crash_between_publish_and_checkpoint_publishes_twice(fx: LocalCloud, admin: ApiClient) -> None:
    admin.post("/things", json={"thing_id": "t1", "name": "rose"})
    fx.faults.crash_after = {"RelayFunction": 2}  # after PutEvents, before its own bookkeeping
    fx.drain()
    assert fx.crashes == [Crash("RelayFunction", 2, "dynamodb.UpdateItem")]
    assert counter(fx, "SEEN", "t1") == 2  # at least once: the retried stream batch published again
    assert fx.queue_depth("RelayDLQ") == 0
    assert fx.faults.crash_after == {}  # one crash, on the next invocation only


def test_a_crashed_consumer_gets_the_message_again(fx: LocalCloud) -> None:
    send(fx, "fx.work", {"id": "w"})
    fx.faults.crash_after = {"WorkFunction": 2}
    fx.drain()
    assert fx.crashes == [Crash("WorkFunction", 2, "dynamodb.UpdateItem")]
    assert counter(fx, "SEEN", "w") == 2 and log_of(fx, "work") == ["w"]
    assert fx.queue_depth("WorkQueue") == 0 and fx.queue_depth("WorkDLQ") == 0


def test_a_crash_in_an_api_call_leaves_nothing_behind(fx: LocalCloud, admin: ApiClient) -> None:
    fx.faults.crash_after = {"ApiFunction": 1}
    got = admin.post("/things", json={"thing_id": "t1", "name": "rose"})
    assert (got.status, got.json()) == (502, {"message": "Internal server error"})
    assert fx.crashes == [Crash("ApiFunction", 1, "dynamodb.TransactWriteItems")]
    assert admin.get("/things/t1").status == 404
    assert dict(fx.drain()) == {}


def test_aws_calls_are_counted_per_function_and_operation(fx: LocalCloud, admin: ApiClient) -> None:
    admin.post("/things", json={"thing_id": "t1", "name": "rose"})
    fx.drain()
    assert dict(fx.aws_calls["ApiFunction"]) == {"dynamodb.TransactWriteItems": 1}
    assert dict(fx.aws_calls["RelayFunction"]) == {"events.PutEvents": 1, "dynamodb.UpdateItem": 1}
    assert fx.aws_calls.total("dynamodb.") == 4
    assert set(fx.aws_calls) == {"ApiFunction", "RelayFunction", "WorkFunction"}  # pollers' own calls aren't
    fx.aws_calls.reset()
    assert fx.aws_calls.total() == 0


def test_calls_from_a_handler_s_worker_threads_are_its_own(fx: LocalCloud, admin: ApiClient) -> None:
    assert admin.post("/things/t1/copies").json() == {"copies": 3}
    assert dict(fx.aws_calls["ApiFunction"]) == {"dynamodb.PutItem": 3}
    fx.faults.crash_after = {"ApiFunction": 2}
    assert admin.post("/things/t2/copies").status == 502
    assert [c.call for c in fx.crashes] == [2]


# ---------------------------------------------------------------------------------------------- lifecycle


def test_stop_restores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "someone-real")
    monkeypatch.delenv("TABLE_NAME", raising=False)
    monkeypatch.delenv("K2K_CLOCK_OFFSET_SECONDS", raising=False)
    with LocalCloud(FIXTURE) as local:
        assert os.environ["TABLE_NAME"] == "k2k-Table" and "AWS_PROFILE" not in os.environ
        assert local.client("sqs").list_queues()["QueueUrls"]
        local.advance(60)
    assert "TABLE_NAME" not in os.environ and os.environ["AWS_PROFILE"] == "someone-real"
    assert "K2K_CLOCK_OFFSET_SECONDS" not in os.environ
    with pytest.raises(RuntimeError, match="start"):
        local.client("sqs")  # the emulator is gone


def test_server_mode_serves_every_client_in_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with LocalCloud(FIXTURE, mode="server") as local:
        assert local.moto_endpoint and os.environ["AWS_ENDPOINT_URL"] == local.moto_endpoint
        other = boto3.session.Session().client("dynamodb")  # a session of its own, as the AWS CLI would
        assert "k2k-Table" in other.list_tables()["TableNames"]
        admin = ApiClient(local.base_url, tokens.mint("rosaflor", ["Admin"]), contract=None)
        assert admin.post("/things", json={"thing_id": "t1", "name": "rose"}).status == 201
        assert dict(local.drain()) == {"RelayFunction": 1, "WorkFunction": 1}
    assert "AWS_ENDPOINT_URL" not in os.environ



# ---------------------------------------------------------------------------------------------- time


def test_one_time_schedules_fire_when_the_clock_passes_them(fx: LocalCloud) -> None:
    scheduler = fx.client("scheduler")
    at = (fx.now() + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S")
    common = {"ScheduleExpression": f"at({at})", "ScheduleExpressionTimezone": "UTC",
              "FlexibleTimeWindow": {"Mode": "OFF"}, "ActionAfterCompletion": "DELETE"}
    scheduler.create_schedule(Name="to-bus", **common, Target={
        "Arn": fx.template.get_att("Bus", "Arn"), "RoleArn": "arn:aws:iam::123456789012:role/x",
        "EventBridgeParameters": {"Source": "fx.work", "DetailType": "TimerElapsed"},
        "Input": json.dumps({"id": "via-bus"})})
    scheduler.create_schedule(Name="to-queue", **common, Target={
        "Arn": fx.template.get_att("WorkQueue", "Arn"), "RoleArn": "arn:aws:iam::123456789012:role/x",
        "Input": json.dumps({"detail": {"id": "via-queue"}})})
    assert dict(fx.drain()) == {}  # not yet
    fx.advance(timedelta(minutes=31))
    assert os.environ["K2K_CLOCK_OFFSET_SECONDS"] == "1860.0"  # what the layer's k2k.clock reads
    assert fx.drain()["WorkFunction"] >= 1
    assert (counter(fx, "SEEN", "via-bus"), counter(fx, "SEEN", "via-queue")) == (1, 1)
    assert scheduler.list_schedules()["Schedules"] == []  # ActionAfterCompletion DELETE
    assert dict(fx.drain()) == {}
