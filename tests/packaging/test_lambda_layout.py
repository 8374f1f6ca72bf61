"""Deployable for real: every handler of template.yaml loads and answers as Lambda would run it.

The application is built the way `sam build` builds it (infra/build.py runs each layer's
make target), then each function runs in a clean interpreter that sees only its task
root, its layers' python/ and the runtime's boto3 — never the dev venv — with one event of
its trigger's shape, against a moto server provisioned from the template.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import sysconfig
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer

from infra import build
from infra.localcloud.client import TIMEOUT_SECONDS  # a hang guard: a loaded machine waits, never fails
from infra.localcloud.emulator import Emulator
from infra.localcloud.provision import provision
from infra.localcloud.runtime import FAKE_AWS_ENV
from infra.localcloud.template import REGION, FunctionSpec, load
from tests.fixtures.imports.workbooks import invoice, invoices

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load(ROOT / "template.yaml")
RUNNER = Path(__file__).with_name("lambda_runner.py")
EVENTS = ROOT / "tests" / "fixtures" / "events"
RUNTIME_ONLY = ("boto3", "botocore", "s3transfer")
VENDOR, BUYER = "rosaflor", "bloom"  # the companies the event fixtures name
# What the clean interpreter must not see: the dev venv (or this Python's site-packages) and the
# sources the local cloud runs from.
FORBIDDEN = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], str(ROOT / "layers"),
             str(ROOT / "functions"), *([sys.prefix] if sys.prefix != sys.base_prefix else [])]


@pytest.fixture(scope="module")
def built() -> build.Build:
    return build.build()


@pytest.fixture(scope="module")
def endpoint(built: build.Build) -> Iterator[str]:
    with local_emulator(built) as url:
        yield url


@contextmanager
def local_emulator(built: build.Build) -> Iterator[str]:
    """A moto server with the template's resources, and the two companies the fixtures name (also the
    cold-start bench's, for each handler's first invocation)."""
    requests_log = logging.getLogger("werkzeug")
    level = requests_log.level
    requests_log.setLevel(logging.WARNING)  # not a line per AWS call in a failure's output
    emulator = Emulator("server")
    url = emulator.start()
    assert url is not None
    try:
        with mock.patch.dict(os.environ, {**FAKE_AWS_ENV, "AWS_ENDPOINT_URL": url}):
            provision(TEMPLATE, boto3.Session(region_name=REGION))
        for company in (VENDOR, BUYER):
            body = {"company_id": company, "name": company.title(), "locations": [{"code": "MIA", "name": "Miami"}]}
            created = invoke(built, url, "NetworkFunction",
                             api_event("POST", "/operator/companies", None, "Operator", body=body))
            assert created["statusCode"] == 201, created
        yield url
    finally:
        emulator.stop()
        requests_log.setLevel(level)


@pytest.mark.parametrize("function", list(TEMPLATE.functions))
def test_the_handler_loads_from_its_layers_and_answers_an_event(
        function: str, built: build.Build, endpoint: str) -> None:
    fn = TEMPLATE.functions[function]
    event = trigger(fn, endpoint)
    result = invoke(built, endpoint, function, event)
    if fn.api:
        assert result["statusCode"] < 500, f"{function} answered {result['statusCode']}: {result.get('body')}"
    else:
        assert result == {"batchItemFailures": []}, f"{function} failed its batch: {result}"


def test_a_retried_post_is_answered_once_from_the_lambda_layout(built: build.Build, endpoint: str) -> None:
    """Powertools' idempotency (imported only when a request carries Idempotency-Key) loads from the layers
    and the runtime's boto3 and jmespath: the operator's retried company bootstrap gets its first answer."""
    event = api_event("POST", "/operator/companies", None, "Operator",
                      body={"company_id": "tulipa", "name": "Tulipa", "locations": [{"code": "DAL", "name": "Dallas"}]})
    event["headers"]["Idempotency-Key"] = "bootstrap-tulipa"
    first, again = (invoke(built, endpoint, "NetworkFunction", event) for _ in range(2))
    assert first["statusCode"] == 201, first
    assert (again["statusCode"], json.loads(again["body"])) == (201, json.loads(first["body"]))


def test_layers_leave_boto3_to_the_runtime(built: build.Build) -> None:
    for lid, python in built.layers.items():
        shipped = [name for name in RUNTIME_ONLY if (python / name).exists()]
        assert not shipped, f"{lid} ships {shipped}: it would shadow the Lambda runtime's"
    assert (built.layers["K2KLayer"] / "k2k" / "__init__.py").is_file(), "k2k must be at /opt/python/k2k"


def test_every_layer_dependency_has_a_wheel_for_lambda() -> None:
    """The layers' make targets resolve for Lambda (arm64, CPython 3.12, wheels only); sam build if present."""
    lambda_build = build.build(lambda_platform=True)
    for lid, python in lambda_build.layers.items():
        assert not [name for name in RUNTIME_ONLY if (python / name).exists()], lid
        native = [p.name for p in python.rglob("*.so")]
        foreign = [name for name in native if "x86_64" in name or "cpython-311" in name]
        assert not foreign, f"{lid} has extension modules that are not for Lambda: {foreign}"
    assert any("aarch64" in p.name for p in lambda_build.layers["K2KLayer"].rglob("*.so")), "pydantic_core for arm64"
    for lid, fn in TEMPLATE.functions.items():
        assert (lambda_build.task_roots[lid] / fn.module_file.relative_to(fn.code_uri)).is_file(), lid


