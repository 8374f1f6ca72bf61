"""Inventory from a vendor's own system: a batch of up to 500 InventoryLineChanged/Removed-shaped lines.

The company is the caller's (its verified token), never the body's. A line is known by its box code
(unique per company: the same code from the vendor's warehouse to the buyer's invoice) and carries
the sender's own version of it (`source_version`: its row version, or a timestamp in milliseconds).
This module owns the sync record of each box code, `C#<company>#INBOUND` / `BOX#<box_code>`
(the last source_version applied, and whether it was a removal), and writes it in the same
transaction as the line's change (through k2k.services.inventory's public ops), on condition that
it is newer: a repeated or older line changes nothing, even after the line was removed.

Validation of the batch is all or nothing (a 422 before anything is written). Each valid line is then
applied on its own, atomically, and answered with its outcome; sending the same batch again is safe.
"""

from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import Field, ValidationError, model_validator

from k2k import bounds, clock, keys, store
from k2k.auth import Caller
from k2k.bounds import Code, Input
from k2k.errors import DomainError
from k2k.inventory import InventoryLine, LineFieldsIn, LinePatch, apply_patch
from k2k.models import Model
from k2k.network import Company
from k2k.services import inventory as lines
from k2k.services.network import get_company
from k2k.store import ConditionFailed, Store

MAX_LINES = 500
# Strict: a whole number, never a boolean, a string or a fraction.
SourceVersion = Annotated[int, Field(strict=True, ge=1, le=2**53,
                                     description="the sender's version of the line (a row version, or a timestamp "
                                                 "in milliseconds): higher wins")]


class InboundLine(Input):
    """One line as the vendor's system states it: the whole line (changed) or its removal."""

    detail_type: Literal["InventoryLineChanged", "InventoryLineRemoved"]
    box_code: Code
    source_version: SourceVersion
    data: LineFieldsIn | None = Field(default=None, description="InventoryLineChanged: every field of the line")

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.detail_type == "InventoryLineChanged":
            if self.data is None:
                raise ValueError("an InventoryLineChanged line carries the line in data")
            if self.data.box_code != self.box_code:
                raise ValueError("data.box_code must be the line's box_code")
        elif self.data is not None:
            raise ValueError("an InventoryLineRemoved line carries no data")
        return self


class InboundBatch(Input):
    lines: list[InboundLine] = Field(min_length=1, max_length=MAX_LINES)


class Outcome(StrEnum):
    CREATED = "created"
    CHANGED = "changed"
    REMOVED = "removed"
    UNCHANGED = "unchanged"  # a version already applied, or older than it
    REJECTED = "rejected"  # the line breaks a rule (reason); the others are applied


class LineResult(Model):
    box_code: str
    source_version: int
    outcome: Outcome
    line_id: str | None = None
    reason: str | None = None


class BatchResult(Model):
    results: list[LineResult]
    applied: int
    unchanged: int
    rejected: int


def _pk(company_id: str) -> str:
    return f"{keys.company_pk(company_id)}#INBOUND"


def _sk(box_code: str) -> str:
    return f"BOX#{box_code}"


def apply_batch(db: Store, caller: Caller, batch: InboundBatch) -> BatchResult:
    company = get_company(db, caller.company_id)
    synced = {str(i["sk"])[4:]: i for i in db.batch_get(
        [{"pk": _pk(company.company_id), "sk": _sk(b)} for b in {ln.box_code for ln in batch.lines}])}
    # Read up front, in batches: per line, only its transaction is left (and a read again if it lost a race).
    current = lines.lines_for_box_codes(db, company.company_id, {ln.box_code for ln in batch.lines})
    results = []
    for line in batch.lines:
        result = _apply_one(db, company, line, synced.get(line.box_code), current.pop(line.box_code, None))
        if result.outcome in (Outcome.CREATED, Outcome.CHANGED, Outcome.REMOVED):
            synced[line.box_code] = {"source_version": line.source_version}  # a later line of the batch sees it
        results.append(result)
    return _summary(results)


def _summary(results: Sequence[LineResult]) -> BatchResult:
    unchanged = sum(r.outcome is Outcome.UNCHANGED for r in results)
    rejected = sum(r.outcome is Outcome.REJECTED for r in results)
    return BatchResult(results=list(results), applied=len(results) - unchanged - rejected, unchanged=unchanged,
                       rejected=rejected)


def _apply_one(db: Store, company: Company, line: InboundLine, synced: store.Item | None,
               read: InventoryLine | None) -> LineResult:
    def result(outcome: Outcome, line_id: str | None = None, reason: str | None = None) -> LineResult:
        return LineResult(box_code=line.box_code, source_version=line.source_version, outcome=outcome,
                          line_id=line_id, reason=reason)

    current = read  # as the batch read it; a transaction that finds it changed makes the next attempt read again
    for attempt in range(store.RACE_ATTEMPTS):
        if synced is not None and store.as_int(synced.get("source_version")) >= line.source_version:
            return result(Outcome.UNCHANGED)
        if attempt:
            current = lines.line_for_box_code(db, company.company_id, line.box_code)
        try:
            outcome, written, ops = _change(db, company, line, current)
        except DomainError as e:
            return result(Outcome.REJECTED, current.line_id if current else None, e.message)
        except ValidationError as e:
            problems = bounds.problems(e, ("data",))
            return result(Outcome.REJECTED, current.line_id if current else None,
                          "; ".join(f"{p['field']}: {p['message']}" for p in problems))
        sync = store.put({"pk": _pk(company.company_id), "sk": _sk(line.box_code), "kind": "INBOUND",
                          "source_version": line.source_version, "line_id": written,
                          "removed": outcome is Outcome.REMOVED},
                         condition="attribute_not_exists(pk) OR source_version < :v",
                         values={":v": line.source_version})
        try:
            db.transact([sync, *ops])
        except ConditionFailed as e:
            if e.failed_at(0):
                return result(Outcome.UNCHANGED)  # a newer version of this line landed meanwhile
            synced = db.get(_pk(company.company_id), _sk(line.box_code))  # the line moved: read again
            continue
        return result(outcome, written)
    return result(Outcome.REJECTED, reason="the line kept changing (carts, orders); send it again")


def _change(db: Store, company: Company, line: InboundLine,
            current: InventoryLine | None) -> tuple[Outcome, str | None, list[store.Op]]:
    if line.detail_type == "InventoryLineRemoved":
        if current is None:
            return Outcome.REMOVED, None, []  # nothing to remove; the version is kept, so an older change stays out
        lines.refuse_removal(db, current)
        return Outcome.REMOVED, current.line_id, lines.removal_ops(current)
    assert line.data is not None
    if current is None:
        created = lines.new_line(company, line.data, clock.now())
        return Outcome.CREATED, created.line_id, lines.create_ops(created)
    # The whole line as the sender has it; a received date it does not send is the one K2K gave the line.
    kept = {"box_code"} | ({"received_date"} if line.data.received_date is None else set())
    fields = line.data.model_dump(exclude=kept)
    patch = LinePatch.model_validate(fields)
    changed = apply_patch(current, patch, clock.now())
    lines.check_location(company, changed.location)
    return Outcome.CHANGED, current.line_id, lines.change_ops(current, changed, patch.changes())
