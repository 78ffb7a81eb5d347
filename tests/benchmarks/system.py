"""The system under test of a benchmark run: PostgreSQL, Kafka, the three services (as the
integration suite runs them: tests/support/stack.py) and the webhook sink, on free loopback
ports in a runtime folder of the run's own, stopped when the run ends however it ends."""

import asyncio
import os
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from deploy.local.kafka import Kafka
from shared.db import asyncpg_dsn
from shared.migrations import upgrade
from tests.benchmarks import cpu_use
from tests.benchmarks.bench_plans import secretariat_client
from tests.benchmarks.measure import services_rss
from tests.benchmarks.webhook_sink import Sink
from tests.support.stack import (
    RATE_LIMITS_OFF,
    REPO,
    SERVICE_NAMES,
    Infrastructure,
    Services,
    new_infrastructure,
)

COMMIT_TIMESTAMPS = {"track_commit_timestamp": "on"}


@dataclass
class System:
    runtime: Path
    infra: Infrastructure
    services: Services
    sink: Sink
    http: httpx.AsyncClient  # a secretariat's client, for the APIs

    @classmethod
    @asynccontextmanager
    async def running(cls) -> AsyncIterator["System"]:
        with tempfile.TemporaryDirectory(prefix="accord-bench-") as folder:
            runtime = Path(folder)
            # Commit times of rows (pg_xact_commit_timestamp): when a change became visible
            # in the rollups is when the projection's transaction committed (latency_stages).
            infra = new_infrastructure(runtime, postgres_settings=COMMIT_TIMESTAMPS)
            services = Services(infra, overrides=RATE_LIMITS_OFF)
            sink: Sink | None = None
            try:
                # These block (migrations run an event loop of their own): off this loop.
                await asyncio.to_thread(infra.start)
                await infra.create_topics()
                await asyncio.to_thread(services.start_all)
                sink = await asyncio.to_thread(Sink.start, runtime)
                async with secretariat_client() as http:
                    yield cls(runtime, infra, services, sink, http)
            finally:
                if sink is not None:
                    sink.stop()
                services.stop_all()
                infra.stop()

    def url(self, service: str) -> str:
        return self.services.url(service)

    def rss(self) -> dict[str, float]:
        return services_rss(self.services)

    def cpu_used(self) -> dict[str, float]:
        """CPU seconds used so far by each process of the system and by this load generator
        (cpu_use.py); PostgreSQL's by database."""
        roots = {name: process.pid() for name, process in self.services.processes.items()}
        kafka = self.infra.kafka
        roots["Kafka"] = kafka.pid() if isinstance(kafka, Kafka) else None
        roots["webhook receiver (sink)"] = self.sink.process.pid()
        return cpu_use.take(
            roots,
            self.infra.postgres.pid(),
            {f"accord_{name}": f"PostgreSQL: {name}" for name in SERVICE_NAMES},
            alone={"load generator (the benchmark)": os.getpid()},
        )

    async def database(self, name: str, migrations_of: str) -> str:
        """A fresh database beside the services', with one service's schema; its URL."""
        self.infra.postgres.drop_database(name)
        self.infra.postgres.create_database(name)
        url = self.infra.postgres.url(name)
        await asyncio.to_thread(upgrade, REPO / "services" / migrations_of / "migrations", url)
        return url

    async def connect(self, service: str) -> asyncpg.Connection:
        """A plain connection to a service's own database (for counting what it committed)."""
        return await asyncpg.connect(asyncpg_dsn(self.infra.database_url(service)))

    async def consumers(self) -> dict[str, dict[str, Any]]:
        """Each service's consumer as its /healthz reports it (lag, processed, dead-lettered)."""
        found = {}
        for name in SERVICE_NAMES:
            body = (await self.http.get(f"{self.url(name)}/healthz")).json()
            found[name] = body.get("consumer") or {}
        return found

    async def dead_letters(self) -> int:
        return sum(c.get("dead_lettered") or 0 for c in (await self.consumers()).values())

    async def wait_idle(self, timeout: float = 900) -> None:
        """Until every consumer has caught up (lag 0) twice in a row, half a second apart:
        the next measurement must not share the machine with the previous one's backlog."""
        deadline = time.monotonic() + timeout
        calm = 0
        while calm < 2:
            if time.monotonic() > deadline:
                raise TimeoutError(f"consumers still busy: {await self.consumers()}")
            consumers = await self.consumers()
            calm = calm + 1 if all(c.get("lag") == 0 for c in consumers.values()) else 0
            await asyncio.sleep(0.5)
