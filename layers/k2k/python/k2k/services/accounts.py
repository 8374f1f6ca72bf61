"""Customer accounts on the store: customers, their receivables ledger, customer invoices.

The one owner of these items (docs/data-model.md); staging billing, imports and
the API all go through it:

  customer           C#<cid>            CUSTOMER#<code>          editable fields + version; balance, entries
  ledger entry       C#<cid>#AR#<code>  E#<posted date>#<seq>    one per posted document, in posting order
  entry guard        C#<cid>#AR#<code>  SRC#<entry id>           the entry's source can be posted once only
  customer invoice   C#<cid>            ARINV#<invoice id>       billed from staging or raised by hand
  invoice number     C#<cid>            COUNTER#ARINV            the last customer invoice number given (no gaps)
  request guard      C#<cid>            ARREQ#<request id>       a repeated hand-invoice request finds its invoice

Every append is one transaction: the customer item moves from `entries = n` to
`n + k` with its new balance, and each entry is put with its guard. A lost race
on the customer is read again and retried; a guard that exists means the
document was posted already, and that posting is skipped (not added twice).
Edits of the customer's own fields are conditioned on `version`, which appends
do not touch, so a rename never races the balance and never resets it.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from k2k import clock, idempotency, keys, ledger, paging, pricing, store
from k2k.auth import Caller
from k2k.bounds import MAX_MONEY, Code, Id, Input, LineBoxes, Name, Note, StockBoxes, Tag, UnitMoney
from k2k.errors import Conflict, Invalid, NotFound
from k2k.ledger import EntryType, LedgerEntry, Posting
from k2k.models import Model
from k2k.money import cents
from k2k.network import Customer, CustomerIn
from k2k.paging import Page
from k2k.receivables import (
    ENTRY_TYPE,
    CustomerInvoice,
    CustomerInvoiceLine,
    CustomerInvoiceSource,
    customer_invoice_id,
    invoice_key,
    invoice_keys,
    voided,
)
from k2k.services import inventory as inventory_svc
from k2k.services import network as network_svc
from k2k.store import ConditionFailed, Item, LostRace, Reads, Store, plain, retrying, to_item

ATTEMPTS = 25
EDITABLE = ("name", "credit_limit", "credit_hold", "email", "salesperson_email", "k2k_company_id")
COUNTER_SK = "COUNTER#ARINV"


# -- keys ---------------------------------------------------------------------------------------

def customer_key(company_id: str, code: str) -> dict[str, str]:
    return {"pk": keys.company_pk(company_id), "sk": keys.customer_sk(code)}


def ledger_pk(company_id: str, code: str) -> str:
    return f"C#{company_id}#AR#{code}"


def entry_sk(entry: LedgerEntry) -> str:
    # Posting date first, so a date range is a key condition; seq keeps posting order within a day.
    return f"E#{entry.posted_at.date().isoformat()}#{entry.seq:010d}"


def guard_sk(entry_id: str) -> str:
    return f"SRC#{entry_id}"


# -- customers ----------------------------------------------------------------------------------

def _customer(item: Item) -> Customer:
    return Customer.model_validate(plain(item))


def get_customer(db: Store, company_id: str, code: str) -> Customer | None:
    item = db.get(keys.company_pk(company_id), keys.customer_sk(code))
    return _customer(item) if item else None


def read_customer(reads: Reads, company_id: str, code: str) -> Callable[[], Customer | None]:
    """`get_customer`, read with others in one batch (store.Reads)."""
    found = reads.want({"pk": keys.company_pk(company_id), "sk": keys.customer_sk(code)})
    return lambda: _customer(item) if (item := found()) else None


def require_customer(db: Store, company_id: str, code: str, field: str = "customer_code") -> Customer:
    customer = get_customer(db, company_id, code)
    if customer is None:
        raise NotFound(f"customer {code} not found") if field == "path" else Invalid(
            f"customer {code} not found", field=field)
    return customer


def list_customers(db: Store, company_id: str) -> list[Customer]:
    """Every customer of the company at once (an import checks its rows against all of them)."""
    return [_customer(i) for i in db.query(keys.company_pk(company_id), "CUSTOMER#")]


def customers_page(db: Store, company_id: str, limit: int, token: str | None) -> "Page[Customer]":
    """The company's customers by code, a page at a time."""
    items, next_token = paging.read(db, company_id, keys.company_pk(company_id), "CUSTOMER#", limit=limit,
                                    token=token)
    return Page(items=[_customer(i) for i in items], next_token=next_token)