# -- running a function ---------------------------------------------------------------------------------------


def invoke(built: build.Build, endpoint: str, function: str, event: dict[str, Any]) -> Any:
    """The handler's answer to one event, from a clean interpreter; fails the test saying which function and why."""
    fn = TEMPLATE.functions[function]
    job = {"sys_path": [str(p) for p in built.sys_path(function)], "forbidden": FORBIDDEN,
           "handler": fn.handler, "function_name": fn.name, "events": [event],
           "report_modules": ["boto3", "botocore", "k2k"]}
    env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", **FAKE_AWS_ENV, "AWS_ENDPOINT_URL": endpoint,
           "AWS_LAMBDA_FUNCTION_NAME": fn.name, "POWERTOOLS_LOG_LEVEL": "WARNING", **fn.environment}
    done = subprocess.run([built.python, "-I", "-S", str(RUNNER)], input=json.dumps(job), env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    where = f"{function} (Handler {fn.handler}, CodeUri {fn.code_uri.relative_to(ROOT)}, " \
            f"layers {', '.join(built.function_layers[function])})"
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines, f"{where}: the interpreter failed\n{done.stderr[-3000:]}"
    outcome = json.loads(lines[-1])
    assert outcome["stage"] == "done", f"{where} failed at {outcome['stage']}:\n{outcome['error']}"
    runtime_boto3 = str(built.runtime / "boto3")
    assert outcome["loaded"]["boto3"].startswith(runtime_boto3), f"{where}: boto3 from {outcome['loaded']['boto3']}"
    return outcome["results"][0]


def trigger(fn: FunctionSpec, endpoint: str) -> dict[str, Any]:
    """One event of the function's trigger's shape."""
    if fn.api:
        # A read: every API function has one, and it needs no body.
        route = min((r for r in fn.api if r.method == "GET"), key=lambda r: r.path.count("{"))
        path = route.path.replace("{", "").replace("}", "")
        params = {name.strip("{}"): name.strip("{}") for name in route.path.split("/") if name.startswith("{")}
        return api_event("GET", route.path, VENDOR, "Admin", path=path, params=params)
    if fn.sqs:
        (source,) = fn.sqs
        return sqs_event(source.queue_arn, queue_messages(source.queue, endpoint))
    if fn.streams:
        return outbox_stream_record(fn.streams[0].table_name)
    raise AssertionError(f"{fn.logical_id}: no trigger the packaging check knows how to send")


def api_event(method: str, resource: str, company: str | None, *roles: str, path: str | None = None,
              params: dict[str, str] | None = None, body: Any = None) -> dict[str, Any]:
    """An API Gateway REST proxy event with the Cognito authorizer's claims (all strings, groups joined)."""
    claims = {"sub": str(uuid.uuid4()), "email": "check@k2k.example", "cognito:groups": ",".join(roles)}
    if company:
        claims["custom:company_id"] = company
    path = path or resource
    return {
        "resource": resource, "path": path, "httpMethod": method,
        "headers": {"Content-Type": "application/json"}, "multiValueHeaders": {"Content-Type": ["application/json"]},
        "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": params or None, "stageVariables": None,
        "requestContext": {"resourcePath": resource, "httpMethod": method, "path": f"/dev{path}", "stage": "dev",
                           "requestId": str(uuid.uuid4()), "accountId": "123456789012", "apiId": "check",
                           "identity": {"sourceIp": "127.0.0.1"}, "authorizer": {"claims": claims}},
        "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False,
    }


def queue_messages(queue: str, endpoint: str) -> list[dict[str, Any]]:
    """What the rule feeding this queue delivers: each of its detail-types that has a committed event fixture
    (so a module a consumer imports only for one event type is loaded here too), or S3's "Object Created"."""
    rule = next((lid for lid in TEMPLATE.of_type("AWS::Events::Rule")
                 if any(t["Arn"] == {"Fn::GetAtt": [queue, "Arn"]} for t in TEMPLATE.raw_properties(lid)["Targets"])),
                None)
    assert rule, f"no rule targets {queue}"
    pattern = TEMPLATE.raw_properties(rule)["EventPattern"]
    if pattern["source"] == ["aws.s3"]:
        return [dropped_workbook(endpoint)]
    envelopes = [json.loads((EVENTS / f"{t}.json").read_text()) for t in pattern["detail-type"]
                 if (EVENTS / f"{t}.json").is_file()]
    assert envelopes, f"no event fixture for any of {pattern['detail-type']}"
    return envelopes


def dropped_workbook(endpoint: str) -> dict[str, Any]:
    """A real workbook in the drop bucket (one row, for a customer that does not exist: it is rejected and reported)."""
    bucket = TEMPLATE.physical_name("DropBucket")
    key = f"imports/{VENDOR}/open-invoices/packaging-check.xlsx"
    with mock.patch.dict(os.environ, {**FAKE_AWS_ENV, "AWS_ENDPOINT_URL": endpoint}):
        put = boto3.client("s3", region_name=REGION).put_object(
            Bucket=bucket, Key=key, Body=invoices(invoice("INV-1", customer="NOBODY")))
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Object Created", "source": "aws.s3",
        "account": "123456789012", "time": "2026-12-01T10:00:00Z", "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {"version": "0", "bucket": {"name": bucket},
                   "object": {"key": key, "size": 1, "etag": put["ETag"].strip('"'), "sequencer": "0001"},
                   "request-id": "check", "requester": "123456789012", "reason": "PutObject"},
    }


