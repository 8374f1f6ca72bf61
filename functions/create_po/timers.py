"""Cart timers, fed by the cart-timer queue: schedule a cart's expiry when it opens, expire it when it goes off."""

from __future__ import annotations

import gc

gc.disable()  # no collection during init: what it builds lives as long as the process (frozen below)

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from k2k import lazy
from k2k.cart_timer import CartOpened, CartTimerElapsed
from k2k.config import Settings
from k2k.consumer import sqs_batch
from k2k.events import Event
from k2k.observability import logger
from k2k.services import cart_timers
from k2k.store import Store

if TYPE_CHECKING:
    from k2k.services import orders
else:  # the orders service (with accounts, staging's and the stock's data): at the first CartTimerElapsed (k2k.lazy)
    orders = lazy.module("k2k.services.orders")


def _db() -> Store:
    return Store(Settings.from_env().table_name)


def _cart_opened(event: Event) -> None:
    cart_timers.schedule_expiry(Settings.from_env(), CartOpened.model_validate(event.data))


def _timer_elapsed(event: Event) -> None:
    data = CartTimerElapsed.model_validate(event.data)
    orders.expire_cart(_db(), data.buyer_company_id, data.cart_id)


HANDLERS = {"CartOpened": _cart_opened, "CartTimerElapsed": _timer_elapsed}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return sqs_batch(event, HANDLERS)


gc.freeze()  # init's objects stay for the process: later collections need not scan them
gc.enable()
