"""Order notices, fed by the order-notices queue: emails the people each K2K order event concerns."""

from __future__ import annotations

import gc

gc.disable()  # no collection during init: what it builds lives as long as the process (frozen below)

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from k2k import lazy
from k2k.config import Settings
from k2k.consumer import sqs_batch
from k2k.events import Event
from k2k.observability import logger
from k2k.store import Store

if TYPE_CHECKING:
    from k2k.services import order_notices
else:  # the notices service and the order models it reads: at the first event (k2k.lazy)
    order_notices = lazy.module("k2k.services.order_notices")


def _db() -> Store:
    return Store(Settings.from_env().table_name)


def _notify(event: Event) -> None:
    order_notices.notify(_db(), event)


HANDLERS = {t: _notify for t in ("PurchaseOrderPlaced", "CartCheckedOut", "OrderConfirmed", "OrderLinesRemoved")}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return sqs_batch(event, HANDLERS)


gc.freeze()  # init's objects stay for the process: later collections need not scan them
gc.enable()
