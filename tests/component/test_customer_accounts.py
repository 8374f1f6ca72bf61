"""Customer accounts on emulated DynamoDB (moto): the ledger behind every balance.

Bloom Wholesale bills Flora's Boutique, raises invoices by hand, imports the open
invoices and credits its old system carries, takes payments and voids mistakes;
Flora's balance is always the sum of its ledger, whatever is repeated.
"""

import os
import random
from datetime import date
from decimal import Decimal as D
from unittest import mock

import pytest
from pydantic import ValidationError

from k2k.auth import Caller, Role
from k2k.errors import Conflict, Invalid
from k2k.imports import writers
from k2k.imports.model import ImportType
from k2k.inventory import LineFields
from k2k.ledger import EntryType, LedgerEntry
from k2k.network import CompanyIn, CustomerIn, VendorIn
from k2k.services import accounts, inventory, network
from k2k.store import Store, plain
from tests.fixtures.imports.world import emulated_aws

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ADMIN = Caller(company_id="bloom", user_id="ana", roles=frozenset({Role.ADMIN}))
AT = None  # writers take the import's time; the ledger takes the clock's


@pytest.fixture
def db():
    with emulated_aws() as world:
        operator = Caller(company_id="", user_id="op", roles=frozenset({Role.OPERATOR}))
        network.create_company(world.db, operator, CompanyIn.model_validate(
            {"company_id": "bloom", "name": "Bloom Wholesale", "locations": [{"code": "MIA", "name": "Miami"}]}))
        accounts.put_customer(world.db, ADMIN, "FLORA", CustomerIn(name="Flora's Boutique", credit_limit=D("500")))
        yield world.db


def flora(db: Store):
    return accounts.get_customer(db, "bloom", "FLORA")


def ledger_entries(db: Store, company_id: str, code: str) -> list[LedgerEntry]:
    """The customer's whole ledger, in posting order."""
    return [LedgerEntry.model_validate(plain(i))
            for i in db.query(accounts.ledger_pk(company_id, code), "E#", consistent=True)]


def assert_books_balance(db: Store, code: str = "FLORA") -> list:
    """The customer's balance is the sum of its ledger, numbered without gaps, each source once."""
    entries = ledger_entries(db, "bloom", code)
    customer = accounts.get_customer(db, "bloom", code)
    assert customer.balance == sum((e.amount for e in entries), D("0"))
    assert [e.seq for e in entries] == list(range(1, customer.entries + 1))
    assert len({e.entry_id for e in entries}) == len(entries)
    return entries


def hand(db, code="FLORA", price="10.00", units=10, request_id=None, **line):
    body = {"customer_code": code, "request_id": request_id,
            "lines": [line or {"product": "Rose Freedom 50cm", "boxes": 1, "units": units, "unit_price": price}]}
    return accounts.raise_invoice(db, ADMIN, accounts.HandInvoiceIn.model_validate(body))


def import_rows(db, kind, job, rows):
    from datetime import UTC, datetime
    return writers.write_keyed(db, kind, "bloom", job, rows, datetime(2026, 12, 1, tzinfo=UTC))


def invoice_row(no, amount, code="FLORA"):
    return {"invoice_no": no, "customer_code": code, "invoice_date": date(2026, 11, 20), "customer_po": f"PO-{no}",
            "location": "MIA", "balance": D(amount)}


def credit_row(no, amount, code="FLORA"):
    return {"credit_no": no, "customer_code": code, "credit_date": date(2026, 11, 21), "location": "MIA",
            "balance": D(amount), "description": "returned boxes"}


# -- customers ------------------------------------------------------------------------------------

def test_renaming_a_customer_keeps_its_balance_and_a_stale_version_is_refused(db):
    hand(db, price="26.00")  # 260.00 owed
    renamed = accounts.put_customer(db, ADMIN, "FLORA", CustomerIn(name="Flora Events", credit_limit=D("500"),
                                                                   version=1))
    assert (renamed.name, renamed.balance, renamed.version, renamed.entries) == ("Flora Events", D("260.00"), 2, 1)
    with pytest.raises(Conflict, match="version 2, not 1"):
        accounts.put_customer(db, ADMIN, "FLORA", CustomerIn(name="Flora Again", version=1))
    with pytest.raises(Conflict, match="send the version"):
        accounts.put_customer(db, ADMIN, "FLORA", CustomerIn(name="Flora Again"))
    assert flora(db).name == "Flora Events" and flora(db).balance == D("260.00")


