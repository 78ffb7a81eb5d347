"""Whether the local stack's parts answer, not only whether their processes exist: a frozen
(SIGSTOPped) process keeps its pid and its listening socket, and the kernel even completes
TCP handshakes for it, but it answers nothing. Each probe asks for an answer within a short
timeout; ``deploy/stack status`` shows what they say.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from deploy.local.processes import http_get

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from shared.kafka_access import KafkaAccess
    from shared.topics import PartitionReplicas

T = TypeVar("T")
PROBE_TIMEOUT = 2.0
# A service's /readyz asks its database with a timeout of 2 s: wait a little longer for it.
READYZ_TIMEOUT = 4.0
NOT_ANSWERING = "not answering"


def service_trouble(base_url: str) -> str | None:
    """None when a service is live and ready; else what is wrong, e.g. "not ready: kafka"."""
    ready = http_get(f"{base_url}/readyz", READYZ_TIMEOUT)
    if ready is None:
        return NOT_ANSWERING
    alive = http_get(f"{base_url}/healthz")
    if alive is None:
        return NOT_ANSWERING
    if alive.status != 200:
        return f"unhealthy: /healthz answers {alive.status}"
    if ready.status != 200:
        checks = ready.body.get("checks")
        checks = checks if isinstance(checks, dict) else {}
        failing = [name for name, ok in checks.items() if not ok]
        return f"not ready: {', '.join(failing) or ready.status}"
    return None


def relay_leader(base_url: str) -> bool:
    """Whether the service at ``base_url`` holds its database's relay lock (``/healthz``)."""
    alive = http_get(f"{base_url}/healthz")
    relay = alive.body.get("relay") if alive is not None else None
    return isinstance(relay, dict) and relay.get("leader") is True


def proxy_trouble(base_url: str) -> str | None:
    """None when the proxy answers (its own 404 for a path no service has)."""
    return None if http_get(f"{base_url}/") is not None else NOT_ANSWERING


def prometheus_trouble(base_url: str) -> str | None:
    answer = http_get(f"{base_url}/-/ready")
    if answer is None:
        return NOT_ANSWERING
    return None if answer.status == 200 else "not ready"


def firing_alerts(base_url: str) -> set[str] | None:
    """The names of the alerts Prometheus has firing now; None if it did not answer."""
    answer = http_get(f"{base_url}/api/v1/alerts")
    if answer is None or answer.status != 200:
        return None
    data = answer.body.get("data")
    alerts = data.get("alerts", []) if isinstance(data, dict) else []
    return {
        str(alert.get("labels", {}).get("alertname"))
        for alert in alerts
        if alert.get("state") == "firing"
    }


def receiver_trouble(base_url: str) -> str | None:
    answer = http_get(f"{base_url}/healthz")
    if answer is None:
        return NOT_ANSWERING
    return None if answer.status == 200 else f"answers {answer.status}"


# ApiVersions (API key 18) version 0: every broker version answers it, before anything else,
# and before authentication, so the probe needs no credentials.
_API_VERSIONS = 18
_CORRELATION_ID = 0x0ACC0D


def _api_versions_request(client_id: bytes = b"accord-status") -> bytes:
    header = struct.pack(">hhih", _API_VERSIONS, 0, _CORRELATION_ID, len(client_id)) + client_id
    return struct.pack(">i", len(header)) + header


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed by the broker")
        data += chunk
    return data


def kafka_answers(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether a Kafka broker answers an ApiVersions request within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(_api_versions_request())
            (size,) = struct.unpack(">i", _read_exactly(sock, 4))
            (correlation_id,) = struct.unpack(">i", _read_exactly(sock, min(size, 4)))
    except (OSError, struct.error):
        return False
    return bool(correlation_id == _CORRELATION_ID)


def postgres_trouble(bin_dir: Path, port: int, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None when PostgreSQL accepts connections; else what ``pg_isready`` says."""
    argv = [str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]
    try:
        result = subprocess.run(
            [*argv, "-t", str(max(1, round(timeout)))],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout + 3,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return NOT_ANSWERING
    # pg_isready: 0 accepting, 1 rejecting (starting up or shutting down), 2 no response.
    return {0: None, 1: "rejecting connections"}.get(result.returncode, NOT_ANSWERING)


async def _dead_letters(kafka: KafkaAccess) -> dict[str, int]:
    # Imported here: the rest of deploy.local needs nothing but the standard library.
    from shared.ops.parked import dead_letter_counts

    per_partition = await dead_letter_counts(5.0, kafka)
    return {topic: sum(counts.values()) for topic, counts in per_partition.items()}


def _answer(ask: Callable[[], Awaitable[T]], timeout: float) -> T | None:
    """What ``ask`` returns, or None when the broker did not tell within ``timeout``."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await ask()

    try:
        return asyncio.run(bounded())
    except Exception:  # any client error means the same here: no figure
        return None


def dead_letters(kafka: KafkaAccess, timeout: float = 15) -> dict[str, int] | None:
    """Messages on each dead-letter topic (from the offsets: nothing is read), or None when
    the broker did not tell within ``timeout`` seconds. ``kafka``: the admin, who may
    describe every topic."""
    return _answer(lambda: _dead_letters(kafka), timeout)


def partition_replicas(kafka: KafkaAccess, timeout: float = 15) -> list[PartitionReplicas] | None:
    """Every topic's partitions with their replicas, or None when the cluster did not tell."""
    from shared.topics import partition_replicas as described

    return _answer(lambda: described(kafka), timeout)
