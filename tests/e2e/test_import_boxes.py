"""Inventory in boxes over HTTP on the local cloud: Rosaflor Farms imports this week's boxes, confirmed
straight into inventory, and its connected buyer Bloom Wholesale sees them in its K2K availability."""

import pytest

from infra.localcloud import demo
from tests.fixtures.imports import workbooks as wb

pytestmark = pytest.mark.e2e

HEADER = [*wb.BOXES_HEADER, "Box Length", "Box Width", "Box Height"]


def test_confirmed_boxes_reach_the_connected_buyers_availability(cloud, api, suffix):
    demo.seed(cloud, suffix)
    vendor = api(f"rosaflor{suffix}", "Admin", user="ops@rosaflor.example")
    assert vendor.put("/vendors/ECUAROSE", json={"name": "Ecuarose grower"}).status == 200
    link = vendor.post("/imports", json={"import_type": "inventory-in-boxes", "filename": "week-10.xlsx",
                                         "confirm_inventory": True}).json()
    file = wb.workbook([HEADER,
                        ["ECUAROSE", "369-1234", "2026-03-05", "Explorer Red Rose 60cm", 8, "HB", "Stem", 10, 25,
                         0.31, "MIA", 0.42, 40, 10, 10],
                        ["ECUAROSE", "369-1234", "2026-03-05", "Explorer Red Rose 60cm", 8, "HB", "Stem", 10, 25,
                         0.31, "LAX", 0.42, 40, 10, 10]], sheet="Inventory in Boxes")
    cloud.client("s3").put_object(Bucket=cloud.name("DropBucket"), Key=link["job"]["key"], Body=file)
    cloud.drain()  # the import, then the availability projection its events feed

    job = vendor.get(f"/imports/{link['job']['job_id']}").json()
    assert (job["status"], job["imported"], job["rejected"]) == ("completed_with_errors", 1, 1)
    box_code = f"{job['job_id']}-2"
    mine = {line["box_code"]: line for line in vendor.items("/inventory")}
    assert mine[box_code]["boxes_on_hand"] == 8
    seen = {line["box_code"]: line for line in api(f"bloom{suffix}", "Admin").get("/availability").json()["lines"]}
    assert seen[box_code]["boxes_available"] == 8
