"""Email through SES, from the verified sender the template configures (SenderEmail).

One helper for every capability that tells people something: import results,
K2K order notices, deleted-line warnings.
"""

from __future__ import annotations

from k2k import aws
from k2k.bounds import MAX_EMAIL, is_email
from k2k.config import Settings
from k2k.observability import logger


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
