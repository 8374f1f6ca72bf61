"""Writing accepted rows: batched, conditional, and safe to repeat.

Open invoices and open credits: one item per row, keyed by its number, posted
to the customer's ledger with it (k2k.services.accounts.post: the row's item,
its ledger entry and the customer's new balance in one transaction, the rows of
one customer grouped and chunked under the 100-item limit). Every row's put is
conditional on "absent". So:
  - a number already in K2K is rejected as a duplicate, never overwritten,
    and DynamoDB decides it, not a read-then-write (two imports racing on the
    same number: exactly one wins, the other's row is rejected);
  - a worker that died halfway and runs again finds its own rows (and so their
    ledger entries, written with them) and counts them as imported, not as
    duplicates, and posts them no second time.
A BatchGetItem first removes the rows we can see, so a transaction is only
cancelled by a real race; when it is, the rows whose condition failed are
rejected and the rest written again.

Inventory in boxes: each confirmed row becomes an inventory line through the
inventory service's own transaction items (line, unique box code, outbox
event), 33 rows to a transaction. The box code is derived from the job and the
row, so a repeated run meets its own box codes and counts those rows as done.
Unconfirmed rows are stored as pending boxes (one item per row, same key on
a repeat), to be confirmed later.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from k2k import keys, ledger, store
from k2k.imports.model import (
    ImportType,
    box_code,
    credit_sk,
    imports_pk,
    invoice_sk,
    invoices_by_date_pk,
    invoices_by_po_pk,
    pending_prefix,
    pending_sk,
)
from k2k.inventory import Dimensions, InventoryLine, InventoryType, LineFields
from k2k.ledger import EntryType
from k2k.network import Company
from k2k.services import accounts
from k2k.services.inventory import create_ops, new_line
from k2k.store import ConditionFailed, Item, Store

NO_CARRIER = "No Carrier"
OPS_PER_LINE = 3  # line, box code, event (k2k.services.inventory.create_ops)
LINES_PER_TRANSACTION = store.MAX_TRANSACTION_ITEMS // OPS_PER_LINE

Accepted = tuple[int, dict[str, Any]]  # (sheet row, typed values)
Rejection = tuple[int, str]  # (sheet row, message)


def invoice_item(company_id: str, job_id: str, row: int, v: dict[str, Any], at: datetime) -> Item:
    """An open invoice from another system: Ref # = its number, carrier No Carrier, balance as a charge."""
    day = v["invoice_date"].isoformat()
    return {
        "pk": keys.company_pk(company_id), "sk": invoice_sk(v["invoice_no"]), "kind": "OPEN_INVOICE",
        "ref_no": v["invoice_no"], "customer_code": v["customer_code"], "invoice_date": day,
        "customer_po": v["customer_po"], "location": v["location"], "carrier": NO_CARRIER,
        "additional_charges": [{"description": "Open balance (imported)", "amount": v["balance"]}],
        "total": v["balance"], "balance": v["balance"], "status": "OPEN", "source": "IMPORT",
        "import_job_id": job_id, "import_row": row, "imported_at": at.isoformat(),
        # Found by customer PO, newest invoice date last within it; among its customer's invoices; by date.
        "gsi1pk": invoices_by_po_pk(company_id, v["customer_po"]), "gsi1sk": f"{day}#{v['invoice_no']}",
        "gsi2pk": keys.customer_invoices_pk(company_id, v["customer_code"]),
        "gsi3pk": invoices_by_date_pk(company_id, day),
    }


def credit_item(company_id: str, job_id: str, row: int, v: dict[str, Any], at: datetime) -> Item:
    """An open credit: a balance adjustment lowering what the customer owes."""
    day = v["credit_date"].isoformat()
    return {
        "pk": keys.company_pk(company_id), "sk": credit_sk(v["credit_no"]), "kind": "BALANCE_ADJUSTMENT",
        "adjustment": "OPEN_CREDIT", "credit_no": v["credit_no"], "customer_code": v["customer_code"],
        "adjustment_date": day, "credit_balance": v["balance"], "amount": -v["balance"],
        "location": v["location"], "description": v.get("description"), "source": "IMPORT",
        "import_job_id": job_id, "import_row": row, "imported_at": at.isoformat(),
    }


