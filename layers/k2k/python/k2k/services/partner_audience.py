"""Whether the partner forwarder has anything to do with an event, decided by the event's producer.

Most companies never subscribe to partner events, yet every event they take part in used to cost the
forwarder a read of their subscription summaries (issue 13: 5 requests of an order's life). A producer
that reads a batch anyway (store.Reads) adds the summaries of the companies its events concern - free,
the same request - and stamps each event's `metadata.partners`: false when every one of those companies
has a summary and none of their subscriptions asks for the event's detail-type, true when one does. The
forwarder's rule (template.yaml) lets through events stamped true and events not stamped (a producer that
does not stamp, or a company the forwarder has not summarised yet), so a stamp can only spare the forwarder
a call that would have sent nothing.

When it takes effect: a subscription reaches the events of every step that starts after it is saved (the
step's consistent read sees the summary, written in the same transaction as the subscription); a step that
read the summaries just before decides by what it read. The stamp is conservative: a producer may name more
companies than the event's recipients (k2k.partners.RECIPIENTS), which can only stamp true where false would
do.

The summary item itself (one per company, `C#<company>#PARTNER` / `SUBS`) is written by services/partners.py,
the owner of a company's partner items; its key is here so a producer need not load the forwarder's code
(and its models) to read it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from k2k import keys
from k2k.events import Event
from k2k.store import Reads

SUMMARY_SK = "SUBS"

Stamp = Callable[[Event], Event]


def summary_key(company_id: str) -> dict[str, str]:
    """A company's subscriptions summary: subscription id -> the detail-types it asked for."""
    return {"pk": keys.partner_pk(company_id), "sk": SUMMARY_SK}


def read_audience(reads: Reads, company_ids: Iterable[str]) -> Stamp:
    """Want the summaries of these companies in `reads`; once it ran, the function returned stamps an event
    with whether any of their subscriptions asks for it (left unstamped when a company has no summary yet)."""
    found = [reads.want(summary_key(c)) for c in sorted(set(company_ids))]

    def stamp(event: Event) -> Event:
        items = [f() for f in found]
        summaries = [i for i in items if i is not None]
        if not summaries or len(summaries) < len(items):
            return event  # not summarised yet: the forwarder reads and decides
        wanted = any(event.detail_type in types for i in summaries
                     for types in (i.get("subscriptions") or {}).values())
        return event.model_copy(update={"metadata": event.metadata.model_copy(update={"partners": wanted})})

    return stamp