def test_a_request_cannot_carry_the_balance(db):
    with pytest.raises(ValidationError, match="balance"):
        CustomerIn.model_validate({"name": "Flora", "balance": "0", "version": 1})


# -- invoices, voids, payments ----------------------------------------------------------------------

def test_a_zero_dollar_transfer_invoice_takes_its_boxes_out_of_inventory_and_its_void_puts_them_back(db):
    line = inventory.create_line(db, ADMIN, LineFields(
        box_code="HG-VASE", product="Glass vase 8in", unit_type="BUNCH", bunches_per_box=12, boxes_on_hand=5,
        location="MIA"))
    invoice = hand(db, line_id=line.line_id, boxes=3, unit_price="0")
    assert (invoice.invoice_id, invoice.total, invoice.lines[0].units) == ("AR-000001", D("0.00"), 36)
    assert inventory.get_line(db, "bloom", line.line_id).boxes_on_hand == 2
    [entry] = assert_books_balance(db)
    assert (entry.entry_type, entry.amount, entry.source) == (EntryType.HAND_INVOICE, D("0.00"), "AR-000001")
    with pytest.raises(Conflict, match="only 2 boxes of HG-VASE are left"):
        hand(db, line_id=line.line_id, boxes=3, unit_price="1")
    assert hand(db).invoice_id == "AR-000002"  # the refused one took no number

    voided = accounts.void_invoice(db, ADMIN, "AR-000001", accounts.VoidIn(reason="wrong production run"))
    assert voided.status == "VOID" and inventory.get_line(db, "bloom", line.line_id).boxes_on_hand == 5
    with pytest.raises(Conflict, match="already void"):
        accounts.void_invoice(db, ADMIN, "AR-000001", accounts.VoidIn(reason="again"))
    kinds = [(e.entry_type, e.amount) for e in assert_books_balance(db)]
    assert kinds == [(EntryType.HAND_INVOICE, D("0.00")), (EntryType.HAND_INVOICE, D("100.00")),
                     (EntryType.VOID, D("0.00"))]


def test_a_repeated_hand_invoice_request_and_a_repeated_payment_post_once(db):
    first = hand(db, request_id="req-1")
    assert hand(db, request_id="req-1").invoice_id == first.invoice_id
    payment = accounts.PaymentIn(reference="CHK-88", amount=D("40"))
    one = accounts.record_payment(db, ADMIN, "FLORA", payment)
    assert accounts.record_payment(db, ADMIN, "FLORA", payment) == one
    with pytest.raises(Conflict, match="another amount"):
        accounts.record_payment(db, ADMIN, "FLORA", accounts.PaymentIn(reference="CHK-88", amount=D("41")))
    assert flora(db).balance == D("60.00") and len(assert_books_balance(db)) == 2


# -- imports ------------------------------------------------------------------------------------------

def test_imported_open_invoices_and_credits_move_the_balance_once_even_when_the_job_runs_again(db):
    assert import_rows(db, ImportType.OPEN_INVOICES, "job-1", [(2, invoice_row("A-1", "205.50")),
                                                                (3, invoice_row("A-2", "0.375"))]) == []
    assert import_rows(db, ImportType.OPEN_CREDITS, "job-2", [(2, credit_row("CR-1", "45.10"))]) == []
    assert flora(db).balance == D("160.775")
    # The same job again (a retried worker): nothing twice.
    assert import_rows(db, ImportType.OPEN_INVOICES, "job-1", [(2, invoice_row("A-1", "205.50"))]) == []
    # Another file with the same number: rejected, not posted.
    lost = import_rows(db, ImportType.OPEN_INVOICES, "job-3", [(5, invoice_row("A-1", "999"))])
    assert lost == [(5, "Invoice #: A-1 is already in K2K (not overwritten)")]
    assert flora(db).balance == D("160.775") and len(assert_books_balance(db)) == 3
    invoices = accounts.list_invoices(db, "bloom", "FLORA", 50, None).items
    assert [(i.invoice_id, i.source, i.total) for i in invoices] == [("A-1", "IMPORT", D("205.50")),
                                                                     ("A-2", "IMPORT", D("0.375"))]


def test_many_rows_for_one_customer_stay_under_the_transaction_limit(db):
    rows = [(n, invoice_row(f"B-{n}", "1.25")) for n in range(2, 102)]  # 100 rows: 300 items to write
    assert import_rows(db, ImportType.OPEN_INVOICES, "job-big", rows) == []
    assert flora(db).balance == D("125.00") and len(assert_books_balance(db)) == 100


