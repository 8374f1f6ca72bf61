"""Partner events' rules without AWS: who may receive each event type, signatures, webhook URLs, backoff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from k2k.event_catalogue import all_events
from k2k.partners import (
    INTERNAL,
    RECIPIENTS,
    recipients,
    retry_delay,
    signature,
    url_problem,
    verify,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"
# What is the buyer's own business: none of these models may be in an event that reaches the vendor.
BUYER_ONLY_MODELS = {"Cart", "CartLine", "Prebook", "PrebookLine", "OrderLine", "PurchaseOrder", "Customer"}


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


def test_retries_back_off_and_stay_within_sqs_visibility():
    delays = [retry_delay(n) for n in range(1, 6)]
    assert delays == sorted(delays) and delays[0] == 30 and delays[-1] == 480
    assert retry_delay(40) == 12 * 3600
