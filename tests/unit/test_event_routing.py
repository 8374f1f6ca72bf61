"""Rules and handlers agree: every event a rule routes to a consumer has a handler there, every handler has a
rule that routes its events, an event without a handler fails its record instead of being acknowledged, and
every dead-letter queue raises an alarm when something lands in it."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from infra import openapi
from infra.localcloud import functions
from infra.localcloud.template import Template, load
from k2k.consumer import BatchFailed, sqs_batch

TEMPLATE = openapi.REPO / "template.yaml"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"


@pytest.fixture(scope="module")
def tpl() -> Template:
    return load(TEMPLATE)


def get_att(value: Any) -> str | None:
    """The logical id of `!GetAtt X.Arn` as the template parser leaves it (unresolved)."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        got = value["Fn::GetAtt"]
        return str(got[0] if isinstance(got, list) else str(got).split(".", 1)[0])
    return None


def routed(tpl: Template) -> dict[str, set[str]]:
    """Consumer function -> the detail-types the template's rules send to the queues it reads."""
    readers = {src.queue: fn.logical_id for fn in tpl.functions.values() for src in fn.sqs}
    out: dict[str, set[str]] = defaultdict(set)
    for rule in tpl.of_type("AWS::Events::Rule"):
        props = tpl.raw_properties(rule)
        types = set((props.get("EventPattern") or {}).get("detail-type") or [])
        assert types, f"{rule} routes every detail-type: name the ones its consumer handles"
        for target in props.get("Targets") or []:
            queue = get_att(target.get("Arn"))
            assert queue in readers, f"{rule} targets {queue}, which no function reads"
            out[readers[queue]] |= types
    return out


def test_every_rule_s_detail_types_are_the_handler_table_of_the_function_it_feeds(tpl: Template) -> None:
    fed = routed(tpl)
    assert fed, "no rules found"
    with openapi.function_environment(tpl):
        for fn, types in sorted(fed.items()):
            module = functions.load_module(tpl.functions[fn])
            table = getattr(module, "HANDLERS", None)
            assert isinstance(table, dict), f"{fn} ({module.__file__}) has no module-level HANDLERS table"
            unhandled, unrouted = types - table.keys(), table.keys() - types
            assert not unhandled, f"{fn}: rules route {sorted(unhandled)} to it but HANDLERS has no handler"
            assert not unrouted, f"{fn}: HANDLERS handles {sorted(unrouted)} but no rule routes them to it"
    # Every consumer of a queue is fed by a rule, so none escapes this check.
    assert {fn.logical_id for fn in tpl.functions.values() if fn.sqs} == set(fed)


def dead_letter_queues(tpl: Template) -> dict[str, str]:
    """Queue logical id -> who sends it what it could not deliver."""
    dlqs: dict[str, str] = {}
    for lid in tpl.of_type("AWS::SQS::Queue"):
        target = get_att((tpl.raw_properties(lid).get("RedrivePolicy") or {}).get("deadLetterTargetArn"))
        if target:
            dlqs[target] = f"{lid}'s redrive policy"
    for rule in tpl.of_type("AWS::Events::Rule"):
        for target in tpl.raw_properties(rule).get("Targets") or []:
            if queue := get_att((target.get("DeadLetterConfig") or {}).get("Arn")):
                dlqs[queue] = f"{rule}'s failed deliveries"
    for fn in tpl.of_type("AWS::Serverless::Function"):
        for name, event in (tpl.raw_properties(fn).get("Events") or {}).items():
            on_failure = (((event.get("Properties") or {}).get("DestinationConfig") or {}).get("OnFailure") or {})
            if queue := get_att(on_failure.get("Destination")):
                dlqs[queue] = f"{fn}.{name}'s failed batches"
    # The cart timers' schedules name their dead-letter queue through the functions' environment.
    environments = [tpl.globals_function] + [tpl.raw_properties(fn) for fn in tpl.of_type("AWS::Serverless::Function")]
    for env in environments:
        for name, value in ((env.get("Environment") or {}).get("Variables") or {}).items():
            if "DLQ" in name and (queue := get_att(value)):
                dlqs.setdefault(queue, f"the schedules of {name}")
    return dlqs


def test_every_dead_letter_queue_has_an_alarm_on_its_depth(tpl: Template) -> None:
    dlqs = dead_letter_queues(tpl)
    assert {"EventDeliveryDLQ", "EventRelayDLQ", "AvailabilitySyncDLQ"} <= dlqs.keys()
    watched: dict[str, str] = {}
    for alarm in tpl.of_type("AWS::CloudWatch::Alarm"):
        props = tpl.raw_properties(alarm)
        if (props.get("Namespace"), props.get("MetricName")) != ("AWS/SQS", "ApproximateNumberOfMessagesVisible"):
            continue
        assert props.get("AlarmActions"), f"{alarm} tells no one"
        assert (props.get("ComparisonOperator"), props.get("Threshold")) == ("GreaterThanThreshold", 0), alarm
        for dim in props.get("Dimensions") or []:
            if dim.get("Name") == "QueueName" and (queue := get_att(dim.get("Value"))):
                watched[queue] = alarm
    unwatched = {q: why for q, why in dlqs.items() if q not in watched}
    assert not unwatched, f"dead-letter queues without an alarm on their depth: {unwatched}"


def sqs_record(message: dict[str, Any]) -> dict[str, Any]:
    return {"messageId": "m-1", "receiptHandle": "h", "body": json.dumps(message),
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "eventSource": "aws:sqs"}


def test_an_event_without_a_handler_fails_its_record_and_is_not_acknowledged() -> None:
    applied: list[str] = []
    handlers = {"InventoryLineChanged": lambda event: applied.append(event.detail_type)}
    known = json.loads((FIXTURES / "InventoryLineChanged.json").read_text())
    unknown = json.loads((FIXTURES / "CartExpired.json").read_text())
    batch = {"Records": [sqs_record(known), {**sqs_record(unknown), "messageId": "m-2"}]}
    assert sqs_batch(batch, handlers) == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
    assert applied == ["InventoryLineChanged"]
    with pytest.raises(BatchFailed):  # alone in its batch: the invocation fails, as Lambda expects
        sqs_batch({"Records": [sqs_record(unknown)]}, handlers)


def test_the_import_worker_refuses_what_is_not_an_object_created_notification(tpl: Template) -> None:
    with openapi.function_environment(tpl):
        worker = functions.load_module(tpl.functions["ImportWorkerFunction"])
        other = {"id": "e-1", "detail-type": "Object Deleted", "source": "aws.s3", "detail": {}}
        out = worker.handler({"Records": [sqs_record(other)]}, functions.LambdaContext.for_function(
            tpl.functions["ImportWorkerFunction"]))
    assert out == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