def test_one_posting_reads_the_customer_once_and_again_only_when_another_append_moved_it(db, monkeypatch):
    """accounts.post carries the customer from one 33-row transaction to the next; a customer moved by
    another append in between fails the next transaction's condition and is read again."""
    real_transact, real_get = db.transact, db.get
    transactions, import_reads, racing_now = [], [], []

    def racing(ops, **kwargs):
        real_transact(ops, **kwargs)
        transactions.append(len(ops))
        if len(transactions) == 1:  # a hand invoice lands between the import's first and second transaction
            racing_now.append(True)
            hand(db, price="5.00", units=1)
            racing_now.clear()

    def counted(pk, sk, **kwargs):
        if sk == "CUSTOMER#FLORA" and not racing_now:
            import_reads.append(sk)
        return real_get(pk, sk, **kwargs)

    monkeypatch.setattr(db, "transact", racing)
    monkeypatch.setattr(db, "get", counted)
    rows = [(n, invoice_row(f"R-{n}", "1.25")) for n in range(2, 102)]  # 100 rows: 4 transactions
    assert import_rows(db, ImportType.OPEN_INVOICES, "job-r", rows) == []  # none taken for "already posted"
    assert len(import_reads) == 2  # at the start, and again after the hand invoice moved the customer
    assert flora(db).balance == D("130.00") and len(assert_books_balance(db)) == 101


def test_the_customer_and_vendor_that_are_a_k2k_company_are_found_by_key_and_follow_their_edits(db, monkeypatch):
    """Issue 13: a connection's setup check read every customer (or vendor) of the company to find the one
    that is the other company; a link item per record now answers by key, and moves with k2k_company_id."""
    for n in range(30):
        accounts.put_customer(db, ADMIN, f"C{n:03d}", CustomerIn(name=f"Customer {n}"))
    accounts.put_customer(db, ADMIN, "PETAL", CustomerIn(name="Petal & Stem", k2k_company_id="petal"))
    network.put_vendor(db, ADMIN, "ROSA", VendorIn(name="Rosaflor", k2k_company_id="rosaflor"))
    queries = []
    real_query = db.db.query

    def counted(**kwargs):
        out = real_query(**kwargs)
        queries.append(out["ScannedCount"])
        return out

    monkeypatch.setattr(db.db, "query", counted)
    assert accounts.customer_linked_to(db, "bloom", "petal").code == "PETAL"
    assert network.vendor_linked_to(db, "bloom", "rosaflor").code == "ROSA"
    assert queries == [1, 1]  # one link item each, not the company's 31 customers
    assert accounts.customer_linked_to(db, "bloom", "rosaflor") is None
    # Relinked to another company, then unlinked: the links follow in the record's own transaction.
    petal = accounts.get_customer(db, "bloom", "PETAL")
    moved = accounts.put_customer(db, ADMIN, "PETAL", CustomerIn(name="Petal & Stem", k2k_company_id="petal-2",
                                                                  version=petal.version))
    assert moved.k2k_company_id == "petal-2" and moved.version == petal.version + 1
    assert accounts.customer_linked_to(db, "bloom", "petal") is None
    assert accounts.customer_linked_to(db, "bloom", "petal-2").code == "PETAL"
    accounts.put_customer(db, ADMIN, "PETAL", CustomerIn(name="Petal & Stem", version=moved.version))
    assert accounts.customer_linked_to(db, "bloom", "petal-2") is None
    network.put_vendor(db, ADMIN, "ROSA", VendorIn(name="Rosaflor"))
    assert network.vendor_linked_to(db, "bloom", "rosaflor") is None
    network.put_vendor(db, ADMIN, "ROSA2", VendorIn(name="Rosaflor (Bogota)", k2k_company_id="rosaflor"))
    network.put_vendor(db, ADMIN, "ROSA", VendorIn(name="Rosaflor", k2k_company_id="rosaflor"))
    assert network.vendor_linked_to(db, "bloom", "rosaflor").code == "ROSA"  # several: the first by code


# -- statements ---------------------------------------------------------------------------------------

