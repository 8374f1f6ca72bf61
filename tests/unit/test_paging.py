"""Pages of a list: a next_token is the caller's own, for one query, and cannot be bent to read elsewhere."""

import base64
import json
from pathlib import Path

import pytest

from k2k import paging
from k2k.errors import Invalid

PK = "C#bloom"
POS = paging.Query(PK, "PO#")
QUERY = POS.identity


def token_for(company: str = "bloom", key: dict | None = None, query: str = QUERY) -> str:
    return paging.encode(company, query, key or {"pk": PK, "sk": "PO#0042"})


def payload(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


def raw(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_a_token_gives_back_the_key_its_page_stopped_at():
    token = token_for()
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")  # URL-safe
    assert paging.resume(token, "bloom", [POS]) == (0, {"pk": PK, "sk": "PO#0042"})


def test_a_token_of_an_index_query_keeps_both_keys_of_the_company():
    key = {"pk": "C#bloom", "sk": "INVREF#7", "gsi1pk": "C#bloom#INVPO#PO-1", "gsi1sk": "2026-03-05#7"}
    by_po = paging.Query("C#bloom#INVPO#PO-1", index="gsi1")
    assert paging.resume(token_for(key=key, query=by_po.identity), "bloom", [by_po]) == (0, key)


def test_a_token_of_a_list_of_parts_says_which_part_it_stopped_in():
    billed, imported = paging.Query(PK, "ARINV#"), paging.Query(PK, "INVREF#")
    key = {"pk": PK, "sk": "INVREF#7"}
    assert paging.resume(token_for(key=key, query=imported.identity), "bloom", [billed, imported]) == (1, key)
    assert paging.resume(paging.encode("bloom", imported.identity, None), "bloom", [billed, imported]) == (1, None)
    with pytest.raises(Invalid):  # a key of one part presented as the other's
        paging.resume(token_for(key=key, query=billed.identity), "bloom", [billed, imported])


def test_another_company_presenting_the_token_is_refused():
    with pytest.raises(Invalid) as refused:
        paging.resume(token_for("bloom"), "petal", [paging.Query("C#petal", "PO#")])
    assert refused.value.details == [{"field": "query.next_token", "message": refused.value.message}]


def test_a_token_relabelled_for_the_caller_still_cannot_reach_another_partition():
    petal = paging.Query("C#petal", "PO#")
    # petal rewrites bloom's token to say "petal": the key is still in bloom's partition.
    forged = raw({**payload(token_for("bloom", query=petal.identity)), "c": "petal"})
    with pytest.raises(Invalid):
        paging.resume(forged, "petal", [petal])
    # ...and pointing the key into another company's partition under the caller's name is refused too.
    forged = raw({"c": "petal", "q": petal.identity, "k": {"pk": "C#bloom", "sk": "PO#0042"}})
    with pytest.raises(Invalid):
        paging.resume(forged, "petal", [petal])


def test_an_index_token_whose_item_is_another_companys_is_refused():
    by_po = paging.Query("C#petal#INVPO#PO-1", index="gsi1")
    key = {"pk": "C#bloom", "sk": "INVREF#7", "gsi1pk": "C#petal#INVPO#PO-1", "gsi1sk": "x"}
    with pytest.raises(Invalid):
        paging.resume(raw({"c": "petal", "q": by_po.identity, "k": key}), "petal", [by_po])


def test_a_company_whose_id_extends_anothers_gets_no_foothold():
    by_po = paging.Query("C#bloom#INVPO#PO-1", index="gsi1")
    key = {"pk": "C#bloom2", "sk": "INVREF#7", "gsi1pk": "C#bloom#INVPO#PO-1", "gsi1sk": "x"}
    with pytest.raises(Invalid):
        paging.resume(raw({"c": "bloom", "q": by_po.identity, "k": key}), "bloom", [by_po])


@pytest.mark.parametrize("tamper", [
    lambda t: t[:-3],                                            # cut short
    lambda t: t[:10] + ("A" if t[10] != "A" else "B") + t[11:],  # a character changed
    lambda t: "not-a-token",
    lambda t: raw(["a", "list"]),
    lambda t: raw({**payload(t), "q": "another-query"}),         # the token of another list or filter
    lambda t: raw({**payload(t), "k": {"pk": PK, "sk": "INV#1"}}),  # outside this list's prefix
    lambda t: raw({**payload(t), "k": {"pk": PK, "sk": "PO#1", "extra": "x"}}),
    lambda t: raw({**payload(t), "k": {"pk": PK, "sk": 7}}),
    lambda t: raw({**payload(t), "k": "PO#1"}),
])
def test_a_tampered_token_is_refused(tamper):
    with pytest.raises(Invalid) as refused:
        paging.resume(tamper(token_for()), "bloom", [POS])
    assert refused.value.status == 422


def test_a_token_of_a_sort_key_range_stays_in_that_range():
    key = {"pk": "C#bloom#AR#FLORA", "sk": "E#2026-03-05#0007"}
    march = paging.Query(key["pk"], between=("E#2026-03-01", "E#2026-03-31#~"))
    token = paging.encode("bloom", march.identity, key)
    assert paging.resume(token, "bloom", [march]) == (0, key)
    april = paging.Query(key["pk"], between=("E#2026-04-01", "E#2026-04-30#~"))
    with pytest.raises(Invalid):  # another range is another query...
        paging.resume(token, "bloom", [april])
    with pytest.raises(Invalid):  # ...and a key outside the range is refused even under its query's name
        paging.resume(paging.encode("bloom", april.identity, key), "bloom", [april])


def test_the_api_document_has_no_unpaged_list():
    """A new list route cannot answer everything at once: every GET answering an array is a page."""
    document = json.loads((Path(__file__).parents[2] / "docs" / "openapi.json").read_text())
    bare, unbounded = [], []
    for path, operations in document["paths"].items():
        get = operations.get("get")
        if not get:
            continue
        schema = get["responses"]["200"]["content"]["application/json"]["schema"]
        if schema.get("type") == "array":
            bare.append(path)
        if schema.get("$ref", "").startswith("#/components/schemas/Page_"):
            names = {p["name"] for p in get.get("parameters", [])}
            if not {"limit", "next_token"} <= names:
                unbounded.append(path)
    assert unbounded == []
    assert {"limit", "next_token"} <= {p["name"] for p in document["paths"]["/availability"]["get"]["parameters"]}
    assert bare == []
