"""Shared fixtures: the whole application on the local cloud, and an HTTP client with a token.

    def test_a_vendor_lists_its_inventory(cloud, api):
        vendor = api("rosaflor", "Admin")
        assert vendor.post("/inventory", json={...}).status == 201
        cloud.drain()                      # deliver the events that call caused
        assert vendor.get("/inventory").json()["items"]
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from infra.localcloud import tokens  # noqa: E402
from infra.localcloud.client import ApiClient  # noqa: E402
from infra.localcloud.runtime import LocalCloud  # noqa: E402
from infra.localcloud.template import load  # noqa: E402

TEMPLATE = ROOT / "template.yaml"

# Parsed once per session (load() caches per file version); the layer becomes importable for unit tests.
for _path in load(TEMPLATE).layer_paths:
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    """The application of template.yaml on in-process moto, fresh for each test, API on an ephemeral port."""
    with LocalCloud(TEMPLATE) as local:
        yield local


@pytest.fixture
def api(cloud: LocalCloud) -> Callable[..., ApiClient]:
    """api(company_id, *roles, user=None) -> a client calling the local API with that user's token."""

    def make(company_id: str | None, *roles: str, user: str | None = None) -> ApiClient:
        return ApiClient(cloud.base_url, tokens.mint(company_id, roles, user=user))

    return make
