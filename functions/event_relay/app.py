"""Transactional outbox relay: outbox items from the table's stream to the k2k bus."""

from __future__ import annotations

import gc

gc.disable()  # no collection during init: what it builds lives as long as the process (frozen below)

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from k2k import aws
from k2k.config import Settings
from k2k.observability import logger
from k2k.relay import publish


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return publish(event.get("Records", []), aws.client("events"), Settings.from_env().event_bus_name)


gc.freeze()  # init's objects stay for the process: later collections need not scan them
gc.enable()
