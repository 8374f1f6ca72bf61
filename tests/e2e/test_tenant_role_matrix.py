"""The tenant and role wall, proved for every operation of docs/openapi.json over HTTP on the local cloud.

Nothing here names a route: the operations, their path parameters, request bodies and allowed roles
(`x-k2k-roles`, from k2k.access) are read from the committed OpenAPI document, so a new route is in the
matrix the moment it is documented. Each operation is called with real ids of Bloom's and Rosaflor's
documents (a K2K order checked out, confirmed, billed, received into staging; an import job) by:

- no token; a tampered, unsigned (alg none) or expired token; one without a company claim: exactly 401;
- Tulipa (no connection) and Petal (connected to Rosaflor, not a party to its deal with Bloom), with
  every company role: a documented status, never 5xx, no answer carrying Bloom's or Rosaflor's data,
  and 404 where the path names one of their documents;
- a token without roles, and each role the operation does not allow: exactly 403;

and afterwards every document the matrix aimed at is exactly as it was: nothing a refused call sent
was applied. `make test` runs it small (every operation, one lacking role each); `make proof` runs
every lacking role (`-m proof`).
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import jwt
import pytest

from infra.localcloud import demo, tokens
from infra.localcloud.client import ApiClient
from infra.localcloud.contract import ContractViolation, committed

pytestmark = pytest.mark.e2e

COMPANY_ROLES = ["Admin", "Setup", "SalesManager", "Salesperson", "ProcurementManager", "ProcurementUser",
                 "AccountsReceivable", "CreditManager"]
ALL_ROLES = [*COMPANY_ROLES, "Operator"]
METHODS = ("get", "put", "post", "patch", "delete")


# -- the world the matrix aims at -----------------------------------------------------------------------

@dataclass
class World:
    base_url: str
    company: dict[str, str]  # rosaflor, bloom, petal, tulipa -> company id
    ids: dict[str, tuple[str | None, str]]  # path parameter -> (owning company or None, a real value)
    body_ids: dict[str, str]  # request body property -> a real value, to aim bodies at the same documents
    secrets: dict[str, set[str]]  # company -> strings only that company (and its counterpart) may ever read
    fingerprints: dict[str, Any] = field(default_factory=dict)

    def client(self, company: str, *roles: str, token: str | None = None) -> ApiClient:
        return ApiClient(self.base_url, token or tokens.mint(company, roles), contract=None)

    def fingerprint(self) -> dict[str, Any]:
        """What the owners read of the documents the matrix aims at."""
        rosa, bloom = self.client(self.company["rosaflor"], "Admin"), self.client(self.company["bloom"], "Admin")
        reads = {
            "order": (rosa, f"/orders/{self.ids['order_id'][1]}"),
            "invoice": (rosa, f"/invoices/{self.ids['invoice_no'][1]}"),
            "rosa customers": (rosa, "/customers"),
            "po": (bloom, f"/purchase-orders/{self.ids['po_id'][1]}"),
            "prebook": (bloom, f"/prebooks/{self.ids['prebook_id'][1]}"),
            "cart": (bloom, f"/carts/{self.ids['cart_id'][1]}"),
            "connection": (bloom, f"/connections/{self.ids['connection_id'][1]}"),
            "bloom customers": (bloom, "/customers"),
            "bloom vendors": (bloom, "/vendors"),
            "staging": (bloom, "/staging"),
            "reconciliation": (bloom, f"/reconciliation/{self.ids['po_id'][1]}"),
            "job": (bloom, f"/imports/{self.ids['job_id'][1]}"),
            "bloom settings": (bloom, "/company"),
        }
        out = {}
        for name, (client, path) in reads.items():
            got = client.get(path)
            assert got.status == 200, (name, path, got.status, got.text)
            out[name] = got.json()
        return out


def build_world(cloud: Any, suffix: str) -> World:
    lines = demo.seed(cloud, suffix)["inventory_line_ids"]
    company = {c: f"{c}{suffix}" for c in ("rosaflor", "bloom", "petal", "tulipa")}
    rosa = ApiClient(cloud.base_url, tokens.mint(company["rosaflor"], ["Admin"]))
    bloom = ApiClient(cloud.base_url, tokens.mint(company["bloom"], ["Admin"]))

    def ok(response: Any, status: int = 200) -> Any:
        assert response.status == status, response.text
        return response.json()

    customer, email, name = "FLORAMX", f"flora{suffix}@matrix.example", f"Flora Matrix {suffix}"
    ok(bloom.put(f"/customers/{customer}", json={"name": name, "email": email}))
    ok(bloom.put("/products/VASE-8", json={"description": "Glass vase 8in", "kind": "HARD_GOODS"}))
    current = ok(bloom.get("/company"))
    settings = current["settings"]
    settings["buyer"]["automatic_billing_allocation"] = True
    ok(bloom.put("/company/settings", json={"settings": settings, "version": current["version"]}))
    ship = next(ln for ln in ok(bloom.get("/availability", params={"location": "NYC"}))["lines"]
                if ln["box_code"] == "FR50HB")["earliest_ship_date"]
    cart_add = {"customer_code": customer, "ship_date": ship, "vendor_company_id": company["rosaflor"],
                "line_id": lines["FR50HB"], "boxes": 1, "location": "NYC"}
    bought = ok(bloom.post("/carts", json=cart_add), 201)
    ok(bloom.post(f"/carts/{bought['cart_id']}/checkout"))
    cloud.drain()
    [po] = ok(bloom.get("/purchase-orders"))["items"]
    ok(rosa.post(f"/orders/{po['order_id']}/confirm", json={}))
    cloud.drain()
    receipt = ok(bloom.post("/staging/receive", json={"box_code": "FR50HB", "boxes": 1, "po_id": po["po_id"]}))
    # Bloom's partner events: its AWS account, and a webhook nobody answers (port 9), whose CartOpened is parked.
    subscription = ok(bloom.post("/integrations/subscriptions", json={
        "target": "aws_account", "aws_account_id": "555555555555", "detail_types": ["OrderConfirmed"]}), 201)
    ok(bloom.post("/integrations/subscriptions", json={
        "target": "webhook", "url": "http://127.0.0.1:9/k2k", "detail_types": ["CartOpened"]}), 201)
    open_cart = ok(bloom.post("/carts", json=cart_add), 201)  # left open: its timer has not run out
    prebook = ok(bloom.post("/prebooks", json={
        "customer_code": customer, "ship_date": (cloud.now().date() + timedelta(days=6)).isoformat(),
        "lines": [{"vendor_company_id": company["rosaflor"], "line_id": lines["HYDWFB"], "boxes": 1}]}), 201)
    job = ok(bloom.post("/imports", json={"import_type": "open-invoices", "filename": "matrix.xlsx"}), 201)["job"]
    cloud.drain()
    [invoice] = ok(rosa.get("/invoices"))["items"]
    billed = (receipt.get("billed") or {}).get("invoice_id")
    [parked] = ok(bloom.get("/integrations/failed-deliveries"))["items"]
    assert billed, f"automatic billing made no customer invoice: {receipt}"

    rosa_id, bloom_id = company["rosaflor"], company["bloom"]
    ids = {
        "line_id": (rosa_id, lines["FR50HB"]), "order_id": (rosa_id, po["order_id"]),
        "invoice_no": (rosa_id, str(invoice["invoice_no"])),
        "cart_id": (bloom_id, open_cart["cart_id"]), "prebook_id": (bloom_id, prebook["prebook_id"]),
        "po_id": (bloom_id, po["po_id"]), "connection_id": (bloom_id, f"{rosa_id}.{bloom_id}"),
        "job_id": (bloom_id, job["job_id"]), "invoice_id": (bloom_id, billed),
        "customer_code": (bloom_id, customer), "vendor_code": (bloom_id, "ROSA"),
        "product_code": (bloom_id, "VASE-8"),
        "import_type": (None, "open-invoices"), "line_no": (None, "1"),
        "subscription_id": (bloom_id, subscription["subscription_id"]),
        "delivery_id": (bloom_id, parked["delivery_id"]), "detail_type": (None, "OrderConfirmed"),
    }
    body_ids = {"line_id": lines["FR50HB"], "vendor_company_id": rosa_id, "customer_code": customer,
                "box_code": "FR50HB", "po_id": po["po_id"], "job_id": job["job_id"], "confirm": "CONFIRM",
                "ship_date": ship, "location": "NYC", "import_type": "open-invoices", "filename": "matrix.xlsx",
                "email": f"matrix{suffix}@matrix.example",
                "pdf_base64": base64.b64encode(b"%PDF-1.4\n% matrix\n").decode()}
    secrets = {
        bloom_id: {email, name, po["po_id"], prebook["prebook_id"], bought["cart_id"], open_cart["cart_id"],
                   job["job_id"], billed, po["order_id"], subscription["subscription_id"], parked["delivery_id"]},
        rosa_id: {po["order_id"], f"purchasing@{bloom_id}.example", f"purchasing@{company['petal']}.example"},
    }
    return World(cloud.base_url, company, ids, body_ids, secrets)


# -- request bodies from the document -------------------------------------------------------------------

def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def example(doc: dict[str, Any], schema: dict[str, Any], name: str, world: World, depth: int = 0) -> Any:
    """A value the schema accepts, aimed at the world's documents where the property names one."""
    schema = resolve(doc, schema)
    if name in world.body_ids:
        return world.body_ids[name]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if resolve(doc, s).get("type") != "null"]
            return example(doc, options[0], name, world, depth) if options else None
    if "allOf" in schema:
        return example(doc, schema["allOf"][0], name, world, depth)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        wanted = set(schema.get("required") or []) | ({k for k in props if k in world.body_ids} if depth < 3 else set())
        return {k: example(doc, props[k], k, world, depth + 1) for k in props if k in wanted}
    if kind == "array":
        return [example(doc, schema.get("items") or {}, name, world, depth + 1)] * max(1, schema.get("minItems", 1))
    if kind == "integer" or kind == "number":
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1 if "exclusiveMinimum" in schema else 1)
        return max(1, int(low)) if kind == "integer" else max(1, low)
    if kind == "boolean":
        return False
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date":
            return world.body_ids["ship_date"]
        if fmt == "date-time":
            return "2030-01-01T00:00:00Z"
        if fmt == "email":
            return world.body_ids["email"]
        for candidate in ("ABC1", "1", "1.00", "Matrix sample", "X"):
            fits = schema.get("minLength", 0) <= len(candidate) <= schema.get("maxLength", 10_000)
            if fits and re.search(schema.get("pattern", ""), candidate):
                return candidate
        return "x" * max(1, schema.get("minLength", 1))
    return None


