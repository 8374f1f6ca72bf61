"""Partner events: which company may receive which K2K event, and how a webhook delivery is signed.

Plain rules, no AWS. The forwarder (k2k.services.partners) sends each event on the bus only to the
companies `RECIPIENTS` names for its detail-type, and only to those of their subscriptions that asked
for it. A company that is not a party to an event never receives it, whatever it subscribes to.

The privacy wall (docs/orders.md, "Who sees what"): an event that goes to both parties of a K2K
document carries the document as both may see it — the vendor's order (`VendorOrder`, whose lines
`OrderLine.for_vendor` made), the vendor's invoice, the connection. Events that carry the buyer's
own business (its carts, prebooks, end customers, staging) go to the buyer alone; the vendor's own
stock (costs included) goes to the vendor alone. tests/unit/test_partner_rules.py checks that no
event going to two parties has a buyer-only model in its schema.
"""

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from k2k.bounds import Input, Note
from k2k.models import Model


@dataclass(frozen=True)
class Recipients:
    """Who receives one event type: dotted paths into the event's data that name a company."""

    parties: tuple[str, ...]
    why: str


VENDOR_ONLY = "the vendor's own stock (costs included): its buyers see their availability, not the line"
BUYER_ONLY = "the buyer's own business (carts, prebooks, end customers, staging): never the vendor's"
BOTH = "a K2K document both parties share, in the form both may see"

# detail-type -> the companies that may receive it. An event type not in this table is never forwarded.
RECIPIENTS: dict[str, Recipients] = {
    "InventoryLineChanged": Recipients(("vendor_company_id",), VENDOR_ONLY),
    "InventoryLineRemoved": Recipients(("vendor_company_id",), VENDOR_ONLY),
    "InventoryStockMoved": Recipients(("vendor_company_id",), VENDOR_ONLY),
    "AvailabilityResyncRequested": Recipients(("vendor_company_id",), "the vendor's repair request"),
    "ConnectionChanged": Recipients(("connection.vendor_company_id", "connection.buyer_company_id"), BOTH),
    "CartOpened": Recipients(("buyer_company_id",), BUYER_ONLY),
    "CartCheckedOut": Recipients(("cart.buyer_company_id",), BUYER_ONLY),
    "CartExpired": Recipients(("cart.buyer_company_id",), BUYER_ONLY),
    "PurchaseOrderPlaced": Recipients(("order.vendor_company_id", "order.buyer_company_id"), BOTH),
    "OrderConfirmed": Recipients(("order.vendor_company_id", "order.buyer_company_id"), BOTH),
    "OrderLinesRemoved": Recipients(("order.vendor_company_id", "order.buyer_company_id"), BOTH),
    "StagingReceived": Recipients(("buyer_company_id",), BUYER_ONLY),
    # A standalone PO is the buyer's own document, even to a vendor that uses K2K (it never sees the PO).
    "PurchaseOrderCreated": Recipients(("purchase_order.buyer_company_id",), BUYER_ONLY),
    "PurchaseOrderApproved": Recipients(("purchase_order.buyer_company_id",), BUYER_ONLY),
    "PurchaseOrderConfirmed": Recipients(("purchase_order.buyer_company_id",), BUYER_ONLY),
    "PurchaseOrderReceived": Recipients(("purchase_order.buyer_company_id",), BUYER_ONLY),
    "PurchaseOrderCancelled": Recipients(("purchase_order.buyer_company_id",), BUYER_ONLY),
    "PurchaseOrderAnswered": Recipients(("purchase_order.buyer_company_id",), BUYER_ONLY),
    "PurchaseOrderChanged": Recipients(("purchase_order.buyer_company_id",), BUYER_ONLY),
    # K2K for Procurement: the connection is both parties'; the vendor's answer names the buyer's PO and
    # the vendor's prebook, and carries only what both agreed on (quantities, the buyer's own prices).
    "ProcurementConnectionChanged": Recipients(("connection.vendor_company_id", "connection.buyer_company_id"),
                                               BOTH),
    "PrebookAnswered": Recipients(("vendor_company_id", "buyer_company_id"), BOTH),
    "PrebookShipped": Recipients(("vendor_company_id", "buyer_company_id"), BOTH),
    # Changes after transfer: what reached the vendor's prebook, and requests and their answers (quantities only).
    "PrebookChanged": Recipients(("vendor_company_id", "buyer_company_id"), BOTH),
    "PurchaseOrderChangeRequested": Recipients(("vendor_company_id", "buyer_company_id"), BOTH),
    "PrebookChangeAnswered": Recipients(("vendor_company_id", "buyer_company_id"), BOTH),
    "InvoiceIssued": Recipients(("invoice.vendor_company_id", "invoice.buyer_company_id"), BOTH),
    "InvoiceUpdated": Recipients(("invoice.vendor_company_id", "invoice.buyer_company_id"), BOTH),
    "InvoiceVoided": Recipients(("invoice.vendor_company_id", "invoice.buyer_company_id"), BOTH),
    "VendorInvoiceApproved": Recipients(("buyer_company_id",), "the buyer's own accounting step"),
    "ImportCompleted": Recipients(("company_id",), "the importing company's own job"),
}
# Machinery, not business: the cart timer's own alarm clock.
INTERNAL = frozenset({"CartTimerElapsed"})


