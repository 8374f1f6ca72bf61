"""Every K2K event type, registered by importing the modules that define them."""

from __future__ import annotations

from contextlib import suppress

from k2k import inventory, invoices, orders, procurement, purchasing  # noqa: F401  (registers InventoryLineChanged, ..., order, invoice, PO, procurement events)
from k2k.events import CATALOGUE, EventSpec
from k2k.services import network  # noqa: F401  (registers ConnectionChanged)


def all_events() -> dict[str, EventSpec]:
    with suppress(ImportError):  # data import registers ImportCompleted when that capability is present
        import k2k.imports  # noqa: F401
    return dict(sorted(CATALOGUE.items()))
