"""The buyer's K2K availability: a projection per buyer, kept current by events.

Design: materialized per buyer. A vendor line change is written once to each
connected buyer's availability partition (1 query + 1 conditional put per
buyer), so the buyer's read - the hot path of its web shop - is three requests
whatever the number of vendors. Prices that depend on the buyer's own settings
(landed cost, suggested price) and on time (aging, ship date) are computed at
read time from the stored row.

Ordering: each row carries the connection version and the line version it was
computed from; a write only lands if it is not older than the row on
(connection version, line version). Connection events trigger a resync from a
fresh read of the connection, so late or repeated events change nothing.

Tombstones expire: a row no longer published (line removed or ineligible, connection
suspended) carries `purge_at`, the table's TTL attribute, TOMBSTONE_TTL after it was
written, so the buyer's read does not page over dead rows forever. A tombstone's other
job is to refuse a late, older line event; after it is gone the version rule has
nothing to compare with, so a line event's snapshot is applied only while it is
younger than the TTL (`snapshot_trusted`): any tombstone that would refuse it was
written after the snapshot was taken, so it is still there. An older event is applied
as the line is now (read again; a removed line writes nothing). DynamoDB deletes
expired items lazily, hours or days later: until then an expired tombstone still
refuses older writes, and reads never return tombstones (the buyer's read filters on
`published`, a resync only looks at published rows).
"""

from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from decimal import Decimal

from k2k import bounds, clock, keys, paging, pricing
from k2k.auth import Caller
from k2k.errors import Invalid
from k2k.inventory import (
    BoxType,
    Dimensions,
    InventoryLine,
    InventoryLineRemoved,
    UnitType,
    age_days,
    age_ineligibility,
    ineligibility,
)
from k2k.models import Model
from k2k.network import BuyerSettings, Connection
from k2k.services.network import (
    active_connections_as_vendor,
    connection_for_buyer,
    connections_as_buyer,
    get_company,
)
from k2k.store import ConditionFailed, Item, Store, plain

NEWER_OR_SAME = ("attribute_not_exists(pk) OR conn_version < :cv "
                 "OR (conn_version = :cv AND line_version <= :lv)")
FANOUT_THREADS = 8
TOMBSTONE_TTL = timedelta(days=1)
CLOCK_MARGIN = timedelta(hours=1)  # producers' and consumers' clocks may differ; a trusted snapshot never nears the TTL


def snapshot_trusted(occurred_at: datetime, now: datetime) -> bool:
    """May a line event's snapshot be projected as it is? Only while no tombstone that would refuse it can
    have expired: it was written after the snapshot was taken, so it lives until at least
    occurred_at + TOMBSTONE_TTL. Past that (a late delivery, a redrive from a dead-letter queue) the line
    is read again instead."""
    return now - occurred_at < TOMBSTONE_TTL - CLOCK_MARGIN


def expiring(row: Item, now: datetime) -> Item:
    """A row as written: a tombstone (not published) with its TTL, a published row without one."""
    if row.get("published"):
        return {k: v for k, v in row.items() if k != "purge_at"}
    return {**row, "purge_at": int((now + TOMBSTONE_TTL).timestamp())}


def _row_key(buyer_id: str, vendor_id: str, line_id: str) -> dict[str, str]:
    return {"pk": keys.availability_pk(buyer_id), "sk": keys.availability_sk(vendor_id, line_id)}


def row_for(line: InventoryLine, conn: Connection) -> Item:
    """What one buyer's availability holds for one vendor line (published or a tombstone)."""
    reasons = ineligibility(line, conn.terms) if conn.active else []
    published = conn.active and not reasons
    row: Item = {
        **_row_key(conn.buyer_company_id, line.vendor_company_id, line.line_id),
        "kind": "AVAIL",
        "published": published,
        "vendor_company_id": line.vendor_company_id,
        "vendor_name": conn.vendor_name,
        "line_id": line.line_id,
        "line_version": line.version,
        "conn_version": conn.version,
    }
    if published:
        assert line.price is not None and line.dimensions is not None and line.box_type is not None
        row.update({
            "box_code": line.box_code, "product_code": line.product_code, "product": line.product,
            "category": line.category, "colour": line.colour, "grade": line.grade,
            "box_type": line.box_type.value, "unit_type": line.unit_type.value,
            "bunches_per_box": line.bunches_per_box, "stems_per_bunch": line.stems_per_bunch,
            "boxes_available": line.boxes_on_hand, "location": line.location,
            "inventory_type": line.inventory_type.value,
            "received_date": line.received_date.isoformat() if line.received_date else None,
            "available_date": line.available_date.isoformat() if line.available_date else None,
            "dimensions": line.dimensions.model_dump(),
            "vendor_price": pricing.price_to_buyer(line.price, conn.terms.markup_pct),
        })
    return {k: v for k, v in row.items() if v is not None}


