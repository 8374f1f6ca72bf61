"""Companies and K2K connections: models and the rules that need no AWS.

A connection links a vendor company (publishes, fulfils) and a buyer company
(sees the vendor's open market, sells it to its own customers). Its id is
"<vendor>.<buyer>", so a second request for the same pair is a conflict.
"""

from datetime import datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar, Self

from pydantic import Field, field_validator, model_validator

from k2k import pricing
from k2k.bounds import (
    DEFAULT_TIMEZONE,
    Code,
    CompanyId,
    Days,
    Email,
    Emails,
    Input,
    Money,
    Name,
    Percent,
    ShipDays,
    TimerMinutes,
    Timezone,
    Version,
)
from k2k.errors import Conflict, Invalid, NotFound
from k2k.models import Model


class Location(Model):
    code: Code
    name: str = Field(min_length=1, max_length=80)


class LocationIn(Input, Location):
    """A location as a request states it."""


class VendorTerms(Model):
    """What a vendor publishes to one buyer, and on what terms."""

    ship_days_offset: ShipDays = Field(default=1, description="earliest ship date = today + this many days")
    cutoff_time: time | None = Field(default=None, description="orders after this vendor-local time ship a day later")
    min_age_days: Days = 0
    max_age_days: Days = 10
    share_future_sales: bool = False
    connected_locations: list[Code] | None = Field(
        default=None, max_length=100, description="vendor locations published to this buyer; null = all of them")
    markup_pct: Percent = Field(default=Decimal("0"), description="the buyer's price markup on the vendor's price")

    @model_validator(mode="after")
    def _age_window(self) -> Self:
        if self.min_age_days > self.max_age_days:
            raise ValueError("min_age_days must not exceed max_age_days")
        return self


class VendorTermsIn(Input, VendorTerms):
    """Terms as a request states them."""


class BuyerSettings(Model):
    """How a buyer turns a vendor's price into its own landed cost and sale price."""

    k2k_gpm_pct_by_location: dict[Code, Percent] = Field(default_factory=dict, max_length=100)
    default_gpm_pct: Percent = Decimal("25")
    freight_cube_rate: Money | None = Field(default=None, description="inbound freight per cubic foot")
    duties_pct: Percent = Decimal("0")
    handling_per_box: Money = Decimal("0")
    show_k2k_inventory: bool = True
    classify_k2k_sales_as_open_market: bool = False
    automatic_billing_allocation: bool = Field(
        default=False, description="receiving K2K boxes from staging bills them to the prebook's customer")
    cart_timer_minutes: TimerMinutes = 60

    def gpm_for(self, location: str) -> Decimal:
        return self.k2k_gpm_pct_by_location.get(location, self.default_gpm_pct)

    def landed_cost(self, price_to_buyer: Decimal, *, cube: Decimal, units: int) -> Decimal:
        """A unit's landed cost for this buyer: its availability shows it, and a box it receives costs it."""
        return pricing.landed_cost(price_to_buyer, cube=cube, units=units,
                                   cube_rate=self.freight_cube_rate or Decimal(0),
                                   duties_pct=self.duties_pct, handling_per_box=self.handling_per_box)


class BuyerSettingsIn(Input, BuyerSettings):
    """Buyer settings as a request states them."""


class Automations(Model):
    """Setup -> Settings -> K2K Network -> Automations."""

    vendor_invoice_sync: bool = Field(
        default=False, description="Allow automatic invoice synchronization with the buyer company")
    buyer_invoice_upload: bool = Field(
        default=False, description="Allow invoices coming from K2K orders to be automatically uploaded")
    separate_ecommerce_pos: bool = Field(
        default=False, description="Automatically create separate POs for e-commerce purchases")


class AutomationsIn(Input, Automations):
    """Automations as a request states them."""


class CompanySettings(Model):
    """As stored. Addresses and the time zone are checked when a request sets them (CompanySettingsIn),
    not when they are read: an address stored before that check is skipped where mail is sent
    (k2k.notifications), a time zone is read as the default (k2k.pricing.local_now)."""

    vendor_defaults: VendorTerms = Field(default_factory=VendorTerms,
                                         description="terms a new connection starts with")
    buyer: BuyerSettings = Field(default_factory=BuyerSettings)
    automations: Automations = Field(default_factory=Automations)
    notification_emails: list[str] = Field(default_factory=list)
    timezone: str = DEFAULT_TIMEZONE


