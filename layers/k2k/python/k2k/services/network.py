"""Companies, vendors and K2K connections on the store. Customers are k2k.services.accounts'."""

from collections.abc import Callable
from datetime import datetime

from k2k import clock, keys, network, paging, store
from k2k.auth import Caller
from k2k.bounds import Input, Version
from k2k.errors import Conflict, Invalid, NotFound
from k2k.events import event_type, new_event, outbox
from k2k.models import Model
from k2k.network import (
    Company,
    CompanyId,
    CompanyIn,
    CompanySettings,
    CompanySettingsIn,
    Connection,
    ConnectionStatus,
    Side,
    Vendor,
    VendorIn,
    VendorTerms,
    VendorTermsIn,
)
from k2k.paging import Page
from k2k.store import ConditionFailed, LostRace, Reads, Store, plain, retrying, to_item


@event_type("k2k.network", "ConnectionChanged")
class ConnectionChanged(Model):
    """A K2K connection was requested, activated, suspended, resumed or its terms changed."""

    connection: Connection
    change: str


# -- what the network API reads beyond the domain's own models --------------------------------------

class SettingsChange(Input):
    settings: CompanySettingsIn
    version: Version | None = None


class ConnectionRequest(Input):
    vendor_company_id: CompanyId


class TermsChange(Input):
    terms: VendorTermsIn
    version: Version | None = None


def _now() -> datetime:
    return clock.now()


# -- companies ----------------------------------------------------------------------------------

def create_company(db: Store, caller: Caller, body: CompanyIn) -> Company:
    company = Company(**body.model_dump(), created_at=_now())
    try:
        db.put(to_item(company, pk=keys.company_pk(company.company_id), sk=keys.COMPANY_SK, kind="COMPANY"),
               condition="attribute_not_exists(pk)")
    except ConditionFailed as e:
        raise Conflict(f"company {company.company_id} already exists") from e
    return company


def get_company(db: Store, company_id: str) -> Company:
    item = db.get(keys.company_pk(company_id), keys.COMPANY_SK)
    if item is None:
        raise NotFound("company not found")
    return Company.model_validate(plain(item))


def read_company(reads: Reads, company_id: str) -> Callable[[], Company]:
    """The company, read with others in one batch (store.Reads): NotFound when it is not there."""
    found = reads.want({"pk": keys.company_pk(company_id), "sk": keys.COMPANY_SK})

    def company() -> Company:
        item = found()
        if item is None:
            raise NotFound("company not found")
        return Company.model_validate(plain(item))

    return company


def update_settings(db: Store, caller: Caller, settings: CompanySettings, version: int | None) -> Company:
    current = get_company(db, caller.company_id)
    if version is not None and version != current.version:
        raise Conflict(f"the settings changed meanwhile (version {current.version}, not {version})")
    updated = current.model_copy(update={"settings": settings, "version": current.version + 1})
    try:
        db.put(to_item(updated, pk=keys.company_pk(updated.company_id), sk=keys.COMPANY_SK, kind="COMPANY"),
               condition="version = :v", values={":v": current.version})
    except ConditionFailed as e:
        raise Conflict("the settings changed meanwhile; read them again") from e
    return updated


# -- vendors ------------------------------------------------------------------------------------

def link_ops(pk: str, link_sk: Callable[[str, str], str], code: str, was: str | None,
             now: str | None) -> list[store.Op]:
    """A customer's or vendor's k2k_company_id moves from `was` to `now`: its link items follow, in the
    record's own transaction (keys.customer_link_sk / vendor_link_sk)."""
    if was == now:
        return []
    ops = [store.delete({"pk": pk, "sk": link_sk(was, code)})] if was else []
    if now:
        ops.append(store.put({"pk": pk, "sk": link_sk(now, code), "kind": "LINK", "code": code}))
    return ops


def put_vendor(db: Store, caller: Caller, code: str, body: VendorIn) -> Vendor:
    """Create or replace a vendor, and its link to the K2K company it is (if any), conditional on the link
    read: two writers racing cannot leave a link to a company the vendor no longer names."""
    vendor = Vendor(code=code, **body.model_dump())
    pk = keys.company_pk(caller.company_id)

    def attempt() -> Vendor:
        before = get_vendor(db, caller.company_id, code)
        was = before.k2k_company_id if before else None
        if before is None:
            condition, values = "attribute_not_exists(pk)", None
        elif was is None:
            condition, values = "attribute_exists(pk) AND attribute_not_exists(k2k_company_id)", None
        else:
            condition, values = "k2k_company_id = :was", {":was": was}
        try:
            db.transact([store.put(to_item(vendor, pk=pk, sk=keys.vendor_sk(code), kind="VENDOR"), condition, values),
                         *link_ops(pk, keys.vendor_link_sk, code, was, vendor.k2k_company_id)])
        except ConditionFailed as e:
            raise LostRace from e
        return vendor

    return retrying(attempt, f"vendor {code}")


