"""moto, in this process or as a server, answering one AWS call at a time.

moto's backends are not thread-safe: two TransactWriteItems at once can corrupt
a table's state or let a conditional write through that DynamoDB would refuse.
The gateway serves requests concurrently and handlers fan out on threads, so
every call into moto takes one lock, which makes each call atomic, as the real
services are. In process, the lock wraps moto's botocore stubber (swapped in
for it on the sessions the application and the local cloud use); as a server,
it wraps the WSGI app.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

SERIALIZE_ID = "k2k-localcloud-serialize"
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
            with _calls:
                return list(app(environ, start_response))

        self._server = make_server(self.host, self.port, one_at_a_time, threaded=True,
                                   request_handler=MotoRequestHandler)
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

    def stop(self) -> None:
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.endpoint = None
