"""Validation at the edge (issue 11, defects 4, 6 and 11's error shape), over HTTP on the local cloud.

Every request model refuses unknown fields and bounds every value, a body past the API's limit is
refused before it is parsed, and an error always has one shape with no library internals. Data that
reached the table before these rules (a bad address, a made-up time zone) must not break another
company's flow: the consumers skip what cannot be delivered and say so in the log.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import timedelta
from decimal import Decimal as D

import pytest

from infra.localcloud import demo

pytestmark = pytest.mark.e2e

LIBRARY_WORDS = ("Input should", "pydantic", "https://errors", "type=", "int_parsing", "bool_type", "[type")


@pytest.fixture
def k2k(cloud, api, suffix):
    lines = demo.seed(cloud, suffix)["inventory_line_ids"]
    company = {c: f"{c}{suffix}" for c in ("rosaflor", "bloom", "petal")}

    class World:
        vendor = api(company["rosaflor"], "Admin")
        bloom = api(company["bloom"], "Admin")
        petal = api(company["petal"], "Admin")
        id = company
        line_ids = lines

        def settings(self, client, **changes):
            current = client.get("/company").json()
            return client.put("/company/settings", json={"settings": {**current["settings"], **changes},
                                                         "version": current["version"]})

        def raw(self, client, method, path, body: bytes, content_type="application/json"):
            """A request whose body is exactly these bytes (not something json.dumps would write)."""
            request = urllib.request.Request(client.base_url + path, data=body, method=method, headers={
                "Authorization": f"Bearer {client.token}", "Content-Type": content_type})
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    return response.status, json.loads(response.read() or b"null")
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read() or b"null")

        def put_item(self, item):
            """Write straight into the table: data stored before the edge validated it."""
            from k2k.store import serialize
            cloud.client("dynamodb").put_item(TableName=cloud.name("K2KTable"), Item=serialize(item))

        def get_item(self, pk, sk):
            from k2k.store import deserialize
            got = cloud.client("dynamodb").get_item(TableName=cloud.name("K2KTable"),
                                                    Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True)
            return deserialize(got["Item"])

    return World()


def assert_clean_error(body, status_code="invalid"):
    """The one error shape: code, message, details of field and message; no library text anywhere."""
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == status_code
    assert isinstance(error["message"], str) and error["message"]
    for detail in error.get("details", []):
        assert set(detail) == {"field", "message"}, detail
    text = json.dumps(body)
    for word in LIBRARY_WORDS:
        assert word not in text, (word, body)


def fields_of(body):
    return [d["field"] for d in body["error"].get("details", [])]


# -- defect 4: emails and time zones ----------------------------------------------------------------

def test_defect_4_an_address_that_is_not_an_email_is_refused_naming_it(k2k):
    refused = k2k.settings(k2k.petal, notification_emails=["accounts@petal.example", "purchasing at petal"])
    assert refused.status == 422
    assert_clean_error(refused.json())
    assert fields_of(refused.json()) == ["body.settings.notification_emails.1"]
    assert "email address" in refused.json()["error"]["details"][0]["message"]
    vendor = k2k.bloom.put("/vendors/ROSA", json={"name": "Rosaflor Farms", "email": "sales@@rosaflor"})
    assert vendor.status == 422 and fields_of(vendor.json()) == ["body.email"]
    assert k2k.settings(k2k.petal, notification_emails=["Accounts.Payable+k2k@petal-stem.example"]).status == 200


def test_defect_4_a_time_zone_outside_the_iana_database_is_refused(k2k):
    refused = k2k.settings(k2k.vendor, timezone="Mars/Olympus")
    assert refused.status == 422
    assert_clean_error(refused.json())
    assert fields_of(refused.json()) == ["body.settings.timezone"]
    assert "IANA" in refused.json()["error"]["details"][0]["message"]
    assert k2k.settings(k2k.vendor, timezone="America/Bogota").status == 200


def test_defect_4_a_time_zone_stored_before_validation_breaks_neither_the_vendor_nor_its_buyers(k2k, cloud):
    pk = f"C#{k2k.id['rosaflor']}"
    company = k2k.get_item(pk, "COMPANY")
    company["settings"]["timezone"] = "Mars/Olympus"
    k2k.put_item(company)
    created = k2k.vendor.post("/inventory", json={
        "box_code": "MARS1", "product": "Rose Freedom 50cm", "box_type": "HB", "bunches_per_box": 10,
        "stems_per_bunch": 25, "boxes_on_hand": 3, "price": "0.35", "location": "MIA",
        "dimensions": {"length": "40", "width": "10", "height": "10"}})
    assert created.status == 201, created.json()
    cloud.drain()
    assert k2k.bloom.get("/availability").status == 200
    assert cloud.queue_depth("AvailabilitySyncDLQ") == 0


def test_defect_4_one_companys_bad_stored_address_does_not_poison_anothers_invoice_event(k2k, cloud, emails):
    dead_letters = cloud.queue_depth("InvoiceSyncDLQ")
    vendor_company = k2k.vendor.get("/company").json()
    settings = vendor_company["settings"]
    settings["automations"]["vendor_invoice_sync"] = True
    settings["notification_emails"] = [f"accounts@{k2k.id['rosaflor']}.example"]
    assert k2k.vendor.put("/company/settings", json={"settings": settings,
                                                     "version": vendor_company["version"]}).status == 200
    # Petal stored a bad address before the API checked them.
    pk = f"C#{k2k.id['petal']}"
    petal = k2k.get_item(pk, "COMPANY")
    petal["settings"]["notification_emails"] = ["purchasing at petal", f"ap@{k2k.id['petal']}.example"]
    k2k.put_item(petal)

    assert k2k.petal.put("/customers/FLORA", json={"name": "Flora Events"}).status == 200
    prebook = k2k.petal.post("/prebooks", json={
        "customer_code": "FLORA", "ship_date": (cloud.now().date() + timedelta(days=5)).isoformat(),
        "lines": [{"vendor_company_id": k2k.id["rosaflor"], "line_id": k2k.line_ids["FR50HB"], "boxes": 1}]})
    assert prebook.status == 201, prebook.json()
    [po] = k2k.petal.post(f"/prebooks/{prebook.json()['prebook_id']}/purchase-orders").json()
    assert k2k.vendor.post(f"/orders/{po['order_id']}/confirm", json={}).status == 200
    cloud.drain()

    issued = [m for m in emails() if m.subject.startswith("Invoice ")]
    to_vendor = [m for m in issued if f"accounts@{k2k.id['rosaflor']}.example" in m.destinations["ToAddresses"]]
    to_petal = [m for m in issued if f"ap@{k2k.id['petal']}.example" in m.destinations["ToAddresses"]]
    assert len(to_vendor) == 1 and len(to_petal) == 1  # once each, not once per retry
    assert all("purchasing at petal" not in m.destinations["ToAddresses"] for m in issued)
    assert cloud.queue_depth("InvoiceSyncDLQ") == dead_letters


# -- defect 6: input without limits ----------------------------------------------------------------

def test_defect_6_a_body_past_the_limit_is_refused_413_before_it_is_parsed(k2k):
    big = {"customer_code": "FLORA", "ship_date": "2030-01-01", "vendor_company_id": k2k.id["rosaflor"],
           "line_id": k2k.line_ids["FR50HB"], "boxes": 1, "location": "NYC", "padding": "x" * 1_000_000}
    status, body = k2k.raw(k2k.bloom, "POST", "/carts", json.dumps(big).encode())
    assert status == 413
    assert_clean_error(body, "too_large")
    status, body = k2k.raw(k2k.petal, "PUT", "/company/settings", json.dumps(
        {"settings": {"notification_emails": ["a" * 500_000 + "@petal.example"]}}).encode())
    assert status == 413


def test_defect_6_the_vendor_invoice_upload_alone_may_carry_a_pdf_past_the_limit(k2k, cloud):
    import base64

    assert k2k.bloom.put("/customers/FLORA", json={"name": "Flora Events"}).status == 200
    prebook = k2k.bloom.post("/prebooks", json={
        "customer_code": "FLORA", "ship_date": (cloud.now().date() + timedelta(days=5)).isoformat(),
        "lines": [{"vendor_company_id": k2k.id["rosaflor"], "line_id": k2k.line_ids["FR50HB"], "boxes": 1}]})
    [po] = k2k.bloom.post(f"/prebooks/{prebook.json()['prebook_id']}/purchase-orders").json()
    assert k2k.vendor.post(f"/orders/{po['order_id']}/confirm", json={}).status == 200
    cloud.drain()
    path = f"/reconciliation/{po['po_id']}/vendor-invoice"
    scan = b"%PDF-1.4\n" + b"0" * 600_000  # a scanned invoice: 800 KB as base64, past the 256 KB of other bodies
    status, body = k2k.raw(k2k.bloom, "POST", path, json.dumps({
        "invoice_no": "RF-9", "amount": "35.00", "pdf_base64": base64.b64encode(scan).decode()}).encode())
    assert status == 201, body
    status, body = k2k.raw(k2k.bloom, "POST", path, json.dumps({
        "invoice_no": "RF-9", "amount": "35.00", "pdf_base64": "A" * 6_000_000}).encode())
    assert status == 413
    assert_clean_error(body, "too_large")


def test_defect_6_every_string_is_bounded(k2k):
    long_email = k2k.settings(k2k.petal, notification_emails=["a" * 200_000 + "@petal.example"])
    assert long_email.status == 422 and fields_of(long_email.json()) == ["body.settings.notification_emails.0"]
    assert_clean_error(long_email.json())
    cart = k2k.bloom.post("/carts", json={
        "customer_code": "FLORA", "ship_date": "2030-01-01", "vendor_company_id": k2k.id["rosaflor"],
        "line_id": k2k.line_ids["FR50HB"], "boxes": 1, "location": "N" * 100_000})
    assert cart.status == 422 and fields_of(cart.json()) == ["body.location"]
    assert_clean_error(cart.json())


def test_defect_6_a_number_past_what_a_float_holds_is_refused_not_a_502(k2k):
    line = k2k.line_ids["FR50HB"]
    status, body = k2k.raw(k2k.vendor, "PATCH", f"/inventory/{line}", b'{"price": 1e309}')
    assert status == 422, body
    assert_clean_error(body)
    assert fields_of(body) == ["body.price"]
    status, body = k2k.raw(k2k.vendor, "PATCH", f"/inventory/{line}", b'{"price": "NaN"}')
    assert status == 422 and fields_of(body) == ["body.price"]
    too_precise = k2k.vendor.patch(f"/inventory/{line}", json={"price": "0.3505"})
    assert too_precise.status == 422 and fields_of(too_precise.json()) == ["body.price"]
    negative = k2k.vendor.patch(f"/inventory/{line}", json={"cost": "-1"})
    assert negative.status == 422 and fields_of(negative.json()) == ["body.cost"]
    absurd = k2k.vendor.patch(f"/inventory/{line}", json={"price": "1000000000"})
    assert absurd.status == 422 and fields_of(absurd.json()) == ["body.price"]


def test_defect_6_an_unknown_field_is_refused_and_changes_nothing(k2k):
    line = k2k.line_ids["FR50HB"]
    before = k2k.vendor.get(f"/inventory/{line}").json()["line"]
    refused = k2k.vendor.patch(f"/inventory/{line}", json={"prize": "0.5"})
    assert refused.status == 422
    assert_clean_error(refused.json())
    assert fields_of(refused.json()) == ["body.prize"]
    assert "unknown field" in refused.json()["error"]["details"][0]["message"]
    after = k2k.vendor.get(f"/inventory/{line}").json()["line"]
    assert after["version"] == before["version"] and after["price"] == before["price"]
    nested = k2k.settings(k2k.petal, buyer={"default_gpm_pct": "25", "gpm": "30"})
    assert nested.status == 422 and fields_of(nested.json()) == ["body.settings.buyer.gpm"]


def test_defect_6_a_boolean_is_not_a_number_of_boxes(k2k):
    cart = k2k.bloom.post("/carts", json={
        "customer_code": "FLORA", "ship_date": "2030-01-01", "vendor_company_id": k2k.id["rosaflor"],
        "line_id": k2k.line_ids["FR50HB"], "boxes": True})
    assert cart.status == 422 and fields_of(cart.json()) == ["body.boxes"]
    assert_clean_error(cart.json())
    patch = k2k.vendor.patch(f"/inventory/{k2k.line_ids['FR50HB']}", json={"boxes_on_hand": "7"})
    assert patch.status == 422 and fields_of(patch.json()) == ["body.boxes_on_hand"]
    fraction = k2k.vendor.patch(f"/inventory/{k2k.line_ids['FR50HB']}", json={"boxes_on_hand": 7.5})
    assert fraction.status == 422 and fields_of(fraction.json()) == ["body.boxes_on_hand"]


def test_defect_6_a_body_that_is_not_a_json_object_is_refused_in_the_api_s_words(k2k):
    line = k2k.line_ids["FR50HB"]
    for body, content_type in ((b"[" * 50_000 + b"]" * 50_000, "application/json"),  # nested past any parser
                               (b'"just a string"', "application/json"),
                               (b"price=0.40", "application/x-www-form-urlencoded"),
                               (b"price: 0.40", "text/plain"),
                               (b"\xff\xfe not utf-8", "application/json")):
        status, answer = k2k.raw(k2k.vendor, "PATCH", f"/inventory/{line}", body, content_type)
        assert status in (415, 422) and "error" in answer, (content_type, body[:20], status, answer)
        assert_clean_error(answer, answer["error"]["code"])
    assert k2k.vendor.get(f"/inventory/{line}").json()["line"]["version"] == 1


def test_defect_6_text_that_is_not_unicode_is_refused_not_a_502(k2k):
    line = k2k.line_ids["FR50HB"]
    status, body = k2k.raw(k2k.vendor, "PATCH", f"/inventory/{line}", b'{"product": "Rose \\ud800 Freedom"}')
    assert status == 422 and body["error"]["details"] == [{"field": "body.product",
                                                            "message": "is not valid Unicode text"}], body


def test_defect_11_an_id_no_route_accepts_answers_the_api_s_404_not_the_library_s(k2k, cloud):
    import urllib.parse

    weird = urllib.parse.quote("U\u00a0e$\U000f8be1", safe="")  # what a fuzzer sends as a line id
    status, body = k2k.raw(k2k.vendor, "DELETE", f"/inventory/{weird}", b"")
    assert status == 404
    assert_clean_error(body, "not_found")


def test_defect_6_a_path_parameter_past_its_bound_is_a_422_naming_it_before_any_read(k2k):
    """Every path parameter is bounded (k2k.api's ...Path annotations): a value past its bound is invalid
    input, 422 naming path.<name>, and never becomes a DynamoDB key (a sort key takes at most 1024 bytes,
    a partition key 2048). A well-formed value that names nothing is the route's 404."""
    cases = [
        (k2k.vendor, "GET", f"/inventory/{'A' * 2000}", "path.line_id"),
        (k2k.vendor, "DELETE", "/orders/K2K-1/lines/99999999999", "path.line_no"),
        (k2k.bloom, "GET", f"/customers/{'C' * 3000}/statement", "path.customer_code"),
        (k2k.bloom, "GET", f"/customer-invoices/{'9' * 3000}", "path.invoice_id"),
        (k2k.bloom, "POST", f"/connections/{'a' * 1500}.{'b' * 1500}/suspend", "path.connection_id"),
        (k2k.vendor, "GET", f"/invoices/{'9' * 30}", "path.invoice_no"),
        (k2k.bloom, "GET", f"/purchase-orders/{'P' * 5000}", "path.po_id"),
    ]
    for client, method, path, field in cases:
        got = client.request(method, path)
        assert got.status == 422, (method, path[:40], got.status, got.text[:300])
        assert_clean_error(got.json())
        assert fields_of(got.json()) == [field]
    assert k2k.bloom.get("/purchase-orders/PO-NOSUCH").status == 404


# -- defect 9's part: a patch changes only what it names ---------------------------------------------

def test_defect_9_a_patch_keeps_the_fields_it_did_not_name(k2k):
    line = k2k.line_ids["FR50HB"]
    pk, sk = f"C#{k2k.id['rosaflor']}", f"INV#{line}"
    item = k2k.get_item(pk, sk)
    # What an import writes on a line it confirms into inventory: where the boxes came from.
    item.update({"vendor_code": "FARM1", "awb": "729-1234 5678", "ship_date": "2026-11-30", "import_job_id": "j1"})
    k2k.put_item(item)
    changed = k2k.vendor.patch(f"/inventory/{line}", json={"price": "0.40"})
    assert changed.status == 200, changed.json()
    after = k2k.get_item(pk, sk)
    assert D(after["price"]) == D("0.40") and after["version"] == item["version"] + 1
    assert {k: after.get(k) for k in ("vendor_code", "awb", "ship_date", "import_job_id")} == {
        "vendor_code": "FARM1", "awb": "729-1234 5678", "ship_date": "2026-11-30", "import_job_id": "j1"}
    assert after["boxes_on_hand"] == item["boxes_on_hand"] and after["product"] == item["product"]
    cleared = k2k.vendor.patch(f"/inventory/{line}", json={"colour": None, "version": int(after["version"])})
    assert cleared.status == 200 and cleared.json()["colour"] is None
    stale = k2k.vendor.patch(f"/inventory/{line}", json={"price": "0.41", "version": int(after["version"])})
    assert stale.status == 409


# -- defect 11's part: one error shape -------------------------------------------------------------

def test_defect_11_a_refused_zero_boxes_answers_in_the_trades_words_not_the_librarys(k2k):
    cart = k2k.bloom.post("/carts", json={
        "customer_code": "FLORA", "ship_date": "2030-01-01", "vendor_company_id": k2k.id["rosaflor"],
        "line_id": k2k.line_ids["FR50HB"], "boxes": 0})
    assert cart.status == 422
    assert_clean_error(cart.json())
    [detail] = cart.json()["error"]["details"]
    assert detail == {"field": "body.boxes", "message": "must be at least 1"}
    missing = k2k.bloom.post("/carts", json={"customer_code": "FLORA"})
    assert missing.status == 422
    assert_clean_error(missing.json())
    assert set(fields_of(missing.json())) == {"body.ship_date", "body.vendor_company_id", "body.line_id",
                                              "body.boxes"}
    assert {d["message"] for d in missing.json()["error"]["details"]} == {"required"}
    status, body = k2k.raw(k2k.bloom, "POST", "/carts", b"{not json")
    assert status == 422
    assert_clean_error(body)
