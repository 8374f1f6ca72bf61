"""The local cloud's injected AWS errors answer as AWS would: botocore raises the modeled error, a batch or
PutEvents reports the half it did not do in the API's own fields (what the fault matrix relies on)."""

import json

import boto3
import pytest

from infra.localcloud.faults import CallRecorder, Fault, Faults


def test_a_fault_hits_only_the_operations_of_its_kind():
    assert Fault("conflict").hits("dynamodb.TransactWriteItems")
    assert not Fault("conflict").hits("dynamodb.PutItem")
    assert Fault("throttle").hits("dynamodb.GetItem") and Fault("throttle").hits("events.PutEvents")
    assert Fault("s3_slowdown").hits("s3.PutObject") and not Fault("s3_slowdown").hits("dynamodb.PutItem")
    assert Fault("crash").hits("ses.SendEmail")
    with pytest.raises(ValueError):
        Fault("flood")
    with pytest.raises(ValueError):
        Fault("throttle", 0)


def _client(service, recorder):
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    recorder.install(session._session.get_component("event_emitter"))
    return session.client(service)


def test_the_kth_call_of_the_kind_gets_the_modeled_error_once():
    faults = Faults()
    faults.apply({"inject": {"Fn": Fault("conflict", 2)}})
    recorder = CallRecorder(faults)
    db = _client("dynamodb", recorder)
    put = {"Put": {"TableName": "t", "Item": {"pk": {"S": "a"}}}}
    db.meta.events.register("before-send", lambda **_: _ok(b"{}"))  # AWS, answering
    with recorder.invocation("Fn"):
        db.transact_write_items(TransactItems=[put])  # the first: answered
        with pytest.raises(db.exceptions.TransactionCanceledException) as e:
            db.transact_write_items(TransactItems=[put, put])
        db.transact_write_items(TransactItems=[put])  # once only
    assert [r["Code"] for r in e.value.response["CancellationReasons"]] == ["TransactionConflict", "None"]
    assert [(i.function, i.fault.kind, i.operation) for i in recorder.injected] == [
        ("Fn", "conflict", "dynamodb.TransactWriteItems")]
    assert faults.inject == {}


def test_s3_answers_500_and_slowdown():
    for kind, code in (("s3_500", "InternalError"), ("s3_slowdown", "SlowDown")):
        faults = Faults()
        faults.apply({"inject": {"Fn": Fault(kind)}})
        recorder = CallRecorder(faults)
        s3 = _client("s3", recorder)
        with recorder.invocation("Fn"), pytest.raises(s3.exceptions.ClientError) as e:
            s3.head_object(Bucket="b", Key="k")
        assert e.value.response["Error"]["Code"] == code


def test_put_events_with_one_entry_fails_it_without_sending():
    faults = Faults()
    faults.apply({"inject": {"Fn": Fault("partial_events")}})
    recorder = CallRecorder(faults)
    events = _client("events", recorder)
    with recorder.invocation("Fn"):
        out = events.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": json.dumps({})}])
    assert out["FailedEntryCount"] == 1 and out["Entries"][0]["ErrorCode"] == "InternalFailure"


def test_a_batch_get_sends_half_and_reports_the_rest_unprocessed():
    faults = Faults()
    faults.apply({"inject": {"Fn": Fault("unprocessed")}})
    recorder = CallRecorder(faults)
    db = _client("dynamodb", recorder)
    keys = [{"pk": {"S": str(i)}} for i in range(4)]
    sent = []
    answer = b'{"Responses": {"t": []}}'
    db.meta.events.register("before-send", lambda request, **_: sent.append(json.loads(request.body)) or _ok(answer))
    with recorder.invocation("Fn"):
        out = db.batch_get_item(RequestItems={"t": {"Keys": keys, "ConsistentRead": True}})
    assert sent[0]["RequestItems"]["t"]["Keys"] == keys[:2]
    assert out["UnprocessedKeys"] == {"t": {"Keys": keys[2:], "ConsistentRead": True}}


def _ok(body):
    from botocore.awsrequest import AWSResponse

    class Raw:
        def stream(self, **_):
            yield body

    return AWSResponse("https://x", 200, {}, Raw())
