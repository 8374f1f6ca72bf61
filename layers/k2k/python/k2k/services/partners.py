"""Partner events on the store and on the wire: subscriptions, forwarding, parked deliveries.

The one owner of a company's partner items, all in its partition `C#<company>#PARTNER`:
  SUB#<id>              a subscription (a webhook's signing secret is kept on it, never answered again)
  SUBS                  the summary: which detail-types each subscription asked for, written in the same
                        transaction as every SUB# change (version-conditional), so the forwarder reads one
                        item per company, for a whole SQS batch in one BatchGetItem, and a subscription
                        takes effect for the very next event
  AWSSOURCE             guard: the company's one partner event source (aws.partner/<partner>/<stage>/<co>)
  SENT#<sub>#<event>    a delivery that succeeded (so a retried event skips it); expires after 14 days
  FAILED#<delivery_id>  a delivery parked after MAX_ATTEMPTS, listed and redriven through the API

Delivery is at least once: a crash between a delivery and its SENT mark sends it again. Receivers
deduplicate on the event's `metadata.event_id` and ignore an `aggregate_version` older than the one
they hold (docs/integrate.md).
"""

import functools
import hashlib
import json
import os
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Self
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from k2k import aws, clock, keys, paging, store
from k2k.auth import Caller
from k2k.errors import Conflict, Invalid, NotFound
from k2k.events import Event, from_eventbridge
from k2k.models import Model
from k2k.observability import logger
from k2k.paging import Page
from k2k.partners import (
    EVENT_ID_HEADER,
    MAX_SUBSCRIPTIONS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Subscription,
    SubscriptionCreated,
    SubscriptionIn,
    Target,
    event_source_name,
    new_secret,
    recipients,
    resolved_problem,
    signature,
    unknown_detail_types,
    url_problem,
)
from k2k.services.partner_audience import SUMMARY_SK
from k2k.store import ConditionFailed, LostRace, Reads, Store, as_int, plain, retrying, to_item

SOURCE_PREFIX_ENV = "PARTNER_EVENT_SOURCE_PREFIX"
# Set by the local cloud only: its tests' receivers listen on http://127.0.0.1.
LOOPBACK_ENV = "K2K_WEBHOOKS_TO_LOOPBACK"
WEBHOOK_TIMEOUT_SECONDS = 5
SENT_TTL = timedelta(days=14)


@dataclass(frozen=True)
class PartnerSettings:
    event_source_prefix: str
    allow_loopback_http: bool = False

    @classmethod
    def from_env(cls) -> Self:
        return cls(event_source_prefix=os.environ.get(SOURCE_PREFIX_ENV, "aws.partner/k2k.example.com/dev"),
                   allow_loopback_http=os.environ.get(LOOPBACK_ENV) == "true")


def _pk(company_id: str) -> str:
    return keys.partner_pk(company_id)


def _sub_sk(subscription_id: str) -> str:
    return f"SUB#{subscription_id}"


AWS_SOURCE_SK = "AWSSOURCE"


# -- subscriptions ----------------------------------------------------------------------------------

