"""Email notices through SES, from the configured sender identity."""

from __future__ import annotations

from k2k import aws
from k2k.config import Settings


def send_email(to: list[str], subject: str, text: str, html: str | None = None) -> str:
    body = {"Text": {"Data": text, "Charset": "UTF-8"}}
    if html is not None:
        body["Html"] = {"Data": html, "Charset": "UTF-8"}
    out = aws.client("ses").send_email(
        Source=Settings.from_env().sender_email,
        Destination={"ToAddresses": to},
        Message={"Subject": {"Data": subject, "Charset": "UTF-8"}, "Body": body},
    )
    return str(out["MessageId"])