def customer_linked_to(db: Store, company_id: str, other_company_id: str) -> Customer | None:
    """The company's customer that is this K2K company (the vendor's record of a buyer): by its link, one key
    read whatever the number of customers; the first by code if several are."""
    for link in db.iter_query(keys.company_pk(company_id), keys.customer_link_sk(other_company_id),
                              consistent=True, limit=1):
        return get_customer(db, company_id, link["code"])
    return None


def put_customer(db: Store, caller: Caller, code: str, body: CustomerIn) -> Customer:
    """Create a customer (no version) or change its editable fields (the version read). Never its balance.
    Its link to the K2K company it is (network.link_ops) moves with k2k_company_id, in the same transaction."""
    fields = body.model_dump(include=set(EDITABLE))
    key = customer_key(caller.company_id, code)
    if body.version is None:
        customer = Customer(code=code, **fields)
        try:
            db.transact([store.put(to_item(customer, **key, kind="CUSTOMER"), condition="attribute_not_exists(pk)"),
                         *network_svc.link_ops(key["pk"], keys.customer_link_sk, code, None,
                                               customer.k2k_company_id)])
        except ConditionFailed as e:
            raise Conflict(f"customer {code} already exists: send the version you read to change it") from e
        return customer
    before = get_customer(db, caller.company_id, code)
    if before is None:
        raise NotFound(f"customer {code} not found")
    sets = ["version = :next"]
    removes = []
    values: dict[str, Any] = {":v": body.version, ":next": body.version + 1}
    names = {}
    for n, name in enumerate(EDITABLE):
        names[f"#f{n}"] = name
        if fields[name] is None:
            removes.append(f"#f{n}")
        else:
            sets.append(f"#f{n} = :f{n}")
            values[f":f{n}"] = fields[name]
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    # Customers stored before versions existed count as version 1.
    condition = "attribute_exists(pk) AND " + (
        "(version = :v OR attribute_not_exists(version))" if body.version == 1 else "version = :v")
    try:
        db.transact([store.update(key, expression, values=values, condition=condition, names=names),
                     *network_svc.link_ops(key["pk"], keys.customer_link_sk, code, before.k2k_company_id,
                                           fields["k2k_company_id"])])
    except ConditionFailed as e:
        current = get_customer(db, caller.company_id, code)
        if current is None:
            raise NotFound(f"customer {code} not found") from e
        raise Conflict(f"customer {code} changed meanwhile (version {current.version}, not {body.version}); "
                       "read it again") from e
    updated = get_customer(db, caller.company_id, code)
    assert updated is not None
    return updated


# -- the ledger ---------------------------------------------------------------------------------

def append_ops(company_id: str, customer: Customer, entries: Sequence[LedgerEntry], *,
               credit_checked: bool = False) -> list[store.Op]:
    """The customer's move to its new balance, then each entry's guard and entry (in that order).

    The customer item must still be at the entry count read (`entries`); with `credit_checked`, also at
    the version read, so the credit limit and hold that were judged are the ones still in force.
    """
    if not entries:
        return []
    conditions = ["attribute_exists(pk)",
                  "(entries = :seq OR attribute_not_exists(entries))" if customer.entries == 0 else "entries = :seq"]
    values: dict[str, Any] = {":seq": customer.entries, ":n": entries[-1].seq, ":b": entries[-1].balance_after}
    if credit_checked:
        conditions.append("(version = :v OR attribute_not_exists(version))" if customer.version == 1
                          else "version = :v")
        values[":v"] = customer.version
    ops = [store.update(customer_key(company_id, customer.code), "SET entries = :n, balance = :b",
                        values=values, condition=" AND ".join(conditions))]
    pk = ledger_pk(company_id, customer.code)
    for entry in entries:
        ops.append(store.put({"pk": pk, "sk": guard_sk(entry.entry_id), "kind": "LEDGER_SOURCE",
                              "entry_sk": entry_sk(entry)}, condition="attribute_not_exists(pk)"))
        ops.append(store.put(to_item(entry, pk=pk, sk=entry_sk(entry), kind="LEDGER_ENTRY"),
                             condition="attribute_not_exists(pk)"))
    return ops


def entries_after(customer: Customer, postings: Sequence[Posting], currency: str,
                  at: datetime | None = None) -> list[LedgerEntry]:
    return ledger.post(customer.code, customer.balance, customer.entries, postings, at or clock.now(), currency)


