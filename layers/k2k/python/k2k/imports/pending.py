"""Pending boxes: Inventory in Boxes rows imported without `confirm_inventory`, waiting to be confirmed.

The company lists them (all, or one import job's), confirms some or all rows of a job into inventory
(each a line with its InventoryLineChanged event, so connected buyers see it like any line), or discards
them; who may is in k2k.access (whoever keeps stock: seed 004 imports boxes from Data Import or Add
Inventory alike). Confirming is exactly once per row: the row's pending item is deleted in the
transaction that creates its line, on the condition that it is still there
(k2k.imports.writers.confirm_pending), so a repeated or concurrent confirm of the same rows changes nothing.
"""

import re
from datetime import date, datetime

from pydantic import Field

from k2k import paging
from k2k.auth import Caller
from k2k.bounds import Input, SheetRow
from k2k.errors import Invalid
from k2k.imports import jobs, writers
from k2k.imports.model import ImportType, imports_pk, pending_prefix
from k2k.inventory import LineFields
from k2k.models import Model
from k2k.paging import Page
from k2k.services.network import get_company
from k2k.store import Item, Store

_JOB_ID = re.compile(r"[0-9a-f]{12}")
MAX_ROWS = 1000


class PendingLine(LineFields):
    """The inventory line a pending row becomes (its own schema: LineFields is a request body elsewhere)."""


class PendingBox(Model):
    """One pending row: the inventory line it becomes (its box code is `<job_id>-<row>`) and where it came from."""

    job_id: str
    row: int = Field(description="the row in the uploaded sheet")
    line: PendingLine
    vendor_code: str
    awb: str | None = None
    ship_date: date
    created_at: datetime


class PendingSelection(Input):
    job_id: str = Field(max_length=64, pattern=_JOB_ID.pattern, description="the import job the rows came from")
    rows: list[SheetRow] | None = Field(default=None, min_length=1, max_length=MAX_ROWS,
                                   description="sheet rows to act on; omitted: every pending row of the job")


class ConfirmedBox(Model):
    row: int
    box_code: str
    line_id: str


class PendingConfirmed(Model):
    job_id: str
    confirmed: list[ConfirmedBox] = Field(description="rows this request put into inventory")
    not_pending: list[int] = Field(description="rows asked for that were not pending (already confirmed, "
                                               "discarded, or never imported)")


class PendingDiscarded(Model):
    job_id: str
    discarded: list[int]
    not_pending: list[int]


def _view(item: Item) -> PendingBox:
    return PendingBox(job_id=item["job_id"], row=int(item["row"]), line=PendingLine.model_validate(item["line"]),
                      vendor_code=item["vendor_code"], awb=item.get("awb"), ship_date=item["ship_date"],
                      created_at=item["created_at"])


def list_pending(db: Store, caller: Caller, job_id: str | None, limit: int, token: str | None) -> "Page[PendingBox]":
    """The company's pending boxes, by job and row (one job's when `job_id` is given)."""
    if job_id is not None and not _JOB_ID.fullmatch(job_id):
        raise Invalid("an import job id is 12 hexadecimal characters", field="job_id")
    prefix = pending_prefix(job_id) if job_id else "PENDING#"
    items, next_token = paging.read(db, caller.company_id, imports_pk(caller.company_id), prefix,
                                    limit=limit, token=token)
    return Page(items=[_view(i) for i in items], next_token=next_token)


def _selected(db: Store, caller: Caller, body: PendingSelection) -> tuple[list[Item], list[int]]:
    job = jobs.get(db, caller.company_id, body.job_id)
    if job is None or job.import_type is not ImportType.INVENTORY_IN_BOXES:
        raise Invalid(f"no inventory-in-boxes import {body.job_id}", field="job_id")
    items = writers.pending_items(db, caller.company_id, body.job_id, body.rows)
    found = {int(i["row"]) for i in items}
    return items, sorted(set(body.rows or ()) - found)


def confirm(db: Store, caller: Caller, body: PendingSelection) -> PendingConfirmed:
    items, missing = _selected(db, caller, body)
    done = writers.confirm_pending(db, get_company(db, caller.company_id), items, jobs.now())
    confirmed = {row for row, _ in done}
    lost = [int(i["row"]) for i in items if int(i["row"]) not in confirmed]  # another request took them first
    return PendingConfirmed(
        job_id=body.job_id, not_pending=sorted(missing + lost),
        confirmed=[ConfirmedBox(row=row, box_code=line.box_code, line_id=line.line_id) for row, line in done])


def discard(db: Store, caller: Caller, body: PendingSelection) -> PendingDiscarded:
    items, missing = _selected(db, caller, body)
    gone = writers.discard_pending(db, items)
    lost = [int(i["row"]) for i in items if int(i["row"]) not in set(gone)]
    return PendingDiscarded(job_id=body.job_id, discarded=gone, not_pending=sorted(missing + lost))
