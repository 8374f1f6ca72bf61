"""Every list answers a page over HTTP on the local cloud: `{"items": [...], "next_token": ...}`.

Rosaflor Farms lists its inventory two lines at a time and gets each of its lines exactly once; a
next_token is Rosaflor's own: Bloom Wholesale replaying it, or Rosaflor handing it to another list,
gets a 422 naming next_token and none of Rosaflor's lines.
"""

import pytest

from infra.localcloud import demo

pytestmark = pytest.mark.e2e

# Each list route and the query it needs (the vendor's side, then the buyer's).
VENDOR_LISTS = {"/inventory": {}, "/orders": {}, "/invoices": {}, "/connections": {}, "/vendors": {},
                "/imports": {}, "/pending-boxes": {}, "/open-invoices": {"customer_po": "PO-1"}}
BUYER_LISTS = {"/prebooks": {}, "/purchase-orders": {}, "/staging": {}, "/reconciliation": {"status": "AP"},
               "/customers": {}, "/customer-invoices": {"customer_code": "FLORA"}}


@pytest.fixture
def world(cloud, api, suffix):
    seeded = demo.seed(cloud, suffix)["inventory_line_ids"]
    vendor = api(f"rosaflor{suffix}", "Admin")
    extra = []
    for n in range(4):
        made = vendor.post("/inventory", json={
            "box_code": f"PG{n}HB", "product": f"Rose Explorer {n}", "box_type": "HB", "unit_type": "STEM",
            "bunches_per_box": 10, "stems_per_bunch": 25, "boxes_on_hand": 2, "price": "0.40", "location": "MIA",
            "dimensions": {"length": "40", "width": "10", "height": "10"}})
        assert made.status == 201, made.json()
        extra.append(made.json()["line_id"])
    cloud.drain()

    class World:
        rosaflor = vendor
        rosaflor_id = f"rosaflor{suffix}"
        bloom = api(f"bloom{suffix}", "Admin")
        line_ids = [*seeded.values(), *extra]

    return World()


def pages(client, path, limit, **params):
    out, token = [], None
    while True:
        got = client.get(path, params={**params, "limit": limit, **({"next_token": token} if token else {})})
        assert got.status == 200, got.json()
        body = got.json()
        assert set(body) == {"items", "next_token"}
        out.append(body["items"])
        token = body["next_token"]
        if token is None:
            return out


def test_the_vendors_inventory_two_at_a_time_is_every_line_exactly_once(world):
    got = pages(world.rosaflor, "/inventory", 2)
    assert len(got) >= 5 and all(len(page) <= 2 for page in got)
    ids = [line["line_id"] for page in got for line in page]
    assert len(ids) == len(set(ids)) == 9  # no line twice
    assert set(ids) == set(world.line_ids)  # none missed, none of anyone else's
    assert [line["line_id"] for line in world.rosaflor.get("/inventory").json()["items"]] == ids  # default page


def test_a_next_token_replayed_by_another_company_is_refused(world):
    token = world.rosaflor.get("/inventory", params={"limit": 2}).json()["next_token"]
    assert token
    for company, path in ((world.bloom, "/inventory"), (world.bloom, "/connections"),
                          (world.rosaflor, "/connections")):  # another company's, or another list's
        refused = company.get(path, params={"next_token": token})
        assert refused.status == 422, refused.json()
        assert [d["field"] for d in refused.json()["error"]["details"]] == ["query.next_token"]
        assert "FR50HB" not in refused.text


def test_an_edited_next_token_or_a_limit_out_of_bounds_is_refused(world):
    token = world.rosaflor.get("/inventory", params={"limit": 2}).json()["next_token"]
    for bad in (token[:-4], token[:8] + ("x" if token[8] != "x" else "y") + token[9:], "garbage"):
        assert world.rosaflor.get("/inventory", params={"next_token": bad}).status == 422
    for limit in (0, 201, "ten"):
        refused = world.rosaflor.get("/inventory", params={"limit": limit})
        assert refused.status == 422
        assert [d["field"] for d in refused.json()["error"]["details"]] == ["query.limit"]


def test_the_buyers_availability_pages_to_what_it_sees_at_once(world):
    whole = world.bloom.get("/availability", params={"location": "NYC"}).json()
    assert whole["next_token"] is None and len(whole["lines"]) >= 6
    seen, token = [], None
    while True:
        got = world.bloom.get("/availability", params={"location": "NYC", "limit": 2,
                                                       **({"next_token": token} if token else {})}).json()
        assert len(got["lines"]) <= 2 and got["location"] == "NYC"
        seen += [line["line_id"] for line in got["lines"]]
        token = got["next_token"]
        if token is None:
            break
    assert len(seen) == len(set(seen))
    assert sorted(seen) == sorted(line["line_id"] for line in whole["lines"])
    # a token of the whole availability is not one of one vendor's
    first = world.bloom.get("/availability", params={"location": "NYC", "limit": 1}).json()["next_token"]
    refused = world.bloom.get("/availability", params={"location": "NYC", "vendor": world.rosaflor_id,
                                                       "next_token": first})
    assert refused.status == 422, refused.json()


def test_every_list_answers_a_page(world):
    for client, lists in ((world.rosaflor, VENDOR_LISTS), (world.bloom, BUYER_LISTS)):
        for path, params in lists.items():
            got = client.get(path, params={**params, "limit": 1})
            assert got.status == 200, (path, got.json())
            assert set(got.json()) == {"items", "next_token"} and len(got.json()["items"]) <= 1, path
