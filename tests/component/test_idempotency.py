"""Idempotency keys (k2k.idempotency) on emulated DynamoDB, with a resolver whose handler we control: the cases
the HTTP story cannot time exactly (a repeat while the first is still running), what is kept and where."""

import json
import threading
import time

import pytest

from infra.localcloud.client import TIMEOUT_SECONDS  # a hang guard: a loaded machine waits, never fails
from k2k import idempotency
from k2k.api import CORS, create_resolver
from k2k.errors import Conflict
from tests.fixtures.imports.world import api_event, emulated_aws, lambda_context


@pytest.fixture
def world():
    with emulated_aws() as w:
        yield w


class Counter:
    """A resolver with POST /things: each execution makes thing n+1; it can be held mid-way or fail once."""

    def __init__(self) -> None:
        self.app = create_resolver()
        self.executions = 0
        self.entered, self.release = threading.Event(), threading.Event()
        self.release.set()
        self.fail_next = False

        @self.app.post("/things", status_code=201)
        def make() -> dict[str, int]:
            self.executions += 1
            self.entered.set()
            assert self.release.wait(TIMEOUT_SECONDS)
            if self.fail_next:
                self.fail_next = False
                raise Conflict("changed since it was read")
            return {"thing": self.executions}

    def post(self, company="bloom", key="k-1", body=None, origin="https://shop.bloom.example"):
        event = api_event("POST", "/things", company, "Admin", body=body if body is not None else {"n": 1})
        if origin:
            event["headers"]["Origin"] = origin  # a web shop, in a browser
        if key is not None:
            event["headers"][idempotency.HEADER] = key
        out = idempotency.resolve(self.app, event, lambda_context(), CORS)
        headers = {**(out.get("headers") or {}), **{k: v[-1] for k, v in (out.get("multiValueHeaders") or {}).items()}}
        return out["statusCode"], json.loads(out["body"]), headers


def test_a_repeat_while_the_first_runs_is_409_and_only_the_first_executes(world):
    things = Counter()
    things.release.clear()
    first: list = []
    runner = threading.Thread(target=lambda: first.append(things.post(origin=None)))  # a server, then a browser
    runner.start()
    assert things.entered.wait(TIMEOUT_SECONDS)
    status, body, headers = things.post()
    assert (status, body["error"]["code"], headers["Retry-After"]) == (409, "in_progress", "1")
    assert "Retry-After" in headers["Access-Control-Expose-Headers"]  # the browser may read it
    things.release.set()
    runner.join(TIMEOUT_SECONDS)
    assert first[0][:2] == (201, {"thing": 1})
    status, body, headers = things.post()
    assert (status, body, headers["Idempotent-Replayed"]) == (201, {"thing": 1}, "true")
    assert "Idempotent-Replayed" in headers["Access-Control-Expose-Headers"]
    assert things.executions == 1


def test_an_answer_that_is_not_a_success_is_not_kept(world):
    things = Counter()
    things.fail_next = True
    assert things.post()[0] == 409  # nothing applied: the retry must be allowed to run
    assert things.post()[:2] == (201, {"thing": 2})
    assert things.executions == 2


def test_keys_are_kept_in_the_callers_company_for_a_day(world):
    things = Counter()
    before = int(time.time())
    things.post(company="bloom", key="k-9")
    after = int(time.time()) + 1
    [record] = world.db.query("C#bloom#IDEMPOTENCY")
    assert record["status"] == "COMPLETED" and record["sk"].startswith("request#")
    assert "k-9" not in json.dumps(record, default=str)  # the key and body are hashed, not stored
    assert before + 24 * 3600 <= int(record["purge_at"]) <= after + 24 * 3600  # the table's TTL attribute
    assert world.db.query("C#tulipa#IDEMPOTENCY") == []
    assert things.post(company="tulipa", key="k-9")[:2] == (201, {"thing": 2})  # its own, not bloom's answer


def test_an_answer_too_large_to_keep_is_answered_and_a_retry_runs_again(world, monkeypatch):
    monkeypatch.setattr(idempotency, "MAX_KEPT_BODY_BYTES", 5)  # {"thing": 1} is 12 bytes
    things = Counter()
    assert [things.post()[:2] for _ in range(2)] == [(201, {"thing": 1}), (201, {"thing": 2})]
    assert world.db.query("C#bloom#IDEMPOTENCY") == []  # nothing half-kept blocks the key


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "ünïcode"])
def test_a_malformed_key_is_refused_before_anything_runs(world, key):
    things = Counter()
    status, body, _ = things.post(key=key)
    assert status == 422
    assert body["error"]["details"][0]["field"] == "header.Idempotency-Key"
    assert things.executions == 0


def test_without_the_header_every_request_runs(world):
    things = Counter()
    assert [things.post(key=None)[1] for _ in range(2)] == [{"thing": 1}, {"thing": 2}]
