"""Who may call what: every API route, read or write, and the roles that may call it.

One table (`ROUTES`), keyed by the method and API Gateway resource path the
template routes, enforced in one place (`k2k.api.handle`, before the request
is validated or any handler runs), documented in the OpenAPI document
(`x-k2k-roles`, by infra/openapi.py) and checked against template.yaml by
tests/unit/test_access.py: a route without a row fails the suite, and at run
time a route without a row is refused.

The role groups come from the product's role lists (DOMAIN.md and the seeds).
What a role may do *inside* a route stays with the domain rule that decides it
(which reconciliation step a role may take: k2k.invoices.TRANSITIONS; which
party of a connection may set its terms: k2k.services.network).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from k2k.auth import ALL_COMPANY_ROLES, Caller, Role, caller_from_claims
from k2k.errors import Forbidden

Roles = frozenset[Role]

ADMIN = Role.ADMIN
# Connections and settings: Admin, Setup.
SETUP_ROLES: Roles = frozenset({ADMIN, Role.SETUP})
# Creating and modifying POs (and POs with K2K products): Admin, Procurement Manager, Procurement User, Sales Manager.
PO_ROLES: Roles = frozenset({ADMIN, Role.PROCUREMENT_MANAGER, Role.PROCUREMENT_USER, Role.SALES_MANAGER})
# Approving a standalone PO (the seeds are silent): the procurement manager and the admin, not who buys.
PO_APPROVER_ROLES: Roles = frozenset({ADMIN, Role.PROCUREMENT_MANAGER})
# Selling K2K products through e-commerce: Accounts Receivable, Admin, Credit Manager, Sales Manager, Setup.
ECOMMERCE_ROLES: Roles = frozenset({Role.ACCOUNTS_RECEIVABLE, ADMIN, Role.CREDIT_MANAGER, Role.SALES_MANAGER,
                                    Role.SETUP})
# Selling K2K products through prebooks: the salespeople.
PREBOOK_ROLES: Roles = frozenset({ADMIN, Role.SALES_MANAGER, Role.SALESPERSON})
# The vendor's side of a K2K order (confirm, void, delete lines): its sellers.
VENDOR_ORDER_ROLES: Roles = PREBOOK_ROLES
# Receiving boxes from staging, and the buyer's procurement step of PO reconciliation.
PROCUREMENT_ROLES: Roles = frozenset({ADMIN, Role.PROCUREMENT_MANAGER, Role.PROCUREMENT_USER})
# Accounting: approves vendor invoices (AA -> A), pays, sends back.
ACCOUNTING_ROLES: Roles = frozenset({ADMIN, Role.ACCOUNTS_RECEIVABLE, Role.CREDIT_MANAGER})
# The vendor's invoices: Admin and Accounts Receivable change them; accounting and the sales manager read them.
VENDOR_INVOICE_ROLES: Roles = frozenset({ADMIN, Role.ACCOUNTS_RECEIVABLE})
# A company's receivables (its invoices to customers, imported open invoices, the vendor's K2K invoices):
# accounting and the sales manager.
RECEIVABLES_ROLES: Roles = ACCOUNTING_ROLES | {Role.SALES_MANAGER}
# Posting to a customer's ledger (payments, adjustments, voids): Admin and Accounts Receivable.
LEDGER_WRITERS: Roles = frozenset({ADMIN, Role.ACCOUNTS_RECEIVABLE})
# Raising a customer invoice by hand (seed 003's transfer invoice): also the sales manager.
HAND_INVOICE_ROLES: Roles = LEDGER_WRITERS | {Role.SALES_MANAGER}
# The vendor's own inventory lines (costs included): who keeps stock, and the sales manager reads them.
INVENTORY_ROLES: Roles = frozenset({ADMIN, Role.SETUP, Role.PROCUREMENT_MANAGER, Role.PROCUREMENT_USER})
# Customers (codes, emails, credit): set up by Admin, Setup, Sales Manager, Credit Manager; read by who sells or bills.
CUSTOMER_ROLES: Roles = frozenset({ADMIN, Role.SETUP, Role.SALES_MANAGER, Role.CREDIT_MANAGER})
CUSTOMER_READERS: Roles = CUSTOMER_ROLES | {Role.SALESPERSON, Role.ACCOUNTS_RECEIVABLE}
# Vendors: set up by Admin, Setup, Procurement Manager; read by who buys.
VENDOR_ROLES: Roles = frozenset({ADMIN, Role.SETUP, Role.PROCUREMENT_MANAGER})
VENDOR_READERS: Roles = VENDOR_ROLES | PO_ROLES
# The products catalogue: kept like the vendors; read by who stocks, buys or sells.
PRODUCT_ROLES: Roles = VENDOR_ROLES
PRODUCT_READERS: Roles = INVENTORY_ROLES | PO_ROLES | frozenset({Role.SALES_MANAGER, Role.SALESPERSON})
# Data import: Admin only.
IMPORT_ROLES: Roles = frozenset({ADMIN})
OPERATOR_ROLES: Roles = frozenset({Role.OPERATOR})

# (method, API Gateway resource path) -> the roles that may call it.
ROUTES: Mapping[tuple[str, str], Roles] = {
    # -- network
    ("POST", "/operator/companies"): OPERATOR_ROLES,
    ("GET", "/company"): ALL_COMPANY_ROLES,  # the caller's own company and settings: every user works with them
    ("PUT", "/company/settings"): SETUP_ROLES,
    # -- customer accounts (the receivables ledger: writes by Admin and Accounts Receivable)
    ("GET", "/customers"): CUSTOMER_READERS,
    ("GET", "/customers/{customer_code}"): CUSTOMER_READERS,
    ("PUT", "/customers/{customer_code}"): CUSTOMER_ROLES,
    ("GET", "/customers/{customer_code}/statement"): RECEIVABLES_ROLES,
    ("POST", "/customers/{customer_code}/payments"): LEDGER_WRITERS,
    ("POST", "/customers/{customer_code}/adjustments"): LEDGER_WRITERS,
    ("GET", "/customer-invoices"): RECEIVABLES_ROLES,
    ("POST", "/customer-invoices"): HAND_INVOICE_ROLES,
    ("GET", "/customer-invoices/{invoice_id}"): RECEIVABLES_ROLES,
    ("POST", "/customer-invoices/{invoice_id}/void"): LEDGER_WRITERS,
    ("GET", "/vendors"): VENDOR_READERS,
    ("PUT", "/vendors/{vendor_code}"): VENDOR_ROLES,
    ("GET", "/connections"): SETUP_ROLES,
    ("POST", "/connections"): SETUP_ROLES,
    ("GET", "/connections/{connection_id}"): SETUP_ROLES,
    ("PUT", "/connections/{connection_id}/terms"): SETUP_ROLES,
    ("POST", "/connections/{connection_id}/accept"): SETUP_ROLES,
    ("POST", "/connections/{connection_id}/suspend"): SETUP_ROLES,
    ("POST", "/connections/{connection_id}/resume"): SETUP_ROLES,
    ("GET", "/procurement-connections"): SETUP_ROLES,
    ("POST", "/procurement-connections"): SETUP_ROLES,
    ("GET", "/procurement-connections/{connection_id}"): SETUP_ROLES,
    ("POST", "/procurement-connections/{connection_id}/accept"): SETUP_ROLES,
    # -- inventory and availability
    ("GET", "/products"): PRODUCT_READERS,
    ("GET", "/products/{product_code}"): PRODUCT_READERS,
    ("PUT", "/products/{product_code}"): PRODUCT_ROLES,
    ("GET", "/inventory"): INVENTORY_ROLES | {Role.SALES_MANAGER},
    ("POST", "/inventory"): INVENTORY_ROLES,
    ("GET", "/inventory/{line_id}"): INVENTORY_ROLES | {Role.SALES_MANAGER},
    ("PATCH", "/inventory/{line_id}"): INVENTORY_ROLES,
    ("DELETE", "/inventory/{line_id}"): INVENTORY_ROLES,
    ("POST", "/inventory/resync"): SETUP_ROLES,
    # Whoever sells or buys K2K products looks at the availability: e-commerce, prebooks, POs.
    ("GET", "/availability"): ECOMMERCE_ROLES | PREBOOK_ROLES | PO_ROLES,
    # -- the buyer's orders
    ("POST", "/carts"): ECOMMERCE_ROLES,
    ("POST", "/carts/{cart_id}/lines"): ECOMMERCE_ROLES,
    ("GET", "/carts/{cart_id}"): ECOMMERCE_ROLES,
    ("POST", "/carts/{cart_id}/checkout"): ECOMMERCE_ROLES,
    ("POST", "/prebooks"): PREBOOK_ROLES,
    ("GET", "/prebooks"): PREBOOK_ROLES | PO_ROLES,
    ("GET", "/prebooks/{prebook_id}"): PREBOOK_ROLES | PO_ROLES,
    ("POST", "/prebooks/{prebook_id}/purchase-orders"): PO_ROLES,
    # K2K for Procurement: the vendor answers its customer's PO as it answers a K2K order - its sellers.
    ("POST", "/prebooks/{prebook_id}/confirm"): VENDOR_ORDER_ROLES,
    ("POST", "/prebooks/{prebook_id}/ship"): VENDOR_ORDER_ROLES,
    ("POST", "/prebooks/{prebook_id}/change-request"): VENDOR_ORDER_ROLES,  # the vendor's sellers answer it
    ("POST", "/purchase-orders"): PO_ROLES,  # a PO with K2K products (seed 000's roles), or a standalone PO
    ("GET", "/purchase-orders"): PO_ROLES,
    ("GET", "/purchase-orders/{po_id}"): PO_ROLES,
    ("POST", "/purchase-orders/{po_id}/approve"): PO_APPROVER_ROLES,
    ("POST", "/purchase-orders/{po_id}/cancel"): PO_ROLES,  # creating and modifying POs
    ("POST", "/purchase-orders/{po_id}/change"): PO_ROLES,
    # A standalone PO's goods arrived (into staging): who receives boxes from staging.
    ("POST", "/purchase-orders/{po_id}/confirm"): PROCUREMENT_ROLES,
    ("PATCH", "/purchase-orders/{po_id}/lines/{line_no}"): PO_ROLES,
    ("GET", "/staging"): PROCUREMENT_ROLES,
    ("POST", "/staging/receive"): PROCUREMENT_ROLES,
    # -- the vendor's orders
    ("GET", "/orders"): VENDOR_ORDER_ROLES,
    ("GET", "/orders/{order_id}"): VENDOR_ORDER_ROLES,
    ("POST", "/orders/{order_id}/confirm"): VENDOR_ORDER_ROLES,
    ("POST", "/orders/{order_id}/void"): VENDOR_ORDER_ROLES,
    ("DELETE", "/orders/{order_id}/lines/{line_no}"): VENDOR_ORDER_ROLES,
    # -- the vendor's invoices
    ("GET", "/invoices"): RECEIVABLES_ROLES,
    ("GET", "/invoices/{invoice_no}"): RECEIVABLES_ROLES,
    ("PUT", "/invoices/{invoice_no}"): VENDOR_INVOICE_ROLES,
    ("POST", "/invoices/{invoice_no}/void"): VENDOR_INVOICE_ROLES,
    ("GET", "/invoices/{invoice_no}/pdf"): RECEIVABLES_ROLES,
    # -- the buyer's PO reconciliation (which step a role may take: k2k.invoices.TRANSITIONS)
    ("GET", "/reconciliation"): PROCUREMENT_ROLES | ACCOUNTING_ROLES,
    ("GET", "/reconciliation/{po_id}"): PROCUREMENT_ROLES | ACCOUNTING_ROLES,
    ("GET", "/reconciliation/{po_id}/pdf"): PROCUREMENT_ROLES | ACCOUNTING_ROLES,
    ("POST", "/reconciliation/{po_id}/approve"): PROCUREMENT_ROLES | ACCOUNTING_ROLES,
    ("POST", "/reconciliation/{po_id}/send-back"): ACCOUNTING_ROLES,
    ("POST", "/reconciliation/{po_id}/paid"): ACCOUNTING_ROLES,
    ("POST", "/reconciliation/{po_id}/vendor-invoice"): PROCUREMENT_ROLES,
    # -- data import
    ("POST", "/imports"): IMPORT_ROLES,
    ("GET", "/imports"): IMPORT_ROLES,
    ("GET", "/imports/{job_id}"): IMPORT_ROLES,
    ("GET", "/imports/templates/{import_type}"): IMPORT_ROLES,
    ("GET", "/open-invoices"): RECEIVABLES_ROLES,
    # Pending boxes (Inventory in Boxes imported without confirm): confirmed from Data Import or Add Inventory
    # (seed 004), so by who keeps stock.
    ("GET", "/pending-boxes"): INVENTORY_ROLES,
    ("POST", "/pending-boxes/confirm"): INVENTORY_ROLES,
    ("POST", "/pending-boxes/discard"): INVENTORY_ROLES,
    # -- partner events: where a company's events go is a K2K setting (Admin, Setup); docs/integrate.md
    ("POST", "/integrations/subscriptions"): SETUP_ROLES,
    ("GET", "/integrations/subscriptions"): SETUP_ROLES,
    ("GET", "/integrations/subscriptions/{subscription_id}"): SETUP_ROLES,
    ("DELETE", "/integrations/subscriptions/{subscription_id}"): SETUP_ROLES,
    ("GET", "/integrations/failed-deliveries"): SETUP_ROLES,
    ("POST", "/integrations/failed-deliveries/{delivery_id}/redrive"): SETUP_ROLES,
    ("GET", "/integrations/event-types"): SETUP_ROLES,
    ("GET", "/integrations/event-types/{detail_type}"): SETUP_ROLES,
    # A vendor's own system keeping its K2K stock: who keeps stock.
    ("POST", "/integrations/inventory"): INVENTORY_ROLES,
}


def roles_for(method: str, resource: str) -> Roles | None:
    """The roles that may call a route, or None when the table has no row for it."""
    return ROUTES.get((method.upper(), resource))


def authorize(method: str, resource: str, caller: Caller) -> None:
    """Forbidden unless one of the caller's roles may call this route; a route with no row is refused."""
    allowed = roles_for(method, resource)
    if allowed is None:
        raise Forbidden(f"{method.upper()} {resource} names no roles in k2k.access.ROUTES")
    caller.require(allowed)


def check_request(event: Mapping[str, Any]) -> Caller:
    """The verified caller of an API Gateway proxy event, if its route allows one of its roles.

    Unauthorized (401) without a verified identity or a company; Forbidden (403) for the roles.
    """
    context = event.get("requestContext") or {}
    claims = (context.get("authorizer") or {}).get("claims")
    caller = caller_from_claims(claims)
    authorize(str(event.get("httpMethod") or ""), str(event.get("resource") or ""), caller)
    return caller
