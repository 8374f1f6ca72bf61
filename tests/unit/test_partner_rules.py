"""Partner events' rules without AWS: who may receive each event type, signatures, webhook URLs, backoff."""

from __future__ import annotations

import hmac
import json
import socket
import urllib.request
from pathlib import Path

import pytest

from k2k.event_catalogue import all_events
from k2k.partners import (
    INTERNAL,
    RECIPIENTS,
    recipients,
    resolved_problem,
    retry_delay,
    signature,
    url_problem,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"
# What is the buyer's own business: none of these models may be in an event that reaches the vendor.
BUYER_ONLY_MODELS = {"Cart", "CartLine", "Prebook", "PrebookLine", "OrderLine", "PurchaseOrder", "Customer"}
REPLAY_TOLERANCE_SECONDS = 300  # a receiver refuses a timestamp more than 5 minutes off (docs/integrate.md)


def verify(secret: str, timestamp: str, body: bytes, header: str, now: float,
           tolerance: int = REPLAY_TOLERANCE_SECONDS) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent (no replay of old ones)."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, sent, body), header)


def test_every_event_type_is_either_in_the_recipients_table_or_internal():
    catalogue = set(all_events())
    assert set(RECIPIENTS) | INTERNAL == catalogue
    assert not set(RECIPIENTS) & INTERNAL


@pytest.mark.parametrize("detail_type", sorted(RECIPIENTS))
def test_an_event_that_reaches_both_parties_carries_nothing_of_the_buyer_s_own(detail_type):
    schema = json.dumps(all_events()[detail_type].data_model.model_json_schema())
    data = json.loads((FIXTURES / f"{detail_type}.json").read_text())["detail"]["data"]
    parties = recipients(detail_type, data)
    if parties == {"bloom"}:
        return  # the buyer's own event: its customers are its own business
    leaked = {m for m in BUYER_ONLY_MODELS if f'"#/$defs/{m}"' in schema}
    assert not leaked, f"{detail_type} reaches {parties} with {leaked}"
    assert "FLORA" not in json.dumps(data)


def test_who_receives_what_in_the_trade_s_words():
    def who(detail_type):
        return recipients(detail_type, json.loads((FIXTURES / f"{detail_type}.json").read_text())["detail"]["data"])

    assert who("InventoryLineChanged") == {"rosaflor"}  # the vendor's stock, costs included
    assert who("CartCheckedOut") == who("CartExpired") == who("StagingReceived") == {"bloom"}
    assert who("OrderConfirmed") == who("InvoiceIssued") == who("ConnectionChanged") == {"rosaflor", "bloom"}
    assert who("PurchaseOrderPlaced") == {"rosaflor", "bloom"}
    assert who("CartTimerElapsed") == set()
    # K2K for Procurement: the buyer's PO is its own; what reaches the vendor's prebook is both parties'.
    assert who("PurchaseOrderChanged") == who("PurchaseOrderCancelled") == {"bloom"}
    assert (who("PrebookChanged") == who("PurchaseOrderChangeRequested") == who("PrebookChangeAnswered")
            == who("PrebookShipped") == {"rosaflor", "bloom"})


def test_a_signature_covers_the_timestamp_and_the_body_and_expires():
    body = b'{"id":"e-1"}'
    header = signature("whsec_abc", 1_800_000_000, body)
    assert header.startswith("v1=") and len(header) == 67
    assert verify("whsec_abc", "1800000000", body, header, now=1_800_000_100)
    assert not verify("whsec_abc", "1800000000", body + b" ", header, now=1_800_000_100)  # body changed
    assert not verify("whsec_abc", "1800000001", body, header, now=1_800_000_100)  # timestamp moved
    assert not verify("whsec_other", "1800000000", body, header, now=1_800_000_100)  # another secret
    assert not verify("whsec_abc", "1800000000", body, header, now=1_800_000_301)  # a replay, too late
    assert not verify("whsec_abc", "soon", body, header, now=1_800_000_100)


@pytest.mark.parametrize(("url", "loopback", "problem"), [
    ("https://erp.rosaflor.example/k2k", False, None),
    ("http://erp.rosaflor.example/k2k", False, "must be https"),
    ("http://127.0.0.1:8080/hook", False, "must be https"),
    ("http://127.0.0.1:8080/hook", True, None),
    ("https://127.0.0.1/hook", False, "must be a public host"),
    ("https://10.0.0.7/hook", False, "must be a public host"),
    ("https://169.254.169.254/latest/meta-data", False, "must be a public host"),
    ("https://user:pw@erp.example/k2k", False, "must not carry credentials"),
    ("erp.example/k2k", False, "must be an absolute URL (https://host/path)"),
])
def test_a_webhook_goes_to_a_public_https_endpoint(url, loopback, problem):
    assert url_problem(url, loopback) == problem


@pytest.mark.parametrize(("addresses", "loopback", "problem"), [
    (["93.184.215.14"], False, None),
    (["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"], False, None),
    (["10.1.2.3"], False, "must be a public host (erp.example resolves to 10.1.2.3)"),
    (["93.184.215.14", "169.254.169.254"], False, "must be a public host (erp.example resolves to 169.254.169.254)"),
    (["127.0.0.1"], False, "must be a public host (erp.example resolves to 127.0.0.1)"),
    (["127.0.0.1"], True, None),
    (["127.0.0.1", "192.168.0.9"], True, "must be a public host (erp.example resolves to 192.168.0.9)"),
    ([], False, "erp.example does not resolve"),
])
def test_a_public_name_pointing_inside_is_refused(addresses, loopback, problem):
    assert resolved_problem("erp.example", addresses, loopback) == problem


def test_retries_back_off_and_stay_within_sqs_visibility():
    delays = [retry_delay(n) for n in range(1, 6)]
    assert delays == sorted(delays) and delays[0] == 30 and delays[-1] == 480
    assert retry_delay(40) == 12 * 3600


def test_a_delivery_to_a_name_that_now_points_inside_never_connects(monkeypatch):
    """Checked at each delivery, not only when subscribing: the name may be re-pointed since."""
    from datetime import UTC, datetime

    from k2k.events import from_eventbridge
    from k2k.partners import Subscription, Target
    from k2k.services import partners as service

    fixture = Path(__file__).resolve().parent.parent / "fixtures" / "events" / "OrderConfirmed.json"
    event = from_eventbridge(json.loads(fixture.read_text()))
    sub = Subscription(subscription_id="s1", company_id="bloom", target=Target.WEBHOOK,
                       url="https://erp.bloom.example/k2k", detail_types=["OrderConfirmed"],
                       created_at=datetime(2026, 12, 1, tzinfo=UTC), created_by="admin")
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: [(2, 1, 6, "", ("169.254.169.254", 0))])
    opened: list[object] = []
    monkeypatch.setattr(urllib.request.OpenerDirector, "open", lambda *a, **k: opened.append(a))
    with pytest.raises(service.DeliveryFailed, match=r"resolves to 169\.254\.169\.254"):
        service.deliver(sub, "whsec_x", event)
    assert opened == []
