"""Emails are sent at least once and never twice for a fault we can survive (k2k.notifications.send_once), on
emulated DynamoDB and SES: the cases the fault matrix meets inside a story, one at a time."""

from unittest import mock

import pytest
from botocore.exceptions import ClientError

from k2k.notifications import send_once
from tests.fixtures.imports.world import emulated_aws

PK, SCOPE = "C#bloom#INBOX", "order-notices#event-1"


@pytest.fixture
def world():
    with emulated_aws() as w:
        yield w


def throttled(*_: object, **__: object) -> None:
    raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutItem")


def test_a_redelivered_event_sends_only_the_groups_not_sent_yet(world):
    assert send_once(world.db, PK, SCOPE, ["a@bloom.example"], "Order confirmed", "text") == ["a@bloom.example"]
    assert send_once(world.db, PK, SCOPE, ["a@bloom.example"], "Order confirmed", "text") == []
    assert send_once(world.db, PK, SCOPE, ["b@bloom.example"], "Order confirmed", "text") == ["b@bloom.example"]
    assert send_once(world.db, PK, "order-notices#event-2", ["a@bloom.example"], "Order confirmed", "x") != []
    assert len(world.emails()) == 3


def test_a_mark_that_cannot_be_written_does_not_fail_the_event_into_a_second_send(world):
    with mock.patch.object(world.db, "update", throttled):
        assert send_once(world.db, PK, SCOPE, ["a@bloom.example"], "Invoice 1 issued", "text") == ["a@bloom.example"]
    assert len(world.emails()) == 1  # sent, and the event is acknowledged: SQS does not deliver it again


def test_an_email_ses_refused_is_not_marked_and_goes_out_on_the_retry(world):
    refused = ClientError({"Error": {"Code": "Throttling", "Message": "rate"}}, "SendEmail")
    with mock.patch("k2k.notifications.send_email", side_effect=refused), pytest.raises(ClientError):
        send_once(world.db, PK, SCOPE, ["a@bloom.example"], "Invoice 1 issued", "text")
    assert send_once(world.db, PK, SCOPE, ["a@bloom.example"], "Invoice 1 issued", "text") == ["a@bloom.example"]
    assert len(world.emails()) == 1


def test_nobody_to_tell_sends_and_marks_nothing(world):
    assert send_once(world.db, PK, SCOPE, [None, " "], "Order confirmed", "text") == []
    assert world.emails() == []
