"""The dispatcher's HTTP transport: httpx's own, on a network backend that tells the connection
pool cheaply whether an idle connection was closed by its server.

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

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _Stream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class WebhookTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` (certificates checked as by default, HTTP/1.1) whose pool
    runs on the backend above. httpx takes no network backend, so its pool is made again here
    with the same settings httpx gives it."""

    def __init__(self, limits: httpx.Limits) -> None:
        super().__init__(limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Backend(),
        )