def body_for(doc: dict[str, Any], op: dict[str, Any], world: World) -> Any:
    content = ((op.get("requestBody") or {}).get("content") or {}).get("application/json")
    return example(doc, content["schema"], "", world) if content else None


# -- the cells --------------------------------------------------------------------------------------------

@dataclass
class Operation:
    method: str
    template: str
    op: dict[str, Any]
    path: str
    owner: str | None  # the company whose document the path names, if any
    names_a_document: bool  # a document id (404 for anyone else), not a key in the caller's own namespace
    body: Any


# the caller's own namespace, or no owner:
KEYS = {"customer_code", "vendor_code", "product_code", "import_type", "line_no"}


def operations(world: World) -> list[Operation]:
    doc = committed().document
    out = []
    for template, item in sorted(doc["paths"].items()):
        for method, op in sorted(item.items()):
            if method not in METHODS:
                continue
            params = re.findall(r"{(\w+)}", template)
            unknown = [p for p in params if p not in world.ids]
            assert not unknown, f"{method.upper()} {template}: give the matrix a real id for {unknown} (World.ids)"
            path, owners = template, set()
            for p in params:
                owner, value = world.ids[p]
                path = path.replace("{" + p + "}", value)
                owners |= {owner} if owner else set()
            owner = next(iter(owners), None)
            out.append(Operation(method, template, op, path, owner,
                                 any(p not in KEYS for p in params), body_for(doc, op, world)))
    return out