@dataclass
class Posted:
    entries: list[LedgerEntry] = field(default_factory=list)
    already: list[int] = field(default_factory=list)  # postings whose source was posted before (skipped)


def post(db: Store, company_id: str, code: str, postings: Sequence[Posting],
         documents: Sequence[list[store.Op]] | None = None) -> Posted:
    """Append postings to one customer's ledger, each with its document's items (`documents[i]`),
    in as few transactions as fit. A posting whose guard or document condition fails was posted
    before: it is reported in `already`, never written twice."""
    docs = list(documents) if documents is not None else [[] for _ in postings]
    currency = network_svc.get_company(db, company_id).currency
    result = Posted()
    size = 2 + max((len(d) for d in docs), default=0)
    per = (store.MAX_TRANSACTION_ITEMS - 1) // size
    todo = list(range(len(postings)))
    customer: Customer | None = None
    while todo:
        chunk, todo = todo[:per], todo[per:]
        customer = _post_chunk(db, company_id, code, currency, [(i, postings[i], docs[i]) for i in chunk], result,
                               customer)
    return result


def _post_chunk(db: Store, company_id: str, code: str, currency: str,
                chunk: list[tuple[int, Posting, list[store.Op]]], result: Posted,
                known: Customer | None) -> Customer | None:
    """One transaction's worth; returns the customer as this chunk left it (the next chunk starts from it
    without reading it again: its `entries` condition still refuses a customer that moved meanwhile)."""
    todo = list(chunk)

    def attempt() -> None:
        nonlocal todo, known
        if not todo:
            return
        customer, known = known or require_customer(db, company_id, code), None
        entries = entries_after(customer, [p for _, p, _ in todo], currency)
        customer_ops = append_ops(company_id, customer, entries)
        ops, at = [customer_ops[0]], []
        for n, (_, _, doc) in enumerate(todo):
            at.append(len(ops))
            ops += [*doc, *customer_ops[1 + 2 * n: 3 + 2 * n]]
        try:
            db.transact(ops)
        except ConditionFailed as e:
            # Posted before: its document or its guard exists. Its entry's key alone taken means the
            # customer moved on (another append used that number): read again, not "already posted".
            done = [n for n, (_, _, doc) in enumerate(todo)
                    if any(e.failed_at(at[n] + k) for k in range(len(doc) + 1))]
            result.already.extend(todo[n][0] for n in done)  # posted before: skipped, not written twice
            todo = [c for n, c in enumerate(todo) if n not in done]
            if not done and not e.failed_at(0):
                raise
            raise LostRace from e  # the customer moved (another append), or the rest must go again
        result.entries.extend(entries)
        known = customer.model_copy(update={"entries": entries[-1].seq, "balance": entries[-1].balance_after})
        todo = []

    retrying(attempt, f"the account of customer {code}", ATTEMPTS)
    return known


def entry_for_source(db: Store, company_id: str, code: str, entry_id: str) -> LedgerEntry | None:
    guard = db.get(ledger_pk(company_id, code), guard_sk(entry_id))
    if guard is None:
        return None
    item = db.get(ledger_pk(company_id, code), guard["entry_sk"])
    return LedgerEntry.model_validate(plain(item)) if item else None


# -- statements ---------------------------------------------------------------------------------

class Statement(Model):
    customer_code: str
    currency: str
    balance: Decimal = Field(description="what the customer owes now (the sum of its whole ledger)")
    opening_balance: Decimal | None = Field(
        default=None, description="the balance before this page's first entry; null when the page is empty")
    entries: list[LedgerEntry] = Field(description="in posting order; balance_after is the running balance")
    next_token: str | None = Field(default=None, description="pass back for the next page; null on the last")


def statement(db: Store, company_id: str, code: str, start: date | None, end: date | None, limit: int,
              next_token: str | None) -> Statement:
    customer = require_customer(db, company_id, code, field="path")
    if start and end and start > end:
        raise Invalid("from must not be after to", field="query.from")
    low = f"E#{start.isoformat()}" if start else "E#"
    high = f"E#{end.isoformat()}#~" if end else "E#~"
    # Each entry keeps its balance_after, so a page's opening balance needs nothing of the pages before it.
    items, token = paging.read(db, company_id, ledger_pk(company_id, code), between=(low, high), consistent=True,
                               limit=limit, token=next_token)
    page = [LedgerEntry.model_validate(plain(i)) for i in items]
    currency = page[0].currency if page else network_svc.get_company(db, company_id).currency
    return Statement(customer_code=code, currency=currency, balance=customer.balance,
                     opening_balance=ledger.opening_balance(page[0]) if page else None, entries=page,
                     next_token=token)


