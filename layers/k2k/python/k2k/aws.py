"""boto3 clients, created once per process and shared across invocations.

The only module that constructs AWS clients; everything else asks here.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import boto3
from botocore.config import Config

_lock = threading.Lock()
_clients: dict[tuple[str, str], Any] = {}
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


def client(service: str) -> Any:
    # Keyed by endpoint too, so a process that points at a local emulator gets its own clients.
    key = (service, os.environ.get("AWS_ENDPOINT_URL", ""))
    found = _clients.get(key)
    if found is None:
        with _lock:  # boto3's default session is not thread-safe for client creation
            found = _clients.get(key)
            if found is None:
                found = boto3.client(service, config=_CONFIG)  # type: ignore[call-overload]
                _clients[key] = found
    return found


def reset_clients() -> None:
    """Forget cached clients (tests that switch emulators)."""
    with _lock:
        _clients.clear()
