"""The import worker on emulated AWS: a workbook dropped into the company's folder, imported once, reported.

Bloom Wholesale (two locations, MIA and NYC) imports the open invoices and
credits its old system still carries, and Rosaflor Farms its boxes.
"""

import json
from datetime import date
from decimal import Decimal as D

import pytest

from k2k.auth import Caller, Role
from k2k.imports import pending, service
from tests.fixtures.imports import workbooks as wb
from tests.fixtures.imports.world import DOCS, emulated_aws

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def world():
    with emulated_aws() as w:
        w.company("bloom", locations=("MIA", "NYC"), customers=("PETALS", "ROSEBUD"),
                  notification_emails=("ar@bloom.example.com",))
        w.company("tulipa", customers=("PETALS",))
        w.company("rosaflor", locations=("FARM",), vendors=("ECUAROSE",), notification_emails=("ops@rosaflor.example",))
        yield w


def only_job(world, company_id):
    jobs = world.jobs(company_id)
    assert len(jobs) == 1, jobs
    return jobs[0]


def test_a_dropped_invoice_file_is_imported_and_each_bad_row_is_explained(world):
    file = wb.invoices(
        wb.invoice("A-10021", "PETALS", date(2026, 3, 5), 1250.375, "PO-7781", "MIA"),
        wb.invoice("A-10022", "rosebud", "2026-03-06", "80.5", "PO-7782", "nyc"),  # text date, case forgiven
        wb.invoice("A-10023", "PETALS", "03/06/2026", 10, "PO-7783", "MIA"),  # not YYYY-MM-DD
        wb.invoice("A-10024", "PETALS", date(2026, 3, 5), 12.3456, "PO-7784", "MIA"),  # 4 decimals
        wb.invoice("A-100250000000000000X", "PETALS", date(2026, 3, 5), 5, "PO-7785", "MIA"),  # 21 characters
        wb.invoice("A-10026", "NOBODY", date(2026, 3, 5), 5, "PO-7786", "MIA"),  # unknown customer
        wb.invoice("A-10027", "PETALS", date(2026, 3, 5), 5, "PO-7787", ""),  # multi-location needs one
        wb.invoice("A-10021", "PETALS", date(2026, 3, 5), 5, "PO-7788", "MIA"),  # twice in the file
    )
    out = world.drop("imports/bloom/open-invoices/march.xlsx", file)
    assert out == {"batchItemFailures": []}

    job = only_job(world, "bloom")
    assert job["status"] == "completed_with_errors"
    assert (job["imported"], job["rejected"]) == (2, 6)
    assert job["progress"] == {"rows_read": 8, "rows_total": 8}

    invoice = world.db.get("C#bloom", "INVREF#A-10021")
    assert invoice["carrier"] == "No Carrier"
    assert invoice["balance"] == D("1250.375")
    assert invoice["additional_charges"] == [{"description": "Open balance (imported)", "amount": D("1250.375")}]
    assert (invoice["customer_code"], invoice["location"], invoice["invoice_date"]) == ("PETALS", "MIA", "2026-03-05")
    second = world.db.get("C#bloom", "INVREF#A-10022")
    assert (second["customer_code"], second["location"], second["invoice_date"]) == ("ROSEBUD", "NYC", "2026-03-06")

    rows = world.results(job["results_key"])
    assert rows[0] == [*wb.INVOICE_HEADER, "Row", "Message"]
    messages = {r[-2]: r[-1] for r in rows[1:]}
    assert messages == {
        4: "Invoice Date: must be a date written YYYY-MM-DD (got 03/06/2026)",
        5: "Invoice Balance: at most 3 decimals (got 12.3456)",
        6: "Invoice #: at most 20 characters (got 21)",
        7: "Customer Code: no customer NOBODY in K2K",
        8: "Location Code: required for multi-location companies",
        9: "Invoice #: A-10021 appears more than once in the file (first on row 2)",
    }
    assert rows[1][:5] == ["A-10023", "PETALS", "03/06/2026", 10, "PO-7783"]  # the original cells, as typed

    [email] = world.emails()
    assert email.destinations["ToAddresses"] == ["ar@bloom.example.com"]
    assert "2 imported, 6 rejected" in email.subject
    assert f"/{DOCS}/" in email.body or DOCS in email.body
    [event] = [json.loads(e["detail"]) for e in world.outbox("bloom") if e["detail_type"] == "ImportCompleted"]
    assert event["data"]["status"] == "completed_with_errors"
    assert (event["data"]["imported"], event["data"]["rejected"]) == (2, 6)