# -- payments and adjustments -------------------------------------------------------------------

class PaymentIn(Input):
    reference: Id = Field(description="check or transfer number: one payment per reference, so a repeated "
                                      "request posts once")
    amount: Decimal = Field(gt=0, le=MAX_MONEY, max_digits=12, decimal_places=2, allow_inf_nan=False)
    payment_date: date | None = Field(default=None, description="default: today")
    memo: Note | None = None


class AdjustmentIn(Input):
    reference: Id = Field(description="one adjustment per reference")
    amount: Decimal = Field(ge=-MAX_MONEY, le=MAX_MONEY, max_digits=12, decimal_places=3, allow_inf_nan=False,
                            description="+ raises what the customer owes, - lowers it; not 0")
    adjustment_date: date | None = None
    memo: Note = Field(min_length=1, description="why: an adjustment always says")


def record_payment(db: Store, caller: Caller, code: str, body: PaymentIn) -> LedgerEntry:
    return _record(db, caller, code, ledger.posting(EntryType.PAYMENT, body.reference, body.amount,
                                                    body.payment_date or clock.now().date(), caller.user_id,
                                                    body.memo))


def record_adjustment(db: Store, caller: Caller, code: str, body: AdjustmentIn) -> LedgerEntry:
    return _record(db, caller, code, ledger.posting(EntryType.ADJUSTMENT, body.reference, body.amount,
                                                    body.adjustment_date or clock.now().date(), caller.user_id,
                                                    body.memo))


def _record(db: Store, caller: Caller, code: str, p: Posting) -> LedgerEntry:
    require_customer(db, caller.company_id, code, field="path")
    posted = post(db, caller.company_id, code, [p])
    if posted.entries:
        return posted.entries[0]
    existing = entry_for_source(db, caller.company_id, code, p.entry_id)
    if existing is None or existing.amount != p.amount:
        raise Conflict(f"{p.entry_type.value.lower()} {p.source} is already posted with another amount")
    return existing


# -- customer invoices --------------------------------------------------------------------------

def invoice_ops(currency: str, customer: Customer, invoice: CustomerInvoice, by: str, *,
                credit_checked: bool) -> tuple[list[store.Op], LedgerEntry]:
    """A new invoice and its ledger entry (the customer's balance moves in the same transaction)."""
    p = ledger.posting(ENTRY_TYPE[invoice.source], invoice.invoice_id, invoice.total, invoice.invoice_date, by)
    (entry,) = entries_after(customer, [p], currency)
    ops = [store.put(to_item(invoice, **invoice_keys(invoice), kind="ARINV"),
                     condition="attribute_not_exists(pk)"),
           *append_ops(invoice.company_id, customer, [entry], credit_checked=credit_checked)]
    return ops, entry


def next_invoice_number(db: Store, company_id: str) -> tuple[str, store.Op]:
    """The next customer invoice number and the transaction item that takes it, conditional on the
    number read: two invoices never share a number, and a transaction that fails takes none (no gaps)."""
    return _taking_number(company_id, db.get(keys.company_pk(company_id), COUNTER_SK))


def read_invoice_number(reads: Reads, company_id: str) -> Callable[[], tuple[str, store.Op]]:
    """`next_invoice_number`, its counter read with others in one batch (store.Reads)."""
    found = reads.want({"pk": keys.company_pk(company_id), "sk": COUNTER_SK})
    return lambda: _taking_number(company_id, found())


def _taking_number(company_id: str, counter: Item | None) -> tuple[str, store.Op]:
    last = int(counter["last"]) if counter else 0
    item = {"pk": keys.company_pk(company_id), "sk": COUNTER_SK, "kind": "COUNTER", "last": last + 1}
    if counter is None:
        return customer_invoice_id(last + 1), store.put(item, condition="attribute_not_exists(pk)")
    return customer_invoice_id(last + 1), store.put(item, condition="#last = :last", values={":last": last},
                                                    names={"#last": "last"})


