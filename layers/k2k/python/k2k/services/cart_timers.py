"""Cart timers: a one-time EventBridge Scheduler schedule per cart puts CartTimerElapsed on the bus
at the cart's expiry. Scheduling happens from the CartOpened event, so a cart always gets its timer
even if the function that opened it died right after committing."""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from k2k import aws
from k2k.cart_timer import CartOpened, CartTimerElapsed
from k2k.config import Settings
from k2k.events import CATALOGUE, new_event


def schedule_name(cart_id: str) -> str:
    return f"k2k-cart-{cart_id}"


def schedule_expiry(settings: Settings, opened: CartOpened) -> bool:
    elapsed = new_event(CartTimerElapsed(buyer_company_id=opened.buyer_company_id, cart_id=opened.cart_id),
                        company_id=opened.buyer_company_id, aggregate_id=opened.cart_id, aggregate_version=0)
    spec = CATALOGUE["CartTimerElapsed"]
    try:
        aws.client("scheduler").create_schedule(
            Name=schedule_name(opened.cart_id),
            ScheduleExpression=f"at({opened.expires_at.strftime('%Y-%m-%dT%H:%M:%S')})",
            ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow={"Mode": "OFF"},
            ActionAfterCompletion="DELETE",
            Target={"Arn": settings.event_bus_arn, "RoleArn": settings.scheduler_role_arn,
                    "EventBridgeParameters": {"DetailType": spec.detail_type, "Source": spec.source},
                    "Input": json.dumps(elapsed.detail()),
                    "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400},
                    "DeadLetterConfig": {"Arn": settings.schedule_dlq_arn}},
        )
    except ClientError as e:
        if e.response["Error"]["Code"] == "ConflictException":  # a duplicate CartOpened
            return False
        raise
    return True
