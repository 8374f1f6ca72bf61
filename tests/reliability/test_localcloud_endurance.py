"""The local cloud holds a day of use: moto's rollback copies only what a transaction touches (and
still rolls all of it back), a query reads its partition, schedules are forgotten once fired or
cancelled, shard iterators expire, and a slow or form-encoded upload never stalls the emulator.

How long any of this takes is measured by `python -m bench soak`, never asserted here.
"""

from __future__ import annotations

import copy
import gc
import json
import socket
import urllib.parse
import urllib.request
import uuid
import weakref
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

from infra.localcloud import moto_fixes, pollers
from infra.localcloud.emulator import Emulator
from infra.localcloud.faults import Faults
from infra.localcloud.pollers import SqsPoller
from infra.localcloud.runtime import LocalCloud
from infra.localcloud.schedules import SchedulePoller
from infra.localcloud.template import ACCOUNT_ID, REGION, SqsSource

ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/scheduler"


@pytest.fixture
def table(cloud: LocalCloud) -> Iterator[str]:
    """A table of this test's own (pk, sk), with a NEW_IMAGE stream, like K2K's."""
    name = f"endurance-{uuid.uuid4().hex[:8]}"
    ddb = cloud.client("dynamodb")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in ("pk", "sk")],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                {"AttributeName": "sk", "KeyType": "RANGE"}],
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    yield name
    ddb.delete_table(TableName=name)


def _stock(ddb: Any, table: str, sk: str) -> int | None:
    item = ddb.get_item(TableName=table, Key={"pk": {"S": "LINE"}, "sk": {"S": sk}}).get("Item")
    return int(item["boxes"]["N"]) if item else None


def _take(table: str, sk: str, boxes: int) -> dict[str, Any]:
    return {"Update": {"TableName": table, "Key": {"pk": {"S": "LINE"}, "sk": {"S": sk}},
                       "UpdateExpression": "SET boxes = boxes - :n", "ConditionExpression": "boxes >= :n",
                       "ExpressionAttributeValues": {":n": {"N": str(boxes)}}}}


def _stream_records(cloud: LocalCloud, table: str) -> int:
    streams = cloud.client("dynamodbstreams")
    arn = cloud.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return len(streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"])


@pytest.fixture
def lines(cloud: LocalCloud, table: str) -> Any:
    """Three lines with 5 boxes each, among 300 other items (the table a transaction must not copy)."""
    ddb = cloud.client("dynamodb")
    for sk in ("A", "B", "C"):
        ddb.put_item(TableName=table, Item={"pk": {"S": "LINE"}, "sk": {"S": sk}, "boxes": {"N": "5"}})
    for start in range(0, 300, 25):
        ddb.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": {"pk": {"S": f"OTHER#{i % 7}"}, "sk": {"S": f"{i:04d}"}, "n": {"N": str(i)}}}}
            for i in range(start, start + 25)]})
    return ddb


# ------------------------------------------------------------------------------------- transactions

def test_a_transaction_with_one_failed_condition_changes_none_of_its_three_items(
        cloud: LocalCloud, table: str, lines: Any) -> None:
    records = _stream_records(cloud, table)
    with pytest.raises(ClientError) as refused:
        lines.transact_write_items(TransactItems=[
            _take(table, "A", 2), _take(table, "B", 9), _take(table, "C", 1),  # B has only 5
            {"Put": {"TableName": table, "Item": {"pk": {"S": "LINE"}, "sk": {"S": "NEW"}, "boxes": {"N": "1"}}}}])
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in refused.value.response["CancellationReasons"]]
    assert reasons == ["None", "ConditionalCheckFailed", "None", "None"]
    assert [_stock(lines, table, sk) for sk in ("A", "B", "C", "NEW")] == [5, 5, 5, None]
    assert _stream_records(cloud, table) == records  # nothing happened, so nothing was streamed


def test_a_transaction_that_passes_applies_every_item(cloud: LocalCloud, table: str, lines: Any) -> None:
    records = _stream_records(cloud, table)
    lines.transact_write_items(TransactItems=[_take(table, "A", 2), _take(table, "B", 5), _take(table, "C", 1)])
    assert [_stock(lines, table, sk) for sk in ("A", "B", "C")] == [3, 0, 4]
    assert _stream_records(cloud, table) == records + 3