def _imported(item: Item) -> CustomerInvoice:
    """An open invoice brought in by Data Import, as one of the customer's invoices."""
    charges = sum((Decimal(str(c["amount"])) for c in item.get("additional_charges", [])), Decimal("0"))
    return CustomerInvoice(
        invoice_id=item["ref_no"], company_id=item["pk"].removeprefix("C#"), customer_code=item["customer_code"],
        invoice_date=item["invoice_date"], customer_po=item.get("customer_po"), ref_no=item["ref_no"],
        carrier=item.get("carrier"), location=item.get("location"), additional_charges=charges,
        total=item["total"], balance=item["balance"], source=CustomerInvoiceSource.IMPORT,
        created_by=f"import {item.get('import_job_id')}", created_at=item["imported_at"])


def list_invoices(db: Store, company_id: str, customer_code: str | None, limit: int,
                  token: str | None) -> "Page[CustomerInvoice]":
    """A page of the company's customer invoices: those billed from staging or raised by hand, by number,
    then those imported as open invoices, by invoice number; of one customer if `customer_code` is given
    (read from that customer's entries on gsi2, so the page costs the page, whatever the other customers')."""
    if customer_code:
        pk, index = keys.customer_invoices_pk(company_id, customer_code), "gsi2"
    else:
        pk, index = keys.company_pk(company_id), None
    parts = [paging.Query(pk, prefix, index=index) for prefix in ("ARINV#", "INVREF#")]
    items, next_token = paging.read_parts(db, company_id, parts, limit=limit, token=token)
    return Page(items=[_imported(i) if i["sk"].startswith("INVREF#") else CustomerInvoice.model_validate(plain(i))
                       for i in items], next_token=next_token)


def get_invoice(db: Store, company_id: str, invoice_id: str) -> CustomerInvoice:
    key = invoice_key(company_id, invoice_id)
    item = db.get(key["pk"], key["sk"])
    if item is None:
        imported = db.get(keys.company_pk(company_id), f"INVREF#{invoice_id}")
        if imported is None:
            raise NotFound(f"invoice {invoice_id} not found")
        return _imported(imported)
    return CustomerInvoice.model_validate(plain(item))


class HandLineIn(Input):
    line_id: Id | None = Field(default=None, description=(
        "an inventory line of the company (its own or K2K-received): its boxes leave inventory"))
    product: Name | None = Field(default=None, description="what is invoiced, when no inventory line is named")
    boxes: LineBoxes
    unit_type: Literal["STEM", "BUNCH"] | None = Field(default=None, description="default: the line's, else BUNCH")
    units: StockBoxes | None = Field(default=None, description="stems or bunches; default: boxes x the line's units")
    unit_price: UnitMoney = Field(description="$0.00 is allowed")

    @model_validator(mode="after")
    def _named(self) -> Self:
        if self.line_id is None and (self.product is None or self.units is None):
            raise ValueError("a line names an inventory line_id, or a product and its units")
        return self


class HandInvoiceIn(Input):
    customer_code: Code
    invoice_date: date | None = Field(default=None, description="default: today")
    customer_po: Tag | None = None
    lines: list[HandLineIn] = Field(min_length=1, max_length=30)
    request_id: Id | None = Field(default=None, description=(
        "your key for this request: sending it again returns the invoice it raised instead of a second one"))


class VoidIn(Input):
    reason: Note = Field(min_length=1)


def _hand_lines(db: Store, company_id: str, body: HandInvoiceIn) -> list[CustomerInvoiceLine]:
    lines = []
    for n, line in enumerate(body.lines):
        if line.line_id is not None:
            try:
                stock = inventory_svc.get_line(db, company_id, line.line_id)
            except NotFound as e:
                raise Invalid(f"inventory line {line.line_id} not found", field=f"lines.{n}.line_id") from e
            unit_type = line.unit_type or stock.unit_type.value
            units = line.units if line.units is not None else line.boxes * pricing.units_per_box(
                unit_type, stock.bunches_per_box, stock.stems_per_bunch)
            lines.append(CustomerInvoiceLine(
                box_code=stock.box_code, line_id=stock.line_id, product=line.product or stock.product,
                boxes=line.boxes, unit_type=unit_type, units=units, unit_price=line.unit_price,
                total=cents(units * line.unit_price)))
        else:
            assert line.product is not None and line.units is not None
            lines.append(CustomerInvoiceLine(product=line.product, boxes=line.boxes,
                                             unit_type=line.unit_type or "BUNCH", units=line.units,
                                             unit_price=line.unit_price, total=cents(line.units * line.unit_price)))
    return lines


