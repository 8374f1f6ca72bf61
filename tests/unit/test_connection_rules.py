"""The life of a K2K connection: request, accept with its setup checked, suspend, resume."""

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from k2k import network
from k2k.errors import Conflict, Invalid, NotFound
from k2k.network import BuyerSettings, Connection, ConnectionStatus, Customer, Side, Vendor, VendorTerms

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def conn(status=ConnectionStatus.REQUESTED, suspended_by=None) -> Connection:
    return Connection(connection_id="rosaflor.bloom", vendor_company_id="rosaflor", vendor_name="Rosaflor",
                      buyer_company_id="bloom", buyer_name="Bloom Wholesale", status=status, terms=VendorTerms(),
                      suspended_by=suspended_by, requested_at=NOW, updated_at=NOW)


CUSTOMER = Customer(code="BLOOM", name="Bloom Wholesale", k2k_company_id="bloom")
VENDOR = Vendor(code="ROSA", name="Rosaflor", k2k_company_id="rosaflor")
READY = BuyerSettings(freight_cube_rate=D("1.50"))


def test_activation_says_exactly_what_is_missing_and_who_must_fix_it():
    gaps = network.missing_setup(None, None, BuyerSettings(), "Rosaflor", "Bloom Wholesale")
    assert [(g.party, g.requirement) for g in gaps] == [
        (Side.VENDOR, "Rosaflor must have Bloom Wholesale as a customer (a customer with k2k_company_id set)"),
        (Side.BUYER, "Bloom Wholesale must have Rosaflor as a vendor (a vendor with k2k_company_id set)"),
        (Side.BUYER, "Bloom Wholesale must set a freight cube rate (settings.buyer.freight_cube_rate)"),
    ]
    with pytest.raises(Invalid) as refused:
        network.accept(conn(), Side.VENDOR, gaps)
    assert "freight cube rate" in refused.value.message
    assert len(refused.value.details) == 3


def test_the_vendor_accepts_a_complete_setup():
    assert network.missing_setup(CUSTOMER, VENDOR, READY, "Rosaflor", "Bloom") == []
    assert network.accept(conn(), Side.VENDOR, []) is ConnectionStatus.ACTIVE


def test_the_buyer_cannot_accept_its_own_request():
    with pytest.raises(Conflict):
        network.accept(conn(), Side.BUYER, [])


def test_an_active_connection_cannot_be_accepted_again():
    with pytest.raises(Conflict):
        network.accept(conn(ConnectionStatus.ACTIVE), Side.VENDOR, [])


def test_either_party_suspends_and_only_the_one_that_did_resumes():
    assert network.suspend(conn(ConnectionStatus.ACTIVE), Side.BUYER) is ConnectionStatus.SUSPENDED
    suspended = conn(ConnectionStatus.SUSPENDED, suspended_by=Side.BUYER)
    with pytest.raises(Conflict, match="suspended by the buyer"):
        network.resume(suspended, Side.VENDOR, [])
    assert network.resume(suspended, Side.BUYER, []) is ConnectionStatus.ACTIVE


def test_resuming_checks_the_setup_again():
    gaps = network.missing_setup(CUSTOMER, VENDOR, BuyerSettings(), "Rosaflor", "Bloom")
    with pytest.raises(Invalid):
        network.resume(conn(ConnectionStatus.SUSPENDED, Side.VENDOR), Side.VENDOR, gaps)


def test_a_company_outside_the_connection_cannot_tell_it_exists():
    with pytest.raises(NotFound):
        conn().side_of("another-buyer")
    with pytest.raises(NotFound):
        network.parse_connection_id("no-dot-here")


def test_connection_ids_name_vendor_then_buyer():
    assert network.connection_id("rosaflor", "bloom") == "rosaflor.bloom"
    assert network.parse_connection_id("rosaflor.bloom") == ("rosaflor", "bloom")
