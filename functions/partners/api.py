"""Partner events (REST): subscriptions, failed deliveries and their redrive, the event catalogue.

The forwarder that delivers to subscriptions is `forwarder.py`.
"""

from __future__ import annotations

import gc

gc.disable()  # no collection during init: what it builds lives as long as the process (frozen below)

from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from k2k import lazy
from k2k.api import Limit, NextToken, caller, create_resolver, handle
from k2k.bounds import INBOUND_BODY_BYTES, PAGE_SIZE, Id
from k2k.config import Settings
from k2k.observability import logger
from k2k.paging import Page
from k2k.partners import Subscription, SubscriptionCreated, SubscriptionIn
from k2k.router import Path
from k2k.services import event_types
from k2k.services import partners as svc
from k2k.store import Store

if TYPE_CHECKING:
    from k2k.services import inbound
else:  # a vendor system's inventory batches (and the inventory and network services): at their route's first request
    inbound = lazy.module("k2k.services.inbound")

app = create_resolver()


def _db() -> Store:
    return Store(Settings.from_env().table_name)


IdPath = Annotated[Id, Path()]


@app.post("/integrations/subscriptions", status_code=201,
          summary="Send the company's events to a webhook or its AWS account (Admin, Setup)")
def create_subscription(body: SubscriptionIn) -> SubscriptionCreated:
    return svc.create_subscription(_db(), caller(app), body, svc.PartnerSettings.from_env())


@app.get("/integrations/subscriptions", summary="The company's subscriptions")
def list_subscriptions(limit: Limit = PAGE_SIZE, next_token: NextToken = None) -> Page[Subscription]:
    return svc.list_subscriptions(_db(), caller(app), limit, next_token)


@app.get("/integrations/subscriptions/<subscription_id>", summary="One subscription")
def get_subscription(subscription_id: IdPath) -> Subscription:
    return svc.get_subscription(_db(), caller(app).company_id, subscription_id)


@app.delete("/integrations/subscriptions/<subscription_id>", status_code=204,
            summary="Stop a subscription (its partner event source is deleted)")
def delete_subscription(subscription_id: IdPath) -> None:
    svc.delete_subscription(_db(), caller(app), subscription_id)


@app.get("/integrations/failed-deliveries", summary="Deliveries parked after their last retry")
def list_failed(limit: Limit = PAGE_SIZE, next_token: NextToken = None) -> Page[svc.FailedDelivery]:
    return svc.list_failed(_db(), caller(app), limit, next_token)


@app.post("/integrations/failed-deliveries/<delivery_id>/redrive",
          summary="Deliver a parked delivery again now")
def redrive(delivery_id: IdPath) -> svc.Redriven:
    return svc.redrive(_db(), caller(app), delivery_id)


@app.get("/integrations/event-types", summary="The events partners can receive, and who receives each")
def list_event_types() -> event_types.Catalogue:
    return event_types.catalogue()


@app.get("/integrations/event-types/<detail_type>", summary="The JSON schema of one event's detail")
def get_event_schema(detail_type: Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z]+$")]) -> dict[str, Any]:
    return event_types.schema(detail_type)


@app.post("/integrations/inventory",
          summary="A vendor's own system sends up to 500 inventory lines, changed or removed, by box code")
def send_inventory(body: inbound.InboundBatch) -> inbound.BatchResult:
    return inbound.apply_batch(_db(), caller(app), body)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(app, event, context, body_limits={"/integrations/inventory": INBOUND_BODY_BYTES})


gc.freeze()  # init's objects stay for the process: later collections need not scan them
gc.enable()