def _write_row(db: Store, row: Item) -> bool:
    try:
        db.put(row, condition=NEWER_OR_SAME, values={":cv": row["conn_version"], ":lv": row["line_version"]})
        return True
    except ConditionFailed:
        # A newer line or connection state is already there: this event is stale.
        return False


def _write_rows(db: Store, rows: list[Item]) -> int:
    now = clock.now()
    rows = [expiring(r, now) for r in rows]
    if len(rows) <= 1:
        return sum(_write_row(db, r) for r in rows)
    with ThreadPoolExecutor(max_workers=FANOUT_THREADS) as pool:
        return sum(pool.map(lambda r: _write_row(db, r), rows))


def project_line(db: Store, line: InventoryLine, occurred_at: datetime | None = None) -> int:
    """A vendor line changed: bring every actively connected buyer's row up to it - to the snapshot the
    event carries (taken at `occurred_at`) while it is trusted, else to the line as it is now."""
    if occurred_at is not None and not snapshot_trusted(occurred_at, clock.now()):
        return project_current(db, line.vendor_company_id, line.line_id)
    conns = active_connections_as_vendor(db, line.vendor_company_id)
    return _write_rows(db, [row_for(line, c) for c in conns])


def project_current(db: Store, vendor_id: str, line_id: str) -> int:
    """Stock moved on a line: project it as it is now (or as removed, if it is gone)."""
    item = db.get(keys.company_pk(vendor_id), keys.inventory_sk(line_id))
    if item is None:
        return 0
    return project_line(db, InventoryLine.model_validate(plain(item)))


def unpublish_line(db: Store, removed: InventoryLineRemoved) -> int:
    conns = active_connections_as_vendor(db, removed.vendor_company_id)
    rows = [{**_row_key(c.buyer_company_id, removed.vendor_company_id, removed.line_id), "kind": "AVAIL",
             "published": False, "vendor_company_id": removed.vendor_company_id, "line_id": removed.line_id,
             "line_version": removed.version, "conn_version": c.version} for c in conns]
    return _write_rows(db, rows)


def _vendor_lines(db: Store, vendor_id: str) -> dict[str, InventoryLine]:
    return {i["line_id"]: InventoryLine.model_validate(plain(i))
            for i in db.query(keys.company_pk(vendor_id), keys.INVENTORY_PREFIX, consistent=True)}


def _resync_rows(db: Store, conn: Connection, lines: dict[str, InventoryLine]) -> list[Item]:
    """One buyer's rows for one vendor as they should be: every line's, and a tombstone for a published row
    whose line is gone."""
    existing = db.query(keys.availability_pk(conn.buyer_company_id),
                        keys.availability_vendor_prefix(conn.vendor_company_id), consistent=True)
    rows = [row_for(line, conn) for line in lines.values()]
    for old in existing:
        if old["line_id"] not in lines and old.get("published"):
            rows.append({**old, "published": False, "conn_version": conn.version})
    return rows


def resync(db: Store, vendor_id: str, buyer_id: str) -> int:
    """Rebuild one buyer's rows for one vendor from the current line and connection state."""
    conn = connection_for_buyer(db, buyer_id, vendor_id)
    if conn is None:
        return 0
    return _write_rows(db, _resync_rows(db, conn, _vendor_lines(db, vendor_id)))


def resync_vendor(db: Store, vendor_id: str) -> int:
    """Rebuild every connected buyer's rows for one vendor: its inventory read once, not once per buyer."""
    conns = active_connections_as_vendor(db, vendor_id)
    if not conns:
        return 0
    lines = _vendor_lines(db, vendor_id)
    return sum(_write_rows(db, _resync_rows(db, conn, lines)) for conn in conns)


# -- the buyer's read ---------------------------------------------------------------------------

