"""A vendor on another system keeps its K2K stock in sync by sending batches of lines, not one call per line.

Rosaflor Farms' own ERP sends its lines by box code with its own row versions; Bloom Wholesale and
Petal & Stem, connected to Rosaflor (demo seed, ids of this test's own), see them in their availability.
"""

from __future__ import annotations

import pytest

from infra.localcloud import demo

pytestmark = pytest.mark.e2e
BOX = {"length": "40", "width": "10", "height": "10"}


def changed(n: int, version: int, boxes: int = 10, price: str = "0.40", **extra) -> dict:
    code = f"ERP{n:04d}"
    return {"detail_type": "InventoryLineChanged", "box_code": code, "source_version": version,
            "data": {"box_code": code, "product": f"Rose Explorer {n}", "box_type": "HB", "unit_type": "STEM",
                     "bunches_per_box": 10, "stems_per_bunch": 25, "boxes_on_hand": boxes, "price": price,
                     "location": "MIA", "dimensions": BOX, **extra}}


def removed(n: int, version: int) -> dict:
    return {"detail_type": "InventoryLineRemoved", "box_code": f"ERP{n:04d}", "source_version": version}


def availability(buyer, location="NYC") -> dict[str, dict]:
    """The buyer's whole availability (every page), by box code."""
    out, token = {}, None
    while True:
        page = buyer.get("/availability", params={"location": location, "limit": 200,
                                                  **({"next_token": token} if token else {})}).json()
        out.update({ln["box_code"]: ln for ln in page["lines"]})
        if not (token := page["next_token"]):
            return out


def send(erp, lines):
    answer = erp.post("/integrations/inventory", json={"lines": lines})
    assert answer.status == 200, answer.json()
    return answer.json()


@pytest.mark.parametrize("size", [pytest.param(10, id="10 lines"),
                                  pytest.param(500, id="500 lines", marks=pytest.mark.proof)])
def test_a_partner_vendor_s_batch_reaches_connected_buyers_once_and_in_version_order(cloud, api, suffix, size):
    demo.seed(cloud, suffix)
    rosaflor, bloom, petal = (f"{c}{suffix}" for c in ("rosaflor", "bloom", "petal"))
    erp = api(rosaflor, "ProcurementManager")  # the vendor's integration user: a role that keeps stock
    batch = [changed(n, version=100) for n in range(size)]

    first = send(erp, batch)
    assert (first["applied"], first["unchanged"], first["rejected"]) == (size, 0, 0)
    assert {r["outcome"] for r in first["results"]} == {"created"}
    cloud.drain()
    for buyer, location in ((api(bloom, "Admin"), "NYC"), (api(petal, "Admin"), "ATL")):
        seen = availability(buyer, location)
        assert {f"ERP{n:04d}" for n in range(size)} <= seen.keys()
        assert seen["ERP0000"]["boxes_available"] == 10

    # The same batch again (a retry): nothing changes, no event is sent.
    again = send(erp, batch)
    assert (again["applied"], again["unchanged"]) == (0, size)
    assert cloud.drain()["AvailabilitySyncFunction"] == 0

    # Out of order: version 99 arrives after 100 and changes nothing; 101 does.
    late = send(erp, [changed(0, version=99, boxes=1), changed(1, version=101, boxes=3)])
    assert [r["outcome"] for r in late["results"]] == ["unchanged", "changed"]
    cloud.drain()
    seen = availability(api(bloom, "Admin"))
    assert (seen["ERP0000"]["boxes_available"], seen["ERP0001"]["boxes_available"]) == (10, 3)

    # A removal wins over an older change that comes after it.
    gone = send(erp, [removed(2, version=102), changed(2, version=101, boxes=7)])
    assert [r["outcome"] for r in gone["results"]] == ["removed", "unchanged"]
    cloud.drain()
    assert "ERP0002" not in availability(api(bloom, "Admin"))
    assert erp.get(f"/inventory/{first['results'][2]['line_id']}").status == 404


def test_a_partner_batch_is_its_own_company_s_and_is_refused_whole_when_malformed(cloud, api, suffix):
    ids = demo.seed(cloud, suffix)["inventory_line_ids"]
    rosaflor, bloom = f"rosaflor{suffix}", f"bloom{suffix}"
    rosa = api(rosaflor, "Admin")
    before = rosa.get(f"/inventory/{ids['FR50HB']}").json()["line"]

    # Bloom's system sends a line with Rosaflor's box code: it is Bloom's own line, Rosaflor's is untouched.
    line = changed(0, version=5, boxes=1)
    line["box_code"] = line["data"]["box_code"] = "FR50HB"
    line["data"]["location"] = "NYC"
    mine = send(api(bloom, "Admin"), [line])
    assert mine["results"][0]["outcome"] == "created"
    assert [ln["box_code"] for ln in api(bloom, "Admin").items("/inventory")] == ["FR50HB"]
    assert rosa.get(f"/inventory/{ids['FR50HB']}").json()["line"] == before
    # Naming the vendor in the body is refused, not obeyed.
    aimed = changed(1, version=5)
    aimed["data"]["vendor_company_id"] = rosaflor
    refused = api(bloom, "Admin").post("/integrations/inventory", json={"lines": [aimed]})
    assert refused.status == 422
    assert refused.json()["error"]["details"][0]["field"] == "body.lines.0.data.vendor_company_id"

    # A malformed line refuses the whole batch: its valid lines are not applied either.
    erp = api(rosaflor, "ProcurementUser")
    bad = erp.post("/integrations/inventory", json={"lines": [changed(7, version=1), {**removed(8, 1), "data": {}}]})
    assert bad.status == 422
    assert "ERP0007" not in {ln["box_code"] for ln in rosa.items("/inventory")}
    too_many = erp.post("/integrations/inventory", json={"lines": [removed(n, 1) for n in range(501)]})
    assert too_many.status == 422 and too_many.json()["error"]["details"][0]["field"] == "body.lines"
    # A line that breaks a rule of the company (a location it does not have) is rejected alone.
    mixed = send(erp, [changed(9, version=1, location="XXX"), changed(10, version=1)])
    assert [r["outcome"] for r in mixed["results"]] == ["rejected", "created"]
    assert "location XXX" in mixed["results"][0]["reason"]
    # The same box code twice in a batch: in order, each against what the one before left.
    twice = send(erp, [changed(12, version=1, boxes=2), changed(12, version=2, boxes=3), changed(12, version=2)])
    assert [r["outcome"] for r in twice["results"]] == ["created", "changed", "unchanged"]
    assert rosa.get(f"/inventory/{twice['results'][0]['line_id']}").json()["line"]["boxes_on_hand"] == 3
    # A salesperson keeps no stock.
    assert api(rosaflor, "Salesperson").post("/integrations/inventory", json={"lines": [changed(11, 1)]}).status == 403
