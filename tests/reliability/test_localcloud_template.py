"""Reading template.yaml as CloudFormation and SAM would, for one local account."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.localcloud.functions import shared_environment
from infra.localcloud.template import NO_VALUE, Template, TemplateError, load, parse

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "localcloud" / "template.yaml"


def tiny(resources: str, extra: str = "") -> Template:
    return Template(parse(f"{extra}\nResources:\n{resources}"), root=ROOT)


def test_short_tags_become_their_long_forms() -> None:
    raw = parse("""
Resources:
  X:
    Type: T
    Properties:
      a: !Ref Foo
      b: !GetAtt Queue.Arn
      c: !Sub "${AWS::Region}-${Foo}"
      d: !Join [",", [!Ref A, !Ref B]]
      e: !If [Cond, 1, 2]
      f: !Select [0, !Split [",", "x,y"]]
      g: !FindInMap [M, k1, k2]
      h: !Equals [!Ref A, b]
      i: !GetAtt [Table, StreamArn]
""")
    props = raw["Resources"]["X"]["Properties"]
    assert props["a"] == {"Ref": "Foo"}
    assert props["b"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert props["c"] == {"Fn::Sub": "${AWS::Region}-${Foo}"}
    assert props["d"] == {"Fn::Join": [",", [{"Ref": "A"}, {"Ref": "B"}]]}
    assert props["e"] == {"Fn::If": ["Cond", 1, 2]}
    assert props["f"] == {"Fn::Select": [0, {"Fn::Split": [",", "x,y"]}]}
    assert props["g"] == {"Fn::FindInMap": ["M", "k1", "k2"]}
    assert props["h"] == {"Fn::Equals": [{"Ref": "A"}, "b"]}
    assert props["i"] == {"Fn::GetAtt": ["Table", "StreamArn"]}


def test_physical_names_are_the_explicit_ones_or_k2k_logical_id() -> None:
    tpl = load(FIXTURE)
    assert tpl.physical_name("Bus") == "fx-test"
    assert tpl.physical_name("WorkDLQ") == "fx-test-work-dlq"  # !Join
    assert tpl.physical_name("DropBucket") == "fx-test-drop-123456789012"
    assert tpl.physical_name("WorkQueue") == "k2k-WorkQueue"
    assert tpl.physical_name("Table") == "k2k-Table"


def test_refs_and_attributes_resolve_to_what_cloudformation_gives() -> None:
    tpl = load(FIXTURE)
    assert tpl.ref("WorkQueue") == "https://sqs.us-east-1.amazonaws.com/123456789012/k2k-WorkQueue"
    assert tpl.ref("Table") == "k2k-Table"
    assert tpl.ref("Stage") == "test" and tpl.ref("AWS::AccountId") == "123456789012"
    assert tpl.get_att("WorkQueue", "Arn") == "arn:aws:sqs:us-east-1:123456789012:k2k-WorkQueue"
    assert tpl.get_att("WorkDLQ", "QueueName") == "fx-test-work-dlq"
    table_arn = "arn:aws:dynamodb:us-east-1:123456789012:table/k2k-Table"
    assert tpl.get_att("Table", "StreamArn").startswith(table_arn + "/stream/")
    assert tpl.get_att("WorkRule", "Arn") == "arn:aws:events:us-east-1:123456789012:rule/fx-test/k2k-WorkRule"
    assert tpl.get_att("Bus", "Arn") == "arn:aws:events:us-east-1:123456789012:event-bus/fx-test"
    assert tpl.properties("WorkQueue")["RedrivePolicy"] == {
        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:fx-test-work-dlq", "maxReceiveCount": 2}
    with pytest.raises(TemplateError, match="no local meaning"):
        tpl.get_att("Api", "RootResourceId")


def test_intrinsic_functions() -> None:
    tpl = tiny("  Q:\n    Type: AWS::SQS::Queue\n", extra="""
Parameters:
  Stage: {Type: String, Default: dev}
  Names: {Type: CommaDelimitedList, Default: "a,b"}
Conditions:
  IsDev: !Equals [!Ref Stage, dev]
  NotDev: !Not [!Condition IsDev]