def recipients(detail_type: str, data: dict[str, Any]) -> set[str]:
    """The companies that may receive this event (empty for internal or unknown types)."""
    rule = RECIPIENTS.get(detail_type)
    if rule is None:
        return set()
    out = set()
    for path in rule.parties:
        value: Any = data
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and value:
            out.add(value)
    return out


# -- subscriptions ----------------------------------------------------------------------------------

class Target(StrEnum):
    WEBHOOK = "webhook"  # an HTTPS endpoint of the company's, signed deliveries
    AWS_ACCOUNT = "aws_account"  # an EventBridge partner event source in the company's AWS account


DetailType = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z]+$")]
AwsAccountId = Annotated[str, Field(min_length=12, max_length=12, pattern=r"^\d{12}$",
                                    description="the 12 digits of an AWS account")]
Url = Annotated[str, Field(min_length=9, max_length=2048, description="an HTTPS URL")]
MAX_SUBSCRIPTIONS = 10  # per company


class SubscriptionIn(Input):
    """Where a company's events go, and which ones (by detail-type)."""

    target: Target
    url: Url | None = Field(default=None, description="for a webhook: the HTTPS endpoint")
    aws_account_id: AwsAccountId | None = Field(default=None, description="for aws_account: the company's account")
    detail_types: list[DetailType] = Field(min_length=1, max_length=len(RECIPIENTS))
    description: Note | None = None

    @model_validator(mode="after")
    def _where(self) -> Self:
        if self.target is Target.WEBHOOK and (self.url is None or self.aws_account_id is not None):
            raise ValueError("a webhook takes a url (and no aws_account_id)")
        if self.target is Target.AWS_ACCOUNT and (self.aws_account_id is None or self.url is not None):
            raise ValueError("an aws_account subscription takes an aws_account_id (and no url)")
        return self


class Subscription(Model):
    subscription_id: str
    company_id: str
    target: Target
    url: str | None = None
    aws_account_id: str | None = None
    event_source_name: str | None = Field(default=None, description="aws.partner/<partner>/<stage>/<company>")
    detail_types: list[str]
    description: str | None = None
    created_at: datetime
    created_by: str


class SubscriptionCreated(Subscription):
    signing_secret: str | None = Field(default=None, description="webhooks: shown once, here; sign-checks deliveries")


def unknown_detail_types(wanted: list[str]) -> list[str]:
    return [t for t in wanted if t not in RECIPIENTS]


def event_source_name(prefix: str, company_id: str) -> str:
    """`aws.partner/<our partner name>/<stage>` + `/<company_id>`: one source per company and account."""
    return f"{prefix.rstrip('/')}/{company_id}"


def url_problem(url: str, allow_loopback_http: bool = False) -> str | None:
    """Why a webhook URL is refused, or None. HTTPS to a public host only; the local cloud may allow
    plain HTTP to this machine (a test's receiver)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        return "must be an absolute URL (https://host/path)"
    if parts.username or parts.password:
        return "must not carry credentials"
    loopback = _is_loopback(host)
    if parts.scheme == "http" and loopback and allow_loopback_http:
        return None
    if parts.scheme != "https":
        return "must be https"
    if loopback or _is_private(host):
        return "must be a public host"
    return None


def resolved_problem(host: str, addresses: list[str], allow_loopback_http: bool = False) -> str | None:
    """Why a host NAME is refused once resolved, or None: a public name pointing at a private,
    loopback or link-local address (the instance metadata service, an internal system) is refused
    like the literal address would be. The local cloud may resolve to this machine."""
    if not addresses:
        return f"{host} does not resolve"
    refused = sorted(a for a in addresses
                     if (not allow_loopback_http or not _is_loopback(a)) and (_is_loopback(a) or _is_private(a)))
    return f"must be a public host ({host} resolves to {refused[0]})" if refused else None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_private(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host.endswith((".internal", ".local"))
    return address.is_private or address.is_link_local or address.is_reserved or address.is_multicast


# -- webhook signatures -----------------------------------------------------------------------------

SIGNATURE_HEADER = "K2K-Signature"
TIMESTAMP_HEADER = "K2K-Timestamp"
EVENT_ID_HEADER = "K2K-Event-Id"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`v1=` + hex HMAC-SHA256 over `<timestamp>.<body>`: the timestamp is signed, so it cannot be moved."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


# -- retries ----------------------------------------------------------------------------------------

MAX_ATTEMPTS = 5  # a delivery that fails this many times is parked for the company to redrive


def retry_delay(attempt: int) -> int:
    """Seconds before attempt `attempt + 1`: 30 s, 1, 2, 4 min... at most SQS's 12 h visibility."""
    return int(min(30 * 2 ** max(attempt - 1, 0), 12 * 3600))