def test_a_statement_pages_through_the_ledger_with_its_running_balance_and_filters_by_date(db):
    for n in range(5):
        hand(db, price=f"{n + 1}.00")  # 10, 20, 30, 40, 50
    with mock.patch.dict(os.environ, {"K2K_CLOCK_OFFSET_SECONDS": str(3 * 86400)}):
        accounts.record_payment(db, ADMIN, "FLORA", accounts.PaymentIn(reference="CHK-1", amount=D("100")))
    page = accounts.statement(db, "bloom", "FLORA", None, None, 2, None)
    assert [e.balance_after for e in page.entries] == [D("10.00"), D("30.00")] and page.opening_balance == 0
    page = accounts.statement(db, "bloom", "FLORA", None, None, 2, page.next_token)
    assert [e.balance_after for e in page.entries] == [D("60.00"), D("100.00")]
    assert page.opening_balance == D("30.00")
    page = accounts.statement(db, "bloom", "FLORA", None, None, 2, page.next_token)
    assert [e.entry_type for e in page.entries] == [EntryType.HAND_INVOICE, EntryType.PAYMENT]
    assert page.next_token is None
    later = page.entries[-1].posted_at.date()
    only = accounts.statement(db, "bloom", "FLORA", later, later, 50, None)
    assert [(e.entry_type, e.balance_after) for e in only.entries] == [(EntryType.PAYMENT, D("50.00"))]
    assert only.opening_balance == D("150.00") and only.balance == D("50.00")


def test_a_statement_token_from_another_company_or_customer_is_refused(db):
    accounts.put_customer(db, ADMIN, "OTHER", CustomerIn(name="Other"))
    for _ in range(2):
        hand(db)
    token = accounts.statement(db, "bloom", "FLORA", None, None, 1, None).next_token
    with pytest.raises(Invalid, match="next_token"):
        accounts.statement(db, "bloom", "OTHER", None, None, 1, token)
    with pytest.raises(Invalid, match="next_token"):
        accounts.statement(db, "bloom", "FLORA", None, None, 1, "bm90LWEtdG9rZW4")


# -- the walk -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(12))
def test_any_interleaving_of_billing_voids_imports_credits_and_repeats_keeps_the_books(db, seed):
    """Hand invoices, voids, payments, imported invoices and credits in a random order, each sometimes
    sent twice (a retried request or import job): every document is posted once, the balance is the
    sum of the ledger, and it equals what the documents say it should be."""
    rng = random.Random(seed)
    expected = D("0")
    open_invoices: list = []
    for step in range(14):
        action = rng.choice(["hand", "void", "pay", "import", "credit"])
        times = 2 if rng.random() < 0.4 else 1
        if action == "hand":
            price = D(rng.randint(0, 5000)) / 100
            invoice = None
            for _ in range(times):
                invoice = hand(db, price=str(price), request_id=f"walk-{seed}-{step}")
            open_invoices.append(invoice)
            expected += invoice.total
        elif action == "void" and open_invoices:
            invoice = open_invoices.pop(rng.randrange(len(open_invoices)))
            accounts.void_invoice(db, ADMIN, invoice.invoice_id, accounts.VoidIn(reason="walk"))
            if times == 2:
                with pytest.raises(Conflict):
                    accounts.void_invoice(db, ADMIN, invoice.invoice_id, accounts.VoidIn(reason="walk"))
            expected -= invoice.total
        elif action == "pay":
            amount = D(rng.randint(1, 3000)) / 100
            for _ in range(times):
                accounts.record_payment(db, ADMIN, "FLORA", accounts.PaymentIn(reference=f"P-{step}", amount=amount))
            expected -= amount
        elif action in ("import", "credit"):
            amount = D(rng.randint(1, 99999)) / 1000
            kind, row = ((ImportType.OPEN_INVOICES, invoice_row(f"I-{step}", amount)) if action == "import"
                         else (ImportType.OPEN_CREDITS, credit_row(f"C-{step}", amount)))
            for _ in range(times):
                assert import_rows(db, kind, f"job-{step}", [(2, row)]) == []
            expected += amount if action == "import" else -amount
        assert flora(db).balance == expected
    entries = assert_books_balance(db)
    # Every invoice, whatever its source, is listed once, and each has its entry (read two a page: the pages
    # run through those raised by hand, then the imported ones).
    invoices, token = [], None
    while True:
        page = accounts.list_invoices(db, "bloom", "FLORA", 2, token)
        invoices += page.items
        if (token := page.next_token) is None:
            break
    assert len({i.invoice_id for i in invoices}) == len(invoices)
    assert {i.invoice_id for i in invoices} == {e.source for e in entries if e.entry_type in (
        EntryType.HAND_INVOICE, EntryType.IMPORTED_INVOICE)}