def create_subscription(db: Store, caller: Caller, body: SubscriptionIn,
                        settings: PartnerSettings) -> SubscriptionCreated:
    unknown = unknown_detail_types(body.detail_types)
    if unknown:
        raise Invalid(f"no event types {', '.join(unknown)} are forwarded to partners "
                      "(GET /integrations/event-types lists them)", field="body.detail_types")
    if body.url is not None and (problem := url_problem(body.url, settings.allow_loopback_http)):
        raise Invalid(f"url {problem}", field="body.url")
    sub = Subscription(
        subscription_id=uuid.uuid4().hex[:16], company_id=caller.company_id, target=body.target, url=body.url,
        aws_account_id=body.aws_account_id, detail_types=sorted(set(body.detail_types)),
        description=body.description, created_at=clock.now(), created_by=caller.user_id,
        event_source_name=(event_source_name(settings.event_source_prefix, caller.company_id)
                           if body.target is Target.AWS_ACCOUNT else None))
    secret = new_secret() if sub.target is Target.WEBHOOK else None

    def attempt() -> None:
        summary = _load_summary(db, sub.company_id)
        if len(summary.subscriptions) >= MAX_SUBSCRIPTIONS:
            raise Conflict(f"a company has at most {MAX_SUBSCRIPTIONS} subscriptions; delete one first")
        ops = [summary.save({**summary.subscriptions, sub.subscription_id: sub.detail_types}),
               store.put(to_item(sub, pk=_pk(sub.company_id), sk=_sub_sk(sub.subscription_id), kind="PARTNER_SUB",
                                 **({"signing_secret": secret} if secret else {})),
                         condition="attribute_not_exists(pk)")]
        if sub.target is Target.AWS_ACCOUNT:
            ops.append(store.put({"pk": _pk(sub.company_id), "sk": AWS_SOURCE_SK, "kind": "PARTNER_SOURCE",
                                  "subscription_id": sub.subscription_id}, condition="attribute_not_exists(pk)"))
        try:
            db.transact(ops)
        except ConditionFailed as e:
            if e.failed_at(0):
                raise LostRace from e  # another subscription was created or deleted meanwhile: count again
            raise Conflict("the company already has an aws_account subscription (one partner event source per "
                           "company): change its event types by deleting it and subscribing again") from e

    retrying(attempt, f"the partner subscriptions of {sub.company_id}")
    if sub.target is Target.AWS_ACCOUNT:
        try:
            aws.client("events").create_partner_event_source(Name=sub.event_source_name,
                                                             Account=sub.aws_account_id)
        except ClientError:
            _forget(db, sub)
            raise
    return SubscriptionCreated(**sub.model_dump(), signing_secret=secret)


def list_subscriptions(db: Store, caller: Caller, limit: int, token: str | None) -> "Page[Subscription]":
    items, next_token = paging.read(db, caller.company_id, _pk(caller.company_id), "SUB#", limit=limit, token=token)
    return Page(items=[Subscription.model_validate(plain(i)) for i in items], next_token=next_token)


def get_subscription(db: Store, company_id: str, subscription_id: str) -> Subscription:
    item = db.get(_pk(company_id), _sub_sk(subscription_id))
    if item is None:
        raise NotFound("subscription not found")
    return Subscription.model_validate(plain(item))


def delete_subscription(db: Store, caller: Caller, subscription_id: str) -> None:
    """Deliveries stop; for an aws_account subscription its partner event source is deleted too."""
    sub = get_subscription(db, caller.company_id, subscription_id)
    if sub.target is Target.AWS_ACCOUNT:
        try:
            aws.client("events").delete_partner_event_source(Name=sub.event_source_name,
                                                             Account=sub.aws_account_id)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
    _forget(db, sub)


def _forget(db: Store, sub: Subscription) -> None:
    def attempt() -> None:
        summary = _load_summary(db, sub.company_id)
        ops = [summary.save({k: v for k, v in summary.subscriptions.items() if k != sub.subscription_id}),
               store.delete({"pk": _pk(sub.company_id), "sk": _sub_sk(sub.subscription_id)})]
        if sub.target is Target.AWS_ACCOUNT:
            ops.append(store.delete({"pk": _pk(sub.company_id), "sk": AWS_SOURCE_SK},
                                    condition="subscription_id = :s", values={":s": sub.subscription_id}))
        try:
            db.transact(ops)
        except ConditionFailed as e:
            if e.failed_at(0):
                raise LostRace from e
            raise

    retrying(attempt, f"the partner subscriptions of {sub.company_id}")


# -- the summary: which detail-types each subscription of a company asked for ---------------------------


