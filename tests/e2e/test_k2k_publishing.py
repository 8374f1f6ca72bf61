"""The publishing story over HTTP on the local cloud.

Rosaflor Farms publishes its open market to Bloom Wholesale and Petal & Stem;
Tulipa Trading has no connection. The demo seed sets this up through the API, with company ids of
this test's own (rosaflor-3f9a1c...) on the local cloud the tests share.
"""

from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from infra.localcloud import demo

pytestmark = pytest.mark.e2e


@pytest.fixture
def k2k(cloud, api, suffix):
    ids = demo.seed(cloud, suffix)["inventory_line_ids"]
    company = {c: f"{c}{suffix}" for c in ("rosaflor", "bloom", "petal", "tulipa")}

    class World:
        vendor = api(company["rosaflor"], "Admin")
        bloom = api(company["bloom"], "Admin")
        bloom_sales = api(company["bloom"], "Salesperson")
        petal = api(company["petal"], "Admin")
        tulipa = api(company["tulipa"], "Admin")
        lines = ids
        id = company
        with_bloom = f"/connections/{company['rosaflor']}.{company['bloom']}"

        def availability(self, client, **params):
            response = client.get("/availability", params=params or None)
            assert response.status == 200, response.json()
            return {line["box_code"]: line for line in response.json()["lines"]}

        def change(self, box_code, **fields):
            response = self.vendor.patch(f"/inventory/{self.lines[box_code]}", json=fields)
            assert response.status == 200, response.json()
            cloud.drain()
            return response.json()

    return World()


def test_a_buyer_sees_the_vendors_open_market_priced_for_each_of_its_locations(k2k, cloud):
    nyc = k2k.availability(k2k.bloom_sales, location="NYC")
    # Held, mixed-box lines never reach a buyer; both vendor locations are connected by default.
    assert set(nyc) == {"FR50HB", "MND60QB", "HYDWFB"}
    freedom = nyc["FR50HB"]
    assert freedom["vendor_name"] == "Rosaflor Farms"
    assert freedom["boxes_available"] == 12
    assert freedom["units_per_box"] == 250
    assert D(freedom["vendor_price"]) == D("0.35")
    # 0.35 + freight 1.50 x 2.3148 ft3 / 250 + handling 0.75 / 250 = 0.366889
    assert D(freedom["landed_cost"]) == D("0.367")
    # NYC sells at 30% GPM: 0.367 / 0.70 = 0.5243
    assert D(freedom["suggested_price"]) == D("0.52")
    chicago = k2k.availability(k2k.bloom, location="CHI")["FR50HB"]
    assert D(chicago["suggested_price"]) == D("0.49")  # 25% GPM: 0.367 / 0.75
    # Ship days offset 2 from the vendor's terms (a day more past its 14:00 cut-off).
    ship = date.fromisoformat(freedom["earliest_ship_date"])
    assert timedelta(days=2) <= ship - cloud.now().date() <= timedelta(days=3)


def test_each_buyer_pays_its_own_markup(k2k):
    petal = k2k.availability(k2k.petal)["FR50HB"]
    assert D(petal["vendor_price"]) == D("0.385")  # Petal's 10% markup
    # 0.385 + 1.80 x 2.3148 / 250 + 0.75 / 250 = 0.404667 -> at 28% GPM 0.405 / 0.72
    assert D(petal["landed_cost"]) == D("0.405")
    assert D(petal["suggested_price"]) == D("0.56")


def test_a_company_without_a_connection_sees_nothing(k2k):
    assert k2k.availability(k2k.tulipa) == {}


def test_a_price_change_reaches_every_buyer(k2k):
    k2k.change("FR50HB", price="0.40")
    assert D(k2k.availability(k2k.bloom)["FR50HB"]["vendor_price"]) == D("0.40")
    assert D(k2k.availability(k2k.petal)["FR50HB"]["vendor_price"]) == D("0.44")


def test_a_hold_takes_the_line_away_and_releasing_it_brings_it_back(k2k):
    k2k.change("FR50HB", on_hold=True)
    assert "FR50HB" not in k2k.availability(k2k.bloom)
    k2k.change("FR50HB", on_hold=False, boxes_on_hand=7)
    assert k2k.availability(k2k.bloom)["FR50HB"]["boxes_available"] == 7


def test_selling_out_and_removing_lines_take_them_away(k2k, cloud):
    k2k.change("MND60QB", boxes_on_hand=0)
    assert "MND60QB" not in k2k.availability(k2k.bloom)
    assert k2k.vendor.delete(f"/inventory/{k2k.lines['HYDWFB']}").status == 204
    cloud.drain()
    assert set(k2k.availability(k2k.bloom)) == {"FR50HB"}


def test_boxes_age_out_of_k2k_after_the_vendors_maximum_age(k2k, cloud):
    # 12 days ago here is at least 11 days ago wherever the vendor is.
    k2k.change("FR50HB", received_date=(cloud.now().date() - timedelta(days=12)).isoformat())
    assert "FR50HB" not in k2k.availability(k2k.bloom)
    seen = k2k.vendor.get(f"/inventory/{k2k.lines['FR50HB']}").json()
    assert {p["buyer_company_id"]: p["reasons"] for p in seen["publication"]} == {
        k2k.id["bloom"]: ["older than the maximum age"], k2k.id["petal"]: ["older than the maximum age"]}


