"""What the benchmarks share: a quiet local cloud and HTTP clients for any company."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from infra.localcloud.client import ApiClient
from infra.localcloud.runtime import LocalCloud
from infra.localcloud.tokens import mint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@contextmanager
def quiet_cloud() -> Iterator[tuple[LocalCloud, Callable[..., ApiClient]]]:
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    logging.disable(logging.WARNING)
    with LocalCloud(os.path.join(ROOT, "template.yaml")) as cloud:
        def api(company: str, *roles: str) -> ApiClient:
            return ApiClient(cloud.base_url, mint(company, list(roles) or ["Admin"]))

        yield cloud, api


def ok(response, status: int = 200):  # type: ignore[no-untyped-def]
    if response.status != status:
        raise RuntimeError(f"{response.status}: {response.json()}")
    return response.json() if response.status != 204 else None
