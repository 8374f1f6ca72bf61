"""Shared fixtures: one local cloud for the session, companies of each test's own, and an HTTP client.

    def test_a_vendor_lists_its_inventory(cloud, api, suffix):
        vendor = api(f"rosaflor{suffix}", "Admin")   # a company no other test uses
        assert vendor.post("/inventory", json={...}).status == 201
        cloud.drain()                                # deliver the events that call caused
        assert vendor.get("/inventory").json()["items"]

Every test shares one LocalCloud (starting one per test was most of the suite's
time), so a test isolates itself by the companies it works in: `suffix` makes
ids no other test uses (`demo.seed(cloud, suffix)` creates the demo companies
with it). The `cloud` fixture counts invocations and AWS calls from zero for
each test, and after it clears the fault modes and delivers whatever the test
left flowing, so the next test starts quiet. The clock only moves forward
(`cloud.advance`): a test reads the application's time from `cloud.now()`.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from infra.localcloud import tokens  # noqa: E402
from infra.localcloud.client import ApiClient  # noqa: E402
from infra.localcloud.runtime import LocalCloud  # noqa: E402
from infra.localcloud.template import ACCOUNT_ID, REGION, load  # noqa: E402

TEMPLATE = ROOT / "template.yaml"

# Parsed once per session (load() caches per file version); the layer becomes importable for unit tests.
for _path in load(TEMPLATE).layer_paths:
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


class SharedCloud:
    """The session's LocalCloud, started when a test first needs it.

    One LocalCloud runs in a process at a time: clouds share moto's backends and boto3's default
    session. So it is stopped before a test that does not use it (the local cloud's own tests
    start clouds of theirs; component tests start moto), and the next test that does gets a new
    one. Tests that use it are run together (pytest_collection_modifyitems), so that is rare.
    """

    def __init__(self) -> None:
        self._local: LocalCloud | None = None

    def get(self) -> LocalCloud:
        if self._local is None:
            self._local = LocalCloud(TEMPLATE).start()
        return self._local

    def stop(self) -> None:
        if self._local is not None:
            self._local.stop()
            self._local = None


_shared = SharedCloud()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests without the shared cloud first, then those with it (a stable sort: files keep their order)."""
    items.sort(key=lambda item: "shared_cloud" in getattr(item, "fixturenames", ()))


def pytest_runtest_setup(item: pytest.Item) -> None:
    if "shared_cloud" not in getattr(item, "fixturenames", ()):
        _shared.stop()


def pytest_sessionfinish() -> None:
    _shared.stop()


@pytest.fixture(scope="session")
def shared_cloud() -> SharedCloud:
    """shared_cloud.get() -> the running LocalCloud (for fixtures wider than a test; tests take `cloud`)."""
    return _shared


@pytest.fixture
def cloud(shared_cloud: SharedCloud) -> Iterator[LocalCloud]:
    """The application of template.yaml on in-process moto, API on an ephemeral port, shared by the tests.

    Counters start from zero for each test; afterwards the fault modes are cleared and whatever the
    test left flowing is delivered, so the next test starts quiet.
    """
    local = shared_cloud.get()
    local.reset_counters()
    yield local
    vars(local).pop("invoke", None)  # a test that watched deliveries by wrapping invoke
    local.faults.reset()
    local.drain()


@pytest.fixture
def suffix() -> str:
    """"-3f9a1c": appended to company ids, it makes companies of this test's own on the shared cloud."""
    return f"-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def api(cloud: LocalCloud) -> Callable[..., ApiClient]:
    """api(company_id, *roles, user=None) -> a client calling the local API with that user's token."""

    def make(company_id: str | None, *roles: str, user: str | None = None) -> ApiClient:
        return ApiClient(cloud.base_url, tokens.mint(company_id, roles, user=user))

    return make


@pytest.fixture
def emails(cloud: LocalCloud) -> Callable[..., list[Any]]:
    """emails(to=None) -> what SES was asked to send since this test started (to that address, if given)."""
    from moto.ses.models import ses_backends

    sent = ses_backends[ACCOUNT_ID][REGION].sent_messages
    before = len(sent)

    def since(to: str | None = None) -> list[Any]:
        return [m for m in sent[before:] if to is None or to in m.destinations.get("ToAddresses", [])]

    return since
