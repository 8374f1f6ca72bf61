"""Companies, vendors, K2K connections and settings (Admin and Setup). Customers: functions/accounts."""

from __future__ import annotations

import gc

gc.disable()  # no collection during init: what it builds lives as long as the process (frozen below)

from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from k2k import lazy
from k2k.api import CodePath, ConnectionIdPath, Limit, NextToken, caller, create_resolver, handle
from k2k.bounds import PAGE_SIZE
from k2k.config import Settings
from k2k.observability import logger
from k2k.paging import Page
from k2k.router import Body
from k2k.store import Store

if TYPE_CHECKING:
    from k2k import network, procurement
    from k2k.services import network as svc
    from k2k.services import procurement as procurement_svc
else:  # each route's service and the domain it is made of: at the route's first request (k2k.lazy)
    network = lazy.module("k2k.network")
    procurement = lazy.module("k2k.procurement")
    svc = lazy.module("k2k.services.network")
    procurement_svc = lazy.module("k2k.services.procurement")  # it loads POs and prebooks: its routes only

app = create_resolver()


def _db() -> Store:
    return Store(Settings.from_env().table_name)


@app.post("/operator/companies", status_code=201, summary="Bootstrap a company (platform operator)")
def create_company(body: network.CompanyIn) -> network.Company:
    return svc.create_company(_db(), caller(app), body)


@app.get("/company", summary="The caller's company and its settings")
def get_company() -> network.Company:
    return svc.get_company(_db(), caller(app).company_id)


@app.put("/company/settings", summary="Change K2K settings and automations (Admin, Setup)")
def update_settings(body: svc.SettingsChange) -> network.Company:
    return svc.update_settings(_db(), caller(app), body.settings, body.version)


@app.get("/vendors", summary="The company's vendors")
def list_vendors(limit: Limit = PAGE_SIZE, next_token: NextToken = None) -> Page[network.Vendor]:
    return svc.list_vendors(_db(), caller(app), limit, next_token)


@app.put("/vendors/<vendor_code>", summary="Create or change a vendor")
def put_vendor(vendor_code: CodePath, body: Annotated[network.VendorIn, Body()]) -> network.Vendor:
    return svc.put_vendor(_db(), caller(app), vendor_code, body)


@app.get("/connections", summary="K2K connections where the company is vendor or buyer")
def list_connections(limit: Limit = PAGE_SIZE, next_token: NextToken = None) -> Page[network.Connection]:
    return svc.list_connections(_db(), caller(app), limit, next_token)


@app.post("/connections", status_code=201, summary="A buyer requests a connection to a vendor (Admin, Setup)")
def request_connection(body: svc.ConnectionRequest) -> network.Connection:
    return svc.request_connection(_db(), caller(app), body.vendor_company_id)


@app.get("/connections/<connection_id>", summary="One connection (either party)")
def get_connection(connection_id: ConnectionIdPath) -> network.Connection:
    return svc.get_connection(_db(), caller(app), connection_id)


@app.put("/connections/<connection_id>/terms", summary="The vendor sets what it publishes to this buyer")
def update_terms(connection_id: ConnectionIdPath, body: svc.TermsChange) -> network.Connection:
    return svc.update_terms(_db(), caller(app), connection_id, body.terms, body.version)


@app.post("/connections/<connection_id>/accept", summary="The vendor accepts; the K2K setup is checked")
def accept_connection(connection_id: ConnectionIdPath) -> network.Connection:
    return svc.accept_connection(_db(), caller(app), connection_id)


@app.post("/connections/<connection_id>/suspend", summary="Either party suspends the connection")
def suspend_connection(connection_id: ConnectionIdPath) -> network.Connection:
    return svc.suspend_connection(_db(), caller(app), connection_id)


@app.post("/connections/<connection_id>/resume", summary="The party that suspended resumes")
def resume_connection(connection_id: ConnectionIdPath) -> network.Connection:
    return svc.resume_connection(_db(), caller(app), connection_id)


@app.get("/procurement-connections", summary="K2K for Procurement connections where the company is vendor or buyer")
def list_procurement_connections(limit: Limit = PAGE_SIZE,
                                 next_token: NextToken = None) -> Page[procurement.ProcurementConnection]:
    return procurement_svc.list_connections(_db(), caller(app), limit, next_token)


@app.post("/procurement-connections", status_code=201,
          summary="A buyer asks a vendor to take its POs as prebooks (K2K for Procurement), with its settings")
def request_procurement_connection(body: procurement_svc.ProcurementRequest) -> procurement.ProcurementConnection:
    return procurement_svc.request_connection(_db(), caller(app), body.vendor_company_id, body.settings)


@app.get("/procurement-connections/<connection_id>", summary="One procurement connection (either party)")
def get_procurement_connection(connection_id: ConnectionIdPath) -> procurement.ProcurementConnection:
    return procurement_svc.get_connection(_db(), caller(app), connection_id)


@app.post("/procurement-connections/<connection_id>/accept",
          summary="The vendor accepts a procurement connection; each must have the other as customer / vendor")
def accept_procurement_connection(connection_id: ConnectionIdPath) -> procurement.ProcurementConnection:
    return procurement_svc.accept_connection(_db(), caller(app), connection_id)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(app, event, context)


gc.freeze()  # init's objects stay for the process: later collections need not scan them
gc.enable()