@dataclass(frozen=True)
class Summary:
    """A company's subscriptions as the forwarder needs them: subscription id -> detail-types. `version` is
    the one read (None: no summary item yet), so a save is conditional on nothing having changed since."""

    company_id: str
    subscriptions: dict[str, list[str]]
    version: int | None

    def save(self, subscriptions: dict[str, list[str]]) -> store.Op:
        item = {"pk": _pk(self.company_id), "sk": SUMMARY_SK, "kind": "PARTNER_SUBS",
                "subscriptions": subscriptions, "version": (self.version or 0) + 1}
        if self.version is None:
            return store.put(item, condition="attribute_not_exists(pk)")
        return store.put(item, condition="version = :v", values={":v": self.version})

    def wanting(self, detail_type: str) -> list[str]:
        return sorted(sid for sid, types in self.subscriptions.items() if detail_type in types)


def _summary(company_id: str, item: store.Item) -> Summary:
    return Summary(company_id, {k: list(v) for k, v in (item.get("subscriptions") or {}).items()},
                   as_int(item["version"]))


def _load_summary(db: Store, company_id: str) -> Summary:
    item = db.get(_pk(company_id), SUMMARY_SK)
    return _summary(company_id, item) if item is not None else _from_subscriptions(db, company_id)


def _from_subscriptions(db: Store, company_id: str) -> Summary:
    """No summary item yet (a company that never subscribed, or whose subscriptions predate the summary): what
    its subscriptions say, to be saved as the summary's first version."""
    return Summary(company_id, {i["subscription_id"]: list(i["detail_types"])
                                for i in db.query(_pk(company_id), "SUB#", consistent=True)}, None)


def summaries(db: Store, company_ids: Iterable[str]) -> dict[str, Summary]:
    """The summaries of these companies, in one consistent BatchGetItem (the forwarder reads them once per SQS
    batch). A company without one gets it written now from its subscriptions, once per company (a Query and a
    conditional put), so from then on a company that never subscribed costs no read beyond the batch's."""
    wanted = sorted(set(company_ids))
    if not wanted:
        return {}
    found = {i["pk"]: i for i in db.batch_get([{"pk": _pk(c), "sk": SUMMARY_SK} for c in wanted])}
    return {c: _summary(c, found[_pk(c)]) if _pk(c) in found else _first_summary(db, c) for c in wanted}


def _first_summary(db: Store, company_id: str) -> Summary:
    first = _from_subscriptions(db, company_id)
    op = first.save(first.subscriptions)
    try:
        db.put(op.key_or_item, condition=op.condition, values=op.values)
    except ConditionFailed as e:  # a subscription change saved it meanwhile: that one is current
        assert e.old is not None
        return _summary(company_id, e.old)
    return Summary(company_id, first.subscriptions, 1)


# -- forwarding -------------------------------------------------------------------------------------

class DeliveryFailed(Exception):
    """One delivery did not succeed (an HTTP status other than 2xx, a timeout, a refused entry)."""


@dataclass(frozen=True)
class Failure:
    subscription: Subscription
    error: str


def _outward(event: Event) -> dict[str, Any]:
    """The event's detail as partners get it: without the bus's own routing stamp (services/partner_audience.py)."""
    return event.model_copy(update={"metadata": event.metadata.model_copy(update={"partners": None})}).detail()


def wire(event: Event) -> dict[str, Any]:
    """What a receiver gets: the EventBridge event shape (as a rule in its account delivers it), with the
    same detail as on K2K's bus. A webhook's body; the partner event's detail-type and detail."""
    return {"id": event.metadata.event_id, "detail-type": event.detail_type, "source": event.source,
            "time": event.metadata.occurred_at.isoformat(), "detail": _outward(event)}


