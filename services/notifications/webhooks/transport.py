"""The dispatcher's HTTP transport: httpx's own, on a network backend that connects only to the
addresses the SSRF check approved (``pin``) and tells the connection pool cheaply whether an
idle connection was closed by its server.

Pinning: a webhook goes to the address its endpoint's host name was checked to resolve to, not
to whatever the name resolves to by the time a connection is made (DNS rebinding). The request
keeps its URL, so the pool keys connections by host name as httpx does, and TLS checks the
certificate for that name. (Requests addressed to the checked address with the name only as
TLS server name were pooled by address: a connection checked for one endpoint's name carried
another's webhooks when both names had one address, e.g. behind a proxy that routes TLS by
server name to different backends.) A host nobody pinned is not connected to at all.

Why: httpcore's pool, before it hands out a connection and again when a response is closed,
asks every idle connection of the pool whether its socket has become readable (the only
reason an idle HTTP/1.1 socket can be readable is that the server closed it). With the anyio
backend each such question builds the stream's whole attribute map, which includes a
``getpeername`` system call, then polls the socket: with 32 connections, about 140
``getpeername`` calls per webhook (tests/unit/test_webhook_transport.py counts them). A
profile of the dispatcher at 32 connections (docs/performance.md) had two fifths of its time
there. This backend keeps each connection's socket from the start and answers with one
``poll``; everything else is anyio's.
"""

import select
import socket
import ssl
import typing

import httpcore
import httpx


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        # The TCP socket under the stream, TLS or not; it stays the same for the stream's life.
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable":
            return _readable(self._socket)
        return self._inner.get_extra_info(info)


def _readable(sock: socket.socket | None) -> bool:
    """Whether reading would not block (data, or the end of the stream); a socket already
    closed on our side counts as readable, so that the pool drops its connection."""
    if sock is None or sock.fileno() < 0:
        return True
    poll = select.poll()
    poll.register(sock, select.POLLIN)
    return bool(poll.poll(0))


class _Backend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()
        # Host name (as in the URL, IDNA-encoded) -> the address last approved for it.
        self.pins: dict[str, str] = {}

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        address = self.pins.get(host)
        if address is None:
            raise httpcore.ConnectError(f"{host}: no checked address to connect to")
        stream = await self._inner.connect_tcp(
            address, port, timeout, local_address, socket_options
        )
        return _Stream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class WebhookTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` (certificates checked as by default, HTTP/1.1) whose pool
    runs on the backend above. httpx takes no network backend, so its pool is made again here
    with the same settings httpx gives it."""

    def __init__(self, limits: httpx.Limits) -> None:
        super().__init__(limits=limits)
        self._backend = _Backend()
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=self._backend,
        )

    def pin(self, url: httpx.URL, address: str) -> None:
        """New connections for ``url``'s host go to ``address``, which the caller checked. A
        connection already pooled for the host stays in use: its address was checked too."""
        self._backend.pins[url.raw_host.decode("ascii")] = address
