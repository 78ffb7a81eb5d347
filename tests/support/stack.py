"""The real infrastructure of the integration tests: PostgreSQL, Kafka and the services.

The suite starts its own PostgreSQL server and Kafka broker on free loopback ports, in a
runtime folder of its own, and stops them at the end; nothing is faked. The three services
run as child processes (the same command the local stack uses), so a test can stop and
restart any part.
"""

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from deploy.local.kafka import Kafka, KafkaCluster
from deploy.local.mailpit import Mailpit
from deploy.local.postgres import Postgres
from deploy.local.processes import ServiceProcess, free_port
from services.notifications.webhooks.keyring import new_key_entry
from shared.kafka_access import KafkaAccess
from shared.migrations import upgrade
from shared.signing_keys import SigningKey, add_key
from shared.tokens import Role, issue_token
from shared.topics import set_up

REPO = Path(__file__).resolve().parents[2]
SERVICE_NAMES = ("plans", "meetings", "notifications")
# The suite's issuer: a key made for this run, whose public half the services read from the
# JWKS document of the runtime folder (``Infrastructure.jwks_path``).
SIGNING_KEY = SigningKey.generate()
# The key that encrypts the webhook secrets of this run (NOTIFICATIONS_SECRET_KEYS).
SECRET_KEYS = new_key_entry()


@dataclass
class Infrastructure:
    runtime_dir: Path
    postgres: Postgres
    kafka: Kafka | KafkaCluster
    # The SMTP server notifications sends email to; tests read what arrived through its API.
    mailpit: Mailpit

    @property
    def kafka_admin(self) -> KafkaAccess:
        """The broker as its admin (a super user): tests write and read any topic with it."""
        return self.kafka.access()

    def kafka_as(self, service: str) -> KafkaAccess:
        """The broker as ``service``'s principal, bound by its ACLs."""
        return self.kafka.access(service)

    def database_url(self, service: str) -> str:
        return self.postgres.url(f"accord_{service}")

    @property
    def jwks_path(self) -> Path:
        return self.runtime_dir / "keys" / "jwks.json"

    def smtp_settings(self) -> dict[str, str]:
        """Notifications' settings to send email to this Mailpit."""
        return {
            "NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
            "NOTIFICATIONS_SMTP_PORT": str(self.mailpit.smtp_port),
            "NOTIFICATIONS_SMTP_STARTTLS": "false",
        }

    def start(self) -> None:
        add_key(self.jwks_path, SIGNING_KEY)
        Postgres.install()
        Kafka.install()
        self.postgres.start()
        self.kafka.start()
        self.mailpit.start()
        for name in SERVICE_NAMES:
            self.postgres.drop_database(f"accord_{name}")
            self.postgres.create_database(f"accord_{name}")
            upgrade(REPO / "services" / name / "migrations", self.database_url(name))

    async def create_topics(self) -> None:
        await set_up(self.kafka_admin, self.kafka.replication)

    def stop(self) -> None:
        self.mailpit.stop()
        self.kafka.stop()
        # The data directory may live outside the runtime folder (under /var/tmp): drop it.
        self.postgres.remove()


def new_infrastructure(
    runtime_dir: Path, *, brokers: int = 1, postgres_settings: Mapping[str, str] | None = None
) -> Infrastructure:
    """One broker, or a KRaft cluster of ``brokers`` nodes (combined mode); PostgreSQL with
    ``postgres_settings`` beyond its defaults."""
    kafka = (
        Kafka(runtime_dir, free_port(), free_port())
        if brokers == 1
        else KafkaCluster(runtime_dir, [(free_port(), free_port()) for _ in range(brokers)])
    )
    return Infrastructure(
        runtime_dir=runtime_dir,
        postgres=Postgres(runtime_dir, free_port(), postgres_settings),
        kafka=kafka,
        mailpit=Mailpit(runtime_dir, free_port(), free_port(), chaos=True),
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
# The benchmarks measure throughput against bare peers: no rate limit may take part.
RATE_LIMITS_OFF = {
    "ACCORD_RATE_LIMIT_ADDRESS_PER_SECOND": "0",
    "ACCORD_RATE_LIMIT_SUBJECT_PER_SECOND": "0",
}


@dataclass
class Services:
    infra: Infrastructure
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    # Settings of every service on top of the suite's (e.g. RATE_LIMITS_OFF).
    overrides: dict[str, str] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def environment(self, service: str) -> dict[str, str]:
        prefix = service.upper()
        return {
            "ACCORD_ENVIRONMENT": "development",
            **self.infra.kafka.client_env(service),
            "ACCORD_JWKS_URL": str(self.infra.jwks_path),
            # Keys added or removed during a test are seen at once (rotation tests).
            "ACCORD_JWKS_REFRESH_SECONDS": "1",
            "ACCORD_JWKS_REFETCH_SECONDS": "0",
            "ACCORD_ALLOW_LOOPBACK_WEBHOOKS": "true",
            "ACCORD_CONSUMER_STALL_SECONDS": "30",
            "ACCORD_INSTANCE_ID": service,
            f"{prefix}_DATABASE_URL": self.infra.database_url(service),
            f"{prefix}_HTTP_PORT": str(self.ports[service]),
            **(NOTIFICATIONS_TEST_SETTINGS if service == "notifications" else {}),
            # The briefing pages link frozen figures to plans' /figures/{id}: this run's plans.
            **(
                {"MEETINGS_PLANS_PUBLIC_URL": self.url("plans")}
                if service == "meetings" and "plans" in self.ports
                else {}
            ),
            **(self.infra.smtp_settings() if service == "notifications" else {}),
            **self.overrides,
        }

    def start_all(self) -> None:
        for name in SERVICE_NAMES:
            self.start(name)

    def start(self, name: str) -> None:
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


def token(role: Role, delegation: str | None = None, *, subject: str | None = None) -> str:
    """A token the services accept; ``subject``: a caller of its own (default: one per role
    or delegation)."""
    issued = issue_token(
        SIGNING_KEY,
        subject=subject or delegation or f"test-{role.value}",
        role=role,
        delegation=delegation,
    )
    ISSUED_TOKENS.add(issued)
    return issued


@contextmanager
def isolated_service(
    infra: Infrastructure, runtime_dir: Path, name: str, settings: dict[str, str]
) -> Iterator[str]:
    """One more ``name`` process with ``settings`` on top of the suite's, for a test that
    needs other settings (limits, production mode): a database of its own and no broker, so
    that it shares no outbox, consumer group or webhook work with the suite's services. Its
    base URL; stopped at the end."""
    database = f"accord_{name}_{runtime_dir.name.lower().replace('-', '_')}"[:63]
    infra.postgres.drop_database(database)
    infra.postgres.create_database(database)
    upgrade(REPO / "services" / name / "migrations", infra.postgres.url(database))
    alone = Services(
        Infrastructure(runtime_dir, infra.postgres, infra.kafka, infra.mailpit),
        overrides={
            "ACCORD_JWKS_URL": str(infra.jwks_path),
            f"{name.upper()}_DATABASE_URL": infra.postgres.url(database),
            # Nothing listens there: the service runs without Kafka (not ready, but serving).
            "ACCORD_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
            "ACCORD_INSTANCE_ID": f"{name}-{runtime_dir.name}",
            **settings,
        },
    )
    alone.start(name)
    try:
        yield alone.url(name)
    finally:
        alone.stop_all()
        infra.postgres.drop_database(database)
