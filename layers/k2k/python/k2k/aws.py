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
# S3 refuses SigV2 on buckets created since 2020: presigned links must be SigV4.
_SERVICE_CONFIG = {"s3": _CONFIG.merge(Config(signature_version="s3v4"))}


def client(service: str) -> Any:
    # Keyed by endpoint too, so a process that points at a local emulator gets its own clients.
    key = (service, os.environ.get("AWS_ENDPOINT_URL", ""))
    found = _clients.get(key)
    if found is None:
        with _lock:  # boto3's default session is not thread-safe for client creation
            found = _clients.get(key)
            if found is None:
                found = boto3.client(service, config=_SERVICE_CONFIG.get(service, _CONFIG))  # type: ignore[call-overload]
                _clients[key] = found
    return found


def reset_clients() -> None:
    """Forget cached clients (tests that switch emulators)."""
    with _lock:
        _clients.clear()
