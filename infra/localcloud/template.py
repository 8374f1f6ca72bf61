"""Read template.yaml the way CloudFormation and SAM would, for one local account.

Everything the local cloud knows about resources comes from here: physical
names, intrinsic functions resolved with local values, and a description of
each function with its routes and event sources. Nothing is described twice
by hand, so the local cloud cannot drift from what gets deployed.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger("localcloud.template")

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"
STACK_NAME = "k2k-local"
NAME_PREFIX = "k2k-"

# A property's value resolved to AWS::NoValue: the property is left out.
NO_VALUE: Any = type("NoValue", (), {"__repr__": lambda self: "AWS::NoValue"})()

# Property that carries a resource's explicit physical name, per type.
NAME_PROPERTY = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::Events::EventBus": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::S3::Bucket": "BucketName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Cognito::UserPool": "UserPoolName",
    "AWS::Serverless::LayerVersion": "LayerName",
    "AWS::Lambda::LayerVersion": "LayerName",
}
FUNCTION_TYPES = ("AWS::Serverless::Function",)


class TemplateError(ValueError):
    """The template uses something the local cloud cannot resolve."""


# --------------------------------------------------------------------------- YAML


class CfnLoader(yaml.SafeLoader):
    """A safe YAML loader that turns CloudFormation short tags into their long form."""


def _construct_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_tag)


def parse(text: str) -> dict[str, Any]:
    data = yaml.load(text, Loader=CfnLoader)
    if not isinstance(data, dict) or "Resources" not in data:
        raise TemplateError("not a CloudFormation template (no Resources)")
    return data


# --------------------------------------------------------------------------- descriptions


@dataclass(frozen=True)
class ApiRoute:
    function: str
    event: str
    path: str  # API Gateway resource path, e.g. /connections/{connection_id}
    method: str  # upper case; ANY matches every method
    authorizer: str | None  # None: the route is open (Auth: {Authorizer: NONE})


@dataclass(frozen=True)
class SqsSource:
    function: str
    event: str
    queue: str  # logical id
    queue_name: str
    queue_arn: str
    queue_url: str
    batch_size: int
    report_item_failures: bool
    enabled: bool = True


@dataclass(frozen=True)
class StreamSource:
    function: str
    event: str
    table: str  # logical id
    table_name: str
    batch_size: int
    starting_position: str
    maximum_retry_attempts: int  # -1: retry until the record expires (forever, locally)
    bisect_on_error: bool
    report_item_failures: bool
    filters: tuple[Mapping[str, Any], ...]
    on_failure_arn: str | None
    enabled: bool = True


@dataclass(frozen=True)
class ScheduleSource:
    function: str
    event: str
    expression: str
    enabled: bool = True


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    code_uri: Path
    handler: str
    timeout: int
    memory: int
    environment: Mapping[str, str]
    layers: tuple[Path, ...]
    api: tuple[ApiRoute, ...] = ()
    sqs: tuple[SqsSource, ...] = ()
    streams: tuple[StreamSource, ...] = ()
    schedules: tuple[ScheduleSource, ...] = ()

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def attr(self) -> str:
        return self.handler.rsplit(".", 1)[1]

    @property
    def module_file(self) -> Path:
        return self.code_uri / (self.module.replace(".", "/") + ".py")

    @property
    def arn(self) -> str:
        return f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT_ID}:function:{self.name}"


# --------------------------------------------------------------------------- the template


@dataclass
class Template:
    """A parsed template with intrinsics resolved for the local account."""

    raw: dict[str, Any]
    root: Path
    path: Path | None = None
    parameter_overrides: Mapping[str, str] = field(default_factory=dict)
    unsupported: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._resolving: set[str] = set()
        self._conditions: dict[str, bool] = {}
        all_resources: dict[str, Any] = self.raw.get("Resources") or {}
        self.resources: dict[str, dict[str, Any]] = {
            lid: res for lid, res in all_resources.items()
            if "Condition" not in res or self.condition(res["Condition"])
        }

    # -- basic lookups
    @property
    def globals_function(self) -> dict[str, Any]:
        return (self.raw.get("Globals") or {}).get("Function") or {}

    def type_of(self, logical_id: str) -> str:
        return str(self.resources[logical_id]["Type"])

    def of_type(self, *types: str) -> list[str]:
        return [lid for lid, res in self.resources.items() if res.get("Type") in types]

    def raw_properties(self, logical_id: str) -> dict[str, Any]:
        return self.resources[logical_id].get("Properties") or {}

    def properties(self, logical_id: str) -> dict[str, Any]:
        resolved: dict[str, Any] = self.resolve(self.raw_properties(logical_id))
        return resolved

    def parameter(self, name: str) -> Any:
        spec = (self.raw.get("Parameters") or {}).get(name)
        if spec is None:
            raise TemplateError(f"unknown parameter {name}")
        if name in self.parameter_overrides:
            value: Any = self.parameter_overrides[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            raise TemplateError(f"parameter {name} has no Default; pass it as an override")
        if str(spec.get("Type", "")).startswith(("List<", "CommaDelimitedList")) and isinstance(value, str):
            return [v.strip() for v in value.split(",")]
        return value if isinstance(value, list) else str(value)

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            spec = (self.raw.get("Conditions") or {}).get(name)
            if spec is None:
                raise TemplateError(f"unknown condition {name}")
            self._conditions[name] = bool(self.resolve(spec))
        return self._conditions[name]

    # -- names
    def physical_name(self, logical_id: str) -> str:
        """The explicit name property when the template sets one, else a deterministic k2k-<LogicalId>."""
        if logical_id not in self.resources:
            raise TemplateError(f"unknown resource {logical_id}")
        if logical_id in self._resolving:
            raise TemplateError(f"circular reference through {logical_id}")
        rtype = self.type_of(logical_id)
        prop = NAME_PROPERTY.get(rtype)
        raw = self.raw_properties(logical_id)
        if prop and prop in raw:
            self._resolving.add(logical_id)
            try:
                return str(self.resolve(raw[prop]))
            finally:
                self._resolving.discard(logical_id)
        name = f"{NAME_PREFIX}{logical_id}"
        if rtype == "AWS::SQS::Queue" and str(raw.get("FifoQueue", "")).lower() == "true":
            name += ".fifo"
        return name

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::AccountId": ACCOUNT_ID, "AWS::Region": REGION, "AWS::Partition": PARTITION,
            "AWS::StackName": STACK_NAME, "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/local",
            "AWS::NotificationARNs": [], "AWS::NoValue": NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in (self.raw.get("Parameters") or {}):
            return self.parameter(name)
        if name not in self.resources:
            raise TemplateError(f"!Ref to unknown name {name}")
        rtype = self.type_of(name)
        # What CloudFormation returns for Ref, per type; the name for everything else.
        if rtype == "AWS::SQS::Queue":
            return self.get_att(name, "QueueUrl")
        if rtype in ("AWS::SNS::Topic", "AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
            return self.get_att(name, "Arn")
        if rtype == "AWS::Cognito::UserPool":
            return f"{REGION}_{name}"
        return self.physical_name(name)

    def get_att(self, logical_id: str, attr: str) -> str:
        function = logical_id.removesuffix("Role")
        if (logical_id not in self.resources and attr == "Arn" and function in self.resources
                and self.type_of(function) == "AWS::Serverless::Function"
                and "Role" not in self.raw_properties(function)):
            # SAM makes <Function>Role for a function without a Role of its own; a template may name it.
            return f"arn:{PARTITION}:iam::{ACCOUNT_ID}:role/{STACK_NAME}-{logical_id}"
        if logical_id not in self.resources:
            raise TemplateError(f"!GetAtt of unknown resource {logical_id}")
        rtype = self.type_of(logical_id)
        name = self.physical_name(logical_id)
        head = f"arn:{PARTITION}"
        if rtype == "AWS::DynamoDB::Table":
            arn = f"{head}:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"
            # The real stream label is only known once the table exists; the runtime
            # maps this placeholder to the table's LatestStreamArn by table name.
            found = {"Arn": arn, "StreamArn": f"{arn}/stream/local"}.get(attr)
        elif rtype == "AWS::SQS::Queue":
            found = {
                "Arn": f"{head}:sqs:{REGION}:{ACCOUNT_ID}:{name}",
                "QueueName": name,
                "QueueUrl": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{name}",
            }.get(attr)
        elif rtype == "AWS::Events::EventBus":
            found = {"Arn": f"{head}:events:{REGION}:{ACCOUNT_ID}:event-bus/{name}", "Name": name}.get(attr)
        elif rtype == "AWS::Events::Rule":
            bus = self.resolve(self.raw_properties(logical_id).get("EventBusName", "default"))
            bus = str(bus).rsplit("/", 1)[-1]
            path = name if bus == "default" else f"{bus}/{name}"
            found = {"Arn": f"{head}:events:{REGION}:{ACCOUNT_ID}:rule/{path}"}.get(attr)
        elif rtype == "AWS::S3::Bucket":
            found = {"Arn": f"{head}:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com",
                     "RegionalDomainName": f"{name}.s3.{REGION}.amazonaws.com"}.get(attr)
        elif rtype in FUNCTION_TYPES or rtype == "AWS::Lambda::Function":
            found = {"Arn": f"{head}:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"}.get(attr)
        elif rtype in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
            found = {"Arn": f"{head}:lambda:{REGION}:{ACCOUNT_ID}:layer:{name}:1"}.get(attr)
        elif rtype == "AWS::SNS::Topic":
            arn = f"{head}:sns:{REGION}:{ACCOUNT_ID}:{name}"
            found = {"Arn": arn, "TopicArn": arn, "TopicName": name}.get(attr)
        elif rtype == "AWS::Logs::LogGroup":
            found = {"Arn": f"{head}:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}:*"}.get(attr)
        elif rtype == "AWS::IAM::Role":
            found = {"Arn": f"{head}:iam::{ACCOUNT_ID}:role/{name}",
                     "RoleId": f"AROA{name.upper()[:17]}"}.get(attr)
        elif rtype == "AWS::Cognito::UserPool":
            found = {"Arn": f"{head}:cognito-idp:{REGION}:{ACCOUNT_ID}:userpool/{self.ref(logical_id)}",
                     "ProviderName": f"cognito-idp.{REGION}.amazonaws.com/{self.ref(logical_id)}"}.get(attr)
        else:
            found = None
        if found is None:
            raise TemplateError(f"!GetAtt {logical_id}.{attr} ({rtype}) has no local meaning")
        return found

    # -- intrinsic functions
    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic function in value; AWS::NoValue entries are dropped."""
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._fn(key[4:], arg)
        out = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def _fn(self, name: str, arg: Any) -> Any:
        if name == "GetAtt":
            target, attr = arg if isinstance(arg, list) else str(arg).split(".", 1)
            return self.get_att(str(self.resolve(target)), str(self.resolve(attr)))
        if name == "Sub":
            return self._sub(arg)
        if name == "Join":
            sep, items = arg
            return str(self.resolve(sep)).join(str(v) for v in self.resolve(items))
        if name == "Select":
            index, items = arg
            return self.resolve(items)[int(self.resolve(index))]
        if name == "Split":
            sep, text = arg
            return str(self.resolve(text)).split(str(self.resolve(sep)))
        if name == "FindInMap":
            mapping, top, second = (self.resolve(a) for a in arg[:3])
            try:
                return self.resolve((self.raw.get("Mappings") or {})[mapping][top][second])
            except KeyError as e:
                raise TemplateError(f"!FindInMap {mapping}/{top}/{second} not found") from e
        if name == "If":
            cond, yes, no = arg
            return self.resolve(yes if self.condition(cond) else no)
        if name == "Equals":
            a, b = (self.resolve(v) for v in arg)
            return str(a) == str(b)
        if name == "Not":
            return not self.resolve(arg[0])
        if name == "And":
            return all(self.resolve(v) for v in arg)
        if name == "Or":
            return any(self.resolve(v) for v in arg)
        if name == "Base64":
            return base64.b64encode(str(self.resolve(arg)).encode()).decode()
        if name == "GetAZs":
            return [f"{REGION}{z}" for z in "abc"]
        if name == "ToJsonString":
            return json.dumps(self.resolve(arg), separators=(",", ":"))
        if name == "Length":
            return len(self.resolve(arg))
        raise TemplateError(f"Fn::{name} has no local meaning")

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        local = {k: self.resolve(v) for k, v in variables.items()}

        def one(match: re.Match[str]) -> str:
            expr = match.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in local:
                return str(local[expr])
            if "." in expr and not expr.startswith("AWS::"):
                target, attr = expr.split(".", 1)
                return self.get_att(target, attr)
            return str(self.ref(expr))

        return re.sub(r"\$\{([^}]+)\}", one, str(text))

    # -- functions and their events
    @functools.cached_property
    def functions(self) -> dict[str, FunctionSpec]:
        return {lid: self._function(lid) for lid in self.of_type(*FUNCTION_TYPES)}

    @property
    def routes(self) -> list[ApiRoute]:
        return [route for fn in self.functions.values() for route in fn.api]

    @property
    def layer_paths(self) -> list[Path]:
        """What Lambda puts on /opt/python for the functions: each local layer's python/ folder."""
        return list(dict.fromkeys(p for fn in self.functions.values() for p in fn.layers))

    def _function(self, lid: str) -> FunctionSpec:
        glob, raw = self.globals_function, self.raw_properties(lid)
        # Only what runs the code locally: Policies, Role... may name resources with no local meaning.
        wanted = ("Handler", "CodeUri", "Timeout", "MemorySize", "Environment")
        props = self.resolve({k: raw[k] for k in wanted if k in raw})
        env = {
            **self.resolve(((glob.get("Environment") or {}).get("Variables")) or {}),
            **((props.get("Environment") or {}).get("Variables") or {}),
        }
        handler = str(props.get("Handler") or self.resolve(glob.get("Handler")) or "")
        if "." not in handler:
            raise TemplateError(f"{lid}: Handler {handler!r} is not module.attr")
        code_uri = props.get("CodeUri") or self.resolve(glob.get("CodeUri"))
        if not isinstance(code_uri, str):
            raise TemplateError(f"{lid}: CodeUri must be a local folder")
        layer_refs = [*(glob.get("Layers") or []), *(raw.get("Layers") or [])]
        api: list[ApiRoute] = []
        sqs: list[SqsSource] = []
        streams: list[StreamSource] = []
        schedules: list[ScheduleSource] = []
        for event_name, event in (raw.get("Events") or {}).items():
            etype, eprops = event.get("Type"), event.get("Properties") or {}
            if etype == "Api":
                api.append(self._route(lid, event_name, eprops))
            elif etype == "SQS":
                sqs.append(self._sqs(lid, event_name, eprops))
            elif etype == "DynamoDB":
                streams.append(self._stream(lid, event_name, eprops))
            elif etype == "Schedule":
                p = self.resolve(eprops)
                schedules.append(ScheduleSource(lid, event_name, str(p["Schedule"]),
                                                _flag(p.get("Enabled", True))))
            else:
                self.unsupported.append(f"{lid}.{event_name}: event type {etype}")
                log.warning("%s.%s: event type %s is not run locally", lid, event_name, etype)
        return FunctionSpec(
            logical_id=lid,
            name=self.physical_name(lid),
            code_uri=(self.root / code_uri).resolve(),
            handler=handler,
            timeout=int(props.get("Timeout") or self.resolve(glob.get("Timeout")) or 3),
            memory=int(props.get("MemorySize") or self.resolve(glob.get("MemorySize")) or 128),
            environment={k: _env_str(v) for k, v in env.items()},
            layers=tuple(p for p in map(self._layer_path, layer_refs) if p is not None),
            api=tuple(api), sqs=tuple(sqs), streams=tuple(streams), schedules=tuple(schedules),
        )

    def _layer_path(self, ref: Any) -> Path | None:
        lid = ref.get("Ref") if isinstance(ref, dict) else None
        if lid not in self.resources or self.type_of(lid) != "AWS::Serverless::LayerVersion":
            return None
        # A layer's own code is in <ContentUri>/python, where its build puts it for /opt/python; a
        # layer of third-party packages only (layers/pdf) has none: the dev venv installs them.
        content = self.properties(lid).get("ContentUri")
        path = (self.root / content / "python").resolve() if isinstance(content, str) else None
        return path if path is not None and path.is_dir() else None

    def _api_auth(self, api_ref: Any) -> dict[str, Any]:
        lid = api_ref.get("Ref") if isinstance(api_ref, dict) else None
        if lid in self.resources:
            auth = self.raw_properties(lid).get("Auth")
            if auth is not None:
                return dict(auth)
        return dict(((self.raw.get("Globals") or {}).get("Api") or {}).get("Auth") or {})

    def _route(self, lid: str, event: str, raw: dict[str, Any]) -> ApiRoute:
        props = self.resolve(raw)
        default = self._api_auth(raw.get("RestApiId")).get("DefaultAuthorizer")
        chosen = (props.get("Auth") or {}).get("Authorizer", default)
        return ApiRoute(
            function=lid, event=event, path=str(props["Path"]),
            method="ANY" if str(props["Method"]).lower() == "any" else str(props["Method"]).upper(),
            authorizer=None if chosen in (None, "NONE") else str(chosen),
        )

    def _target(self, raw: Any, attr: str) -> str:
        """The logical id an event source points at (!GetAtt X.Arn), or one found by its resolved ARN."""
        if isinstance(raw, dict) and "Fn::GetAtt" in raw:
            got = raw["Fn::GetAtt"]
            return str(got[0] if isinstance(got, list) else str(got).split(".", 1)[0])
        arn = str(self.resolve(raw))
        for lid in self.resources:
            try:
                if self.get_att(lid, attr) == arn:
                    return lid
            except TemplateError:
                continue
        raise TemplateError(f"event source {arn} is not a resource of this template")

    def _sqs(self, lid: str, event: str, raw: dict[str, Any]) -> SqsSource:
        props = self.resolve(raw)
        queue = self._target(raw["Queue"], "Arn")
        return SqsSource(
            function=lid, event=event, queue=queue, queue_name=self.physical_name(queue),
            queue_arn=self.get_att(queue, "Arn"), queue_url=self.get_att(queue, "QueueUrl"),
            batch_size=int(props.get("BatchSize", 10)),
            report_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
            enabled=_flag(props.get("Enabled", True)),
        )

    def _stream(self, lid: str, event: str, raw: dict[str, Any]) -> StreamSource:
        props = self.resolve(raw)
        table = self._target(raw["Stream"], "StreamArn")
        filters = []
        for f in ((props.get("FilterCriteria") or {}).get("Filters") or []):
            pattern = f.get("Pattern")
            filters.append(json.loads(pattern) if isinstance(pattern, str) else pattern)
        on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        return StreamSource(
            function=lid, event=event, table=table, table_name=self.physical_name(table),
            batch_size=int(props.get("BatchSize", 100)),
            starting_position=str(props.get("StartingPosition", "TRIM_HORIZON")),
            maximum_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
            bisect_on_error=_flag(props.get("BisectBatchOnFunctionError", False)),
            report_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
            filters=tuple(filters),
            on_failure_arn=str(on_failure) if on_failure else None,
            enabled=_flag(props.get("Enabled", True)),
        )


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _env_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --------------------------------------------------------------------------- loading


@functools.lru_cache(maxsize=16)
def _load_cached(path: str, mtime_ns: int, overrides: tuple[tuple[str, str], ...]) -> Template:
    file = Path(path)
    return Template(parse(file.read_text()), root=file.parent, path=file, parameter_overrides=dict(overrides))


def load(path: str | Path = "template.yaml",
         parameter_overrides: Mapping[str, str] | None = None) -> Template:
    """Parse a template once per file version; the result is shared, so treat it as read-only."""
    file = Path(path).resolve()
    overrides: Iterable[tuple[str, str]] = sorted((parameter_overrides or {}).items())
    return _load_cached(str(file), file.stat().st_mtime_ns, tuple(overrides))
