"""Webhook receivers that misbehave, as small real HTTP servers on loopback (asyncio sockets,
in the test's own event loop): one that answers its headers and then trickles its body, one
that answers a very large body, and a healthy one to compare with. Each counts what it saw:
the connections open per ``webhook-id`` and the bytes it managed to write."""

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import Enum

from deploy.local.processes import free_port


class Behaviour(Enum):
    # 200 with a Content-Length of TRICKLE_LENGTH, then one byte a second.
    TRICKLE = "trickle"
    # 200 with a body of HUGE_LENGTH bytes, written as fast as the peer takes it.
    HUGE = "huge"
    # 200 with a short body.
    HEALTHY = "healthy"


TRICKLE_LENGTH = 1_000_000
HUGE_LENGTH = 50 * 1024 * 1024
CHUNK = 64 * 1024


def huge_body_chunk(n: int) -> bytes:
    """The ``n``-th chunk of the huge body: recognisable, so a stored prefix can be compared."""
    return (f"chunk {n:08d} ".encode() * (CHUNK // 15 + 1))[:CHUNK]


@dataclass
class MisbehavingReceiver:
    behaviour: Behaviour
    port: int = field(default_factory=free_port)
    requests: list[str] = field(default_factory=list)  # webhook-ids, in arrival order
    # Connections open now, per webhook-id and per path (one path is one endpoint).
    open_now: Counter[str] = field(default_factory=Counter)
    open_per_path: Counter[str] = field(default_factory=Counter)
    # The most connections open at once with the same webhook-id, to one path, and in all.
    most_open_per_id: int = 0
    most_open_per_path: int = 0
    most_open: int = 0
    bytes_written: int = 0
    # Connections the client closed before the whole body was written.
    cut_short: int = 0
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator["MisbehavingReceiver"]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        try:
            yield self
        finally:
            server.close()
            for writer in list(self._writers):  # connections still trickling
                writer.transport.abort()
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        webhook_id = path = ""
        self._writers.add(writer)
        try:
            path, webhook_id = await _read_request(reader)
            self.requests.append(webhook_id)
            self.open_now[webhook_id] += 1
            self.open_per_path[path] += 1
            self.most_open_per_id = max(self.most_open_per_id, self.open_now[webhook_id])
            self.most_open_per_path = max(self.most_open_per_path, self.open_per_path[path])
            self.most_open = max(self.most_open, sum(self.open_now.values()))
            await self._answer(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            self.cut_short += 1
        finally:
            self._writers.discard(writer)
            if webhook_id:
                self.open_now[webhook_id] -= 1
                self.open_per_path[path] -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.behaviour is Behaviour.HEALTHY:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
            await writer.drain()
            return
        length = TRICKLE_LENGTH if self.behaviour is Behaviour.TRICKLE else HUGE_LENGTH
        writer.write(f"HTTP/1.1 200 OK\r\ncontent-length: {length}\r\n\r\n".encode())
        await writer.drain()
        # A write after the client has closed fails, and drain() raises ConnectionError.
        if self.behaviour is Behaviour.TRICKLE:
            for _ in range(length):
                writer.write(b".")
                await writer.drain()
                self.bytes_written += 1
                # A second between bytes, watching the connection: the client closing it is
                # seen at once, not at the next write.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reader.read(1), 1)
                    raise ConnectionResetError("the client closed the connection")
            return
        for n in range(length // CHUNK):
            writer.write(huge_body_chunk(n))
            await writer.drain()
            self.bytes_written += CHUNK


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str]:
    """Read one request's head and body; return its path and webhook-id."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {}
    for line in head[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    await reader.readexactly(int(headers.get("content-length", "0")))
    return head[0].split(" ")[1], headers.get("webhook-id", "")
