"""Email through SES, from the verified sender the template configures (SenderEmail).

One helper for every capability that tells people something: import results,
K2K order notices, invoice notices, deleted-line warnings.

Delivery is at least once, and duplicated only in one narrow window (docs/guarantees.md, "Emails"):
an email cannot join a DynamoDB transaction and SES takes no idempotency key, so `send_once` reads the
marks of the event (one item per event and consumer, often in the batch that reads what the email says),
sends, then adds its mark. A redelivered event finds the mark and sends nothing. An email is
never lost: nothing is marked before SES has accepted it. It goes out twice only when the Lambda dies
in the instant between SES accepting it and the mark's write (or the mark's write fails and the same
event is delivered again anyway): a failed mark write is logged, not raised, because raising would make
SQS redeliver the event and send the email again for certain.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from k2k import aws
from k2k.bounds import MAX_EMAIL, is_email
from k2k.config import Settings
from k2k.observability import logger
from k2k.store import Item, Reads, Store

INBOX_TTL = timedelta(days=14)  # how long the marks of an event are kept (purge_at), in its INBOX partition


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


class Marks:
    """The emails already sent for one scope (an event of a consumer, say "order-notices#<event id>"): one item
    under `pk`, keyed by the scope, holding the set of groups sent (a group: its subject and addresses,
    hashed). Read once: in the batch that reads what the emails are composed from (`Marks.read`), or on
    first use."""

    def __init__(self, pk: str, scope: str, found: Callable[[], Item | None] | None = None) -> None:
        self.scope = scope
        self.key = _marks_key(pk, scope)
        self._found = found
        self._sent: set[str] | None = None

    @classmethod
    def read(cls, reads: Reads, pk: str, scope: str) -> Marks:
        """The scope's marks, read with the other keys of `reads` (run it before sending)."""
        return cls(pk, scope, reads.want(_marks_key(pk, scope)))

    def sent(self, db: Store) -> set[str]:
        if self._sent is None:
            item = self._found() if self._found is not None else db.get(self.key["pk"], self.key["sk"])
            self._sent = set(item.get("groups") or ()) if item else set()
        return self._sent

    def mark(self, db: Store, group: str) -> None:
        """Add a group sent (atomically: a concurrent delivery of the same event marking another group keeps
        its mark too)."""
        self.sent(db).add(group)
        db.update(self.key, "ADD #groups :g SET kind = :kind, purge_at = :purge",
                  values={":g": {group}, ":kind": "SENT",
                          ":purge": int((datetime.now(UTC) + INBOX_TTL).timestamp())},
                  names={"#groups": "groups"})


def _marks_key(pk: str, scope: str) -> dict[str, str]:
    return {"pk": pk, "sk": f"{scope}#SENT"}


def send_once(db: Store, pk: str, scope: str, to: Iterable[str | None], subject: str, text: str,
              marks: Marks | None = None) -> list[str]:
    """Send one email for `scope` (an event of a consumer, say "order-notices#<event id>") to one recipient
    group, unless its mark says it went out already; returns the recipients ([] when nothing was sent).
    The mark is keyed by the scope and the group (its addresses and subject), so each group of an event is
    sent and marked on its own: a fault after the first group never sends the first again. `marks`: the
    scope's marks as read already (`Marks.read`); otherwise they are read here."""
    recipients = sorted({a.strip() for a in to if a and a.strip()})
    if not recipients:
        return []
    marks = marks if marks is not None else Marks(pk, scope)
    assert marks.key == _marks_key(pk, scope), "marks of another scope"
    group = hashlib.sha256("\n".join([subject, *recipients]).encode()).hexdigest()[:16]
    if group in marks.sent(db):
        return []
    send_email(recipients, subject, text)
    mark_sent(lambda: marks.mark(db, group), subject)
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