@dataclass
class Outcome:
    cells: int = 0
    failures: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)

    def fail(self, what: str) -> None:
        self.failures.append(what)


def call(client: ApiClient, op: Operation) -> Any:
    return client.request(op.method.upper(), op.path, json=op.body)


def check_contract(outcome: Outcome, label: str, op: Operation, got: Any) -> None:
    try:
        committed().check(op.method, op.path, got.status, got.header("Content-Type"), got.body)
    except ContractViolation as e:
        outcome.fail(f"{label}: {e}")


def expect(outcome: Outcome, label: str, op: Operation, got: Any, status: int) -> None:
    outcome.cells += 1
    outcome.statuses[f"{label.split(':')[0]} {got.status}"] += 1
    if got.status != status:
        outcome.fail(f"{label}: {op.method.upper()} {op.template} answered {got.status}, not {status}: "
                     f"{got.text[:200]}")
    check_contract(outcome, label, op, got)


def forged_tokens(world: World) -> dict[str, str | None]:
    bloom = world.company["bloom"]
    header, _, signature = tokens.mint(bloom, COMPANY_ROLES).split(".")
    other_payload = tokens.mint(world.company["tulipa"], COMPANY_ROLES).split(".")[1]
    claims = tokens.verify(tokens.mint(bloom, COMPANY_ROLES))
    claims.pop(tokens.COMPANY_CLAIM)
    return {
        "no token": None,
        "tampered token": ".".join([header, other_payload, signature]),
        "expired token": tokens.mint(bloom, COMPANY_ROLES, ttl_seconds=-60),
        "no company claim": jwt.encode(claims, tokens.secret(), algorithm=tokens.ALGORITHM),
        "unsigned token": jwt.encode({**claims, tokens.COMPANY_CLAIM: bloom}, None, algorithm="none"),
    }


