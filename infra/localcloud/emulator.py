"""moto, in this process or as a server, answering one AWS call at a time.

moto's backends are not thread-safe: two TransactWriteItems at once can corrupt
a table's state or let a conditional write through that DynamoDB would refuse.
The gateway serves requests concurrently and handlers fan out on threads, so
every call into moto takes one lock, which makes each call atomic, as the real
services are. In process, the lock wraps moto's botocore stubber (swapped in
for it on the sessions the application and the local cloud use); as a server,
it wraps the WSGI app, and only once the request's body has been read: a slow
or truncated upload waits on its own connection (and gets S3's 400 when it
times out or ends short), never on everyone's lock.

Starting the emulator applies moto_fixes (what keeps moto's memory and time
flat under sustained use); stopping it removes them.

moto runs in this process in both modes, so the emulator can also tell the pollers, from moto's own
state and without an AWS call, whether a source has anything for them (`queue_has_visible`,
`stream_ends`, `schedules_version`): a drain round then polls only the sources that can answer
with something. Each answers what the call it saves would have found (None: cannot tell, poll).
"""

from __future__ import annotations

import io
import threading
import urllib.parse
from collections.abc import Iterable
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Response

from infra.localcloud import moto_fixes
from infra.localcloud.template import ACCOUNT_ID, REGION

SERIALIZE_ID = "k2k-localcloud-serialize"
# Bodies are read whole before moto sees them; beyond this an upload is refused (the importer takes 64 MiB).
MAX_BODY_BYTES = 256 * 2**20
# A client that stops sending (a truncated upload, an idle keep-alive) is let go after this.
SOCKET_TIMEOUT_SECONDS = 30
FORM = "application/x-www-form-urlencoded"
_calls = threading.RLock()


def _locked_stubber(**kwargs: Any) -> Any:
    from moto.core.models import botocore_stubber

    with _calls:
        return botocore_stubber(**kwargs)