def test_a_refused_transaction_does_not_copy_the_table_only_the_items_it_names(
        cloud: LocalCloud, table: str, lines: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    copied: list[Any] = []
    real = copy.deepcopy

    def spy(value: Any, memo: Any = None) -> Any:
        copied.append(value)
        return real(value, memo)

    monkeypatch.setattr(copy, "deepcopy", spy)
    with pytest.raises(ClientError):
        lines.transact_write_items(TransactItems=[_take(table, "A", 1), _take(table, "B", 6)])
    assert not any(isinstance(value, Table) for value in copied)
    # Each named item is saved once for the rollback (and once more by moto's own UpdateItem): not 303 items.
    items = [value for value in copied if type(value).__name__ == "Item"]
    assert 2 <= len(items) <= 4
    assert [_stock(lines, table, sk) for sk in ("A", "B")] == [5, 5]


def test_a_transaction_parses_each_condition_once_and_still_checks_it(
        cloud: LocalCloud, table: str, lines: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb import comparisons

    moto_fixes.forget_parses()  # none kept from earlier tests
    parsed: list[str] = []
    real = comparisons.create_condition_expression_parser

    def spy(expression: Any, *args: Any) -> Any:
        parsed.append(expression)
        return real(expression, *args)

    monkeypatch.setattr(comparisons, "create_condition_expression_parser", spy)
    new_line = {"Put": {"TableName": table, "Item": {"pk": {"S": "LINE"}, "sk": {"S": "D"}, "boxes": {"N": "1"}},
                        "ConditionExpression": "attribute_not_exists(pk)"}}
    lines.transact_write_items(TransactItems=[_take(table, "A", 1), _take(table, "B", 2), new_line])
    # Once each (moto parsed each three times: to validate the request, to check it, then to write)
    assert parsed == ["boxes >= :n", "boxes >= :n", "attribute_not_exists(pk)"]
    with pytest.raises(ClientError):
        lines.transact_write_items(TransactItems=[_take(table, "A", 1), new_line])
    assert len(parsed) == 3  # the same expressions, names and values again: kept parses, still checked
    assert [_stock(lines, table, sk) for sk in ("A", "B", "C", "D")] == [4, 3, 5, 1]


def test_a_transaction_naming_one_item_twice_is_refused_and_changes_nothing(
        cloud: LocalCloud, table: str, lines: Any) -> None:
    with pytest.raises(ClientError) as refused:
        lines.transact_write_items(TransactItems=[_take(table, "A", 1), _take(table, "A", 1)])
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert _stock(lines, table, "A") == 5


def test_an_item_over_400_kb_is_still_refused(cloud: LocalCloud, table: str) -> None:
    ddb = cloud.client("dynamodb")
    with pytest.raises(ClientError, match="maximum allowed size"):
        ddb.put_item(TableName=table, Item={"pk": {"S": "BIG"}, "sk": {"S": "1"},
                                            **{f"part{i}": {"S": "x" * 100_000} for i in range(5)}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "BIG"}, "sk": {"S": "2"}, "part": {"S": "x" * 300_000}})


def test_an_item_version_moto_no_longer_holds_is_freed_and_the_live_one_still_tracked(
        cloud: LocalCloud, table: str) -> None:
    from moto.dynamodb.models import dynamodb_backends

    ddb = cloud.client("dynamodb")
    key = {"pk": {"S": "LINE"}, "sk": {"S": "A"}}
    ddb.put_item(TableName=table, Item={**key, "boxes": {"N": "5"}})
    items: Any = dynamodb_backends[ACCOUNT_ID][REGION].tables[table].items
    first = weakref.ref(items[DynamoType(key["pk"])][DynamoType(key["sk"])])
    ddb.put_item(TableName=table, Item={**key, "boxes": {"N": "4"}})  # a new item in its place
    gc.collect()
    assert first() is None  # moto tracked every instance of every model for ever
    current = items[DynamoType(key["pk"])][DynamoType(key["sk"])]
    assert any(tracked is current for tracked in Item.instances_tracked)  # type: ignore[attr-defined]


def test_the_fixes_are_on_while_a_local_cloud_runs(cloud: LocalCloud) -> None:
    assert moto_fixes.installed()


# ------------------------------------------------------------------------------------------ queries

def test_a_query_reads_its_partition_in_key_order_page_by_page(cloud: LocalCloud, table: str,
                                                               lines: Any) -> None:
    asked = {"TableName": table, "KeyConditionExpression": "pk = :pk AND sk BETWEEN :a AND :b",
             "ExpressionAttributeValues": {":pk": {"S": "OTHER#3"}, ":a": {"S": "0100"}, ":b": {"S": "0200"}},
             "ScanIndexForward": False, "Limit": 4}
    seen: list[str] = []
    while True:
        page = lines.query(**asked)
        seen += [i["sk"]["S"] for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            break
        asked["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    assert seen == [f"{i:04d}" for i in range(200, 99, -1) if i % 7 == 3]


def test_item_answers_are_the_ones_moto_s_own_serializer_writes(
        cloud: LocalCloud, table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb import responses as dynamodb_responses

    ddb = cloud.client("dynamodb")
    key = {"pk": {"S": "EVERY"}, "sk": {"S": "TYPE"}}
    ddb.put_item(TableName=table, Item={
        **key, "s": {"S": "rosé"}, "n": {"N": "12.50"}, "b": {"B": b"\x00\xffk2k"}, "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": [b"\x01", b"\x02"]}, "t": {"BOOL": True}, "z": {"NULL": True},
        "m": {"M": {"deep": {"L": [{"S": "x"}, {"N": "3"}, {"B": b"\x03"}, {"M": {}}]}}}, "l": {"L": []}})

    ddb.put_item(TableName=table, Item={"pk": {"S": "EVERY"}, "sk": {"S": "PUT"}})

    def answers() -> list[dict[str, Any]]:
        got = [
            ddb.get_item(TableName=table, Key=key),
            ddb.get_item(TableName=table, Key={"pk": {"S": "EVERY"}, "sk": {"S": "NONE"}}),
            ddb.query(TableName=table, KeyConditionExpression="pk = :p", Limit=1,
                      ExpressionAttributeValues={":p": {"S": "EVERY"}}, ReturnConsumedCapacity="TOTAL"),
            ddb.query(TableName=table, KeyConditionExpression="pk = :p",
                      ExpressionAttributeValues={":p": {"S": "NOBODY"}}),
            ddb.batch_get_item(RequestItems={table: {"Keys": [key]}}),
            ddb.update_item(TableName=table, Key=key, UpdateExpression="SET s = :s", ReturnValues="ALL_NEW",
                            ExpressionAttributeValues={":s": {"S": "rosé"}}),
            ddb.put_item(TableName=table, Item={"pk": {"S": "EVERY"}, "sk": {"S": "PUT"}}, ReturnValues="ALL_OLD"),
            ddb.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": key}}]),
        ]
        return [{k: v for k, v in answer.items() if k != "ResponseMetadata"} for answer in got]

    fast = answers()
    monkeypatch.setattr(dynamodb_responses.DynamoResult, "execute_result",
                        moto_fixes.original(dynamodb_responses.DynamoResult, "execute_result"))
    assert answers() == fast


# ----------------------------------------------------------------------------------------- pollers

def test_the_emulator_tells_whether_a_receive_could_find_a_message(
        cloud: LocalCloud, queue: tuple[str, str]) -> None:
    url, _ = queue
    sqs = cloud.client("sqs")
    probe = Emulator("inprocess")  # reads the running emulator's state: moto's, in this process
    assert probe.queue_has_visible(url) is False
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    assert probe.queue_has_visible(url) is False  # delayed: a receive would not get it
    sqs.send_message(QueueUrl=url, MessageBody="now")
    assert probe.queue_has_visible(url) is True
    [message] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=60)["Messages"]
    assert probe.queue_has_visible(url) is False  # in flight
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert probe.queue_has_visible(url) is False
    assert probe.queue_has_visible(url.rsplit("/", 1)[0] + "/no-such-queue") is None  # unknown: poll it


def test_a_drain_with_nothing_flowing_asks_no_queue_stream_or_schedule(
        cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend
    from moto.scheduler.models import EventBridgeSchedulerBackend
    from moto.sqs.models import SQSBackend

    cloud.drain()
    asked: list[str] = []
    for backend, method in ((SQSBackend, "receive_message"), (DynamoDBStreamsBackend, "get_records"),
                            (EventBridgeSchedulerBackend, "list_schedules")):
        real = getattr(backend, method)
        monkeypatch.setattr(backend, method, lambda *a, _real=real, _name=method, **k: (
            asked.append(_name), _real(*a, **k))[1])
    assert cloud.drain().rounds == 1
    assert asked == []
    events = cloud.client("events")
    events.put_events(Entries=[{"Source": "k2k.tests", "DetailType": "Nothing", "Detail": "{}",
                                "EventBusName": cloud.name("K2KBus")}])  # no rule takes it
    cloud.drain()
    assert asked == []



def test_a_busy_queue_takes_its_turn_and_leaves_the_rest_to_the_next_round(
        cloud: LocalCloud, queue: tuple[str, str]) -> None:
    url, arn = queue
    sqs = cloud.client("sqs")
    for n in range(pollers.BATCHES_PER_TURN + 5):
        sqs.send_message(QueueUrl=url, MessageBody=str(n))
    delivered: list[int] = []
    source = SqsSource("Busy", "Queue", "BusyQueue", url.rsplit("/", 1)[-1], arn, url, batch_size=1,
                       report_item_failures=False)
    poller = SqsPoller(source, url, sqs, lambda _, event: delivered.append(len(event["Records"])), Faults())
    assert poller.poll() == pollers.BATCHES_PER_TURN  # then the other sources poll, then this one again
    assert poller.poll() == 5
    assert poller.poll() == 0
    assert sum(delivered) == pollers.BATCHES_PER_TURN + 5


# ---------------------------------------------------------------------------------------- schedules

@pytest.fixture
def queue(cloud: LocalCloud) -> Iterator[tuple[str, str]]:
    sqs = cloud.client("sqs")
    url = sqs.create_queue(QueueName=f"endurance-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    yield url, arn
    sqs.delete_queue(QueueUrl=url)


def _schedule(cloud: LocalCloud, queue_arn: str, in_minutes: int, **extra: Any) -> str:
    name = f"endurance-{uuid.uuid4().hex[:8]}"
    at = (cloud.now() + timedelta(minutes=in_minutes)).strftime("%Y-%m-%dT%H:%M:%S")
    cloud.client("scheduler").create_schedule(
        Name=name, ScheduleExpression=f"at({at})", ScheduleExpressionTimezone="UTC",
        FlexibleTimeWindow={"Mode": "OFF"}, Target={"Arn": queue_arn, "RoleArn": ROLE, "Input": json.dumps(name)},
        **extra)
    return name


def _received(cloud: LocalCloud, url: str) -> list[str]:
    got = cloud.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def _exists(cloud: LocalCloud, name: str) -> bool:
    try:
        cloud.client("scheduler").get_schedule(Name=name)
    except ClientError as e:
        assert e.response["Error"]["Code"] == "ResourceNotFoundException"
        return False
    return True


def _poller(cloud: LocalCloud, watched: list[str]) -> SchedulePoller:
    """A schedule poller of the test's own, on the local clock; `watched` gets each GetSchedule's name."""
    scheduler = cloud.client("scheduler")
    scheduler.meta.events.register("before-parameter-build.scheduler.GetSchedule",
                                   lambda params, **_: watched.append(params["Name"]))
    return SchedulePoller(scheduler, cloud.client("events"), cloud.client("sqs"), {}, cloud.invoke, cloud.now)


def test_a_fired_schedule_with_delete_after_completion_is_gone_and_forgotten(
        cloud: LocalCloud, queue: tuple[str, str]) -> None:
    url, arn = queue
    name = _schedule(cloud, arn, 30, ActionAfterCompletion="DELETE")
    fetched: list[str] = []
    poller = _poller(cloud, fetched)
    poller.poll()
    assert name in fetched and _exists(cloud, name)
    fetched.clear()
    poller.poll()
    assert fetched == []  # known and not due: not fetched again
    pending = poller.pending
    cloud.advance(timedelta(minutes=31))
    fired = poller.poll()
    assert _received(cloud, url) == [name]
    assert not _exists(cloud, name)
    assert poller.pending == pending - fired  # what fired is forgotten


def test_a_completed_schedule_kept_by_aws_fires_only_once(cloud: LocalCloud, queue: tuple[str, str]) -> None:
    url, arn = queue
    name = _schedule(cloud, arn, 5, ActionAfterCompletion="NONE")
    cloud.advance(timedelta(minutes=6))
    cloud.drain()
    cloud.drain()
    assert _received(cloud, url) == [name]
    assert _exists(cloud, name)
    cloud.client("scheduler").delete_schedule(Name=name)


def test_a_cancelled_schedule_never_fires_and_is_forgotten(cloud: LocalCloud, queue: tuple[str, str]) -> None:
    url, arn = queue
    name = _schedule(cloud, arn, 30, ActionAfterCompletion="DELETE")
    poller = _poller(cloud, [])
    poller.poll()
    pending = poller.pending
    cloud.client("scheduler").delete_schedule(Name=name)  # e.g. a timer no longer needed
    poller.poll()
    assert poller.pending == pending - 1
    cloud.advance(timedelta(minutes=31))
    cloud.drain()
    assert _received(cloud, url) == []


# ------------------------------------------------------------------------------------------ streams

def test_shard_iterators_are_forgotten_once_expired(cloud: LocalCloud, table: str) -> None:
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    iterators = dynamodbstreams_backends[ACCOUNT_ID][REGION].shard_iterators
    for _ in range(3):
        _stream_records(cloud, table)  # each returns two iterators (GetShardIterator, GetRecords)
    assert len(iterators) >= 6
    for iterator in iterators.values():  # 15 minutes later
        iterator.returned_at -= moto_fixes.SHARD_ITERATOR_SECONDS + 1  # type: ignore[attr-defined]
    assert _stream_records(cloud, table) == 0
    assert len(iterators) == 2  # only the two just returned


def test_stream_records_are_answered_as_written_without_moto_s_serializer(
        cloud: LocalCloud, table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.core.responses import BaseResponse

    item = {"pk": {"S": "LINE"}, "sk": {"S": "A"}, "boxes": {"N": "5"}, "photo": {"B": b"\x00\xff"},
            "tags": {"SS": ["red", "rose"]}, "size": {"M": {"cm": {"N": "50"}, "box": {"L": [{"S": "HB"}]}}}}
    cloud.client("dynamodb").put_item(TableName=table, Item=item)

    streams = cloud.client("dynamodbstreams")
    arn = cloud.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")

    def refuse(*_: Any) -> Any:
        raise AssertionError("GetRecords went through moto's generic serializer")

    monkeypatch.setattr(BaseResponse, "serialized", refuse)
    [record] = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert record["eventName"] == "INSERT"
    assert record["dynamodb"]["NewImage"] == item
    assert record["dynamodb"]["Keys"] == {"pk": {"S": "LINE"}, "sk": {"S": "A"}}
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], datetime)


def test_stream_records_every_mapping_has_consumed_are_forgotten(cloud: LocalCloud) -> None:
    table, arn = next(iter(cloud.resources.stream_arns.items()))
    streams = cloud.client("dynamodbstreams")

    def horizon() -> int:
        [shard] = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        return int(shard["SequenceNumberRange"]["StartingSequenceNumber"])

    cloud.drain()
    before = horizon()
    for n in range(3):
        cloud.client("dynamodb").put_item(TableName=table, Item={"pk": {"S": f"ENDURANCE#{uuid.uuid4().hex}"},
                                                                 "sk": {"S": str(n)}})
    cloud.drain()
    assert horizon() >= before + 3
    [shard] = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    oldest = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
    assert streams.get_records(ShardIterator=oldest["ShardIterator"])["Records"] == []


# ------------------------------------------------------------------------------------ the S3 server

@pytest.fixture
def moto_server(cloud: LocalCloud) -> Iterator[str]:
    """moto as a server (what `make run` uses), on this process's emulated AWS."""
    emulator = Emulator("server")
    endpoint = emulator.start()
    assert endpoint
    yield endpoint
    emulator.stop()


def test_a_form_encoded_upload_is_stored_while_a_stalled_one_holds_up_nobody(
        cloud: LocalCloud, moto_server: str) -> None:
    bucket = f"endurance-{uuid.uuid4().hex[:8]}"
    cloud.client("s3").create_bucket(Bucket=bucket)
    signer = boto3.client("s3", endpoint_url=moto_server, region_name=REGION, aws_access_key_id="testing",
                          aws_secret_access_key="testing")  # presigning makes no request

    def link(key: str) -> str:
        return str(signer.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key}))

    # One client announces 1,000 bytes, sends 10 and stalls...
    stalled_url = urllib.parse.urlsplit(link("stalled.xlsx"))
    stalled = socket.create_connection((stalled_url.hostname, stalled_url.port))
    stalled.sendall(f"PUT {stalled_url.path}?{stalled_url.query} HTTP/1.1\r\nHost: {stalled_url.netloc}\r\n"
                    "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n".encode()
                    + b"PK\x03\x04" + bytes(6))
    try:
        # ...while another uploads a workbook form-encoded, as `curl --data-binary` does: stored byte for byte.
        body = b"PK\x03\x04" + bytes(range(256)) * 40
        put = urllib.request.Request(link("book.xlsx"), data=body, method="PUT",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(put, timeout=60) as answered:
            assert answered.status == 200
        stored = cloud.client("s3").get_object(Bucket=bucket, Key="book.xlsx")["Body"].read()
        assert stored == body
        # The stalled client gives up: its body ended short, which S3 refuses.
        stalled.shutdown(socket.SHUT_WR)
        stalled.settimeout(60)
        reply = b"".join(iter(lambda: stalled.recv(65536), b""))  # until the server closes
    finally:
        stalled.close()
    assert reply.startswith(b"HTTP/1.1 400") and b"<Code>IncompleteBody</Code>" in reply
    assert "stalled.xlsx" not in [o["Key"] for o in cloud.client("s3").list_objects_v2(Bucket=bucket)
                                  .get("Contents", [])]
