"""A webhook receiver for the tests: a real HTTP server on a free loopback port that verifies
every request with the reference ``standardwebhooks`` library, like a delegation's system would.

Each path is one endpoint with its secret and, optionally, a script of answers to give first
(e.g. two 503s, then the default 200). Every request is recorded with whether it verified;
one whose connection ended before its whole body arrived (a sender killed mid-request) is not
a request an HTTP server hands on: it is only counted, in ``incomplete``.
``go_down`` and ``come_back`` stop and restart the server on the same port: meanwhile every
connection is refused, like a receiver that is away.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from deploy.local.processes import free_port


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Received:
    path: str
    webhook_id: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    answered: int
    # When it arrived (time.monotonic()).
    at: float = field(default_factory=time.monotonic)


@dataclass
class Route:
    secret: str
    script: list[Answer] = field(default_factory=list)
    default: Answer = field(default_factory=lambda: Answer(200))
    # Given to the first request of each webhook-id (then the script or the default).
    first_attempt: Answer | None = None
    seen: set[str] = field(default_factory=set)


def verifies(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.routes: dict[str, Route] = {}
        self.received: list[Received] = []
        # Paths of requests whose body ended before its content-length.
        self.incomplete: list[str] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, secret: str, *script: Answer) -> None:
        with self._lock:
            self.routes[path] = Route(secret=secret, script=list(script))

    def answer_from_now(self, path: str, answer: Answer) -> None:
        """Answer ``answer`` to every request at ``path`` from now on (after its script)."""
        with self._lock:
            self.routes[path].default = answer

    def fail_first_attempts(self, path: str, answer: Answer) -> None:
        """From now on answer ``answer`` to the first request of every webhook-id at ``path``:
        every delivery fails once, then succeeds when it is retried."""
        with self._lock:
            self.routes[path].first_attempt = answer

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def accepted(self, path: str) -> list[Received]:
        return [r for r in self.at(path) if r.verified and 200 <= r.answered < 300]

    def _answer(self, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        with self._lock:
            route = self.routes.get(path)
            if route is None:
                answer, verified = Answer(404), False
            else:
                verified = verifies(route.secret, body, headers)
                webhook_id = headers.get("webhook-id", "")
                if not verified:
                    answer = Answer(400)
                elif route.first_attempt is not None and webhook_id not in route.seen:
                    route.seen.add(webhook_id)
                    answer = route.first_attempt
                elif route.script:
                    answer = route.script.pop(0)
                else:
                    answer = route.default
            self.received.append(
                Received(
                    path=path,
                    webhook_id=headers.get("webhook-id", ""),
                    headers=headers,
                    body=body,
                    verified=verified,
                    answered=answer.status,
                )
            )
            return answer

    def _handler_class(self) -> Any:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                if len(body) < length:
                    with receiver._lock:
                        receiver.incomplete.append(self.path)
                    self.close_connection = True
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = receiver._answer(self.path, body, headers)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def come_back(self) -> None:
        """Listen (again) on the receiver's port."""
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def go_down(self) -> None:
        """Stop listening: connections are refused until ``come_back``."""
        if self._server is None or self._thread is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        self._server = self._thread = None

    @contextmanager
    def running(self) -> Iterator["Receiver"]:
        self.come_back()
        try:
            yield self
        finally:
            self.go_down()