class Emulator:
    def __init__(self, mode: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.mode = mode
        self.host = host
        self.port = port
        self.endpoint: str | None = None
        self._mock: Any = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str | None:
        """Start moto; the server's endpoint URL, or None in process."""
        moto_fixes.install()
        if self.mode == "inprocess":
            from moto import mock_aws

            self._mock = mock_aws()
            self._mock.start()
            return None
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        app = DomainDispatcherApplication(create_backend_app)

        def one_at_a_time(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            refused = _read_body(environ)
            if refused is not None:
                return refused(environ, start_response)
            with _calls:
                return list(app(environ, start_response))

        class Handler(MotoRequestHandler):
            timeout = SOCKET_TIMEOUT_SECONDS

        self._server = make_server(self.host, self.port, one_at_a_time, threaded=True, request_handler=Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="localcloud-moto", daemon=True)
        self._thread.start()
        self.endpoint = f"http://{self.host}:{self._server.server_port}"
        return self.endpoint

    def serialize(self, events: Any) -> None:
        """Make the clients of a session (created after this) take the lock for each call in process."""
        if self.mode == "inprocess":
            from moto.core.models import botocore_stubber

            # botocore runs every before-send handler: the unlocked stubber must go, not just come second.
            events.unregister("before-send", botocore_stubber)
            events.register("before-send", _locked_stubber, unique_id=SERIALIZE_ID)

    def unserialize(self, events: Any) -> None:
        if self.mode == "inprocess":
            from moto.core.models import botocore_stubber

            events.unregister("before-send", unique_id=SERIALIZE_ID)
            events.register("before-send", botocore_stubber)

    def forget_stream_records(self, stream_arn: str, through: int) -> int:
        """Drop a stream's records up to a sequence number (every consumer is past them)."""
        with _calls:
            return moto_fixes.forget_stream_records(stream_arn, through)

    def queue_has_visible(self, queue_url: str) -> bool | None:
        """Whether ReceiveMessage could return a message now (visible and not delayed); None: no such queue."""
        from moto.sqs.models import sqs_backends

        account, name = queue_url.rstrip("/").rsplit("/", 2)[-2:]
        with _calls:
            queue = sqs_backends[account][REGION].queues.get(name)
            if queue is None:
                return None
            return any(m.visible and not m.delayed for m in queue._messages)

    def stream_ends(self, stream_arn: str) -> dict[str, int | None] | None:
        """The last sequence number in each shard of a table's stream (None: the shard has no record)."""
        from moto.dynamodb.models import dynamodb_backends

        _, _, _, region, account, resource = stream_arn.split(":", 5)
        with _calls:
            table = dynamodb_backends[account][region].tables.get(resource.split("/")[1])
            shard = table.stream_shard if table is not None else None
            if shard is None:
                return None
            return {shard.id: shard.starting_sequence_number + len(shard.items) - 1 if shard.items else None}

    def schedules_version(self, account: str = ACCOUNT_ID) -> tuple[Any, ...]:
        """Changes whenever a schedule is created, updated, enabled, disabled or deleted."""
        from moto.scheduler.models import scheduler_backends

        with _calls:
            backend = scheduler_backends[account][REGION]
            return tuple((s.arn, s.last_modified_date, s.state) for group in backend.schedule_groups.values()
                         for s in group.schedules.values())

    def stop(self) -> None:
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=1)
            self._thread = None
        self.endpoint = None
        moto_fixes.uninstall()


def _read_body(environ: dict[str, Any]) -> Response | None:
    """Read the request's body into memory (outside the lock); S3's error response if it cannot be."""
    stream = environ["wsgi.input"]
    declared = environ.get("CONTENT_LENGTH") or ""
    chunked = bool(environ.get("wsgi.input_terminated"))
    try:
        expected = int(declared) if declared else None
    except ValueError:
        return _s3_error(400, "InvalidArgument", "the Content-Length header is not a number")
    if expected is not None and expected > MAX_BODY_BYTES:
        return _s3_error(400, "EntityTooLarge", f"the local emulator takes bodies up to {MAX_BODY_BYTES} bytes")
    if expected is None and not chunked:
        expected = 0
    body = io.BytesIO()
    try:
        while expected is None or body.tell() < expected:
            want = 1 << 20 if expected is None else min(1 << 20, expected - body.tell())
            chunk = stream.read(want)
            if not chunk:
                break
            body.write(chunk)
            if body.tell() > MAX_BODY_BYTES:
                return _s3_error(400, "EntityTooLarge",
                                 f"the local emulator takes bodies up to {MAX_BODY_BYTES} bytes")
    except TimeoutError:
        return _s3_error(400, "RequestTimeout", "Your socket connection to the server was not read from or "
                                               "written to within the timeout period.")
    if expected is not None and body.tell() < expected:
        return _s3_error(400, "IncompleteBody",
                         "You did not provide the number of bytes specified by the Content-Length HTTP header")
    environ["wsgi.input"] = io.BytesIO(body.getvalue())
    environ["CONTENT_LENGTH"] = str(body.tell())
    environ.pop("wsgi.input_terminated", None)
    if environ.get("CONTENT_TYPE", "").startswith(FORM) and _signed_for_s3(environ):
        # curl --data-binary and urllib send uploads form-encoded; S3 stores the bytes whatever the type,
        # but moto would parse them as a form (and lose them). It gets them as S3's untyped default.
        environ["CONTENT_TYPE"] = "binary/octet-stream"
    return None


def _signed_for_s3(environ: dict[str, Any]) -> bool:
    """A request signed (in its Authorization header or a presigned URL) for the s3 service."""
    scope = environ.get("HTTP_AUTHORIZATION", "")
    if not scope:
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        scope = (query.get("X-Amz-Credential") or [""])[0]
        if not scope:
            return "AWSAccessKeyId" in query  # a SigV2 presigned URL: only S3 has them
    return "/s3/aws4_request" in scope


def _s3_error(status: int, code: str, message: str) -> Response:
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            "</Error>")
    return Response(body, status=status, content_type="application/xml", headers={"Connection": "close"})
