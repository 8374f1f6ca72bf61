"""Event source mappings: feed SQS queues and DynamoDB streams to their functions, as Lambda does.

moto routes events (bus rules to queues, S3 to the bus, redrive to DLQs) but
never invokes a function; these pollers do, with Lambda's semantics:

- SQS: batches of up to BatchSize; successes deleted; with ReportBatchItemFailures
  only the reported messages are retried, otherwise a raised error fails the batch.
  Failed messages become visible again at the end of the round, so the next round
  redelivers them and moto's redrive moves them to the DLQ after maxReceiveCount.
- Streams: records in order per shard from the starting position, FilterCriteria
  applied; a failure retries from the failed sequence number on the next round,
  up to MaximumRetryAttempts, then a failure record goes to the OnFailure queue.

Each `poll()` is one round and returns how much happened (0: nothing to do). A poller may be
given a probe of the emulator's state (`ready` for a queue, `ends` for a stream): when it says the
source has nothing the poller could take, the round skips its calls, which would have found nothing.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from infra.localcloud.faults import Faults, SimulatedCrash
from infra.localcloud.patterns import matches_any
from infra.localcloud.template import REGION, FunctionSpec, SqsSource, StreamSource

log = logging.getLogger("localcloud.pollers")

Invoke = Callable[[str, dict[str, Any]], Any]
SQS_MAX_RECEIVE = 10
# Batches per source per round: the sources take turns, so a busy queue holds up the others (the stream
# that feeds them, an import's queue) for this many batches at most, and a handler that feeds its own
# source cannot keep one round going. drain() runs rounds until they are all quiet.
BATCHES_PER_TURN = 10


def reported_failures(result: Any, ids: list[str]) -> set[str] | None:
    """The batchItemFailures a handler reported; None when the response fails the whole batch.

    As in Lambda: no response or an empty list is success; an identifier that is
    empty or not in the batch makes the whole batch a failure.
    """
    if not isinstance(result, dict) or not result.get("batchItemFailures"):
        return set()
    failed = set()
    for item in result["batchItemFailures"]:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not ident or ident not in ids:
            return None
        failed.add(str(ident))
    return failed


class SqsPoller:
    def __init__(self, source: SqsSource, queue_url: str, sqs: Any, invoke: Invoke, faults: Faults,
                 ready: Callable[[], bool | None] = lambda: None) -> None:
        self.source = source
        self.queue_url = queue_url
        self.sqs = sqs
        self.invoke = invoke
        self.faults = faults
        self.ready = ready  # False: no message could be received now (None: unknown, so receive)
        self._dropped: set[str] = set()

    def poll(self) -> int:
        if self.ready() is False:
            return 0
        activity = 0
        release: list[str] = []  # receipt handles to make visible again when the round ends
        for batch in self._batches():
            if self.faults.drop_then_redeliver:
                lost = [m for m in batch if m["MessageId"] not in self._dropped]
                self._dropped.update(m["MessageId"] for m in lost)
                release += [m["ReceiptHandle"] for m in lost]
                activity += len(lost)
                batch = [m for m in batch if m not in lost]
            if not batch:
                continue
            failed = self._deliver(batch)
            if self.faults.duplicate:
                failed |= self._deliver(batch)  # a message is done only if every copy was processed
            activity += 1
            self._delete([m for m in batch if m["MessageId"] not in failed])
            release += [m["ReceiptHandle"] for m in batch if m["MessageId"] in failed]
        for handle in release:
            self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=handle,
                                               VisibilityTimeout=0)
        return activity

    def _receive(self, limit: int) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        while len(got) < limit:
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=min(SQS_MAX_RECEIVE, limit - len(got)),
                WaitTimeSeconds=0, MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                break
            got += messages
        return got

    def _batches(self) -> Iterator[list[dict[str, Any]]]:
        size = self.source.batch_size
        if not self.faults.reorder:
            for _ in range(BATCHES_PER_TURN):
                batch = self._receive(size)
                if not batch:
                    return
                yield batch
            return
        everything = self._receive(sys.maxsize)
        everything.reverse()  # newest first; the stable sort keeps that among equal timestamps
        everything.sort(key=lambda m: int(m.get("Attributes", {}).get("SentTimestamp", 0)), reverse=True)
        for start in range(0, len(everything), size):
            yield everything[start : start + size]

    def _deliver(self, batch: list[dict[str, Any]]) -> set[str]:
        ids = [m["MessageId"] for m in batch]
        event = {"Records": [self.record(m) for m in batch]}
        try:
            result = self.invoke(self.source.function, event)
        except (Exception, SimulatedCrash) as e:
            log.warning("%s failed a batch of %d from %s: %r", self.source.function, len(batch),
                        self.source.queue, e, exc_info=not isinstance(e, SimulatedCrash))
            return set(ids)
        if not self.source.report_item_failures:
            return set()
        failed = reported_failures(result, ids)
        return set(ids) if failed is None else failed

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), SQS_MAX_RECEIVE):
            chunk = messages[start : start + SQS_MAX_RECEIVE]
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)])

    def record(self, message: dict[str, Any]) -> dict[str, Any]:
        """A record of Lambda's SQS event, from a ReceiveMessage result."""
        attributes = {}
        for name, value in (message.get("MessageAttributes") or {}).items():
            attributes[name] = {
                "stringValue": value.get("StringValue"),
                "binaryValue": _b64(value["BinaryValue"]) if "BinaryValue" in value else None,
                "stringListValues": value.get("StringListValues", []),
                "binaryListValues": [_b64(v) for v in value.get("BinaryListValues", [])],
                "dataType": value["DataType"],
            }
            attributes[name] = {k: v for k, v in attributes[name].items() if v is not None}
        record = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes") or {}),
            "messageAttributes": attributes,
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.source.queue_arn,
            "awsRegion": REGION,
        }
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        return record