def forward(db: Store, event: Event, companies: dict[str, Summary]) -> list[Failure]:
    """Send one bus event to every subscription that asked for it of every company the event concerns, except
    those it already reached (a retried event). `companies`: their summaries (`summaries`, read once for the
    batch). Returns the deliveries that failed this time."""
    reads = Reads()  # the subscriptions that want it and their marks of this event, in one batch
    wanted = []
    for company_id in sorted(recipients(event.detail_type, event.data)):
        for sid in companies[company_id].wanting(event.detail_type):
            wanted.append((reads.want({"pk": _pk(company_id), "sk": _sub_sk(sid)}),
                           reads.want({"pk": _pk(company_id), "sk": _sent_sk(sid, event)})))
    if not wanted:
        return []  # nobody asked for it: nothing read, nothing sent
    reads.run(db)
    failures = []
    for sub_read, sent_read in wanted:
        item = sub_read()
        if item is None or sent_read() is not None:  # deleted since the summary was read, or already reached
            continue
        sub = Subscription.model_validate(plain(item))
        try:
            deliver(sub, item.get("signing_secret"), event)
        except DeliveryFailed as e:
            logger.warning("partner delivery failed", extra={"subscription_id": sub.subscription_id,
                                                             "event_id": event.metadata.event_id,
                                                             "error": str(e)})
            failures.append(Failure(sub, str(e)))
            continue
        _mark_sent(db, sub, event)
    return failures


def recipients_of(events: Iterable[Event]) -> set[str]:
    """Every company these events concern (whose summaries a batch reads)."""
    return {company for event in events for company in recipients(event.detail_type, event.data)}


def deliver(sub: Subscription, secret: str | None, event: Event) -> None:
    if sub.target is Target.AWS_ACCOUNT:
        _put_partner_event(sub, event)
    else:
        _post_webhook(sub, secret or "", event)


def _put_partner_event(sub: Subscription, event: Event) -> None:
    try:
        out = aws.client("events").put_partner_events(Entries=[{
            "Source": sub.event_source_name, "DetailType": event.detail_type,
            "Detail": json.dumps(_outward(event), separators=(",", ":")),
            "Resources": [], "Time": event.metadata.occurred_at}])
    except ClientError as e:
        raise DeliveryFailed(f"PutPartnerEvents: {e.response.get('Error', {}).get('Code')}") from e
    if out.get("FailedEntryCount"):
        entry = (out.get("Entries") or [{}])[0]
        raise DeliveryFailed(f"PutPartnerEvents refused it: {entry.get('ErrorCode')} {entry.get('ErrorMessage')}")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook is delivered where it was registered, never where a 3xx points (another host, an
    internal address)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@functools.cache
def _opener() -> urllib.request.OpenerDirector:
    """Built at the first webhook delivery, not at import: its HTTPS handler loads the CA certificates (~30 ms of
    CPU, a tenth of the cold-start floor) that a forwarder delivering to partner event sources never uses."""
    return urllib.request.build_opener(_NoRedirects)


def _addresses(host: str) -> list[str]:
    """What the host resolves to now, checked just before connecting (a name checked only when
    subscribing could be pointed at an internal address later)."""
    try:
        return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)})
    except OSError:
        return []


