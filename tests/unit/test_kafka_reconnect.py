"""New Kafka connections back off exponentially, with jitter, while a broker is away, instead
of aiokafka's fixed 100 ms retries (dozens of attempts a second per process)."""

import asyncio
import contextlib

import aiokafka.client
import pytest

from shared import kafka_reconnect
from shared.kafka_reconnect import AddressGate, with_backoff


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_after_failures_attempts_wait_pauses_doubling_with_jitter_until_one_succeeds() -> None:
    clock = Clock()
    gate = AddressGate(first=0.1, ceiling=1.6, clock=clock)
    assert gate.wait() == 0, "no wait before any failure"
    pauses = []
    for _ in range(8):
        gate.failed()
        pause = gate.wait()
        pauses.append(pause)
        clock.now += pause
    # Each pause lies in [step/2, step] with the step doubling from 0.1 to the ceiling 1.6.
    steps = [0.1, 0.2, 0.4, 0.8, 1.6, 1.6, 1.6, 1.6]
    assert all(step / 2 <= p <= step for p, step in zip(pauses, steps, strict=True)), pauses
    gate.succeeded()
    assert gate.wait() == 0, "a success ends the pauses"
    gate.failed()
    assert 0.05 <= gate.wait() <= 0.1, "and they start small again"


def test_attempts_failing_together_count_once() -> None:
    clock = Clock()
    gate = AddressGate(first=0.1, ceiling=1.6, clock=clock)
    for _ in range(5):
        gate.failed()
    assert gate.wait() <= 0.1


async def test_clients_retrying_every_100_ms_reach_a_down_broker_a_few_times_only() -> None:
    """Ten clients retrying like aiokafka's loops for 1.5 s: without the gate some 150 connect
    attempts, with it a few per pause (pauses of 0.1, 0.2, 0.4, 0.8 s at most)."""
    attempts = 0

    async def refused(host: str, port: int, **_: object) -> None:
        nonlocal attempts
        attempts += 1
        raise ConnectionRefusedError(host, port)

    create_conn = with_backoff(refused)

    async def client() -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.5
        while loop.time() < deadline:
            with contextlib.suppress(ConnectionRefusedError, TimeoutError):
                await asyncio.wait_for(create_conn("127.0.0.1", 1), deadline - loop.time())
            await asyncio.sleep(0.1)

    kafka_reconnect._gates.clear()
    await asyncio.gather(*(client() for _ in range(10)))
    assert 2 <= attempts <= 20, attempts


def test_install_wraps_aiokafkas_connections_once(monkeypatch: pytest.MonkeyPatch) -> None:
    original = aiokafka.client.create_conn
    monkeypatch.setattr(aiokafka.client, "create_conn", original)
    kafka_reconnect.install()
    kafka_reconnect.install()
    assert aiokafka.client.create_conn.wrapped is original  # type: ignore[attr-defined]
