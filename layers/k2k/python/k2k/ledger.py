"""The receivables ledger: what a customer owes, entry by entry. Plain rules, no AWS.

A customer's ledger is append-only. Every entry has a type, a signed amount in
the company's currency (+ raises what the customer owes, - lowers it), the
document it comes from, who posted it and when. Its id is derived from that
document (`entry_id`), so posting the same document twice is refused by the
store, not by a read. Entries are numbered per customer (`seq`) and each
carries the balance after it: the balance is the sum of the ledger, kept with
the entry that moves it, and a statement's running balance is read, not
recomputed.
"""

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import Field

from k2k.errors import Invalid
from k2k.models import Model
from k2k.money import ZERO, decimals, to_decimal


class EntryType(StrEnum):
    STAGING_INVOICE = "STAGING_INVOICE"  # billed automatically when K2K boxes are received from staging
    HAND_INVOICE = "HAND_INVOICE"  # raised by hand (any price, $0.00 included)
    IMPORTED_INVOICE = "IMPORTED_INVOICE"  # an Open Invoices row from another system
    IMPORTED_CREDIT = "IMPORTED_CREDIT"  # an Open Credits row
    PAYMENT = "PAYMENT"
    ADJUSTMENT = "ADJUSTMENT"
    VOID = "VOID"  # the reversal of a voided invoice


# Which way each type moves the balance. ADJUSTMENT goes either way; VOID is the opposite of its invoice.
CHARGES = frozenset({EntryType.STAGING_INVOICE, EntryType.HAND_INVOICE, EntryType.IMPORTED_INVOICE})
CREDITS = frozenset({EntryType.IMPORTED_CREDIT, EntryType.PAYMENT, EntryType.VOID})


def entry_id(kind: EntryType, reference: str) -> str:
    """The entry's id, from the document it posts: the same document can never be posted twice."""
    return f"{kind.value}:{reference}"


def signed(kind: EntryType, amount: Decimal) -> Decimal:
    """A document's amount as the ledger moves the balance by it: exact, as the document has it
    (invoices are in cents; imported balances may carry a third decimal, and keep it)."""
    value = to_decimal(amount)
    if not value.is_finite() or decimals(value) > 3:
        raise Invalid(f"an amount has at most 3 decimals (got {amount})", field="amount")
    if kind in CHARGES:
        if value < ZERO:
            raise Invalid(f"an invoice's amount cannot be negative (got {value})", field="amount")
        return value
    if kind in CREDITS:
        if value <= ZERO and kind is not EntryType.VOID:
            raise Invalid(f"a {kind.value.lower().replace('_', ' ')} must be more than 0.00 (got {value})",
                          field="amount")
        return -abs(value) if value else abs(value)  # a $0.00 invoice's reversal is 0.00, not -0.00
    if value == ZERO:
        raise Invalid("an adjustment cannot be 0.00", field="amount")
    return value


class Posting(Model):
    """What is to be posted, before the ledger gives it its place."""

    entry_id: str
    entry_type: EntryType
    amount: Decimal = Field(description="signed: + raises what the customer owes, - lowers it")
    source: str = Field(description="the document posted: invoice id, imported invoice or credit #, payment ref")
    document_date: date
    by: str = Field(description="who posted it: a user id, or the import job")
    memo: str | None = None


class LedgerEntry(Posting):
    customer_code: str
    seq: int = Field(description="1, 2, 3... per customer, in posting order")
    posted_at: datetime
    balance_after: Decimal
    currency: str


def posting(kind: EntryType, reference: str, amount: Decimal, document_date: date, by: str,
            memo: str | None = None) -> Posting:
    return Posting(entry_id=entry_id(kind, reference), entry_type=kind, amount=signed(kind, amount),
                   source=reference, document_date=document_date, by=by, memo=memo)


def post(customer_code: str, balance: Decimal, last_seq: int, postings: Sequence[Posting], at: datetime,
         currency: str) -> list[LedgerEntry]:
    """Place postings after entry `last_seq` of a ledger whose balance is `balance`."""
    entries = []
    for n, p in enumerate(postings, start=1):
        balance = balance + p.amount
        entries.append(LedgerEntry(**p.model_dump(), customer_code=customer_code, seq=last_seq + n,
                                   posted_at=at, balance_after=balance, currency=currency))
    return entries


def opening_balance(first: LedgerEntry) -> Decimal:
    """The balance before an entry (a statement's opening balance)."""
    return first.balance_after - first.amount


def credit_refusal(credit_hold: bool, credit_limit: Decimal | None, balance: Decimal, amount: Decimal) -> str | None:
    """Why this customer must not be billed `amount` now, or None. Judged on the ledger's balance."""
    if credit_hold:
        return "the customer is on credit hold"
    if credit_limit is not None and balance + amount > credit_limit:
        return (f"the invoice ({amount}) would take the customer's balance ({balance}) "
                f"over its credit limit of {credit_limit}")
    return None