def list_vendors(db: Store, caller: Caller, limit: int, token: str | None) -> "Page[Vendor]":
    items, next_token = paging.read(db, caller.company_id, keys.company_pk(caller.company_id), "VENDOR#",
                                    limit=limit, token=token)
    return Page(items=[Vendor.model_validate(plain(i)) for i in items], next_token=next_token)


def get_vendor(db: Store, company_id: str, code: str) -> Vendor | None:
    item = db.get(keys.company_pk(company_id), keys.vendor_sk(code))
    return Vendor.model_validate(plain(item)) if item else None


def all_vendors(db: Store, company_id: str) -> list[Vendor]:
    """Every vendor of the company (an import checks its rows' vendor codes against them)."""
    return [Vendor.model_validate(plain(i)) for i in db.query(keys.company_pk(company_id), "VENDOR#")]


def vendor_linked_to(db: Store, company_id: str, other_company: str) -> Vendor | None:
    """The company's vendor that is the other K2K company, if any (a connection's setup check): by its link,
    one key read whatever the number of vendors; the first by code if several are."""
    for link in db.iter_query(keys.company_pk(company_id), keys.vendor_link_sk(other_company), consistent=True,
                              limit=1):
        return get_vendor(db, company_id, link["code"])
    return None


# -- connections --------------------------------------------------------------------------------

def _load(db: Store, connection_id: str) -> Connection:
    vendor_id, buyer_id = network.parse_connection_id(connection_id)
    item = db.get(keys.company_pk(vendor_id), keys.connection_as_vendor_sk(buyer_id))
    if item is None:
        raise NotFound("connection not found")
    return Connection.model_validate(plain(item))


def get_connection(db: Store, caller: Caller, connection_id: str) -> Connection:
    conn = _load(db, connection_id)
    conn.side_of(caller.company_id)  # 404 for a company that is not a party
    return conn


def list_connections(db: Store, caller: Caller, limit: int, token: str | None) -> "Page[Connection]":
    items, next_token = paging.read(db, caller.company_id, keys.company_pk(caller.company_id), "CONN#",
                                    limit=limit, token=token)
    return Page(items=[Connection.model_validate(plain(i)) for i in items], next_token=next_token)


def active_connections_as_vendor(db: Store, vendor_id: str) -> list[Connection]:
    items = db.query(keys.company_pk(vendor_id), keys.CONN_AS_VENDOR_PREFIX, consistent=True,
                     filter_expression="#s = :active", names={"#s": "status"},
                     values={":active": ConnectionStatus.ACTIVE.value})
    return [Connection.model_validate(plain(i)) for i in items]


def connection_for_buyer(db: Store, buyer_id: str, vendor_id: str) -> Connection | None:
    item = db.get(keys.company_pk(buyer_id), keys.connection_as_buyer_sk(vendor_id))
    return Connection.model_validate(plain(item)) if item else None


def read_connection_for_buyer(reads: Reads, buyer_id: str, vendor_id: str) -> Callable[[], Connection | None]:
    """`connection_for_buyer`, read with others in one batch (store.Reads)."""
    found = reads.want({"pk": keys.company_pk(buyer_id), "sk": keys.connection_as_buyer_sk(vendor_id)})
    return lambda: Connection.model_validate(plain(item)) if (item := found()) else None


def connections_as_buyer(db: Store, buyer_id: str) -> list[Connection]:
    return [Connection.model_validate(plain(i))
            for i in db.query(keys.company_pk(buyer_id), keys.CONN_AS_BUYER_PREFIX)]


