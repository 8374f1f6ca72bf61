"""Create the template's resources in the emulator, through boto3 like any client would.

Only what has a local meaning is created: tables (with streams and TTL), queues
(with redrive to their DLQs), buses, rules and their targets, buckets (with
EventBridge notifications) and the SES sender identity. The rest (Cognito, logs,
alarms, topics, the API itself, layers, queue policies) is listed in a debug log.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

from infra.localcloud.template import REGION, Template

log = logging.getLogger("localcloud.provision")

# Parameters that name an SES identity the application sends from.
SES_IDENTITY_PARAMETERS = ("SenderEmail",)
# Types the runtime itself plays (functions) rather than the emulator.
RUN_BY_RUNTIME = ("AWS::Serverless::Function", "AWS::SES::EmailIdentity")
SQS_ATTRIBUTES = (
    "VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds", "FifoQueue", "ContentBasedDeduplication", "DeduplicationScope",
    "FifoThroughputLimit", "SqsManagedSseEnabled",
)
TARGET_KEYS = ("Id", "Arn", "Input", "InputPath", "InputTransformer", "SqsParameters", "RetryPolicy",
               "DeadLetterConfig")


Client = Callable[[str], Any]


@dataclass
class Provisioned:
    """Physical names of what was created, by logical id."""

    tables: dict[str, str] = field(default_factory=dict)
    stream_arns: dict[str, str] = field(default_factory=dict)  # by table name
    queues: dict[str, str] = field(default_factory=dict)  # queue URL as the emulator returns it
    buses: dict[str, str] = field(default_factory=dict)
    rules: dict[str, str] = field(default_factory=dict)
    buckets: dict[str, str] = field(default_factory=dict)
    identities: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # logical id -> type


def provision(tpl: Template, session: boto3.Session | None = None) -> Provisioned:
    """Create everything with a local meaning; `session` makes the clients (default: boto3's)."""
    maker = session or boto3.Session(region_name=REGION)

    def client(service: str) -> Any:
        return maker.client(service, region_name=REGION)

    out = Provisioned()
    handled = {
        "AWS::DynamoDB::Table": _tables, "AWS::SQS::Queue": _queues, "AWS::Events::EventBus": _buses,
        "AWS::Events::Rule": _rules, "AWS::S3::Bucket": _buckets,
    }
    for rtype, create in handled.items():
        if tpl.of_type(rtype):
            create(tpl, out, client)
    _identities(tpl, out, client)
    for lid, res in tpl.resources.items():
        if res["Type"] not in handled and res["Type"] not in RUN_BY_RUNTIME:
            out.skipped[lid] = res["Type"]
    log.debug("not provisioned (no local meaning): %s",
              ", ".join(f"{lid} ({t})" for lid, t in sorted(out.skipped.items())) or "nothing")
    return out


def _tables(tpl: Template, out: Provisioned, client: Client) -> None:
    ddb = client("dynamodb")
    for lid in tpl.of_type("AWS::DynamoDB::Table"):
        p = tpl.properties(lid)
        name = tpl.physical_name(lid)
        kwargs: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": p["AttributeDefinitions"],
            "KeySchema": p["KeySchema"],
            "BillingMode": p.get("BillingMode", "PROVISIONED"),
        }
        if "ProvisionedThroughput" in p:
            kwargs["ProvisionedThroughput"] = _ints(p["ProvisionedThroughput"])
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if p.get(key):
                kwargs[key] = [
                    {k: (_ints(v) if k == "ProvisionedThroughput" else v) for k, v in index.items()
                     if k in ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")}
                    for index in p[key]
                ]
        stream = p.get("StreamSpecification")
        if stream:
            kwargs["StreamSpecification"] = {"StreamEnabled": True,
                                             "StreamViewType": stream["StreamViewType"]}
        created = ddb.create_table(**kwargs)["TableDescription"]
        ttl = p.get("TimeToLiveSpecification") or {}
        if str(ttl.get("Enabled", "")).lower() == "true":
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                "Enabled": True, "AttributeName": ttl["AttributeName"]})
        out.tables[lid] = name
        if created.get("LatestStreamArn"):
            out.stream_arns[name] = created["LatestStreamArn"]


def _queues(tpl: Template, out: Provisioned, client: Client) -> None:
    sqs = client("sqs")
    lids = tpl.of_type("AWS::SQS::Queue")
    # Two passes: a redrive policy may name a dead-letter queue defined later in the template.
    for lid in lids:
        p = tpl.properties(lid)
        attrs = {k: _attr(p[k]) for k in SQS_ATTRIBUTES if k in p}
        out.queues[lid] = sqs.create_queue(QueueName=tpl.physical_name(lid), Attributes=attrs)["QueueUrl"]
    for lid in lids:
        p = tpl.properties(lid)
        for key in ("RedrivePolicy", "RedriveAllowPolicy"):
            if key in p:
                value = p[key] if isinstance(p[key], str) else json.dumps(p[key])
                sqs.set_queue_attributes(QueueUrl=out.queues[lid], Attributes={key: value})


def _buses(tpl: Template, out: Provisioned, client: Client) -> None:
    events = client("events")
    for lid in tpl.of_type("AWS::Events::EventBus"):
        name = tpl.physical_name(lid)
        if name != "default":
            events.create_event_bus(Name=name)
        out.buses[lid] = name


def _rules(tpl: Template, out: Provisioned, client: Client) -> None:
    events = client("events")
    for lid in tpl.of_type("AWS::Events::Rule"):
        p = tpl.properties(lid)
        name = tpl.physical_name(lid)
        bus = str(p.get("EventBusName", "default"))
        rule: dict[str, Any] = {"Name": name, "EventBusName": bus, "State": p.get("State", "ENABLED")}
        if "EventPattern" in p:
            pattern = p["EventPattern"]
            rule["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
        if "ScheduleExpression" in p:
            rule["ScheduleExpression"] = p["ScheduleExpression"]
        if "Description" in p:
            rule["Description"] = p["Description"]
        events.put_rule(**rule)
        targets = [{k: t[k] for k in TARGET_KEYS if k in t} for t in p.get("Targets") or []]
        if targets:
            events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
        out.rules[lid] = name


def _buckets(tpl: Template, out: Provisioned, client: Client) -> None:
    s3 = client("s3")
    for lid in tpl.of_type("AWS::S3::Bucket"):
        p = tpl.properties(lid)
        name = tpl.physical_name(lid)
        s3.create_bucket(Bucket=name)
        notify = (p.get("NotificationConfiguration") or {}).get("EventBridgeConfiguration") or {}
        if str(notify.get("EventBridgeEnabled", "")).lower() == "true":
            # moto then sends "Object Created" events to the rules, as S3 does through the default bus.
            s3.put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}})
        out.buckets[lid] = name


def _identities(tpl: Template, out: Provisioned, client: Client) -> None:
    params = tpl.raw.get("Parameters") or {}
    emails = [str(tpl.parameter(name)) for name in SES_IDENTITY_PARAMETERS if name in params]
    emails += [str(tpl.properties(lid)["EmailIdentity"]) for lid in tpl.of_type("AWS::SES::EmailIdentity")]
    if not emails:
        return
    ses = client("ses")
    for email in emails:
        ses.verify_email_identity(EmailAddress=email)
        out.identities.append(email)


def _attr(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _ints(throughput: dict[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in throughput.items()}
