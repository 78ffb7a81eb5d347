"""The benchmarks' webhook receiver: a bare ASGI app served by uvicorn in a process of its own
(so it never competes for the load generator's GIL). It answers 204 at once and keeps, for
every POST, the monotonic time it arrived and its body; the bench reads them afterwards
(``GET /count``, ``GET /arrivals?since=N``), so the hot path does no parsing at all.

It does not verify signatures: the cost of verifying is the receiver's, not Accord's, and
both sides of every comparison post to this same receiver.
"""

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx

from deploy.local.processes import ServiceProcess, free_port

# (monotonic arrival time, webhook-id header, body) of every POST, in arrival order.
ARRIVALS: list[tuple[float, str, bytes]] = []


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["method"] == "POST":
        webhook_id = dict(scope["headers"]).get(b"webhook-id", b"").decode()
        ARRIVALS.append((time.monotonic(), webhook_id, body))
        await _answer(send, 204, b"")
    elif scope["path"] == "/arrivals":
        since = int(parse_qs(scope["query_string"].decode()).get("since", ["0"])[0])
        await _answer(send, 200, json.dumps([_arrival(a) for a in ARRIVALS[since:]]).encode())
    else:
        await _answer(send, 200, json.dumps({"count": len(ARRIVALS)}).encode())


def _arrival(arrival: tuple[float, str, bytes]) -> dict[str, Any]:
    at, webhook_id, body = arrival
    try:
        data = json.loads(body).get("data") or {}
    except (ValueError, AttributeError):
        data = {}
    return {
        "at": at,
        "webhook_id": webhook_id,
        "bytes": len(body),
        "action_line_id": data.get("action_line_id"),
        "version": data.get("version"),
    }


async def _answer(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json")] if body else []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@dataclass
class Sink:
    """The receiver's process, started and stopped by a benchmark, and what it received."""

    process: ServiceProcess
    port: int

    @classmethod
    def start(cls, runtime_dir: Path) -> "Sink":
        port = free_port()
        argv = [sys.executable, "-m", "uvicorn", f"{__name__}:app", "--port", str(port)]
        argv += ["--log-level", "warning", "--lifespan", "off"]
        health = f"http://127.0.0.1:{port}/count"
        process = ServiceProcess("webhook-sink", runtime_dir, argv, {}, health_url=health)
        process.start(wait_healthy=30)
        return cls(process, port)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def count(self, http: httpx.AsyncClient) -> int:
        count: int = (await http.get(self.url("/count"))).json()["count"]
        return count

    async def arrivals(self, http: httpx.AsyncClient, since: int = 0) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (
            await http.get(self.url("/arrivals"), params={"since": since}, timeout=120)
        ).json()
        return found

    def stop(self) -> None:
        self.process.stop()
