"""Key design. Every partition key starts with the owning company: C#<company_id>.

See docs/data-model.md for the access patterns these serve.
"""

from __future__ import annotations


def company_pk(company_id: str) -> str:
    return f"C#{company_id}"


COMPANY_SK = "COMPANY"


def partner_pk(company_id: str) -> str:
    """A company's partner items: subscriptions, their summary, deliveries (services/partners.py)."""
    return f"C#{company_id}#PARTNER"


def customer_sk(code: str) -> str:
    return f"CUSTOMER#{code}"


def vendor_sk(code: str) -> str:
    return f"VENDOR#{code}"


# A customer or vendor that is another K2K company is also found from that company, by key: a link item per
# (company, code), written and removed with the record's k2k_company_id (a connection's setup check).
def customer_link_sk(other_company: str, code: str = "") -> str:
    """With no code: the prefix of every customer that is this company."""
    return f"LINK#CUSTOMER#{other_company}#{code}"


def vendor_link_sk(other_company: str, code: str = "") -> str:
    """With no code: the prefix of every vendor that is this company."""
    return f"LINK#VENDOR#{other_company}#{code}"


def customer_invoices_pk(company_id: str, customer_code: str) -> str:
    """gsi2: one customer's invoices - billed, raised by hand (ARINV#) and imported (INVREF#) - under their
    own sort keys, so a list of one customer's invoices reads its page, not every customer's."""
    return f"C#{company_id}#CUSTINV#{customer_code}"


# A connection is stored twice, once in each company's partition, written in one transaction.
def connection_as_vendor_sk(buyer_id: str) -> str:
    """In the vendor's partition: the buyer it publishes to."""
    return f"CONN#B#{buyer_id}"


def connection_as_buyer_sk(vendor_id: str) -> str:
    """In the buyer's partition: the vendor it buys from."""
    return f"CONN#V#{vendor_id}"


CONN_AS_VENDOR_PREFIX = "CONN#B#"
CONN_AS_BUYER_PREFIX = "CONN#V#"


def inventory_sk(line_id: str) -> str:
    return f"INV#{line_id}"


INVENTORY_PREFIX = "INV#"


def availability_pk(buyer_id: str) -> str:
    """The buyer's materialized K2K availability (one item per vendor line)."""
    return f"C#{buyer_id}#AVAIL"


def availability_sk(vendor_id: str, line_id: str) -> str:
    return f"V#{vendor_id}#L#{line_id}"


def availability_vendor_prefix(vendor_id: str) -> str:
    return f"V#{vendor_id}#L#"


def outbox_pk(company_id: str) -> str:
    return f"C#{company_id}#OUTBOX"


def inbox_pk(company_id: str) -> str:
    return f"C#{company_id}#INBOX"
