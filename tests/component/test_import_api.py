"""The Data Import API on emulated AWS: upload links and jobs for Admins of the caller's company only."""

import io
import urllib.parse
import urllib.request

import pytest
from openpyxl import load_workbook

from tests.fixtures.imports import workbooks as wb
from tests.fixtures.imports.world import DROP, emulated_aws, s3_object_created


@pytest.fixture
def world():
    with emulated_aws() as w:
        w.company("bloom", locations=("MIA", "NYC"), customers=("PETALS",))
        w.company("tulipa", customers=("PETALS",))
        w.company("rosaflor", locations=("FARM",), vendors=("ECUAROSE",))
        yield w


def upload_through_the_link(world, link, data):
    """What a browser does with the presigned PUT: here straight into the emulated bucket at the signed key."""
    key = link["job"]["key"]
    assert link["method"] == "PUT" and f"/{key}" in urllib.request.unquote(link["upload_url"])
    out = world.s3.put_object(Bucket=DROP, Key=key, Body=data)
    return s3_object_created(DROP, key, len(data), out["ETag"].strip('"'))


def test_an_admin_gets_an_upload_link_and_a_queued_job(world):
    status, link = world.call("POST", "/imports", "bloom", "Admin",
                              body={"import_type": "open-invoices", "filename": "March invoices (final).xlsx"},
                              email="maria@bloom.example.com")
    assert status == 201, link
    job = link["job"]
    assert job["status"] == "queued"
    assert job["uploaded_by"] == "maria@bloom.example.com"
    assert job["key"] == f"imports/bloom/open-invoices/{job['job_id']}/March_invoices_final_.xlsx"
    assert link["expires_in"] == 900

    status, same = world.call("GET", f"/imports/{job['job_id']}", "bloom", "Admin",
                              path_parameters={"job_id": job["job_id"]})
    assert (status, same["status"]) == (200, "queued")


def test_the_uploaded_file_runs_the_job_the_api_made_and_the_uploader_gets_the_email(world):
    _, link = world.call("POST", "/imports", "bloom", "Admin", email="maria@bloom.example.com",
                         body={"import_type": "open-invoices", "filename": "march.xlsx"})
    event = upload_through_the_link(world, link, wb.invoices(wb.invoice("A-1"), wb.invoice("A-2", balance=1.2345)))
    assert world.deliver(event) == {"batchItemFailures": []}

    job_id = link["job"]["job_id"]
    status, job = world.call("GET", f"/imports/{job_id}", "bloom", "Admin", path_parameters={"job_id": job_id})
    assert status == 200
    assert (job["status"], job["imported"], job["rejected"]) == ("completed_with_errors", 1, 1)
    assert job["progress"] == {"rows_read": 2, "rows_total": 2}
    assert job["results_url"].startswith("https://")
    assert [j["job_id"] for j in world.jobs("bloom")] == [job_id]  # no second job for the same upload
    assert world.emails()[0].destinations["ToAddresses"] == ["maria@bloom.example.com"]

    status, listed = world.call("GET", "/imports", "bloom", "Admin")
    assert [j["job_id"] for j in listed["items"]] == [job_id] and listed["next_token"] is None


def test_only_an_admin_gets_a_link_or_a_job(world):
    status, body = world.call("POST", "/imports", "bloom", "SalesManager",
                              body={"import_type": "open-invoices", "filename": "march.xlsx"})
    assert (status, body["error"]["code"]) == (403, "forbidden")
    status, _ = world.call("GET", "/imports", "bloom", "Setup")
    assert status == 403


def test_another_companys_job_is_not_found(world):
    _, link = world.call("POST", "/imports", "bloom", "Admin",
                         body={"import_type": "open-invoices", "filename": "march.xlsx"})
    job_id = link["job"]["job_id"]
    status, body = world.call("GET", f"/imports/{job_id}", "tulipa", "Admin", path_parameters={"job_id": job_id})
    assert (status, body["error"]["code"]) == (404, "not_found")


def test_a_link_is_only_for_workbooks(world):
    status, body = world.call("POST", "/imports", "bloom", "Admin",
                              body={"import_type": "open-invoices", "filename": "march.csv"})
    assert status == 422
    assert body["error"]["message"] == "only .xlsx and .xls files are imported"
    status, _ = world.call("POST", "/imports", "bloom", "Admin",
                           body={"import_type": "payroll", "filename": "march.xlsx"})
    assert status == 422


def test_confirmed_boxes_from_the_api_go_into_inventory_with_their_events(world):
    _, link = world.call("POST", "/imports", "rosaflor", "Admin",
                         body={"import_type": "inventory-in-boxes", "filename": "boxes.xlsx",
                               "confirm_inventory": True})
    file = wb.workbook([wb.BOXES_HEADER,
                        ["ECUAROSE", "369-1234", "2026-03-05", "Freedom Red Rose 50cm", 12, "HB", "Stem", 10, 25,
                         0.28, "FARM", 0.35]], sheet="Inventory in Boxes")
    world.deliver(upload_through_the_link(world, link, file))
    job_id = link["job"]["job_id"]
    [line] = world.db.query("C#rosaflor", "INV#")
    assert (line["box_code"], line["boxes_on_hand"], line["box_type"]) == (f"{job_id}-2", 12, "HB")
    assert (line["vendor_code"], line["awb"], line["import_job_id"]) == ("ECUAROSE", "369-1234", job_id)
    assert [e["detail_type"] for e in world.outbox("rosaflor")].count("InventoryLineChanged") == 1


def test_a_blank_template_can_be_downloaded_for_each_type(world):
    for import_type, first in (("open-invoices", "Invoice #"), ("open-credits", "Credit #"),
                               ("inventory-in-boxes", "Vendor Code")):
        status, body = world.call("GET", f"/imports/templates/{import_type}", "bloom", "Admin",
                                  path_parameters={"import_type": import_type})
        assert status == 200, body
        assert body["columns"][0]["name"] == first
        url = urllib.parse.urlparse(body["download_url"])
        path = urllib.parse.unquote(url.path).lstrip("/")
        key = path if url.hostname.startswith(DROP) else path.removeprefix(f"{DROP}/")
        data = world.s3.get_object(Bucket=DROP, Key=key)["Body"].read()
        sheet = load_workbook(io.BytesIO(data)).worksheets[0]
        assert sheet.title == body["sheet_name"]
        assert sheet["A1"].value == first
        assert not key.startswith("imports/")  # a template never starts an import


def test_the_results_go_to_the_uploader_the_api_verified_not_to_the_objects_metadata(world):
    _, link = world.call("POST", "/imports", "bloom", "Admin", email="maria@bloom.example.com",
                         body={"import_type": "open-invoices", "filename": "march.xlsx"})
    data = wb.invoices(wb.invoice("A-1"))
    out = world.s3.put_object(Bucket=DROP, Key=link["job"]["key"], Body=data,
                              Metadata={"uploader": "attacker@evil.example"})
    world.deliver(s3_object_created(DROP, link["job"]["key"], len(data), out["ETag"].strip('"')))
    assert [e.destinations["ToAddresses"] for e in world.emails()] == [["maria@bloom.example.com"]]
