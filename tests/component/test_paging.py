"""Pages of a list on emulated DynamoDB (moto): Store.page and k2k.paging read a partition to the end,
each item once, whatever the page size, the order or a filter that leaves pages short."""

import pytest

from k2k import paging
from k2k.errors import Invalid
from tests.fixtures.imports.world import emulated_aws


@pytest.fixture
def db():
    with emulated_aws() as world:
        rows = [{"pk": "C#bloom", "sk": f"PO#{n:04d}", "status": "PAID" if n % 5 == 0 else "AP"} for n in range(1, 48)]
        rows += [{"pk": "C#bloom", "sk": "REC#0001"}, {"pk": "C#petal", "sk": "PO#0001", "status": "AP"}]
        world.db.batch_put(rows)
        yield world.db


def flat(pages):
    return [sk for page in pages for sk in page]


def every_page(db, company="bloom", **query):
    pages, token = [], None
    while True:
        items, token = paging.read(db, company, f"C#{company}", "PO#", token=token, **query)
        pages.append([i["sk"] for i in items])
        if token is None:
            return pages


@pytest.mark.parametrize("limit", [1, 7, 46, 47, 200])
def test_pages_of_any_size_add_up_to_the_whole_list_once(db, limit):
    pages = every_page(db, limit=limit)
    assert all(len(page) <= limit for page in pages)
    assert flat(pages) == [f"PO#{n:04d}" for n in range(1, 48)]  # in order, none twice, none missed


def test_newest_first_pages_run_backwards(db):
    assert flat(every_page(db, limit=10, descending=True)) == [f"PO#{n:04d}" for n in range(47, 0, -1)]


def test_a_filter_leaves_pages_short_and_the_token_carries_on(db):
    pages = every_page(db, limit=4, filter_expression="#s = :s", names={"#s": "status"}, values={":s": "PAID"})
    assert flat(pages) == [f"PO#{n:04d}" for n in range(5, 48, 5)]
    assert all(len(page) <= 4 for page in pages)


def test_a_token_of_one_filter_is_not_one_of_another(db):
    paid = {"filter_expression": "#s = :s", "names": {"#s": "status"}, "values": {":s": "PAID"}}
    _, token = paging.read(db, "bloom", "C#bloom", "PO#", limit=1, token=None, **paid)
    with pytest.raises(Invalid):
        paging.read(db, "bloom", "C#bloom", "PO#", limit=1, token=token, **{**paid, "values": {":s": "AP"}})


def test_another_company_cannot_read_on_from_a_token(db):
    _, token = paging.read(db, "bloom", "C#bloom", "PO#", limit=3, token=None)
    with pytest.raises(Invalid) as refused:
        paging.read(db, "petal", "C#petal", "PO#", limit=3, token=token)
    assert refused.value.details[0]["field"] == "query.next_token"


def test_a_sort_key_range_pages_to_exactly_its_items(db):
    pages, token = [], None
    while True:
        items, token = paging.read(db, "bloom", "C#bloom", None, limit=4, token=token, between=("PO#0010", "PO#0020"))
        pages.append([i["sk"] for i in items])
        if token is None:
            break
    assert flat(pages) == [f"PO#{n:04d}" for n in range(10, 21)]


@pytest.mark.parametrize("limit", [1, 47])
def test_a_page_that_ends_at_the_last_item_is_the_last_page(db, limit):
    # DynamoDB gives a LastEvaluatedKey whenever it stops at Limit, even at the last item (moto only when more
    # of the key range follows, so here the filtered list shows it): Store.page reads one past to know.
    pages = every_page(db, limit=limit)
    assert [len(page) for page in pages] == [limit] * (47 // limit)  # never an empty page after a full one
    last = every_page(db, limit=10, filter_expression="#s = :s", names={"#s": "status"}, values={":s": "PAID"})
    assert flat(last) == [f"PO#{n:04d}" for n in range(5, 48, 5)] and len(last[-1]) > 0


def test_a_list_of_parts_reads_them_one_after_another_each_item_once(db):
    db.batch_put([{"pk": "C#bloom", "sk": f"AR#{n:02d}"} for n in range(1, 4)])
    parts = [paging.Query("C#bloom", "AR#"), paging.Query("C#bloom", "NOTHING#"), paging.Query("C#bloom", "PO#")]
    expected = [f"AR#{n:02d}" for n in range(1, 4)] + [f"PO#{n:04d}" for n in range(1, 48)]
    for limit in (1, 3, 4, 50, 200):
        pages, token = [], None
        while True:
            items, token = paging.read_parts(db, "bloom", parts, limit=limit, token=token)
            pages.append([i["sk"] for i in items])
            if token is None:
                break
        assert flat(pages) == expected, limit
        assert all(0 < len(page) <= limit for page in pages), limit  # a full page at a part's end is not followed
        # by an empty one, nor the part after an empty part
    _, token = paging.read_parts(db, "bloom", parts, limit=3, token=None)  # stops at the end of AR#
    with pytest.raises(Invalid):
        paging.read_parts(db, "bloom", parts[:1], limit=3, token=token)  # another list's token
