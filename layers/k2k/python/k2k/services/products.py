"""The products catalogue on the store: the one owner of its keys and reads (k2k.products).

A product is one item in the company's partition, `PRODUCT#<code>`; putting a code again replaces it.
"""

from __future__ import annotations

from k2k import keys, paging
from k2k.auth import Caller
from k2k.errors import NotFound
from k2k.paging import Page
from k2k.products import Product, ProductIn, product
from k2k.store import Item, Store, plain, to_item

PRODUCT_PREFIX = "PRODUCT#"


def _key(company_id: str, code: str) -> dict[str, str]:
    return {"pk": keys.company_pk(company_id), "sk": f"{PRODUCT_PREFIX}{code}"}


def _item(made: Product, company_id: str) -> Item:
    # A product's `kind` is stored as product_kind: `kind` is the store's own attribute of every item.
    return {**to_item(made, **_key(company_id, made.code)), "kind": "PRODUCT", "product_kind": made.kind.value}


def _product(item: Item) -> Product:
    return Product.model_validate({**plain(item), "kind": item["product_kind"]})


def put_product(db: Store, caller: Caller, code: str, body: ProductIn) -> Product:
    made = product(code, body)
    db.put(_item(made, caller.company_id))
    return made


def get_product(db: Store, company_id: str, code: str) -> Product:
    """The company's product with this code; NotFound when it has none."""
    item = db.get(*_key(company_id, code).values())
    if item is None:
        raise NotFound(f"product {code} not found")
    return _product(item)


def products_by_code(db: Store, company_id: str, codes: list[str]) -> dict[str, Product]:
    """These products of the company, by code (absent ones are left out): one batch read."""
    found = db.batch_get([_key(company_id, c) for c in dict.fromkeys(codes)])
    return {p.code: p for p in (_product(i) for i in found)}


def list_products(db: Store, caller: Caller, limit: int, token: str | None) -> Page[Product]:
    items, next_token = paging.read(db, caller.company_id, keys.company_pk(caller.company_id), PRODUCT_PREFIX,
                                    limit=limit, token=token)
    return Page(items=[_product(i) for i in items], next_token=next_token)
