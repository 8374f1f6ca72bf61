"""Data import over HTTP on the local cloud.

Bloom Wholesale's admin moves to K2K: she drops last month's open invoices
into the company's import folder (as the AWS CLI or boto3 would), and later
asks the API for an upload link. Each time, seconds later, an email: how many
rows were imported, and a workbook that says what is wrong with the others.
"""

import io
import urllib.request
from datetime import date

import pytest
from openpyxl import load_workbook

from tests.fixtures.imports import workbooks as wb

pytestmark = pytest.mark.e2e

GOOD = wb.invoice("A-10021", "PETALS", date(2026, 3, 5), 1250.375, "PO-7781", "MIA")
BAD = [
    wb.invoice("A-10022", "PETALS", "03/06/2026", 10, "PO-7782", "MIA"),
    wb.invoice("A-10023", "PETALS", date(2026, 3, 5), 12.3456, "PO-7783", "MIA"),
    wb.invoice("A" * 21, "PETALS", date(2026, 3, 5), 5, "PO-7784", "MIA"),
]
REASONS = [
    "Invoice Date: must be a date written YYYY-MM-DD (got 03/06/2026)",
    "Invoice Balance: at most 3 decimals (got 12.3456)",
    "Invoice #: at most 20 characters (got 21)",
]


@pytest.fixture
def company(suffix):
    """Bloom Wholesale's id in this test."""
    return f"bloom{suffix}"


@pytest.fixture
def bloom(cloud, api, company):
    operator = api(None, "Operator")
    created = operator.post("/operator/companies", json={
        "company_id": company, "name": "Bloom Wholesale",
        "locations": [{"code": "MIA", "name": "Miami"}, {"code": "NYC", "name": "New York"}]})
    assert created.status == 201, created.json()
    admin = api(company, "Admin", user="maria@bloom.example.com")
    assert admin.put("/customers/PETALS", json={"name": "Petals & Co"}).status == 200
    settings = admin.get("/company").json()["settings"]
    settings["notification_emails"] = ["ar@bloom.example.com"]
    assert admin.put("/company/settings", json={"settings": settings}).status == 200
    return admin


def results(cloud, url):
    """Fetch the results workbook the link points at (from the emulator's bucket, signed key)."""
    parsed = urllib.parse.urlparse(url)
    path = urllib.parse.unquote(parsed.path).lstrip("/")
    bucket = cloud.name("DocumentsBucket")
    key = path.removeprefix(f"{bucket}/")
    body = cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return [list(r) for r in load_workbook(io.BytesIO(body), read_only=True).worksheets[0].iter_rows(values_only=True)]


def test_a_file_dropped_into_the_folder_is_imported_and_the_admin_is_told_what_is_wrong(cloud, bloom, company,
                                                                                        emails):
    s3 = cloud.client("s3")
    march = wb.invoices(GOOD, *BAD)
    s3.put_object(Bucket=cloud.name("DropBucket"), Key=f"imports/{company}/open-invoices/march.xlsx", Body=march)
    cloud.drain()  # S3 -> EventBridge -> import queue -> worker

    [job] = bloom.items("/imports")
    assert job["status"] == "completed_with_errors"
    assert (job["imported"], job["rejected"]) == (1, 3)
    assert job["progress"] == {"rows_read": 4, "rows_total": 4}
    rows = results(cloud, job["results_url"])
    assert rows[0][-2:] == ["Row", "Message"]
    assert [r[-1] for r in rows[1:]] == REASONS

    [email] = emails()
    assert email.destinations["ToAddresses"] == ["ar@bloom.example.com"]
    assert email.subject == "Open Invoices import completed with errors: 1 imported, 3 rejected"
    assert job["job_id"] in email.body

    # Dropped again: nothing is imported twice.
    s3.put_object(Bucket=cloud.name("DropBucket"), Key=f"imports/{company}/open-invoices/march-again.xlsx", Body=march)
    cloud.drain()
    again = next(j for j in bloom.items("/imports") if j["filename"] == "march-again.xlsx")
    assert again["status"] == "failed"
    assert again["failure_reason"].startswith("this file was already imported")


def test_the_same_through_an_upload_link(cloud, bloom, emails):
    created = bloom.post("/imports", json={"import_type": "open-invoices", "filename": "march.xlsx"})
    assert created.status == 201, created.json()
    link = created.json()
    assert link["job"]["status"] == "queued"

    # The browser PUTs the file to the link; the emulator stores it under the signed key.
    cloud.client("s3").put_object(Bucket=cloud.name("DropBucket"), Key=link["job"]["key"],
                                  Body=wb.invoices(GOOD, *BAD))
    cloud.drain()

    job = bloom.get(f"/imports/{link['job']['job_id']}").json()
    assert (job["status"], job["imported"], job["rejected"]) == ("completed_with_errors", 1, 3)
    assert [r[-1] for r in results(cloud, job["results_url"])[1:]] == REASONS
    [email] = emails()
    assert email.destinations["ToAddresses"] == ["maria@bloom.example.com"]  # the uploader


def test_only_an_admin_of_the_company_sees_its_imports(cloud, api, bloom, company, suffix):
    link = bloom.post("/imports", json={"import_type": "open-invoices", "filename": "march.xlsx"}).json()
    job_id = link["job"]["job_id"]
    assert api(company, "SalesManager").get(f"/imports/{job_id}").status == 403
    tulipa = f"tulipa{suffix}"
    api(None, "Operator").post("/operator/companies", json={
        "company_id": tulipa, "name": "Tulipa", "locations": [{"code": "MIA", "name": "Miami"}]})
    assert api(tulipa, "Admin").get(f"/imports/{job_id}").status == 404
    template = bloom.get("/imports/templates/open-credits")
    assert template.status == 200
    assert [c["name"] for c in template.json()["columns"]][:2] == ["Credit #", "Customer Code"]


def test_imported_invoices_are_found_by_customer_po_and_by_invoice_date(cloud, api, bloom, company, suffix):
    other = wb.invoice("A-10030", "PETALS", date(2026, 3, 9), 80, "PO-7781", "MIA")
    cloud.client("s3").put_object(Bucket=cloud.name("DropBucket"), Key=f"imports/{company}/open-invoices/march.xlsx",
                                  Body=wb.invoices(GOOD, other))
    cloud.drain()
    by_po = bloom.items("/open-invoices", {"customer_po": "PO-7781"})
    assert [(i["ref_no"], i["invoice_date"]) for i in by_po] == [("A-10021", "2026-03-05"), ("A-10030", "2026-03-09")]
    assert by_po[0]["carrier"] == "No Carrier" and by_po[0]["balance"] == "1250.375"
    assert by_po[0]["additional_charges"][0]["amount"] == "1250.375"  # the total, as an additional charge
    by_day = bloom.items("/open-invoices", {"invoice_date": "2026-03-09"})
    assert [i["ref_no"] for i in by_day] == ["A-10030"]
    both = bloom.items("/open-invoices", {"customer_po": "PO-7781", "invoice_date": "2026-03-05"})
    assert [i["ref_no"] for i in both] == ["A-10021"]
    assert bloom.get("/open-invoices").status == 422
    tulipa = f"tulipa{suffix}"
    api(None, "Operator").post("/operator/companies", json={
        "company_id": tulipa, "name": "Tulipa", "locations": [{"code": "MIA", "name": "Miami"}]})
    assert api(tulipa, "Admin").items("/open-invoices", {"customer_po": "PO-7781"}) == []