class Keyed(NamedTuple):
    build: Callable[..., Item]
    unique: str  # the row's number field
    column: str  # its column name
    kind: EntryType  # the ledger entry a row posts
    dated: str  # the row's document date field


ITEMS: dict[ImportType, Keyed] = {
    ImportType.OPEN_INVOICES: Keyed(invoice_item, "invoice_no", "Invoice #", EntryType.IMPORTED_INVOICE,
                                    "invoice_date"),
    ImportType.OPEN_CREDITS: Keyed(credit_item, "credit_no", "Credit #", EntryType.IMPORTED_CREDIT, "credit_date"),
}


def write_keyed(db: Store, import_type: ImportType, company_id: str, job_id: str, rows: list[Accepted],
                at: datetime) -> list[Rejection]:
    """Write and post up to 100 rows of open invoices or credits; returns the rows rejected as already in K2K."""
    spec = ITEMS[import_type]
    pending = [(row, spec.build(company_id, job_id, row, v, at), v) for row, v in rows]
    stored = {i["sk"]: i for i in db.batch_get({"pk": item["pk"], "sk": item["sk"]} for _, item, _ in pending)}
    rejected: list[Rejection] = []
    by_customer: dict[str, list[tuple[int, Item, dict[str, Any]]]] = defaultdict(list)
    for row, item, v in pending:
        found = stored.get(item["sk"])
        if found is None:
            by_customer[v["customer_code"]].append((row, item, v))
        elif found.get("import_job_id") != job_id:
            rejected.append((row, f"{spec.column}: {v[spec.unique]} is already in K2K (not overwritten)"))
        # else: this job wrote the row, and posted it, before it was interrupted.
    for code, todo in by_customer.items():
        postings = [ledger.posting(spec.kind, v[spec.unique], v["balance"], v[spec.dated], f"import {job_id}")
                    for _, _, v in todo]
        documents = [[store.put(item, condition="attribute_not_exists(pk)")] for _, item, _ in todo]
        posted = accounts.post(db, company_id, code, postings, documents)
        rejected.extend((todo[i][0], f"{spec.column}: {todo[i][2][spec.unique]} is already in K2K (not overwritten)")
                        for i in posted.already)
    return sorted(rejected)


def line_fields(job_id: str, row: int, v: dict[str, Any]) -> LineFields:
    product = v["product"]
    dimensions = (Dimensions(length=v["length"], width=v["width"], height=v["height"])
                  if v.get("length") is not None else None)
    return LineFields(
        box_code=box_code(job_id, row), product=product,
        product_code=product if (" " not in product and len(product) <= 40) else None,
        box_type=v["box_type"], unit_type=v["unit_type"], bunches_per_box=v["bunches_per_box"],
        stems_per_bunch=v["stems_per_bunch"], boxes_on_hand=v["boxes"], cost=v["cost"], price=v.get("price"),
        location=v["location"], inventory_type=InventoryType.OPEN_MARKET, dimensions=dimensions,
    )


def _origin(job_id: str, v: dict[str, Any]) -> dict[str, Any]:
    return {"vendor_code": v["vendor_code"], "awb": v.get("awb"), "ship_date": v["ship_date"].isoformat(),
            "import_job_id": job_id}


