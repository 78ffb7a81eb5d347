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
there. This backend keeps each connection's socket from the start and answers from one
``poll`` of all the pool's sockets per turn of the event loop (``_Readiness``): asking each
socket with a ``poll`` of its own was still a third of the dispatcher's CPU at 32 connections,
since the pool asks every idle connection twice per request. Everything else is anyio's.
"""

import asyncio
import contextlib
import select
import socket
import ssl
import typing

import httpcore
import httpx


class _Readiness:
    """Which of the pool's sockets have something to read, asked of the kernel for all of them
    at once and remembered until the event loop's next turn: the pool asks about each idle
    connection in turn, all within one turn. A server's close that lands meanwhile is seen on
    the next turn, as one landing just after a single socket's ``poll`` would be.

    An answer cannot be mistaken for a close: the event loop's transport takes a socket's
    bytes and wakes the connection's task on a later turn, after the remembered answer is
    forgotten (its forgetting is queued when it is taken). So a connection that goes idle in
    this turn had read its answer before the poll, and its socket is readable only if more
    came: the server's close."""

    def __init__(self) -> None:
        self._poll = select.poll()
        self._watched: set[int] = set()
        self._readable: set[int] | None = None  # None: not asked this turn

    def watch(self, sock: socket.socket) -> None:
        self._poll.register(sock, select.POLLIN)
        self._watched.add(sock.fileno())

    def forget(self, sock: socket.socket) -> None:
        """Before the socket closes: its number may be given to another socket."""
        fd = sock.fileno()
        if fd in self._watched:
            self._watched.discard(fd)
            with contextlib.suppress(KeyError, ValueError):
                self._poll.unregister(fd)

    def readable(self, sock: socket.socket | None) -> bool:
        """Whether reading would not block (data, or the end of the stream); a socket already
        closed on our side counts as readable, so that the pool drops its connection."""
        if sock is None or sock.fileno() < 0:
            return True
        fd = sock.fileno()
        if fd not in self._watched:
            return _readable(sock)
        if self._readable is None:
            # Any event counts: POLLHUP, POLLERR and POLLNVAL come without being asked for.
            self._readable = {ready for ready, _ in self._poll.poll(0)}
            asyncio.get_running_loop().call_soon(self._new_turn)
        return fd in self._readable

    def _new_turn(self) -> None:
        self._readable = None


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream, readiness: _Readiness) -> None:
        self._inner = inner
        self._readiness = readiness
        # The TCP socket under the stream, TLS or not; it stays the same for the stream's life.
        self._socket: socket.socket | None = inner.get_extra_info("socket")
        if self._socket is not None:
            readiness.watch(self._socket)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        if self._socket is not None:
            self._readiness.forget(self._socket)
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        tls = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return _Stream(tls, self._readiness)

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable":
            return self._readiness.readable(self._socket)
        return self._inner.get_extra_info(info)


def _readable(sock: socket.socket) -> bool:
    """One socket asked on its own (one the pool does not watch)."""
    poll = select.poll()
    poll.register(sock, select.POLLIN)
    return bool(poll.poll(0))


class _Backend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._readiness = _Readiness()
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
        return _Stream(stream, self._readiness)

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