def _moves(company_id: str, lines: Sequence[CustomerInvoiceLine], direction: int) -> list[inventory_svc.StockMove]:
    """The invoice's boxes leaving (-1) or coming back to (+1) the company's inventory lines."""
    return inventory_svc.merged([inventory_svc.StockMove(company_id, line.line_id, line.box_code or "",
                                                         on_hand=direction * line.boxes)
                                 for line in lines if line.line_id])


def raise_invoice(db: Store, caller: Caller, body: HandInvoiceIn) -> CustomerInvoice:
    """An invoice raised by hand: numbered without gaps, its inventory boxes taken out, its entry posted,
    all in one transaction. No credit check: raising it by hand is the decision (automatic billing checks)."""
    company = network_svc.get_company(db, caller.company_id)
    require_customer(db, caller.company_id, body.customer_code)
    lines = _hand_lines(db, caller.company_id, body)
    moves = _moves(caller.company_id, lines, -1)
    pk = keys.company_pk(caller.company_id)
    request_sk = f"ARREQ#{body.request_id}" if body.request_id else None

    def attempt() -> CustomerInvoice:
        if request_sk and (seen := db.get(pk, request_sk)) is not None:
            return get_invoice(db, caller.company_id, seen["invoice_id"])
        if (before := idempotency.done(db, CustomerInvoice)) is not None:  # a keyed request's re-execution
            return before  # type: ignore[no-any-return]
        customer = require_customer(db, caller.company_id, body.customer_code)
        invoice_id, take_number = next_invoice_number(db, caller.company_id)
        now = clock.now()
        total = cents(sum((line.total for line in lines), Decimal("0")))
        invoice = CustomerInvoice(
            invoice_id=invoice_id, company_id=caller.company_id, customer_code=customer.code,
            invoice_date=body.invoice_date or now.date(), customer_po=body.customer_po, lines=lines,
            total=total, balance=total, source=CustomerInvoiceSource.HAND, created_by=caller.user_id,
            created_at=now)
        stock_ops = [m.op() for m in moves]
        ops = [*stock_ops, take_number]
        if request_sk:
            ops.append(store.put({"pk": pk, "sk": request_sk, "kind": "ARREQ", "invoice_id": invoice.invoice_id},
                                 condition="attribute_not_exists(pk)"))
        posting_ops, _ = invoice_ops(company.currency, customer, invoice, caller.user_id, credit_checked=False)
        ops += posting_ops
        ops += inventory_svc.events(moves)
        ops += idempotency.outcome(CustomerInvoice, invoice)
        try:
            db.transact(ops)
        except ConditionFailed as e:
            for n, move in enumerate(moves):
                refused = inventory_svc.refusal(db, move) if e.failed_at(n) else None
                if isinstance(refused, Conflict):
                    raise refused from e  # removed, on hold, or only N left: said from a fresh read
            raise LostRace from e  # the number, the customer or the request was taken meanwhile: again
        return invoice

    return retrying(attempt, "the customer invoice numbers", ATTEMPTS)


def void_invoice(db: Store, caller: Caller, invoice_id: str, body: VoidIn) -> CustomerInvoice:
    """Void: the invoice is marked VOID, a reversal entry posted, and boxes taken from inventory go back."""
    company = network_svc.get_company(db, caller.company_id)

    def attempt() -> CustomerInvoice:
        invoice = get_invoice(db, caller.company_id, invoice_id)
        changed = voided(invoice, body.reason, clock.now())
        customer = require_customer(db, caller.company_id, invoice.customer_code)
        p = ledger.posting(EntryType.VOID, invoice.invoice_id, invoice.total, changed.voided_at.date()
                           if changed.voided_at else clock.now().date(), caller.user_id, body.reason)
        entries = entries_after(customer, [p], company.currency)
        back = inventory_svc.present(db, _moves(caller.company_id, invoice.lines, +1))  # a removed line: nowhere
        ops = [store.put(to_item(changed, **invoice_keys(changed), kind="ARINV"),
                         condition="version = :v", values={":v": invoice.version}),
               *append_ops(caller.company_id, customer, entries),
               *[m.op() for m in back], *inventory_svc.events(back)]
        try:
            db.transact(ops)
        except ConditionFailed as e:
            raise LostRace from e  # the invoice, the customer or a line moved: read again (a second void: 409)
        return changed

    return retrying(attempt, f"invoice {invoice_id}", ATTEMPTS)
