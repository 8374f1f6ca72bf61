"""Every route names the roles that may call it, in one table (k2k.access), enforced before any handler runs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.localcloud.template import load
from infra.openapi import REPO
from k2k import access
from k2k.auth import ALL_COMPANY_ROLES, Role
from k2k.errors import Forbidden, Unauthorized

TEMPLATE = REPO / "template.yaml"


def template_routes() -> dict[tuple[str, str], str]:
    """(method, path) -> the function template.yaml routes it to, for every function with Api events."""
    return {(r.method, r.path): fn.logical_id
            for fn in load(TEMPLATE).functions.values() for r in fn.api}


def test_every_route_of_every_function_in_the_template_has_a_row_and_every_row_a_route() -> None:
    routed = template_routes()
    missing = sorted(f"{m} {p} ({fn})" for (m, p), fn in routed.items() if (m, p) not in access.ROUTES)
    assert not missing, f"add these routes to k2k.access.ROUTES with the roles that may call them: {missing}"
    stale = sorted(f"{m} {p}" for m, p in access.ROUTES if (m, p) not in routed)
    assert not stale, f"k2k.access.ROUTES names routes template.yaml does not route: {stale}"


def test_each_row_names_company_roles_only_the_operator_bootstraps_companies() -> None:
    for (method, path), roles in access.ROUTES.items():
        assert roles, f"{method} {path} allows no one"
        if path.startswith("/operator/"):
            assert roles == {Role.OPERATOR}
        else:
            assert roles <= ALL_COMPANY_ROLES, f"{method} {path}"
            assert Role.ADMIN in roles, f"{method} {path}: an Admin may do everything in its company"


def test_reads_of_money_and_customers_need_a_role_that_works_with_them() -> None:
    # Defect 5: a token with no roles, or any role, read invoices, POs, reconciliation, customers and costs.
    assert access.roles_for("GET", "/invoices/{invoice_no}/pdf") == access.RECEIVABLES_ROLES
    assert Role.SALESPERSON not in access.roles_for("GET", "/purchase-orders")  # type: ignore[operator]
    assert Role.PROCUREMENT_USER not in access.roles_for("GET", "/customers")  # type: ignore[operator]
    assert Role.SALESPERSON not in access.roles_for("GET", "/inventory/{line_id}")  # type: ignore[operator]
    assert access.roles_for("GET", "/imports/{job_id}") == {Role.ADMIN}


def test_the_openapi_document_gives_each_operation_the_roles_of_the_table() -> None:
    doc = json.loads((REPO / "docs" / "openapi.json").read_text())
    for path, item in doc["paths"].items():
        for method, op in item.items():
            expected = sorted(r.value for r in access.ROUTES[(method.upper(), path)])
            assert op["x-k2k-roles"] == expected, f"{method.upper()} {path}: run `make openapi`"
            assert op["description"].endswith(f"Roles: {', '.join(expected)}.")


def proxy_event(method: str, resource: str, claims: dict[str, Any] | None) -> dict[str, Any]:
    return {"resource": resource, "path": resource, "httpMethod": method, "headers": {},
            "requestContext": {"authorizer": {"claims": claims} if claims is not None else None},
            "body": "{not json"}


def test_the_check_needs_a_verified_company_and_one_of_the_route_s_roles() -> None:
    def claims(*roles: str, company: str | None = "bloom") -> dict[str, Any]:
        out = {"sub": "u1", "cognito:groups": ",".join(roles)}
        return {**out, "custom:company_id": company} if company else out

    assert access.check_request(proxy_event("GET", "/staging", claims("ProcurementUser"))).company_id == "bloom"
    with pytest.raises(Unauthorized):
        access.check_request(proxy_event("GET", "/staging", None))
    with pytest.raises(Unauthorized):
        access.check_request(proxy_event("GET", "/staging", claims("Admin", company=None)))
    with pytest.raises(Forbidden, match="Admin, ProcurementManager, ProcurementUser"):
        access.check_request(proxy_event("GET", "/staging", claims()))
    with pytest.raises(Forbidden):
        access.check_request(proxy_event("GET", "/staging", claims("Operator")))
    with pytest.raises(Forbidden, match="names no roles"):  # a route without a row is refused to everyone
        access.check_request(proxy_event("GET", "/no-such-route", claims(*(r.value for r in Role))))


def test_a_handler_refuses_before_it_reads_the_request() -> None:
    from k2k.api import create_resolver, handle

    app = create_resolver()
    ran = []

    @app.post("/staging/receive")
    def receive() -> dict[str, str]:  # would answer 422 for the broken body if it were reached
        ran.append(True)
        return {}

    no_roles = {"sub": "u1", "custom:company_id": "bloom", "cognito:groups": ""}
    out = handle(app, proxy_event("POST", "/staging/receive", no_roles), None)
    assert out["statusCode"] == 403 and not ran
    assert json.loads(out["body"])["error"]["code"] == "forbidden"
    assert out["headers"]["Content-Type"] == "application/json"
    out = handle(app, proxy_event("POST", "/staging/receive", {"sub": "u1", "cognito:groups": "Admin"}), None)
    assert out["statusCode"] == 401 and not ran
