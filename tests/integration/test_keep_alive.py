"""An idle keep-alive connection stays open longer than the clients in front of a service keep
theirs (decision 48): closing it first races the client's next request on it, which then
fails unanswered. Found by the benchmark's client (httpx keeps an idle connection 5 s, as
uvicorn did): one PATCH of 50,009 failed with a ReadError in the sustained run."""

import asyncio
from urllib.parse import urlsplit

import pytest

from tests.support.stack import Services

pytestmark = pytest.mark.integration

# Longer than httpx's keep-alive expiry (5 s), the idle time the benchmark's client reused.
IDLE_SECONDS = 6.0


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> bytes:
    writer.write(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    await asyncio.wait_for(reader.readexactly(length), 10)
    return head.split(b"\r\n", 1)[0]


@pytest.mark.parametrize("service", ["plans", "notifications"])
async def test_a_connection_idle_for_longer_than_a_clients_expiry_still_takes_a_request(
    services: Services, service: str
) -> None:
    address = urlsplit(services.url(service))
    assert address.hostname is not None and address.port is not None
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        assert await _get(reader, writer, address.netloc) == b"HTTP/1.1 200 OK"
        await asyncio.sleep(IDLE_SECONDS)

        try:
            status = await _get(reader, writer, address.netloc)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            pytest.fail(f"the service closed the idle connection: {type(exc).__name__}")

        assert status == b"HTTP/1.1 200 OK"
    finally:
        writer.close()
        await writer.wait_closed()