class CompanySettingsIn(Input, CompanySettings):
    """Settings as a request states them: every address an email address, the time zone an IANA one."""

    vendor_defaults: VendorTermsIn = Field(default_factory=VendorTermsIn,
                                           description="terms a new connection starts with")
    buyer: BuyerSettingsIn = Field(default_factory=BuyerSettingsIn)
    automations: AutomationsIn = Field(default_factory=AutomationsIn)
    notification_emails: Emails = Field(default_factory=list)
    timezone: Timezone = DEFAULT_TIMEZONE


class CompanyFields(Model):
    company_id: CompanyId
    name: Name
    currency: str = Field(default="USD", min_length=3, max_length=3, pattern=r"^[A-Z]{3}$")
    locations: list[Location] = Field(min_length=1, max_length=50)

    @field_validator("locations")
    @classmethod
    def _unique_locations(cls, value: list[Location]) -> list[Location]:
        codes = [loc.code for loc in value]
        if len(set(codes)) != len(codes):
            raise ValueError("location codes must be unique")
        return value


class CompanyIn(Input, CompanyFields):
    # Narrower than the stored list (each location refuses unknown fields); a list is invariant to mypy.
    locations: list[LocationIn] = Field(min_length=1, max_length=50)  # type: ignore[assignment]


class Company(CompanyFields):
    settings: CompanySettings = Field(default_factory=CompanySettings)
    version: int = 1
    created_at: datetime

    @property
    def location_codes(self) -> list[str]:
        return [loc.code for loc in self.locations]

    @property
    def multi_location(self) -> bool:
        return len(self.locations) > 1


class CustomerFields(Model):
    """What the company edits on a customer. Its balance is not among them: it is the ledger's."""

    name: str
    credit_limit: Decimal | None = None
    credit_hold: bool = False
    email: str | None = None
    salesperson_email: str | None = None
    k2k_company_id: str | None = Field(default=None, description="set when the customer is a K2K buyer company")


class CustomerIn(Input, CustomerFields):
    """A customer as a request states it, every value bounded (a record stored before a bound was
    added still reads). A field the server owns (balance, entries) is refused (422)."""

    name: Name
    credit_limit: Money | None = None
    email: Email | None = None
    salesperson_email: Email | None = None
    k2k_company_id: CompanyId | None = Field(default=None, description="set when the customer is a K2K buyer company")

    version: Version | None = Field(default=None, description=(
        "the version you read: required to change an existing customer (409 if it changed since); "
        "leave it out to create one"))


class Customer(CustomerFields):
    code: Code
    balance: Decimal = Field(default=Decimal("0.00"), description=(
        "what the customer owes: the sum of its ledger (read-only; moved only by ledger entries)"))
    entries: int = Field(default=0, description="ledger entries posted so far (the last entry's seq)")
    version: int = Field(default=1, description="changes with every edit of the fields above, not with the ledger")


class VendorFields(Model):
    name: Name
    email: str | None = None
    k2k_company_id: CompanyId | None = Field(default=None, description="set when the vendor is a K2K vendor company")


class VendorIn(Input, VendorFields):
    email: Email | None = None


class Vendor(VendorFields):
    code: Code


class ConnectionStatus(StrEnum):
    REQUESTED = "REQUESTED"
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"


class Side(StrEnum):
    VENDOR = "VENDOR"
    BUYER = "BUYER"


class Parties(Model):
    """The two companies of a K2K connection of either kind (Sales: Connection; Procurement:
    k2k.procurement.ProcurementConnection), and which side a company is on."""

    NOT_FOUND: ClassVar[str] = "connection not found"

    connection_id: str
    vendor_company_id: str
    vendor_name: str
    buyer_company_id: str
    buyer_name: str

    def side_of(self, company_id: str) -> Side:
        if company_id == self.vendor_company_id:
            return Side.VENDOR
        if company_id == self.buyer_company_id:
            return Side.BUYER
        # Not a party: indistinguishable from absent.
        raise NotFound(self.NOT_FOUND)