def test_open_invoices_are_found_by_customer_po_and_invoice_date(world):
    world.drop("imports/bloom/open-invoices/po.xlsx", wb.invoices(
        wb.invoice("A-1", day=date(2026, 3, 1), po="PO-1", customer="PETALS"),
        wb.invoice("A-2", day=date(2026, 3, 9), po="PO-1", customer="PETALS"),
        wb.invoice("A-3", day=date(2026, 3, 9), po="PO-2", customer="PETALS")))
    by_po = world.db.query("C#bloom#INVPO#PO-1", index="gsi1")
    assert [i["ref_no"] for i in by_po] == ["A-1", "A-2"]
    on_the_9th = world.db.query("C#bloom#INVPO#PO-1", "2026-03-09", index="gsi1")
    assert [i["ref_no"] for i in on_the_9th] == ["A-2"]


def test_an_invoice_number_already_in_k2k_is_rejected_not_overwritten(world):
    world.drop("imports/bloom/open-invoices/first.xlsx", wb.invoices(wb.invoice("A-1", balance=100)))
    world.drop("imports/bloom/open-invoices/second.xlsx", wb.invoices(
        wb.invoice("A-1", balance=999), wb.invoice("A-2", balance=5)))
    second = next(j for j in world.jobs("bloom") if j["filename"] == "second.xlsx")
    assert (second["status"], second["imported"], second["rejected"]) == ("completed_with_errors", 1, 1)
    assert world.db.get("C#bloom", "INVREF#A-1")["balance"] == D("100")
    rows = world.results(second["results_key"])
    assert rows[1][-1] == "Invoice #: A-1 is already in K2K (not overwritten)"


def test_re_dropping_a_file_already_imported_imports_nothing_again(world):
    file = wb.invoices(wb.invoice("A-1"), wb.invoice("A-2"))
    world.drop("imports/bloom/open-invoices/march.xlsx", file)
    world.drop("imports/bloom/open-invoices/march-again.xlsx", file)
    again = next(j for j in world.jobs("bloom") if j["filename"] == "march-again.xlsx")
    assert again["status"] == "failed"
    assert again["failure_reason"].startswith("this file was already imported (job ")
    assert again["imported"] == 0
    assert len(world.emails()) == 2


def test_a_redelivered_event_lands_on_the_same_job_and_changes_nothing(world):
    event = world.put("imports/bloom/open-invoices/march.xlsx", wb.invoices(wb.invoice("A-1")))
    world.deliver(event)
    world.deliver(event)  # EventBridge and SQS deliver at least once
    job = only_job(world, "bloom")
    assert (job["status"], job["imported"]) == ("completed", 1)
    assert len(world.emails()) == 1


def test_a_worker_that_died_halfway_counts_its_own_rows_as_imported_on_the_retry(world, monkeypatch):
    from k2k.imports import writers

    file = wb.invoices(*[wb.invoice(f"A-{i}") for i in range(150)])
    real = writers.write_keyed
    calls = []

    def dies_after_the_first_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise ConnectionError("the worker died")
        return real(*args, **kwargs)

    monkeypatch.setattr(writers, "write_keyed", dies_after_the_first_batch)
    monkeypatch.setattr(service, "WRITE_BATCH", 100)  # writes of 100 rows: the worker dies after the first
    event = world.put("imports/bloom/open-invoices/big.xlsx", file)
    first = world.deliver(event, message_id="m-1")
    assert len(first["batchItemFailures"]) == 1  # SQS will deliver it again
    assert only_job(world, "bloom")["status"] == "processing"
    assert len(world.db.query("C#bloom", "INVREF#")) == 100

    world.deliver(event, message_id="m-1", receive_count=2)
    job = only_job(world, "bloom")
    assert (job["status"], job["imported"], job["rejected"]) == ("completed", 150, 0)
    assert len(world.db.query("C#bloom", "INVREF#")) == 150