def test_suspending_a_connection_hides_everything_until_the_same_side_resumes(k2k, cloud):
    assert k2k.bloom.post(f"{k2k.with_bloom}/suspend").status == 200
    cloud.drain()
    assert k2k.availability(k2k.bloom) == {}
    assert k2k.availability(k2k.petal) != {}  # the other buyer is untouched
    refused = k2k.vendor.post(f"{k2k.with_bloom}/resume")
    assert refused.status == 409
    assert "suspended by the buyer" in refused.json()["error"]["message"]
    assert k2k.bloom.post(f"{k2k.with_bloom}/resume").status == 200
    cloud.drain()
    assert set(k2k.availability(k2k.bloom)) == {"FR50HB", "MND60QB", "HYDWFB"}


def test_the_vendor_chooses_which_locations_a_buyer_sees(k2k, cloud):
    conn = k2k.vendor.get(k2k.with_bloom).json()
    terms = {**conn["terms"], "connected_locations": ["MIA"]}
    response = k2k.vendor.put(f"{k2k.with_bloom}/terms", json={"terms": terms, "version": conn["version"]})
    assert response.status == 200, response.json()
    cloud.drain()
    assert set(k2k.availability(k2k.bloom)) == {"FR50HB", "HYDWFB"}
    assert "MND60QB" in k2k.availability(k2k.petal)
    stale = k2k.vendor.put(f"{k2k.with_bloom}/terms", json={"terms": terms, "version": conn["version"]})
    assert stale.status == 409


def test_a_buyer_can_hide_k2k_inventory_from_its_availability(k2k):
    company = k2k.bloom.get("/company").json()
    company["settings"]["buyer"]["show_k2k_inventory"] = False
    assert k2k.bloom.put("/company/settings", json={"settings": company["settings"]}).status == 200
    assert k2k.availability(k2k.bloom) == {}


def test_a_repair_resync_rebuilds_a_lost_projection(k2k, cloud):
    bloom, rosaflor = k2k.id["bloom"], k2k.id["rosaflor"]
    cloud.client("dynamodb").delete_item(TableName=cloud.name("K2KTable"), Key={
        "pk": {"S": f"C#{bloom}#AVAIL"}, "sk": {"S": f"V#{rosaflor}#L#{k2k.lines['FR50HB']}"}})
    assert "FR50HB" not in k2k.availability(k2k.bloom)
    assert k2k.vendor.post("/inventory/resync", json={"buyer_company_id": bloom}).status == 202
    cloud.drain()
    assert "FR50HB" in k2k.availability(k2k.bloom)


class TestTenantWalls:
    def test_a_buyer_cannot_read_or_touch_the_vendors_private_inventory(self, k2k):
        line = k2k.lines["FR50HB"]
        assert k2k.bloom.get(f"/inventory/{line}").status == 404
        assert k2k.bloom.patch(f"/inventory/{line}", json={"price": "0.01"}).status == 404
        assert k2k.bloom.delete(f"/inventory/{line}").status == 404
        assert k2k.bloom.items("/inventory") == []
        # The held and mixed lines stay private even through the availability view.
        assert "CARNHB" not in k2k.availability(k2k.bloom)

    def test_a_company_outside_a_connection_gets_404_not_403(self, k2k):
        assert k2k.tulipa.get(k2k.with_bloom).status == 404
        assert k2k.tulipa.post(f"{k2k.with_bloom}/suspend").status == 404
        assert k2k.tulipa.items("/connections") == []

    def test_the_company_comes_from_the_token_not_the_request(self, k2k, cloud):
        # Tulipa tries to act as Bloom through the body and a header; it only ever acts as itself.
        rosaflor, bloom = k2k.id["rosaflor"], k2k.id["bloom"]
        smuggled = k2k.tulipa.request("POST", "/connections", json={
            "vendor_company_id": rosaflor, "buyer_company_id": bloom, "company_id": bloom})
        assert smuggled.status == 422  # a field the request does not have is refused, never ignored
        assert {d["field"] for d in smuggled.json()["error"]["details"]} == {"body.buyer_company_id",
                                                                            "body.company_id"}
        response = k2k.tulipa.request("POST", "/connections", json={"vendor_company_id": rosaflor},
                                      headers={"X-Company-Id": bloom})
        assert response.status == 201
        assert response.json()["buyer_company_id"] == k2k.id["tulipa"]
        assert response.json()["status"] == "REQUESTED"
        cloud.drain()
        assert k2k.availability(k2k.tulipa) == {}

    def test_roles_are_enforced_per_route(self, k2k):
        assert k2k.bloom_sales.post(f"{k2k.with_bloom}/suspend").status == 403
        assert k2k.bloom_sales.put("/company/settings", json={"settings": {}}).status == 403
        assert k2k.bloom_sales.post("/inventory", json={
            "box_code": "X1", "product": "Rose", "bunches_per_box": 1, "boxes_on_hand": 1, "location": "NYC"}
        ).status == 403
        assert k2k.bloom.post("/operator/companies", json={
            "company_id": "evil", "name": "Evil", "locations": [{"code": "X", "name": "X"}]}).status == 403

    def test_no_token_no_entry(self, cloud):
        import urllib.error
        import urllib.request

        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(cloud.base_url + "/availability")
        assert refused.value.code == 401
