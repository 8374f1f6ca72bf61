"""Demo data for `make run`, created through the public API like any client would.

Rosaflor Farms (vendor, Miami and Bogota) publishes to Bloom Wholesale and
Petal & Stem (buyers); Tulipa Trading has no connection and sees nothing.
`exports` names the users and ids that README.md's walks use, as shell variables.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import timedelta
from typing import Any

from infra.localcloud.tokens import mint

COMPANIES = VENDOR, BUYER, OTHER_BUYER, LONE_BUYER = "rosaflor", "bloom", "petal", "tulipa"


def _call(base_url: str, token: str, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        base_url + path, method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        raw = response.read()
        return json.loads(raw) if raw else None


def seed(cloud: Any, suffix: str = "") -> dict[str, Any]:
    """The demo companies, their K2K setup and the vendor's lines; their ids.

    A suffix makes other companies of the same story ("rosaflor-t1"...), so a
    test can have its own on a local cloud that others share.
    """
    base = cloud.base_url
    rosa, bloom, petal, tulipa = (f"{c}{suffix}" for c in COMPANIES)
    operator = mint("", ["Operator"], user="operator@k2k.example")
    admins = {c: mint(c, ["Admin"], user=f"admin@{c}.example") for c in (rosa, bloom, petal, tulipa)}

    def call(company: str, method: str, path: str, body: Any = None) -> Any:
        return _call(base, admins[company], method, path, body)

    companies = [
        (rosa, "Rosaflor Farms", [("MIA", "Miami warehouse"), ("BOG", "Bogota farm")]),
        (bloom, "Bloom Wholesale", [("NYC", "New York"), ("CHI", "Chicago")]),
        (petal, "Petal & Stem", [("ATL", "Atlanta")]),
        (tulipa, "Tulipa Trading", [("DAL", "Dallas")]),
    ]
    for cid, name, locations in companies:
        _call(base, operator, "POST", "/operator/companies",
              {"company_id": cid, "name": name, "locations": [{"code": c, "name": n} for c, n in locations]})

    # K2K setup on both sides: the vendor knows each buyer as a customer, each buyer the vendor as a vendor.
    for code, buyer, name in (("BLOOM", bloom, "Bloom Wholesale"), ("PETAL", petal, "Petal & Stem")):
        call(rosa, "PUT", f"/customers/{code}", {"name": name, "k2k_company_id": buyer,
                                                 "email": f"purchasing@{buyer}.example"})
        call(buyer, "PUT", "/vendors/ROSA", {"name": "Rosaflor Farms", "k2k_company_id": rosa})
    for buyer, gpm, rate in ((bloom, {"NYC": "30", "CHI": "25"}, "1.50"), (petal, {"ATL": "28"}, "1.80")):
        company = call(buyer, "GET", "/company")
        settings = company["settings"]
        settings["buyer"].update({"k2k_gpm_pct_by_location": gpm, "freight_cube_rate": rate, "duties_pct": "0",
                                  "handling_per_box": "0.75"})
        call(buyer, "PUT", "/company/settings", {"settings": settings, "version": company["version"]})
    vendor = call(rosa, "GET", "/company")
    vendor["settings"]["vendor_defaults"].update({"ship_days_offset": 2, "cutoff_time": "14:00:00"})
    call(rosa, "PUT", "/company/settings", {"settings": vendor["settings"], "version": vendor["version"]})

    for buyer in (bloom, petal):
        conn = call(buyer, "POST", "/connections", {"vendor_company_id": rosa})
        call(rosa, "POST", f"/connections/{conn['connection_id']}/accept")
    terms = call(rosa, "GET", f"/connections/{rosa}.{petal}")
    call(rosa, "PUT", f"/connections/{rosa}.{petal}/terms",
         {"terms": {**terms["terms"], "markup_pct": "10"}, "version": terms["version"]})

    today = cloud.now().date()  # the application's today: tests move its clock forward
    box = {"length": "40", "width": "10", "height": "10"}
    lines = [
        {"box_code": "FR50HB", "product": "Rose Freedom 50cm", "colour": "Red", "category": "Roses",
         "box_type": "HB", "unit_type": "STEM", "bunches_per_box": 10, "stems_per_bunch": 25, "boxes_on_hand": 12,
         "cost": "0.21", "price": "0.35", "location": "MIA", "dimensions": box},
        {"box_code": "MND60QB", "product": "Rose Mondial 60cm", "colour": "White", "category": "Roses",
         "box_type": "QB", "unit_type": "STEM", "bunches_per_box": 5, "stems_per_bunch": 25, "boxes_on_hand": 6,
         "price": "0.42", "location": "BOG", "dimensions": {"length": "40", "width": "10", "height": "5"}},
        {"box_code": "HYDWFB", "product": "Hydrangea White Premium", "category": "Hydrangea", "box_type": "FB",
         "unit_type": "BUNCH", "bunches_per_box": 8, "boxes_on_hand": 3, "price": "9.80", "location": "MIA",
         "received_date": (today - timedelta(days=3)).isoformat(),
         "dimensions": {"length": "48", "width": "20", "height": "12"}},
        {"box_code": "ALSTHB", "product": "Alstroemeria Assorted", "box_type": "HB", "unit_type": "BUNCH",
         "bunches_per_box": 20, "boxes_on_hand": 4, "price": "3.10", "location": "MIA", "mixed_box": True,
         "dimensions": box},
        {"box_code": "CARNHB", "product": "Carnation Fancy Red", "box_type": "HB", "unit_type": "STEM",
         "bunches_per_box": 16, "stems_per_bunch": 25, "boxes_on_hand": 5, "price": "0.18", "location": "MIA",
         "on_hold": True, "dimensions": box},
    ]
    created = [call(rosa, "POST", "/inventory", line) for line in lines]
    cloud.drain()
    return {
        "companies": {cid: name for cid, name, _ in companies},
        "inventory_line_ids": {line["box_code"]: line["line_id"] for line in created},
    }


def exports(base_url: str, seeded: dict[str, Any]) -> dict[str, str]:
    """The README's shell variables: the API, a token per user its walks take (minted now), the ids they use."""
    return {
        "API": base_url,
        "VENDOR": mint(VENDOR, ["Admin"], user=f"admin@{VENDOR}.example"),
        "BUYER": mint(BUYER, ["Admin"], user=f"admin@{BUYER}.example"),
        # Bloom's web shop: an e-commerce role puts boxes in carts and checks them out.
        "SHOP": mint(BUYER, ["AccountsReceivable"], user=f"shop@{BUYER}.example"),
        "LINE": seeded["inventory_line_ids"]["FR50HB"],
    }