""")
    r = tpl.resolve
    sub = {"Fn::Sub": "${Stage}-${Q.QueueName}-${!Literal}-${AWS::Region}"}
    assert r(sub) == "dev-k2k-Q-${Literal}-us-east-1"
    assert r({"Fn::Sub": ["${x}/${Stage}", {"x": {"Ref": "AWS::Partition"}}]}) == "aws/dev"
    assert r({"Fn::If": ["IsDev", "yes", "no"]}) == "yes" and r({"Fn::If": ["NotDev", "yes", "no"]}) == "no"
    assert r({"Fn::Select": [1, {"Ref": "Names"}]}) == "b"
    assert r({"Fn::Join": ["-", {"Fn::Split": [",", "x,y,z"]}]}) == "x-y-z"
    assert r({"Fn::And": [{"Condition": "IsDev"}, {"Fn::Or": [False, True]}]}) is True
    assert r({"a": {"Ref": "AWS::NoValue"}, "b": [1, {"Ref": "AWS::NoValue"}]}) == {"b": [1]}
    assert r({"Ref": "AWS::NoValue"}) is NO_VALUE
    with pytest.raises(TemplateError, match="unknown name"):
        r({"Ref": "Nope"})


def test_conditions_drop_resources_and_overrides_change_them() -> None:
    assert "ProdOnlyQueue" not in load(FIXTURE).resources
    prod = load(FIXTURE, {"Stage": "prod"})
    assert "ProdOnlyQueue" in prod.resources
    assert prod.properties("WorkQueue")["RedrivePolicy"]["maxReceiveCount"] == 5  # !FindInMap
    assert prod.functions["EchoFunction"].environment["MODE"] == "other-mode"


def test_functions_are_described_with_their_events_and_environment() -> None:
    fns = load(FIXTURE).functions
    api = fns["ApiFunction"]
    assert (api.name, api.handler, api.module, api.attr, api.timeout, api.memory) == (
        "k2k-ApiFunction", "app.handler", "app", "handler", 10, 256)
    assert api.module_file == FIXTURE.parent / "functions" / "api" / "app.py"
    assert api.layers == (FIXTURE.parent / "layer" / "python",)
    assert api.environment["API_ONLY"] == "yes" and api.environment["TABLE_NAME"] == "k2k-Table"
    assert api.environment["FIRST_AZ"] == "us-east-1a"
    routes = {(r.method, r.path): r.authorizer for r in api.api}
    assert routes[("GET", "/things/{thing_id}")] == "CognitoAuthorizer"
    assert routes[("GET", "/public")] is None
    assert [(r.method, r.path) for r in fns["EchoFunction"].api] == [("ANY", "/echo/{proxy+}")]

    (work,) = fns["WorkFunction"].sqs
    assert (work.queue, work.queue_name, work.batch_size, work.report_item_failures) == (
        "WorkQueue", "k2k-WorkQueue", 3, True)
    plain, loose = fns["PlainFunction"].sqs
    assert (plain.batch_size, plain.report_item_failures) == (10, False)
    assert (loose.queue, loose.batch_size) == ("LooseQueue", 1)

    (stream,) = fns["RelayFunction"].streams
    assert (stream.table, stream.table_name, stream.batch_size, stream.maximum_retry_attempts) == (
        "Table", "k2k-Table", 10, 2)
    assert stream.bisect_on_error and stream.report_item_failures
    assert stream.filters == (
        {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": ["OUTBOX"]}}}},)
    assert stream.on_failure_arn == "arn:aws:sqs:us-east-1:123456789012:k2k-RelayDLQ"


def test_functions_sharing_the_process_must_agree_on_their_environment() -> None:
    tpl = tiny("""
  A:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: a, Handler: app.handler, Environment: {Variables: {MODE: one}}}
  B:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: b, Handler: app.handler, Environment: {Variables: {MODE: two, ONLY_B: x}}}
""")
    with pytest.raises(TemplateError, match="A and B set MODE to 'one' and 'two'"):
        shared_environment(tpl)


def test_the_real_template_describes_the_application() -> None:
    tpl = load(ROOT / "template.yaml")
    fns = tpl.functions
    assert all(fn.code_uri.is_relative_to(ROOT / "functions") for fn in fns.values())
    assert all(fn.layers == (ROOT / "layers" / "k2k" / "python",) for fn in fns.values())
    (relay,) = fns["EventRelayFunction"].streams
    assert relay.table == "K2KTable" and relay.on_failure_arn and relay.filters
    assert {r.path for r in tpl.routes} >= {"/company", "/inventory", "/availability"}
    assert {r.authorizer for r in tpl.routes} <= {"CognitoAuthorizer", None}
    assert tpl.routes[0].authorizer == "CognitoAuthorizer"  # the API's default authorizer
    env = shared_environment(tpl)
    assert env["TABLE_NAME"] == tpl.physical_name("K2KTable") and env["EVENT_BUS_NAME"] == "k2k-dev"
    assert tpl.unsupported == []