def _write(db: Store, conn: Connection, change: str, *, expected_version: int | None) -> Connection:
    """Both copies and the event in one transaction, conditional on the version read."""
    vendor_item = to_item(conn, pk=keys.company_pk(conn.vendor_company_id),
                          sk=keys.connection_as_vendor_sk(conn.buyer_company_id), kind="CONNECTION")
    buyer_item = to_item(conn, pk=keys.company_pk(conn.buyer_company_id),
                         sk=keys.connection_as_buyer_sk(conn.vendor_company_id), kind="CONNECTION")
    if expected_version is None:
        condition, values = "attribute_not_exists(pk)", None
    else:
        condition, values = "version = :v", {":v": expected_version}
    event = new_event(ConnectionChanged(connection=conn, change=change), company_id=conn.vendor_company_id,
                      aggregate_id=conn.connection_id, aggregate_version=conn.version)
    try:
        db.transact([store.put(vendor_item, condition, values), store.put(buyer_item, condition, values),
                     outbox(event)])
    except ConditionFailed as e:
        if expected_version is None:
            raise Conflict("a connection between these companies already exists") from e
        raise Conflict("the connection changed meanwhile; read it again") from e
    return conn


def request_connection(db: Store, caller: Caller, vendor_company_id: str) -> Connection:
    if vendor_company_id == caller.company_id:
        raise Conflict("a company cannot connect to itself")
    buyer = get_company(db, caller.company_id)
    vendor = get_company(db, vendor_company_id)
    now = _now()
    conn = Connection(
        connection_id=network.connection_id(vendor.company_id, buyer.company_id),
        vendor_company_id=vendor.company_id, vendor_name=vendor.name,
        buyer_company_id=buyer.company_id, buyer_name=buyer.name,
        status=ConnectionStatus.REQUESTED, terms=vendor.settings.vendor_defaults,
        vendor_timezone=vendor.settings.timezone,
        requested_at=now, updated_at=now,
    )
    return _write(db, conn, "requested", expected_version=None)


def setup_gaps(db: Store, conn: Connection) -> tuple[list[network.SetupGap], str | None, str | None]:
    # Customers are the accounts module's, which builds on this one: imported here, not at the top.
    from k2k.services.accounts import customer_linked_to

    customer = customer_linked_to(db, conn.vendor_company_id, conn.buyer_company_id)
    vendor = vendor_linked_to(db, conn.buyer_company_id, conn.vendor_company_id)
    buyer = get_company(db, conn.buyer_company_id)
    gaps = network.missing_setup(customer, vendor, buyer.settings.buyer, conn.vendor_name, conn.buyer_name)
    return gaps, customer.code if customer else None, vendor.code if vendor else None


def _transition(db: Store, caller: Caller, connection_id: str, change: str) -> Connection:
    conn = get_connection(db, caller, connection_id)
    side = conn.side_of(caller.company_id)
    updates: dict = {}
    if change in ("accepted", "resumed"):
        gaps, customer_code, vendor_code = setup_gaps(db, conn)
        status = (network.accept(conn, side, gaps) if change == "accepted"
                  else network.resume(conn, side, gaps))
        updates = {"buyer_customer_code": customer_code, "vendor_code": vendor_code, "suspended_by": None}
    else:
        status = network.suspend(conn, side)
        updates = {"suspended_by": side}
    changed = conn.model_copy(update={**updates, "status": status, "version": conn.version + 1,
                                      "updated_at": _now()})
    return _write(db, changed, change, expected_version=conn.version)


def accept_connection(db: Store, caller: Caller, connection_id: str) -> Connection:
    return _transition(db, caller, connection_id, "accepted")


def suspend_connection(db: Store, caller: Caller, connection_id: str) -> Connection:
    return _transition(db, caller, connection_id, "suspended")


def resume_connection(db: Store, caller: Caller, connection_id: str) -> Connection:
    return _transition(db, caller, connection_id, "resumed")


def update_terms(db: Store, caller: Caller, connection_id: str, terms: VendorTerms,
                 version: int | None) -> Connection:
    conn = get_connection(db, caller, connection_id)
    if conn.side_of(caller.company_id) is not Side.VENDOR:
        raise Conflict("only the vendor company sets the terms it publishes on")
    if version is not None and version != conn.version:
        raise Conflict(f"the connection changed meanwhile (version {conn.version}, not {version})")
    vendor = get_company(db, conn.vendor_company_id)
    unknown = set(terms.connected_locations or []) - set(vendor.location_codes)
    if unknown:
        raise Invalid(f"unknown vendor locations: {', '.join(sorted(unknown))}",
                      field="connected_locations")
    changed = conn.model_copy(update={"terms": terms, "version": conn.version + 1, "updated_at": _now()})
    return _write(db, changed, "terms_changed", expected_version=conn.version)