@dataclass
class _Shard:
    id: str
    after: str | None = None  # sequence number of the last record consumed
    retry_from: str | None = None  # sequence number of the failed record to start the next batch at
    failures: int = 0  # consecutive failed attempts at retry_from


class StreamPoller:
    def __init__(self, source: StreamSource, function: FunctionSpec, stream_arn: str, streams: Any,
                 sqs: Any, invoke: Invoke, faults: Faults,
                 advanced: Callable[[str], None] = lambda stream_arn: None,
                 ends: Callable[[], dict[str, int | None] | None] = lambda: None) -> None:
        self.source = source
        self.function = function
        self.stream_arn = stream_arn
        self.streams = streams
        self.sqs = sqs
        self.invoke = invoke
        self.faults = faults
        self.advanced = advanced  # told the stream's ARN whenever this mapping moves past records
        self.ends = ends  # each shard's last sequence number now, None if it has none (None: unknown, so read)
        self._shards: dict[str, _Shard] = {}

    def poll(self) -> int:
        if self._caught_up():
            return 0
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        activity = 0
        for shard in shards:
            state = self._shards.setdefault(shard["ShardId"], _Shard(shard["ShardId"]))
            activity += self._poll_shard(state)
        return activity

    def _caught_up(self) -> bool:
        """No failed batch to retry, and no record in any shard past the last one this mapping consumed."""
        ends = self.ends()
        if not ends or not set(self._shards) <= set(ends):
            return False
        for shard_id, last in ends.items():
            shard = self._shards.get(shard_id)
            if shard is not None and shard.retry_from is not None:
                return False
            if last is None:
                continue  # an empty shard
            if shard is None or shard.after is None or int(shard.after) < last:
                return False
        return True

    def consumed_through(self) -> int | None:
        """The last sequence number every shard is done with (None: not known yet)."""
        done = []
        for shard in self._shards.values():
            if shard.retry_from is not None:
                done.append(int(shard.retry_from) - 1)
            elif shard.after is not None:
                done.append(int(shard.after))
            else:
                return None
        return min(done) if done else None

    def _iterator(self, shard: _Shard) -> str:
        # A fresh iterator from the position on every poll: moto swaps in a copy of its tables (and of
        # their stream shards) whenever a transaction is cancelled, so a kept iterator would go dead.
        if shard.retry_from is not None:
            return self._shard_iterator(shard, "AT_SEQUENCE_NUMBER", shard.retry_from)
        if shard.after is not None:
            return self._shard_iterator(shard, "AFTER_SEQUENCE_NUMBER", shard.after)
        return self._shard_iterator(shard, self.source.starting_position)

    def _shard_iterator(self, shard: _Shard, kind: str, sequence: str | None = None) -> str:
        kwargs = {"SequenceNumber": sequence} if sequence is not None else {}
        return str(self.streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard.id,
                                                   ShardIteratorType=kind, **kwargs)["ShardIterator"])

    def _poll_shard(self, shard: _Shard) -> int:
        activity = 0
        for _ in range(BATCHES_PER_TURN):
            page = self.streams.get_records(ShardIterator=self._iterator(shard), Limit=self.source.batch_size)
            records = [self.record(r) for r in page.get("Records", [])]
            if not records:
                return activity
            last = str(records[-1]["dynamodb"]["SequenceNumber"])
            batch = [r for r in records if matches_any(self.source.filters, r)]
            if not batch:
                self._advance(shard, last)
                continue
            if self.faults.reorder:
                batch.reverse()
            failed = self._deliver(batch)
            if self.faults.duplicate:
                failed = _earliest(failed, self._deliver(batch))
            activity += 1
            if failed is None:
                self._advance(shard, last)
                continue
            shard.failures = shard.failures + 1 if shard.retry_from == failed else 1
            shard.retry_from = failed
            retries = self.source.maximum_retry_attempts
            if retries < 0 or shard.failures <= retries:
                return activity  # retried from `failed` next round
            self._give_up(shard, batch, failed)
            activity += 1
        return activity

    def _advance(self, shard: _Shard, after: str) -> None:
        shard.after, shard.retry_from, shard.failures = after, None, 0
        self.advanced(self.stream_arn)

    def _deliver(self, batch: list[dict[str, Any]]) -> str | None:
        """None on success, else the sequence number to retry from."""
        sequences = [str(r["dynamodb"]["SequenceNumber"]) for r in batch]
        first = min(sequences, key=int)
        try:
            result = self.invoke(self.source.function, {"Records": batch})
        except (Exception, SimulatedCrash) as e:
            log.warning("%s failed a batch of %d from %s's stream: %r", self.source.function, len(batch),
                        self.source.table, e, exc_info=not isinstance(e, SimulatedCrash))
            return first
        if not self.source.report_item_failures:
            return None
        failed = reported_failures(result, sequences)
        if failed is None:
            return first
        return min(failed, key=int) if failed else None

    def _give_up(self, shard: _Shard, batch: list[dict[str, Any]], failed: str) -> None:
        """Retries exhausted: report the records to the OnFailure destination and move past them."""
        ordered = sorted(batch, key=lambda r: int(r["dynamodb"]["SequenceNumber"]))
        # With BisectBatchOnFunctionError Lambda ends up isolating the bad record; without, it drops the rest.
        dropped = [r for r in ordered if int(r["dynamodb"]["SequenceNumber"]) >= int(failed)]
        if self.source.bisect_on_error:
            dropped = dropped[:1]
        self._send_failure(shard, dropped, attempts=shard.failures)
        last = dropped[-1]["dynamodb"]["SequenceNumber"]
        log.warning("%s gave up on %d stream record(s) %s..%s after %d attempts", self.source.function,
                    len(dropped), failed, last, shard.failures)
        self._advance(shard, str(last))

    def _send_failure(self, shard: _Shard, records: list[dict[str, Any]], attempts: int) -> None:
        destination = self.source.on_failure_arn
        if not destination:
            return
        if ":sqs:" not in destination:
            log.error("OnFailure destination %s is not an SQS queue; only SQS is emulated", destination)
            return
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        message = {
            "requestContext": {"requestId": str(uuid.uuid4()), "functionArn": self.function.arn,
                               "condition": "RetryAttemptsExhausted", "approximateInvokeCount": attempts},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                                "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": _iso(datetime.now(UTC).timestamp()),
            "DDBStreamBatchInfo": {
                "shardId": shard.id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(first["ApproximateCreationDateTime"]),
                "approximateArrivalOfLastRecord": _iso(last["ApproximateCreationDateTime"]),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }
        url = self.sqs.get_queue_url(QueueName=destination.rsplit(":", 1)[-1])["QueueUrl"]
        self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message))

    def record(self, raw: dict[str, Any]) -> dict[str, Any]:
        """A record of Lambda's DynamoDB stream event, from a GetRecords result."""
        fields = ("eventID", "eventName", "eventVersion", "eventSource", "awsRegion")
        record = {k: raw[k] for k in fields if k in raw}
        dynamodb = dict(raw["dynamodb"])
        created = dynamodb.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
        for key in ("Keys", "NewImage", "OldImage"):
            if key in dynamodb:
                dynamodb[key] = {k: _wire(v) for k, v in dynamodb[key].items()}
        record["dynamodb"] = dynamodb
        record["eventSourceARN"] = self.stream_arn
        return record


def _earliest(a: str | None, b: str | None) -> str | None:
    found = [s for s in (a, b) if s is not None]
    return min(found, key=int) if found else None


def _wire(value: Any) -> Any:
    """A DynamoDB attribute value as it travels in JSON: binaries base64, nested values too."""
    (kind, inner), = value.items()
    if kind == "B":
        return {"B": _b64(inner)}
    if kind == "BS":
        return {"BS": [_b64(b) for b in inner]}
    if kind == "M":
        return {"M": {k: _wire(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_wire(v) for v in inner]}
    return value


def _b64(value: Any) -> str:
    return base64.b64encode(value).decode() if isinstance(value, bytes | bytearray) else str(value)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(float(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
