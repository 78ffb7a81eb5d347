"""The dispatcher's transport (services/notifications/webhooks/transport.py), against a small
HTTP/1.1 server on loopback: a pooled connection's health is checked without a system call
per pooled connection, and a connection the server closed while idle is still noticed."""

import asyncio
import select
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.notifications.webhooks.dispatcher import _pinned_request
from services.notifications.webhooks.ssrf import Target
from services.notifications.webhooks.transport import WebhookTransport
from tests.support.certificates import certificate

ANSWER = b"HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n"


@asynccontextmanager
async def keep_alive_server(
    close_after: float | None = None, tls: ssl.SSLContext | None = None
) -> AsyncIterator[dict]:
    """Answers each request 204 on a kept-alive connection; with ``close_after``, closes a
    connection that long after each answer; with ``tls``, speaks HTTPS. Yields its URL and how
    many connections it took."""
    seen: dict[str, Any] = {"connections": 0}

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen["connections"] += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.lower().split(b"\r\n")
                        if line.startswith(b"content-length:")
                    ),
                    0,
                )
                await reader.readexactly(length)
                writer.write(ANSWER)
                await writer.drain()
                if close_after is not None:
                    await asyncio.sleep(close_after)
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    async with server:
        seen["url"] = f"{'https' if tls else 'http'}://127.0.0.1:{port}/hook"
        yield seen


def _transport(connections: int) -> WebhookTransport:
    """The transport, with the loopback address pinned (approved) for itself."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    transport = WebhookTransport(limits)
    transport.pin(httpx.URL("http://127.0.0.1/"), "127.0.0.1")
    return transport


def _client(connections: int, transport: WebhookTransport | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport or _transport(connections), timeout=5)


async def test_a_full_pool_is_not_asked_for_its_peers_on_every_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With httpx's own backend, each request asks every idle connection's socket for its peer
    address (via anyio's attribute map) when the pool checks whether the server closed it:
    here 32 connections and 320 requests made about 45,000 such calls (seen)."""
    calls = {"getpeername": 0}
    original = socket.socket.getpeername

    def counted(self: socket.socket) -> object:
        calls["getpeername"] += 1
        return original(self)

    async with keep_alive_server() as server, _client(32) as client:

        async def post() -> int:
            return (await client.post(server["url"], content=b"{}")).status_code

        await asyncio.gather(*(post() for _ in range(32)))  # the pool's connections, opened
        monkeypatch.setattr(socket.socket, "getpeername", counted)
        for _ in range(10):
            assert await asyncio.gather(*(post() for _ in range(32))) == [204] * 32

    assert server["connections"] <= 32
    assert calls["getpeername"] < 32


class _CountedPoll:
    """``select.poll``, counting the times it is asked."""

    asked = 0

    def __init__(self) -> None:
        self._poll = _POLL()

    def register(self, *args: Any) -> None:
        self._poll.register(*args)

    def unregister(self, fd: int) -> None:
        self._poll.unregister(fd)

    def poll(self, timeout: float | None = None) -> list[tuple[int, int]]:
        _CountedPoll.asked += 1
        return self._poll.poll(timeout)


_POLL = select.poll


async def test_the_pools_sockets_are_asked_together_not_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pool asks every idle connection whether its server closed it, twice per request.
    One ``poll`` per connection asked was a third of the dispatcher's CPU at 32 connections
    (44,670 polls for the 320 requests below, seen); the sockets are now asked together, at
    most once per turn of the event loop."""
    monkeypatch.setattr(select, "poll", _CountedPoll)
    async with keep_alive_server() as server, _client(32) as client:

        async def post() -> int:
            return (await client.post(server["url"], content=b"{}")).status_code

        await asyncio.gather(*(post() for _ in range(32)))  # the pool's connections, opened
        _CountedPoll.asked = 0
        for _ in range(10):
            assert await asyncio.gather(*(post() for _ in range(32))) == [204] * 32

    assert _CountedPoll.asked <= 2 * 320
    assert server["connections"] == 32  # and none was taken for closed


async def test_a_connection_the_server_closed_while_idle_is_replaced_not_used() -> None:
    async with keep_alive_server(close_after=0.05) as server, _client(4) as client:
        first = await client.post(server["url"], content=b"{}")
        await asyncio.sleep(0.3)  # the server has closed the idle connection meanwhile
        second = await client.post(server["url"], content=b"{}")

    assert (first.status_code, second.status_code) == (204, 204)
    assert server["connections"] == 2


async def test_https_with_the_name_checked_apart_from_the_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the dispatcher sends (its request is pinned to the checked address, the certificate is
    checked for the endpoint's host name); the TLS stream's socket is found too, so a
    connection the server closed is replaced."""
    ca = certificate(tmp_path, "hooks-ca")
    cert, key, _, _ = certificate(
        tmp_path, "hooks", issuer=(ca[2], ca[3]), dns_names=("hooks.test",)
    )
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca[0]))  # the client trusts the test's CA only

    transport = _transport(4)
    async with (
        keep_alive_server(close_after=0.05, tls=tls) as server,
        _client(4, transport) as client,
    ):
        target = _target(server, "hooks.test")

        async def post() -> int:
            request = _pinned_request(transport, target, {}, b"{}")
            return (await client.send(request)).status_code

        first = await post()
        await asyncio.sleep(0.3)
        second = await post()
        await asyncio.sleep(0.3)
        # Checked for the address itself, which the certificate does not name: refused.
        wrong_name = httpx.Request("POST", server["url"], content=b"{}")
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.send(wrong_name)

    assert (first, second) == (204, 204)
    assert server["connections"] == 2  # the refused handshake never reaches the server's code


async def test_a_host_with_no_checked_address_is_not_connected_to() -> None:
    async with keep_alive_server() as server, _client(4) as client:
        unchecked = server["url"].replace("127.0.0.1", "localhost")
        with pytest.raises(httpx.ConnectError, match="no checked address"):
            await client.post(unchecked, content=b"{}")

    assert server["connections"] == 0


def _target(server: dict[str, Any], name: str) -> Target:
    """The server's URL under ``name``, checked (as the SSRF check would) to its address."""
    port = httpx.URL(server["url"]).port
    assert port is not None
    return Target(f"https://{name}:{port}/hook", name, port, ("127.0.0.1",))


async def test_a_connection_checked_for_one_host_name_is_not_used_for_another_on_its_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two endpoints whose names resolve to one address (a shared host, or a proxy routing TLS
    by its server name to different backends): a connection whose certificate was checked for
    the first name must not carry the second's webhooks, whose name was never checked on it.
    Pooled by address, the second endpoint's request went out on the first one's connection
    (seen); here the second name is not in the server's certificate, so it must be refused."""
    ca = certificate(tmp_path, "hooks-ca")
    cert, key, _, _ = certificate(
        tmp_path, "hooks", issuer=(ca[2], ca[3]), dns_names=("first.test",)
    )
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca[0]))

    transport = _transport(4)
    async with keep_alive_server(tls=tls) as server, _client(4, transport) as client:

        def pinned(name: str) -> httpx.Request:
            return _pinned_request(transport, _target(server, name), {}, b"{}")

        first = await client.send(pinned("first.test"))
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.send(pinned("second.test"))
        again = await client.send(pinned("first.test"))

    assert (first.status_code, again.status_code) == (204, 204)
    assert server["connections"] == 1  # the first name's connection, kept alive and used again