def _post_webhook(sub: Subscription, secret: str, event: Event) -> None:
    loopback = PartnerSettings.from_env().allow_loopback_http
    problem = url_problem(sub.url or "", loopback) or resolved_problem(
        host := urlsplit(sub.url or "").hostname or "", _addresses(host), loopback)
    if problem:
        raise DeliveryFailed(f"url {problem}")
    body = json.dumps(wire(event), separators=(",", ":")).encode()
    stamp = int(time.time())
    request = urllib.request.Request(sub.url or "", data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "K2K-Webhooks/1",
        TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: signature(secret, stamp, body),
        EVENT_ID_HEADER: event.metadata.event_id})
    try:
        with _opener().open(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as answer:
            status = answer.status
    except urllib.error.HTTPError as e:
        status = e.code
    except (urllib.error.URLError, OSError) as e:
        raise DeliveryFailed(f"no answer: {e}") from e
    if not 200 <= status < 300:
        raise DeliveryFailed(f"the endpoint answered {status}")


def _sent_sk(subscription_id: str, event: Event) -> str:
    return f"SENT#{subscription_id}#{event.metadata.event_id}"


def _mark_sent(db: Store, sub: Subscription, event: Event) -> None:
    db.put({"pk": _pk(sub.company_id), "sk": _sent_sk(sub.subscription_id, event), "kind": "PARTNER_SENT",
            "purge_at": int((datetime.now(UTC) + SENT_TTL).timestamp())})


# -- parked deliveries (the company's dead-letter queue) ----------------------------------------------

class FailedDelivery(Model):
    delivery_id: str
    subscription_id: str
    event_id: str
    detail_type: str
    attempts: int
    last_error: str
    failed_at: datetime


class Redriven(Model):
    delivered: bool
    delivery: FailedDelivery | None = None


def park(db: Store, failures: list[Failure], event: Event, attempts: int) -> None:
    """Park deliveries that failed their last attempt where the company can list and redrive them."""
    for failure in failures:
        sub = failure.subscription
        parked = FailedDelivery(
            delivery_id=_delivery_id(event, sub),
            subscription_id=sub.subscription_id, event_id=event.metadata.event_id, detail_type=event.detail_type,
            attempts=attempts, last_error=failure.error[:500], failed_at=clock.now())
        db.put(to_item(parked, pk=_pk(sub.company_id), sk=f"FAILED#{parked.delivery_id}", kind="PARTNER_FAILED",
                       event=json.dumps(wire(event), separators=(",", ":"))))
        logger.warning("partner delivery parked", extra={"subscription_id": sub.subscription_id,
                                                         "event_id": event.metadata.event_id})


def _delivery_id(event: Event, sub: Subscription) -> str:
    """When the event happened (so the list reads oldest first), and which event to which subscription: the
    same delivery parked twice (a retried batch) is one item."""
    which = hashlib.sha256(f"{event.metadata.event_id}/{sub.subscription_id}".encode()).hexdigest()[:16]
    return f"{event.metadata.occurred_at:%Y%m%d%H%M%S}-{which}"


def list_failed(db: Store, caller: Caller, limit: int, token: str | None) -> "Page[FailedDelivery]":
    items, next_token = paging.read(db, caller.company_id, _pk(caller.company_id), "FAILED#", limit=limit,
                                    token=token)
    return Page(items=[FailedDelivery.model_validate(plain(i)) for i in items], next_token=next_token)


def redrive(db: Store, caller: Caller, delivery_id: str) -> Redriven:
    """Deliver a parked delivery again, now. Delivered: it leaves the list. Failed again: it stays,
    with one more attempt and the new error."""
    key = {"pk": _pk(caller.company_id), "sk": f"FAILED#{delivery_id}"}
    item = db.get(key["pk"], key["sk"])
    if item is None:
        raise NotFound("failed delivery not found")
    parked = FailedDelivery.model_validate(plain(item))
    sub_item = db.get(_pk(caller.company_id), _sub_sk(parked.subscription_id))
    if sub_item is None:
        raise Conflict("its subscription was deleted; nothing to deliver it to")
    sub = Subscription.model_validate(plain(sub_item))
    event = from_eventbridge(json.loads(item["event"]))
    try:
        deliver(sub, sub_item.get("signing_secret"), event)
    except DeliveryFailed as e:
        again = parked.model_copy(update={"attempts": parked.attempts + 1, "last_error": str(e)[:500],
                                          "failed_at": clock.now()})
        db.put({**item, **to_item(again)})
        return Redriven(delivered=False, delivery=again)
    db.transact([store.delete(key), store.put({"pk": _pk(sub.company_id), "sk": _sent_sk(sub.subscription_id, event),
                                                "kind": "PARTNER_SENT",
                                                "purge_at": int((datetime.now(UTC) + SENT_TTL).timestamp())})])
    return Redriven(delivered=True)
