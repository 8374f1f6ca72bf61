"""Fuzzing from the committed OpenAPI document, over HTTP on the local cloud: never a 5xx, never an answer
the document does not describe.

Schemathesis turns every operation of docs/openapi.json into a Hypothesis strategy of requests, both ones
the document allows (positive) and ones it does not (negative: wrong types, missing or unknown fields,
values out of bounds). Each request is sent with an Admin token of the company the path names (or the
Operator's for operator routes), and half the time its path parameters are the ids of real documents (the
tenant matrix's world: an order checked out, confirmed, billed and received), so the fuzz reaches the
handlers' business rules, not only the 404 of an unknown id. Each answer must be:

- not a 5xx (502 is documented for every operation, as API Gateway's answer to a failed Lambda; it is
  never a right answer to a request);
- documented for its operation, with a body matching the documented schema
  (infra/localcloud/contract.py, the check every e2e client makes);

and whatever the accepted ones caused, once delivered, must not end in a dead-letter queue.

Nothing here names a route: a new operation is fuzzed as soon as it is documented. Deterministic
(derandomized, no example database). `make test` runs SMALL examples per operation; `make proof` FULL.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from infra.localcloud import tokens
from infra.localcloud.contract import ContractViolation, committed
from tests.e2e.test_tenant_role_matrix import World, build_world

pytestmark = pytest.mark.e2e

SMALL, FULL = 2, 50  # examples per operation
METHODS = ("get", "put", "post", "patch", "delete")
SCHEMA = schemathesis.openapi.from_dict(committed().document)
OPERATIONS = sorted((template, method) for template, item in committed().document["paths"].items()
                    for method in item if method in METHODS)


@pytest.fixture(scope="module")
def world(shared_cloud: Any) -> World:
    return build_world(shared_cloud.get(), f"-{uuid.uuid4().hex[:6]}")


def fuzz(cloud: Any, world: World, template: str, method: str, examples: int) -> dict[str, int]:
    """Send `examples` generated requests to one operation; fail on the first 5xx or undocumented answer."""
    operation = SCHEMA[template][method.upper()]
    roles = operation.definition.raw.get("x-k2k-roles") or ["Admin"]
    params = re.findall(r"{(\w+)}", template)
    owners = {world.ids[p][0] for p in params if p in world.ids and world.ids[p][0]}
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))
    statuses: dict[int, int] = {}

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate, Phase.shrink],
              suppress_health_check=list(HealthCheck))
    @given(case=cases, real_ids=st.booleans(), company=st.sampled_from(["rosaflor", "bloom"]))
    def run(case: Any, real_ids: bool, company: str) -> None:
        if real_ids:
            for p in params:
                if p in world.ids:
                    case.path_parameters[p] = world.ids[p][1]
        if roles == ["Operator"]:
            token = tokens.mint("", ["Operator"], user="operator@k2k.example")
        else:
            owner = next(iter(owners), None) if real_ids else None
            token = tokens.mint(owner or world.company[company], ["Admin"])
        response = case.call(base_url=cloud.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=300)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        sent = f"{case.method} {response.request.path_url} body={case.body!r}"[:2000]
        assert response.status_code < 500, f"{sent}\nanswered {response.status_code}: {response.text[:1000]}"
        try:
            committed().check(method, response.request.path_url, response.status_code,
                              (response.headers.get("content-type") or [None])[0], response.content)
        except ContractViolation as e:
            raise AssertionError(f"{sent}\n{e}") from None

    dead_before = dead_letters(cloud)
    run()
    cloud.drain()
    assert dead_letters(cloud) == dead_before, "what the fuzzed requests caused failed into a dead-letter queue"
    print(f"{method.upper()} {template}: {dict(sorted(statuses.items()))}")  # seen with -rP
    return statuses


def dead_letters(cloud: Any) -> dict[str, int]:
    """Messages in every dead-letter queue of the template (the cloud is shared: compared before and after)."""
    return {q: cloud.queue_depth(q) for q in cloud.resources.queues if q.endswith("DLQ")}


CASES = pytest.mark.parametrize(("template", "method"), OPERATIONS, ids=[f"{m.upper()} {t}" for t, m in OPERATIONS])


@CASES
def test_fuzzed_requests_get_documented_answers_and_never_a_5xx(cloud, world, template, method):
    assert sum(fuzz(cloud, world, template, method, SMALL).values()) >= 1, "no request was sent"


@pytest.mark.proof
@CASES
def test_fuzzed_requests_get_documented_answers_and_never_a_5xx_full(cloud, world, template, method):
    assert sum(fuzz(cloud, world, template, method, FULL).values()) >= 1, "no request was sent"