def write_lines(db: Store, company: Company, job_id: str, rows: list[Accepted], at: datetime) -> int:
    """Confirm rows straight into inventory, 33 lines per transaction; returns how many are in inventory."""
    done = 0
    for start in range(0, len(rows), LINES_PER_TRANSACTION):
        group = []
        for row, v in rows[start:start + LINES_PER_TRANSACTION]:
            ops = create_ops(new_line(company, line_fields(job_id, row, v), at))
            ops[0].key_or_item.update(_origin(job_id, v))  # where the boxes came from, on the line item
            group.append(ops)
        while group:
            try:
                db.transact([op for ops in group for op in ops])
                done += len(group)
                break
            except ConditionFailed as e:
                # Only a box code can already exist: this job wrote that row before it was interrupted.
                again = [i for i in range(len(group)) if e.failed_at(i * OPS_PER_LINE + 1)]
                if not again or any(e.failed_at(i * OPS_PER_LINE + k) for i in range(len(group)) for k in (0, 2)):
                    raise
                done += len(again)
                group = [ops for i, ops in enumerate(group) if i not in again]
    return done


def pending_item(company_id: str, job_id: str, row: int, v: dict[str, Any], at: datetime) -> Item:
    fields = line_fields(job_id, row, v)
    return {
        "pk": imports_pk(company_id), "sk": pending_sk(job_id, row), "kind": "PENDING_BOXES",
        "job_id": job_id, "row": row, "line": store.to_item(fields), **_origin(job_id, v),
        "created_at": at.isoformat(),
    }


def write_pending(db: Store, company_id: str, job_id: str, rows: list[Accepted], at: datetime) -> int:
    """Keep unconfirmed rows as pending boxes (BatchWriteItem; the same key on a repeat)."""
    db.batch_put(pending_item(company_id, job_id, row, v, at) for row, v in rows)
    return len(rows)


def pending_items(db: Store, company_id: str, job_id: str, rows: Sequence[int] | None = None) -> list[Item]:
    """A job's pending boxes in row order: all of them, or those of these sheet rows that are still pending."""
    if rows is None:
        return db.query(imports_pk(company_id), pending_prefix(job_id), consistent=True)
    found = db.batch_get({"pk": imports_pk(company_id), "sk": pending_sk(job_id, row)} for row in sorted(set(rows)))
    return sorted(found, key=lambda i: i["sk"])


def confirm_pending(db: Store, company: Company, items: list[Item], at: datetime) -> list[tuple[int, InventoryLine]]:
    """Pending boxes into inventory: each line with its event, its pending item deleted in the same
    transaction (condition: still there) and its box code unique, so a box is confirmed exactly once
    however often this runs, or however many run at once. Returns (row, line) of those this call confirmed."""
    done: list[tuple[int, InventoryLine]] = []
    size = OPS_PER_LINE + 1
    per = store.MAX_TRANSACTION_ITEMS // size
    for start in range(0, len(items), per):
        group = []
        for item in items[start:start + per]:
            line = new_line(company, LineFields.model_validate(item["line"]), at)
            ops = create_ops(line)
            ops[0].key_or_item.update({k: item.get(k) for k in ("vendor_code", "awb", "ship_date", "import_job_id")})
            ops.append(store.delete({"pk": item["pk"], "sk": item["sk"]}, condition="attribute_exists(pk)"))
            group.append((int(item["row"]), line, ops))
        while group:
            try:
                db.transact([op for _, _, ops in group for op in ops])
                done.extend((row, line) for row, line, _ in group)
                break
            except ConditionFailed as e:
                # Another call confirmed (box code taken) or discarded (pending item gone) these rows first.
                gone = {i for i in range(len(group)) if e.failed_at(i * size + 1) or e.failed_at(i * size + 3)}
                if not gone:
                    raise
                group = [g for i, g in enumerate(group) if i not in gone]
    return done


def discard_pending(db: Store, items: list[Item]) -> list[int]:
    """Delete pending boxes that are still pending; returns the rows this call discarded."""
    gone = []
    for item in items:
        try:
            db.transact([store.delete({"pk": item["pk"], "sk": item["sk"]}, condition="attribute_exists(pk)")])
        except ConditionFailed:
            continue  # confirmed or discarded meanwhile
        gone.append(int(item["row"]))
    return gone