def sqs_event(queue_arn: str, bodies: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": [{
        "messageId": str(uuid.uuid4()), "receiptHandle": "check", "body": json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1764583200000",
                       "SenderId": "AIDAIENQZJOLO23YVJ4VO", "ApproximateFirstReceiveTimestamp": "1764583200000"},
        "messageAttributes": {}, "md5OfBody": "0", "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    } for body in bodies]}


def outbox_stream_record(table_name: str) -> dict[str, Any]:
    """A DynamoDB stream INSERT of an outbox item carrying a committed event, as the relay's filter passes it."""
    envelope = json.loads((EVENTS / "InventoryLineChanged.json").read_text())
    item = {"pk": f"C#{VENDOR}#OUTBOX", "sk": "check", "kind": "OUTBOX", "source": envelope["source"],
            "detail_type": envelope["detail-type"], "detail": json.dumps(envelope["detail"])}
    image = {k: TypeSerializer().serialize(v) for k, v in item.items()}
    return {"Records": [{
        "eventID": "1", "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
        "awsRegion": REGION, "dynamodb": {"Keys": {k: image[k] for k in ("pk", "sk")}, "NewImage": image,
                                          "SequenceNumber": "100", "SizeBytes": 100, "StreamViewType": "NEW_IMAGE"},
        "eventSourceARN": f"arn:aws:dynamodb:{REGION}:123456789012:table/{table_name}/stream/check",
    }]}