def test_the_last_failed_attempt_ends_the_job_as_failed_and_tells_the_uploader(world, monkeypatch):
    from k2k.imports import writers

    def always_down(*args, **kwargs):
        raise ConnectionError("DynamoDB is unreachable")

    monkeypatch.setattr(writers, "write_keyed", always_down)
    out = world.drop("imports/bloom/open-invoices/march.xlsx", wb.invoices(wb.invoice("A-1")), receive_count=3)
    assert len(out["batchItemFailures"]) == 1  # to the DLQ, where the alarm sees it
    job = only_job(world, "bloom")
    assert job["status"] == "failed"
    assert "could not finish" in job["failure_reason"]
    assert "failed" in world.emails()[0].subject


def test_two_imports_racing_on_one_invoice_number_import_it_once(world):
    from k2k.imports import writers

    at = service.jobs.now()
    values = {"invoice_no": "A-1", "customer_code": "PETALS", "invoice_date": date(2026, 3, 5),
              "balance": D("10"), "customer_po": "PO-1", "location": "MIA"}
    assert writers.write_keyed(world.db, service.ImportType.OPEN_INVOICES, "bloom", "job-one", [(2, values)], at) == []
    lost = writers.write_keyed(world.db, service.ImportType.OPEN_INVOICES, "bloom", "job-two", [(2, values)], at)
    assert lost == [(2, "Invoice #: A-1 is already in K2K (not overwritten)")]
    assert world.db.get("C#bloom", "INVREF#A-1")["import_job_id"] == "job-one"


def test_open_credits_become_balance_adjustments_for_the_customer(world):
    file = wb.workbook([wb.CREDIT_HEADER,
                        ["CR-1", "PETALS", "2026-03-05", 80.5, "MIA", "Returned HB"],
                        ["CR-2", "PETALS", "2026-03-05", -3, "MIA", ""]], sheet="Open Credits")
    world.drop("imports/bloom/open-credits/credits.xlsx", file)
    job = only_job(world, "bloom")
    assert (job["imported"], job["rejected"]) == (1, 1)
    credit = world.db.get("C#bloom", "BALADJ#CR-1")
    assert (credit["kind"], credit["amount"], credit["credit_balance"]) == (
        "BALANCE_ADJUSTMENT", D("-80.500"), D("80.500"))
    assert credit["customer_code"] == "PETALS"
    assert world.results(job["results_key"])[1][-1] == "Credit Balance: must be more than 0 (got -3)"


def test_a_file_can_only_import_into_the_company_its_key_names(world):
    world.drop("imports/tulipa/open-invoices/march.xlsx", wb.invoices(wb.invoice("A-1", location="")))
    assert world.db.get("C#tulipa", "INVREF#A-1") is not None
    assert world.db.get("C#bloom", "INVREF#A-1") is None
    # A key naming no company, or no type, imports nothing and fails no message.
    nobody = world.drop("imports/nobody/open-invoices/x.xlsx", wb.invoices(wb.invoice("A-9")))
    assert nobody == {"batchItemFailures": []}
    assert world.drop("imports/bloom/receipts/x.xlsx", wb.invoices(wb.invoice("A-9"))) == {"batchItemFailures": []}
    assert world.db.get("C#bloom", "INVREF#A-9") is None


def test_a_forged_uploader_in_the_object_metadata_never_gets_the_results(world):
    """Defect 10: whoever can put an object can write its metadata; the results (the company's customers,
    invoice numbers, balances) go to the company's configured addresses, never where the object says."""
    world.drop("imports/bloom/open-invoices/march.xlsx", wb.invoices(wb.invoice("A-1")),
               metadata={"uploader": "attacker@evil.example"})
    [email] = world.emails()
    assert email.destinations["ToAddresses"] == ["ar@bloom.example.com"]
    assert only_job(world, "bloom").get("uploaded_by") is None


