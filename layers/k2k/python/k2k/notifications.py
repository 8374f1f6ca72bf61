"""Email through SES, from the verified sender the template configures (SenderEmail).

One helper for every capability that tells people something: import results,
K2K order notices, invoice notices, deleted-line warnings.

Delivery is at least once, and duplicated only in one narrow window (docs/guarantees.md, "Emails"):
an email cannot join a DynamoDB transaction and SES takes no idempotency key, so `send_once` reads a
mark, sends, then writes the mark. A redelivered event finds the mark and sends nothing. An email is
never lost: nothing is marked before SES has accepted it. It goes out twice only when the Lambda dies
in the instant between SES accepting it and the mark's write (or the mark's write fails and the same
event is delivered again anyway): a failed mark write is logged, not raised, because raising would make
SQS redeliver the event and send the email again for certain.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from k2k import aws
from k2k.bounds import MAX_EMAIL, is_email
from k2k.config import Settings
from k2k.consumer import INBOX_TTL
from k2k.observability import logger
from k2k.store import Store


def send_email(to: list[str], subject: str, text: str, html: str | None = None) -> str | None:
    """Send one email to `to`; returns SES's message id, or None when there is nobody to tell.
    An address SES cannot deliver to is skipped and logged, never the reason the others are not told."""
    wanted = {address.strip() for address in to if address and address.strip()}
    recipients = sorted(a for a in wanted if is_email(a))
    if len(recipients) < len(wanted):
        # Stored before the API checked addresses. SES would refuse the whole message, and the event
        # that asked for it would fail until its dead-letter queue: the others are still told.
        skipped = [a[:MAX_EMAIL] for a in sorted(wanted - set(recipients))]
        logger.warning("undeliverable addresses skipped", extra={"subject": subject, "skipped": skipped})
    if not recipients:
        logger.warning("email not sent: no recipient", extra={"subject": subject})
        return None
    body: dict[str, dict[str, str]] = {"Text": {"Data": text, "Charset": "UTF-8"}}
    if html is not None:
        body["Html"] = {"Data": html, "Charset": "UTF-8"}
    out = aws.client("ses").send_email(
        Source=Settings.from_env().sender_email,
        Destination={"ToAddresses": recipients},
        Message={"Subject": {"Data": subject, "Charset": "UTF-8"}, "Body": body},
    )
    return str(out["MessageId"])


def send_once(db: Store, pk: str, scope: str, to: Iterable[str | None], subject: str, text: str) -> list[str]:
    """Send one email for `scope` (an event of a consumer, say "order-notices#<event id>") to one recipient
    group, unless its mark says it went out already; returns the recipients ([] when nothing was sent).
    The mark is keyed by the scope and the group (its addresses and subject), so each group of an event is
    sent and marked on its own: a fault after the first group never sends the first again."""
    recipients = sorted({a.strip() for a in to if a and a.strip()})
    if not recipients:
        return []
    group = hashlib.sha256("\n".join([subject, *recipients]).encode()).hexdigest()[:16]
    key = {"pk": pk, "sk": f"{scope}#{group}"}
    if db.get(key["pk"], key["sk"]) is not None:
        return []
    message_id = send_email(recipients, subject, text)
    purge_at = int((datetime.now(UTC) + INBOX_TTL).timestamp())
    mark_sent(lambda: db.put({**key, "kind": "SENT", "message_id": message_id, "purge_at": purge_at}), subject)
    return recipients


def mark_sent(write: Callable[[], Any], subject: str) -> None:
    """Write the mark of an email SES has accepted. A failed write is logged, not raised: raising would fail
    the event, whose redelivery sends the email again for certain; logged, only a duplicate delivery of the
    same event would."""
    try:
        write()
    except (ClientError, BotoCoreError):
        logger.exception("email sent but not marked: a redelivery of its event would send it again",
                         extra={"subject": subject})
