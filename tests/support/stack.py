"""The real infrastructure of the integration tests: PostgreSQL, Kafka and the services.

The suite starts its own PostgreSQL server and Kafka broker on free loopback ports, in a
runtime folder of its own, and stops them at the end; nothing is faked. The three services
run as child processes (the same command the local stack uses), so a test can stop and
restart any part.
"""

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from deploy.local.kafka import Kafka
from deploy.local.postgres import Postgres
from deploy.local.processes import ServiceProcess, free_port
from services.notifications.webhooks.keyring import new_key_entry
from shared.auth import Role, issue_token
from shared.migrations import upgrade
from shared.topics import create_topics

REPO = Path(__file__).resolve().parents[2]
SERVICE_NAMES = ("plans", "meetings", "notifications")
JWT_SECRET = "integration-tests-secret-0123456789"
# The key that encrypts the webhook secrets of this run (NOTIFICATIONS_SECRET_KEYS).
SECRET_KEYS = new_key_entry()


@dataclass
class Infrastructure:
    runtime_dir: Path
    postgres: Postgres
    kafka: Kafka

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka.bootstrap_servers

    def database_url(self, service: str) -> str:
        return self.postgres.url(f"accord_{service}")

    def start(self) -> None:
        Postgres.install()
        Kafka.install()
        self.postgres.start()
        self.kafka.start()
        for name in SERVICE_NAMES:
            self.postgres.drop_database(f"accord_{name}")
            self.postgres.create_database(f"accord_{name}")
            upgrade(REPO / "services" / name / "migrations", self.database_url(name))

    async def create_topics(self) -> None:
        await create_topics(self.bootstrap_servers)

    def stop(self) -> None:
        self.kafka.stop()
        # The data directory may live outside the runtime folder (under /var/tmp): drop it.
        self.postgres.remove()


def new_infrastructure(runtime_dir: Path) -> Infrastructure:
    return Infrastructure(
        runtime_dir=runtime_dir,
        postgres=Postgres(runtime_dir, free_port()),
        kafka=Kafka(runtime_dir, free_port(), free_port()),
    )


# The retry schedule and the dispatcher's clocks in fractions of a second, so that a failing
# receiver's whole story plays out within a test.
NOTIFICATIONS_TEST_SETTINGS = {
    "NOTIFICATIONS_RETRY_SCHEDULE": "[0, 0.3, 0.3, 0.5, 0.5, 1, 1, 1]",
    "NOTIFICATIONS_DELIVERY_TIMEOUT": "5",
    "NOTIFICATIONS_POLL_INTERVAL": "0.5",
    "NOTIFICATIONS_ALLOW_HTTP_WEBHOOKS": "true",
    "NOTIFICATIONS_STREAM_KEEPALIVE": "1",
    "NOTIFICATIONS_DIGEST_INTERVAL": "1",
    "NOTIFICATIONS_SECRET_KEYS": SECRET_KEYS,
}


@dataclass
class Services:
    infra: Infrastructure
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def environment(self, service: str) -> dict[str, str]:
        prefix = service.upper()
        return {
            "ACCORD_ENVIRONMENT": "development",
            "ACCORD_KAFKA_BOOTSTRAP_SERVERS": self.infra.bootstrap_servers,
            "ACCORD_JWT_SECRET": JWT_SECRET,
            "ACCORD_ALLOW_LOOPBACK_WEBHOOKS": "true",
            "ACCORD_CONSUMER_STALL_SECONDS": "30",
            "ACCORD_INSTANCE_ID": service,
            f"{prefix}_DATABASE_URL": self.infra.database_url(service),
            f"{prefix}_HTTP_PORT": str(self.ports[service]),
            **(NOTIFICATIONS_TEST_SETTINGS if service == "notifications" else {}),
        }

    def start_all(self) -> None:
        for name in SERVICE_NAMES:
            self.ports.setdefault(name, free_port())
            process = ServiceProcess(
                name,
                self.infra.runtime_dir,
                [sys.executable, "-m", f"services.{name}", "serve"],
                {**os.environ, **self.environment(name)},
                health_url=f"{self.url(name)}/healthz",
            )
            self.processes[name] = process
            process.start(wait_healthy=60)

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.stop()


# Every bearer token the suite issued through ``token``: a late test checks that none of them
# ever reached a service's log.
ISSUED_TOKENS: set[str] = set()


def token(role: Role, delegation: str | None = None) -> str:
    issued = issue_token(
        JWT_SECRET,
        subject=delegation or f"test-{role.value}",
        role=role,
        delegation=delegation,
    )
    ISSUED_TOKENS.add(issued)
    return issued