def test_a_raw_drop_for_a_company_with_no_addresses_tells_nobody_rather_than_the_metadata(world):
    world.drop("imports/tulipa/open-invoices/march.xlsx", wb.invoices(wb.invoice("A-1", location="")),
               metadata={"uploader": "attacker@evil.example"})
    assert only_job(world, "tulipa")["imported"] == 1
    assert world.emails() == []


def test_confirmed_boxes_go_straight_into_inventory_and_to_buyers_through_events(world):
    file = wb.workbook([wb.BOXES_HEADER,
                        ["ECUAROSE", "369-1234", "2026-03-05", "Freedom Red Rose 50cm", 12, "hb", "Stem", 10, 25,
                         0.28, "FARM", 0.35],
                        ["ECUAROSE", "", "2026-03-05", "Gypsophila", 3, "QB", "Bunch", 12, None, 1.1, "", None],
                        ["NOBODY", "", "2026-03-05", "Mondial", 1, "XB", "Stem", 10, None, 0.3, "", None]],
                       sheet="Inventory in Boxes")
    key = "imports/rosaflor/inventory-in-boxes/boxes.xlsx"
    event = world.put(key, file)
    # The confirm option belongs to a job made by the API; a raw drop keeps the boxes pending.
    world.deliver(event)
    job = only_job(world, "rosaflor")
    assert (job["imported"], job["rejected"]) == (2, 1)
    waiting = world.db.query("C#rosaflor#IMPORT", f"PENDING#{job['job_id']}#")
    assert [p["line"]["box_code"] for p in waiting] == [f"{job['job_id']}-2", f"{job['job_id']}-3"]
    assert world.results(job["results_key"])[1][-1] == (
        "Box Type: must be one of EB, QB, HB, FB (got XB); Vendor Code: no vendor NOBODY in K2K; "
        "Stems/Bunch: required when the unit type is Stem")

    admin = Caller(company_id="rosaflor", user_id="ops", roles=frozenset({Role.ADMIN}))
    done = pending.confirm(world.db, admin, pending.PendingSelection(job_id=job["job_id"]))
    assert [c.row for c in done.confirmed] == [2, 3] and done.not_pending == []
    stored = world.db.query("C#rosaflor", "INV#")
    assert sorted(i["product"] for i in stored) == ["Freedom Red Rose 50cm", "Gypsophila"]
    events = [e for e in world.outbox("rosaflor") if e["detail_type"] == "InventoryLineChanged"]
    assert len(events) == 2
    assert world.db.query("C#rosaflor#IMPORT", f"PENDING#{job['job_id']}#") == []
    # Confirming again changes nothing: the rows are no longer pending.
    again = pending.confirm(world.db, admin, pending.PendingSelection(job_id=job["job_id"], rows=[2, 3]))
    assert (again.confirmed, again.not_pending) == ([], [2, 3])
    assert len(world.db.query("C#rosaflor", "INV#")) == 2


def test_a_file_name_with_spaces_is_found_from_the_url_encoded_key_s3_reports(world):
    from urllib.parse import quote_plus

    key = "imports/bloom/open-invoices/March invoices (final).xlsx"
    event = world.put(key, wb.invoices(wb.invoice("A-1")))
    event["detail"]["object"]["key"] = quote_plus(key, safe="/")  # as S3 writes it in the event
    world.deliver(event)
    job = only_job(world, "bloom")
    assert (job["filename"], job["status"], job["imported"]) == ("March invoices (final).xlsx", "completed", 1)


def test_a_title_row_above_the_header_is_fine(world):
    world.drop("imports/bloom/open-invoices/titled.xlsx", wb.workbook([
        ["Open invoices exported from FloraSoft, March 2026"], [], wb.INVOICE_HEADER, wb.invoice("A-1")]))
    job = only_job(world, "bloom")
    assert (job["status"], job["imported"]) == ("completed", 1)
