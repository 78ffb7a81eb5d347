"""ASGI middleware shared by the services: request ids with an access log, the headers
every response carries, the rate limit per source address, and the body size limit answered
with a problem document."""

import time
import uuid

import structlog
from fastapi import FastAPI, Request
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import metrics
from shared.logging import bound
from shared.problems import NOSNIFF, PROBLEM_MEDIA_TYPE, problem_response
from shared.rate_limits import TokenBuckets

log = structlog.get_logger("accord.access")

REQUEST_ID_HEADER = b"x-request-id"
# Server-Sent Events: a response that stays open as long as its reader (the live stream).
EVENT_STREAM = b"text/event-stream"
# Browsers must not guess a type other than the one declared (e.g. run a CSV export as HTML).
# (A 500 is sent from outside every middleware: ``problem_response`` sets it there too.)
EVERY_RESPONSE_HEADERS = [(NOSNIFF[0].lower().encode(), NOSNIFF[1].encode())]
# Paths no rate limit applies to: the orchestrator's probes and the metrics scrape.
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def install_middleware(
    app: FastAPI, max_body_bytes: int, per_address: TokenBuckets | None = None
) -> None:
    """The shared middleware, outermost first: request context, the rate limit per address,
    the 413 as a problem, the body limit (a route may raise it with its own
    ``max_body_size``)."""
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=max_body_bytes)
    app.add_middleware(TooLargeAsProblemMiddleware)
    if per_address is not None and per_address.enabled:
        app.add_middleware(RateLimitByAddressMiddleware, buckets=per_address)
    app.add_middleware(RequestContextMiddleware)


class _HttpMiddleware:
    """Middleware that acts on HTTP requests only and passes anything else (lifespan) on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.handle(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class RequestContextMiddleware(_HttpMiddleware):
    """Give every request an id (the caller's ``X-Request-ID`` if sane), bind it to the logs,
    echo it in the response, write one access-log line per request and count it in the
    HTTP metrics (under its route's template, which routing left in the scope)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = _caller_request_id(scope) or uuid.uuid4().hex
        started = time.perf_counter()
        status = 500
        streamed = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, streamed
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                streamed = any(
                    name.lower() == b"content-type" and value.startswith(EVENT_STREAM)
                    for name, value in headers
                )
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                headers.extend(h for h in EVERY_RESPONSE_HEADERS if h[0] not in present)
                message["headers"] = headers
            await send(message)

        with bound(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                seconds = time.perf_counter() - started
                # A live stream lasts as long as its reader stays: its length is no latency.
                metrics.observe_request(scope, status, None if streamed else seconds)
                # Prometheus scrapes every few seconds: its requests are counted, not logged.
                if scope["path"] != metrics.METRICS_PATH:
                    log.info(
                        "request",
                        method=scope["method"],
                        path=scope["path"],
                        status=status,
                        duration_ms=round(seconds * 1000, 2),
                    )


class RateLimitByAddressMiddleware(_HttpMiddleware):
    """Answer 429 to an address over its limit, before the request reaches anything else
    (a flood of bad tokens is throttled too). Behind a proxy the address is the proxy's."""

    def __init__(self, app: ASGIApp, buckets: TokenBuckets) -> None:
        super().__init__(app)
        self.buckets = buckets

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] not in UNLIMITED_PATHS:
            client = scope.get("client")
            refused = self.buckets.refuse(client[0] if client else "unknown")
            if refused is not None:
                response = problem_response(
                    refused.status,
                    slug=refused.slug,
                    detail=refused.detail,
                    request=Request(scope),
                    headers=refused.headers,
                    limit=refused.limit,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class TooLargeAsProblemMiddleware(_HttpMiddleware):
    """Starlette's body limit answers a body whose announced ``Content-Length`` is over the
    limit with a plain-text 413 of its own, sent in place of whatever the app answered (a
    body that only turns out too large as it streams in reaches the problem handlers).
    Replace that plain-text 413 with the problem document every other error is."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        replaced = False

        async def send_problem(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and _plain_too_large(message):
                replaced = True
                detail = "the request body is over the size limit"
                problem = problem_response(
                    413, slug="request-entity-too-large", detail=detail, request=Request(scope)
                )
                await problem(scope, receive, send)
            elif not replaced:
                await send(message)

        await self.app(scope, receive, send_problem)


def _plain_too_large(start: Message) -> bool:
    content_type = dict(start.get("headers", ())).get(b"content-type", b"")
    return start["status"] == 413 and not content_type.startswith(PROBLEM_MEDIA_TYPE.encode())


def _caller_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER:
            text = value.decode("latin-1")
            if 0 < len(text) <= 100 and text.replace("-", "").isalnum():
                return text
    return None