class AvailabilityLine(Model):
    vendor_company_id: str
    vendor_name: str
    line_id: str
    box_code: str
    product_code: str | None = None
    product: str
    category: str | None = None
    colour: str | None = None
    grade: str | None = None
    box_type: BoxType
    fbe: Decimal
    unit_type: UnitType
    bunches_per_box: int
    stems_per_bunch: int
    units_per_box: int
    boxes_available: int
    vendor_location: str
    inventory_type: str
    age_days: int | None
    available_date: date | None = None
    dimensions: Dimensions
    cube_ft3: Decimal
    vendor_price: Decimal
    landed_cost: Decimal
    suggested_price: Decimal
    gpm_pct: Decimal
    earliest_ship_date: date


class Availability(Model):
    """A page of the buyer's availability: its lines priced for one location. Pages go by vendor and
    line (a page's lines are sorted by vendor name, product and box code); `next_token` is the list's
    (k2k.paging), null on the last page. Lines a buyer may not see leave a page short."""

    buyer_company_id: str
    location: str
    lines: list[AvailabilityLine]
    next_token: str | None = None


def read_availability(db: Store, caller: Caller, location: str | None = None, vendor_id: str | None = None,
                      now: datetime | None = None, *, limit: int = bounds.PAGE_SIZE,
                      token: str | None = None) -> Availability:
    buyer = get_company(db, caller.company_id)
    loc = location or buyer.location_codes[0]
    if loc not in buyer.location_codes:
        raise Invalid(f"location {loc} is not one of {', '.join(buyer.location_codes)}", field="location")
    result = Availability(buyer_company_id=buyer.company_id, location=loc, lines=[])
    settings = buyer.settings.buyer
    if not settings.show_k2k_inventory:
        return result
    active = {c.vendor_company_id: c for c in connections_as_buyer(db, buyer.company_id) if c.active}
    if vendor_id is not None:
        active = {k: v for k, v in active.items() if k == vendor_id}
    if not active:
        return result
    prefix = keys.availability_vendor_prefix(vendor_id) if vendor_id else None
    rows, result.next_token = paging.read(db, buyer.company_id, keys.availability_pk(buyer.company_id), prefix,
                                          filter_expression="published = :t", values={":t": True},
                                          limit=limit, token=token)
    moment = now or clock.now()
    gpm = settings.gpm_for(loc)
    for row in rows:
        conn = active.get(row["vendor_company_id"])
        if conn is None:
            continue
        line = _priced(row, conn, settings, gpm, moment)
        if line is not None:
            result.lines.append(line)
    result.lines.sort(key=lambda x: (x.vendor_name, x.product, x.box_code))
    return result


def _priced(row: Item, conn: Connection, settings: BuyerSettings, gpm: Decimal,
            now: datetime) -> AvailabilityLine | None:
    vendor_now = pricing.local_now(conn.vendor_timezone, now)
    received = date.fromisoformat(row["received_date"]) if row.get("received_date") else None
    if age_ineligibility(row["inventory_type"], received, conn.terms, vendor_now.date()):
        return None
    dims = Dimensions.model_validate(row["dimensions"])
    units = pricing.units_per_box(row["unit_type"], int(row["bunches_per_box"]), int(row["stems_per_bunch"]))
    cube = pricing.box_cube(dims.length, dims.width, dims.height)
    landed = settings.landed_cost(row["vendor_price"], cube=cube, units=units)
    available = date.fromisoformat(row["available_date"]) if row.get("available_date") else None
    return AvailabilityLine(
        vendor_company_id=row["vendor_company_id"], vendor_name=row["vendor_name"], line_id=row["line_id"],
        box_code=row["box_code"], product_code=row.get("product_code"), product=row["product"],
        category=row.get("category"), colour=row.get("colour"), grade=row.get("grade"),
        box_type=row["box_type"], fbe=pricing.FBE[row["box_type"]], unit_type=row["unit_type"],
        bunches_per_box=int(row["bunches_per_box"]), stems_per_bunch=int(row["stems_per_bunch"]),
        units_per_box=units, boxes_available=int(row["boxes_available"]), vendor_location=row["location"],
        inventory_type=row["inventory_type"], age_days=age_days(received, vendor_now.date()),
        available_date=available, dimensions=dims, cube_ft3=cube.quantize(Decimal("0.001")),
        vendor_price=row["vendor_price"], landed_cost=landed,
        suggested_price=pricing.suggested_price(landed, gpm), gpm_pct=gpm,
        earliest_ship_date=pricing.earliest_ship_date(
            vendor_now.date(), vendor_now.time(), conn.terms.ship_days_offset, conn.terms.cutoff_time, available),
    )
