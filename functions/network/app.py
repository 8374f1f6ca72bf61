"""Companies, vendors, K2K connections and settings (Admin and Setup). Customers: functions/accounts."""

from __future__ import annotations

import gc

gc.disable()  # no collection during init: what it builds lives as long as the process (frozen below)

from types import ModuleType
from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from k2k.api import CodePath, ConnectionIdPath, Limit, NextToken, caller, create_resolver, handle
from k2k.bounds import PAGE_SIZE, Input, Version
from k2k.config import Settings
from k2k.network import (
    Company,
    CompanyId,
    CompanyIn,
    CompanySettingsIn,
    Connection,
    Vendor,
    VendorIn,
    VendorTermsIn,
)
from k2k.observability import logger
from k2k.paging import Page
from k2k.procurement import ProcurementConnection, ProcurementSettingsIn
from k2k.router import Body
from k2k.services import network as svc
from k2k.store import Store

app = create_resolver()


def _db() -> Store:
    return Store(Settings.from_env().table_name)


class SettingsChange(Input):
    settings: CompanySettingsIn
    version: Version | None = None


class ConnectionRequest(Input):
    vendor_company_id: CompanyId


class TermsChange(Input):
    terms: VendorTermsIn
    version: Version | None = None




@app.post("/operator/companies", status_code=201, summary="Bootstrap a company (platform operator)")
def create_company(body: CompanyIn) -> Company:
    return svc.create_company(_db(), caller(app), body)


@app.get("/company", summary="The caller's company and its settings")
def get_company() -> Company:
    return svc.get_company(_db(), caller(app).company_id)


@app.put("/company/settings", summary="Change K2K settings and automations (Admin, Setup)")
def update_settings(body: SettingsChange) -> Company:
    return svc.update_settings(_db(), caller(app), body.settings, body.version)


@app.get("/vendors", summary="The company's vendors")
def list_vendors(limit: Limit = PAGE_SIZE, next_token: NextToken = None) -> Page[Vendor]:
    return svc.list_vendors(_db(), caller(app), limit, next_token)


@app.put("/vendors/<vendor_code>", summary="Create or change a vendor")
def put_vendor(vendor_code: CodePath, body: Annotated[VendorIn, Body()]) -> Vendor:
    return svc.put_vendor(_db(), caller(app), vendor_code, body)


@app.get("/connections", summary="K2K connections where the company is vendor or buyer")
def list_connections(limit: Limit = PAGE_SIZE, next_token: NextToken = None) -> Page[Connection]:
    return svc.list_connections(_db(), caller(app), limit, next_token)


@app.post("/connections", status_code=201, summary="A buyer requests a connection to a vendor (Admin, Setup)")
def request_connection(body: ConnectionRequest) -> Connection:
    return svc.request_connection(_db(), caller(app), body.vendor_company_id)


@app.get("/connections/<connection_id>", summary="One connection (either party)")
def get_connection(connection_id: ConnectionIdPath) -> Connection:
    return svc.get_connection(_db(), caller(app), connection_id)


@app.put("/connections/<connection_id>/terms", summary="The vendor sets what it publishes to this buyer")
def update_terms(connection_id: ConnectionIdPath, body: TermsChange) -> Connection:
    return svc.update_terms(_db(), caller(app), connection_id, body.terms, body.version)


@app.post("/connections/<connection_id>/accept", summary="The vendor accepts; the K2K setup is checked")
def accept_connection(connection_id: ConnectionIdPath) -> Connection:
    return svc.accept_connection(_db(), caller(app), connection_id)


@app.post("/connections/<connection_id>/suspend", summary="Either party suspends the connection")
def suspend_connection(connection_id: ConnectionIdPath) -> Connection:
    return svc.suspend_connection(_db(), caller(app), connection_id)


@app.post("/connections/<connection_id>/resume", summary="The party that suspended resumes")
def resume_connection(connection_id: ConnectionIdPath) -> Connection:
    return svc.resume_connection(_db(), caller(app), connection_id)


def _procurement() -> ModuleType:
    """The procurement service loads POs and prebooks: imported by its routes only, off this function's init."""
    from k2k.services import procurement

    return procurement


class ProcurementRequest(Input):
    vendor_company_id: CompanyId
    settings: ProcurementSettingsIn = Field(default_factory=ProcurementSettingsIn)


@app.get("/procurement-connections", summary="K2K for Procurement connections where the company is vendor or buyer")
def list_procurement_connections(limit: Limit = PAGE_SIZE,
                                 next_token: NextToken = None) -> Page[ProcurementConnection]:
    return _procurement().list_connections(_db(), caller(app), limit, next_token)


@app.post("/procurement-connections", status_code=201,
          summary="A buyer asks a vendor to take its POs as prebooks (K2K for Procurement), with its settings")
def request_procurement_connection(body: ProcurementRequest) -> ProcurementConnection:
    return _procurement().request_connection(_db(), caller(app), body.vendor_company_id, body.settings)


@app.get("/procurement-connections/<connection_id>", summary="One procurement connection (either party)")
def get_procurement_connection(connection_id: ConnectionIdPath) -> ProcurementConnection:
    return _procurement().get_connection(_db(), caller(app), connection_id)


@app.post("/procurement-connections/<connection_id>/accept",
          summary="The vendor accepts a procurement connection; each must have the other as customer / vendor")
def accept_procurement_connection(connection_id: ConnectionIdPath) -> ProcurementConnection:
    return _procurement().accept_connection(_db(), caller(app), connection_id)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(app, event, context)


gc.freeze()  # init's objects stay for the process: later collections need not scan them
gc.enable()
