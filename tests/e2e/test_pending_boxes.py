"""Pending boxes over HTTP on the local cloud: Rosaflor Farms imports this week's boxes without confirming them,
confirms two of the three rows the next morning, and its connected buyer Bloom Wholesale sees just those two."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from infra.localcloud import demo
from tests.fixtures.imports import workbooks as wb

pytestmark = pytest.mark.e2e

HEADER = [*wb.BOXES_HEADER, "Box Length", "Box Width", "Box Height"]


def row(product, boxes):
    return ["ECUAROSE", "369-1234", "2026-03-05", product, boxes, "HB", "Stem", 10, 25, 0.31, "MIA", 0.42, 40, 10, 10]


@pytest.fixture
def imported(cloud, api, suffix, emails):
    """Three rows of boxes imported without confirm (sheet rows 2, 3 and 4): they wait as pending boxes."""
    demo.seed(cloud, suffix)
    vendor = api(f"rosaflor{suffix}", "Admin", user="ops@rosaflor.example")
    assert vendor.put("/vendors/ECUAROSE", json={"name": "Ecuarose grower"}).status == 200
    link = vendor.post("/imports", json={"import_type": "inventory-in-boxes", "filename": "week-10.xlsx"}).json()
    file = wb.workbook([HEADER, row("Explorer Red Rose 60cm", 8), row("Vendela Rose 50cm", 5),
                        row("Playa Blanca Rose 60cm", 3)], sheet="Inventory in Boxes")
    cloud.client("s3").put_object(Bucket=cloud.name("DropBucket"), Key=link["job"]["key"], Body=file)
    cloud.drain()
    job_id = link["job"]["job_id"]
    assert vendor.get(f"/imports/{job_id}").json()["imported"] == 3
    return vendor, job_id, emails


def bloom_sees(api, suffix, cloud):
    cloud.drain()
    lines = api(f"bloom{suffix}", "Admin").get("/availability").json()["lines"]
    return {ln["box_code"]: ln["boxes_available"] for ln in lines}


def test_two_of_three_pending_rows_are_confirmed_and_reach_the_connected_buyer(imported, api, suffix, cloud):
    vendor, job_id, emails = imported
    # The results email tells the user how to confirm them.
    [email] = emails("ops@rosaflor.example")
    assert f'POST /pending-boxes/confirm {{"job_id": "{job_id}"}}' in email.body
    # Inventory roles see what waits, job by job; nothing is in stock or on sale yet.
    keeper = api(f"rosaflor{suffix}", "ProcurementUser")
    waiting = keeper.get("/pending-boxes", params={"job_id": job_id})
    assert waiting.status == 200, waiting.json()
    assert [(p["row"], p["line"]["product"], p["line"]["boxes_on_hand"]) for p in waiting.json()["items"]] == [
        (2, "Explorer Red Rose 60cm", 8), (3, "Vendela Rose 50cm", 5), (4, "Playa Blanca Rose 60cm", 3)]
    assert [p["row"] for p in keeper.items("/pending-boxes") if p["job_id"] == job_id] == [2, 3, 4]
    assert f"{job_id}-2" not in bloom_sees(api, suffix, cloud)

    done = keeper.post("/pending-boxes/confirm", json={"job_id": job_id, "rows": [2, 3]})
    assert done.status == 200, done.json()
    assert [(c["row"], c["box_code"]) for c in done.json()["confirmed"]] == [(2, f"{job_id}-2"), (3, f"{job_id}-3")]
    seen = bloom_sees(api, suffix, cloud)
    assert (seen.get(f"{job_id}-2"), seen.get(f"{job_id}-3"), seen.get(f"{job_id}-4")) == (8, 5, None)
    assert [p["row"] for p in keeper.items("/pending-boxes", {"job_id": job_id})] == [4]

    # Asked again, nothing changes: no second line, no second event.
    again = keeper.post("/pending-boxes/confirm", json={"job_id": job_id, "rows": [2, 3]})
    assert again.status == 200
    assert (again.json()["confirmed"], again.json()["not_pending"]) == ([], [2, 3])
    stock = [ln["box_code"] for ln in vendor.items("/inventory") if ln["box_code"].startswith(job_id)]
    assert sorted(stock) == [f"{job_id}-2", f"{job_id}-3"]
    assert bloom_sees(api, suffix, cloud) == seen


def test_racing_confirmations_of_the_same_row_put_it_into_inventory_once(imported, api, suffix, cloud):
    vendor, job_id, _ = imported

    def confirm(_):
        return vendor.post("/pending-boxes/confirm", json={"job_id": job_id, "rows": [4]}).json()

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(confirm, range(6)))
    assert sorted(len(a["confirmed"]) for a in answers) == [0, 0, 0, 0, 0, 1]
    stock = [ln for ln in vendor.items("/inventory") if ln["box_code"] == f"{job_id}-4"]
    assert [ln["boxes_on_hand"] for ln in stock] == [3]
    assert bloom_sees(api, suffix, cloud)[f"{job_id}-4"] == 3


def test_discarded_rows_never_reach_inventory_and_the_rest_can_be_confirmed_all_at_once(imported, api, suffix,
                                                                                       cloud):
    vendor, job_id, _ = imported
    dropped = vendor.post("/pending-boxes/discard", json={"job_id": job_id, "rows": [3, 9]})
    assert dropped.status == 200, dropped.json()
    assert (dropped.json()["discarded"], dropped.json()["not_pending"]) == ([3], [9])
    rest = vendor.post("/pending-boxes/confirm", json={"job_id": job_id}).json()  # every row still pending
    assert [c["row"] for c in rest["confirmed"]] == [2, 4]
    assert vendor.items("/pending-boxes", {"job_id": job_id}) == []
    seen = bloom_sees(api, suffix, cloud)
    assert f"{job_id}-3" not in seen and seen[f"{job_id}-2"] == 8


def test_pending_boxes_are_the_companys_own_and_bad_requests_say_what_is_wrong(imported, api, suffix):
    _, job_id, _ = imported
    other = api(f"bloom{suffix}", "Admin")  # another company: the job is not its own
    assert other.items("/pending-boxes", {"job_id": job_id}) == []
    refused = other.post("/pending-boxes/confirm", json={"job_id": job_id})
    assert refused.status == 422 and refused.json()["error"]["details"][0]["field"] == "job_id"
    vendor = api(f"rosaflor{suffix}", "Admin")
    assert vendor.post("/pending-boxes/confirm", json={"job_id": "not-a-job"}).status == 422
    assert vendor.post("/pending-boxes/confirm", json={"job_id": job_id, "rows": [0]}).status == 422
    assert api(f"rosaflor{suffix}", "Salesperson").post("/pending-boxes/confirm", json={"job_id": job_id}).status == 403
    assert len(vendor.items("/pending-boxes", {"job_id": job_id})) == 3  # nothing half-applied
