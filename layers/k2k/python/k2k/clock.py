"""The time of day for the domain. In AWS it is the system clock.

The local cloud moves time forward (cart timers, aging) by setting
K2K_CLOCK_OFFSET_SECONDS; nothing else sets it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta


def now() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=float(os.environ.get("K2K_CLOCK_OFFSET_SECONDS") or 0))