class Connection(Parties):
    status: ConnectionStatus
    terms: VendorTerms
    buyer_customer_code: str | None = Field(default=None, description="the buyer as the vendor's customer")
    vendor_code: str | None = Field(default=None, description="the vendor as the buyer's vendor")
    suspended_by: Side | None = None
    vendor_timezone: str = Field(default="America/New_York", description="where the vendor's cut-off is read")
    requested_at: datetime
    updated_at: datetime
    version: int = 1

    @property
    def active(self) -> bool:
        return self.status is ConnectionStatus.ACTIVE


def connection_id(vendor_id: str, buyer_id: str) -> str:
    return f"{vendor_id}.{buyer_id}"


def parse_connection_id(value: str) -> tuple[str, str]:
    vendor, sep, buyer = value.partition(".")
    if not sep or not vendor or not buyer:
        raise NotFound("connection not found")
    return vendor, buyer


class SetupGap(Model):
    party: Side
    requirement: str


def linking_gaps(has_customer: bool, has_vendor: bool, vendor_name: str, buyer_name: str) -> list[SetupGap]:
    """What every K2K connection needs (Sales and Procurement): each company has the other, the vendor the buyer
    as a customer and the buyer the vendor as a vendor."""
    gaps = []
    if not has_customer:
        gaps.append(SetupGap(party=Side.VENDOR, requirement=(
            f"{vendor_name} must have {buyer_name} as a customer (a customer with k2k_company_id set)")))
    if not has_vendor:
        gaps.append(SetupGap(party=Side.BUYER, requirement=(
            f"{buyer_name} must have {vendor_name} as a vendor (a vendor with k2k_company_id set)")))
    return gaps


def missing_setup(vendor_customer: Customer | None, buyer_vendor: Vendor | None,
                  buyer_settings: BuyerSettings, vendor_name: str, buyer_name: str) -> list[SetupGap]:
    """What stands between a requested connection and an active one (K2K for Sales setup): the link, and the
    buyer's freight rate (its availability prices K2K stock landed)."""
    gaps = linking_gaps(vendor_customer is not None, buyer_vendor is not None, vendor_name, buyer_name)
    if buyer_settings.freight_cube_rate is None:
        gaps.append(SetupGap(party=Side.BUYER, requirement=(
            f"{buyer_name} must set a freight cube rate (settings.buyer.freight_cube_rate)")))
    return gaps


def accept_request(status: ConnectionStatus, by: Side, gaps: list[SetupGap], what: str = "connection",
                   ) -> ConnectionStatus:
    """A requested connection of either kind becomes active: by its vendor, once nothing is missing."""
    if by is not Side.VENDOR:
        raise Conflict(f"only the vendor company accepts a {what} request")
    if status is not ConnectionStatus.REQUESTED:
        raise Conflict(f"the {what} is {status.value}, not REQUESTED")
    _require_setup(gaps)
    return ConnectionStatus.ACTIVE


def accept(conn: Connection, by: Side, gaps: list[SetupGap]) -> ConnectionStatus:
    return accept_request(conn.status, by, gaps)


def suspend(conn: Connection, by: Side) -> ConnectionStatus:
    if conn.status is not ConnectionStatus.ACTIVE:
        raise Conflict(f"the connection is {conn.status.value}, not ACTIVE")
    return ConnectionStatus.SUSPENDED


def resume(conn: Connection, by: Side, gaps: list[SetupGap]) -> ConnectionStatus:
    if conn.status is not ConnectionStatus.SUSPENDED:
        raise Conflict(f"the connection is {conn.status.value}, not SUSPENDED")
    if conn.suspended_by is not None and conn.suspended_by is not by:
        raise Conflict(f"the connection was suspended by the {conn.suspended_by.value.lower()} company; "
                       "only it can resume")
    _require_setup(gaps)
    return ConnectionStatus.ACTIVE


def _require_setup(gaps: list[SetupGap]) -> None:
    if gaps:
        raise Invalid("the K2K setup is incomplete: " + "; ".join(g.requirement for g in gaps),
                      details=[g.model_dump(mode="json") for g in gaps])