def unauthenticated(world: World, op: Operation, outcome: Outcome) -> None:
    for label, token in forged_tokens(world).items():
        client = ApiClient(world.base_url, token, contract=None)
        expect(outcome, f"{label}: {op.method.upper()} {op.path}", op, call(client, op), 401)


def outsiders(world: World, op: Operation, outcome: Outcome) -> None:
    rosa, bloom = world.company["rosaflor"], world.company["bloom"]
    sent = op.path + json.dumps(op.body)
    secrets = {s for s in world.secrets[rosa] | world.secrets[bloom] if s not in sent}
    for label, company in (("another company", world.company["tulipa"]),
                           ("connected, not a party", world.company["petal"])):
        got = call(world.client(company, *COMPANY_ROLES), op)
        where = f"{label}: {op.method.upper()} {op.path} {json.dumps(op.body)[:120]}"
        outcome.cells += 1
        outcome.statuses[f"{label} {got.status}"] += 1
        check_contract(outcome, where, op, got)
        if got.status >= 500:
            outcome.fail(f"{where} answered {got.status}: {got.text[:200]}")
        if 200 <= got.status < 300:
            leaked = sorted(s for s in secrets if s in got.text)
            if leaked:
                outcome.fail(f"{where} answered {got.status} with another company's data {leaked}")
        if op.owner and op.names_a_document and got.status != 404:
            # The document is someone else's: only "not found" may be said about it. A 422 about the caller's
            # own input (its body, checked before the lookup) says nothing about the document, but a 409 or a
            # 422 about the path would.
            details = (got.json() or {}).get("error", {}).get("details") or [] if got.status == 422 else None
            params = set(re.findall(r"{(\w+)}", op.template))
            if details is None or any(str(d.get("field", "")).split(".")[-1] in params for d in details):
                outcome.fail(f"{where} answered {got.status}, not 404: {got.text[:200]}")


def lacking_roles(world: World, op: Operation, outcome: Outcome, roles: list[str]) -> None:
    company = op.owner or world.company["bloom"]
    for role in roles:
        client = world.client(company, *([role] if role else []))
        if not role:  # a token whose groups name no role (defect 5: such tokens read invoices, POs, customers)
            client = ApiClient(world.base_url, tokens.mint(company, []), contract=None)
        expect(outcome, f"{'no roles' if not role else 'role ' + role}: {op.method.upper()} {op.path}",
               op, call(client, op), 403)


def run_matrix(world: World, sample: bool) -> tuple[Outcome, int, float]:
    started = time.monotonic()
    world.fingerprints = world.fingerprint()
    outcome = Outcome()
    ops = operations(world)
    for n, op in enumerate(ops):
        allowed = op.op.get("x-k2k-roles")
        if not allowed:
            outcome.fail(f"{op.method.upper()} {op.template} documents no x-k2k-roles")
            continue
        lacking = [r for r in ALL_ROLES if r not in allowed]
        unauthenticated(world, op, outcome)
        lacking_roles(world, op, outcome, [""] + ([lacking[n % len(lacking)]] if sample and lacking else lacking))
        outsiders(world, op, outcome)
    after = world.fingerprint()
    changed = [name for name in world.fingerprints if world.fingerprints[name] != after[name]]
    if changed:
        outcome.fail(f"refused calls changed what they aimed at: {changed}")
    return outcome, len(ops), time.monotonic() - started


def report(outcome: Outcome, ops: int, seconds: float, size: str) -> None:
    print(f"\ntenant and role matrix ({size}): {ops} operations, {outcome.cells} cells, {seconds:.1f} s, "
          f"{len(outcome.failures)} failures")
    for key, count in sorted(outcome.statuses.items()):
        print(f"  {count:5d}  {key}")
    assert not outcome.failures, "\n".join(outcome.failures[:40])


def test_the_tenant_and_role_wall_holds_for_every_documented_operation(cloud, suffix):
    world = build_world(cloud, suffix)
    outcome, ops, seconds = run_matrix(world, sample=True)
    report(outcome, ops, seconds, "small: every operation, one lacking role each")


@pytest.mark.proof
def test_the_tenant_and_role_wall_holds_for_every_operation_and_every_lacking_role(cloud, suffix):
    world = build_world(cloud, suffix)
    outcome, ops, seconds = run_matrix(world, sample=False)
    report(outcome, ops, seconds, "full: every operation, every lacking role")
