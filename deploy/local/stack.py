"""The developer's stack: PostgreSQL, Kafka, the three services and the demo's webhook
receiver, under ``<repo>/.runtime/`` (``python -m deploy.local``, behind ``deploy/stack``).

Kafka is one node, or with ``up --brokers 3`` a cluster of three (decision 37), node ``n``
on the Kafka ports plus ``10 * (n - 1)`` (29092/29093, 29102/29103, 29112/29113); the
count is kept in ``<runtime>/kafka-brokers`` for the commands after ``up``.

Its ports can be changed with ``ACCORD_STACK_POSTGRES_PORT``, ``ACCORD_STACK_KAFKA_PORT``,
``ACCORD_STACK_KAFKA_CONTROLLER_PORT``, ``ACCORD_STACK_<SERVICE>_PORT``,
``ACCORD_STACK_RECEIVER_PORT`` (the demo's webhook receiver; ``up`` also loads the demo, see
``deploy/demo``), ``ACCORD_STACK_PROMETHEUS_PORT`` (Prometheus, scraping every service and
evaluating the alert rules of ``deploy/prometheus/``) and ``ACCORD_STACK_MAILPIT_PORT`` /
``ACCORD_STACK_MAILPIT_SMTP_PORT`` (Mailpit's web page and SMTP server, where notifications
sends its emails). The defaults lie below Linux's
ephemeral port range (32768-60999 unless ``/proc/sys/net/ipv4/ip_local_port_range`` says
otherwise), where no outgoing connection can take them while a server is down (see
``deploy.local.processes``).

Replicas (``up --replicas N``, remembered in ``<runtime>/replicas``): N processes per service,
each running all its roles; the first keeps the service's name and port, replica ``i`` is
``<service>-i`` on the port plus ``100 * (i - 1)`` (plans: 8001, 8101, ...). Client apps reach
them through one address, HAProxy on ``ACCORD_STACK_PROXY_PORT`` (8000; ``deploy.local.proxy``).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from deploy.local import probes, status
from deploy.local.kafka import ADMIN_USER, Kafka, KafkaCluster
from deploy.local.mailpit import Mailpit
from deploy.local.postgres import Postgres
from deploy.local.processes import (
    REPO_ROOT,
    ServiceProcess,
    StackError,
    ephemeral_port_range,
    is_ephemeral,
    kept_secret,
    run,
    wait_for,
)
from deploy.local.prometheus import Prometheus
from deploy.local.proxy import PROXY, Proxy
from deploy.local.proxy import install as install_proxy
from shared.signing_keys import new_key


@dataclass(frozen=True)
class ServiceLaunch:
    """How the local stack runs one of Accord's services: its commands, port and database.

    Not to be confused with ``shared.service.ServiceSpec``, which assembles a service's app.
    """

    name: str
    default_port: int
    # Arguments after the venv's python: migrate the service's database, then serve its API.
    migrate: tuple[str, ...]
    serve: tuple[str, ...]

    @property
    def env_prefix(self) -> str:
        return self.name.upper()

    @property
    def database(self) -> str:
        return f"accord_{self.name}"

    @property
    def port(self) -> int:
        return _port(f"ACCORD_STACK_{self.env_prefix}_PORT", self.default_port)

    def replica_port(self, replica: int) -> int:
        return self.port + REPLICA_PORT_STEP * (replica - 1)

    def replica_name(self, replica: int) -> str:
        return self.name if replica == 1 else f"{self.name}-{replica}"


def _launch(name: str, default_port: int) -> ServiceLaunch:
    module = f"services.{name}"
    return ServiceLaunch(
        name, default_port, migrate=("-m", module, "migrate"), serve=("-m", module, "serve")
    )


REPLICA_PORT_STEP = 100
# How long a stopping service answers /readyz 503 while still serving, so that the proxy's
# checks (every second, two failures) take it out of rotation before it stops accepting.
DRAIN_SECONDS = "3"
SERVICES = (_launch("plans", 8001), _launch("meetings", 8002), _launch("notifications", 8003))
CREATE_TOPICS = ("-m", "shared.topics", "create")
# Brokers ``up --brokers`` may run: one, or a cluster of three (each partition on all three).
BROKER_COUNTS = (1, 3)
# Node n of a cluster listens on the Kafka ports plus this times n - 1.
KAFKA_NODE_PORT_STEP = 10
KAFKA_NODES = tuple(f"kafka-{node}" for node in range(1, max(BROKER_COUNTS) + 1))
# The demo: its webhook receiver (a delegation's system) and the story loaded by ``up``.
RECEIVER = "receiver"
LOAD_DEMO = ("-m", "deploy.demo", "load")
# Prints a new key for the webhook secrets at rest (NOTIFICATIONS_SECRET_KEYS_FILE).
NEW_SECRET_KEY = ("-m", "services.notifications", "new-secret-key")
PROMETHEUS = "prometheus"
MAILPIT = "mailpit"
# Every part of the stack, in start order, by the names the commands take.
PARTS = (
    "postgres",
    "kafka",
    MAILPIT,
    *(launch.name for launch in SERVICES),
    PROXY,
    PROMETHEUS,
    RECEIVER,
)


def _port(variable: str, default: int) -> int:
    value = os.environ.get(variable, "")
    if not value:
        return default
    if not value.isdigit():
        raise StackError(f"{variable} must be a port number, not {value!r}")
    port = int(value)
    if is_ephemeral(port):
        _warn_ephemeral(variable, port)
    return port


@functools.cache
def _warn_ephemeral(variable: str, port: int) -> None:
    print(
        f"warning: {variable}={port} lies in the kernel's ephemeral port range"
        f" {ephemeral_port_range()}: an outgoing connection may take it while the server is"
        " down, and the server then cannot start again",
        file=sys.stderr,
    )


def _venv_python() -> str:
    venv_python = REPO_ROOT / ".venv" / "bin" / "python"
    return str(venv_python) if venv_python.exists() else sys.executable


class LocalStack:
    """PostgreSQL, Kafka (one broker or a cluster) and the three services, all under one
    runtime directory. ``brokers``: as many as the last ``up`` ran when not given."""

    def __init__(self, runtime_dir: Path = REPO_ROOT / ".runtime", brokers: int | None = None):
        self.runtime_dir = runtime_dir
        self.postgres = Postgres(runtime_dir, _port("ACCORD_STACK_POSTGRES_PORT", 25432))
        self.brokers = brokers or self._recorded_brokers()
        port = _port("ACCORD_STACK_KAFKA_PORT", 29092)
        controller_port = _port("ACCORD_STACK_KAFKA_CONTROLLER_PORT", 29093)
        self.kafka: Kafka | KafkaCluster = (
            Kafka(runtime_dir, port, controller_port)
            if self.brokers == 1
            else KafkaCluster(
                runtime_dir,
                [
                    (port + KAFKA_NODE_PORT_STEP * n, controller_port + KAFKA_NODE_PORT_STEP * n)
                    for n in range(self.brokers)
                ],
            )
        )
        self.prometheus = Prometheus(runtime_dir, _port("ACCORD_STACK_PROMETHEUS_PORT", 29090))
        self.mailpit = Mailpit(
            runtime_dir,
            _port("ACCORD_STACK_MAILPIT_SMTP_PORT", 21025),
            _port("ACCORD_STACK_MAILPIT_PORT", 28025),
        )
        self.proxy = Proxy(
            runtime_dir,
            _port("ACCORD_STACK_PROXY_PORT", 8000),
            _port("ACCORD_STACK_PROXY_STATS_PORT", 28404),
        )
        self.python = _venv_python()

    @property
    def _brokers_file(self) -> Path:
        return self.runtime_dir / "kafka-brokers"

    def _recorded_brokers(self) -> int:
        try:
            return int(self._brokers_file.read_text())
        except (OSError, ValueError):
            return 1

    def kafka_nodes(self) -> list[Kafka]:
        return self.kafka.nodes if isinstance(self.kafka, KafkaCluster) else [self.kafka]

    def _check_brokers(self) -> None:
        """Refuse to start N brokers while the stack runs with another count."""
        recorded = self._recorded_brokers()
        if recorded != self.brokers and LocalStack(self.runtime_dir, recorded).kafka.is_running():
            raise StackError(
                f"the stack runs {recorded} Kafka broker(s): `deploy/stack down` first to start"
                f" {self.brokers}"
            )
        self._brokers_file.parent.mkdir(parents=True, exist_ok=True)
        self._brokers_file.write_text(f"{self.brokers}\n")

    @property
    def replicas(self) -> int:
        """How many processes each service runs (``up --replicas``; 1 until told)."""
        try:
            return max(1, int((self.runtime_dir / "replicas").read_text()))
        except (OSError, ValueError):
            return 1

    def _remember_replicas(self, replicas: int) -> None:
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        (self.runtime_dir / "replicas").write_text(f"{replicas}\n")

    def proxy_upstreams(self) -> dict[str, list[tuple[str, str]]]:
        return {
            launch.name: [
                (launch.replica_name(i), f"127.0.0.1:{launch.replica_port(i)}")
                for i in range(1, self.replicas + 1)
            ]
            for launch in SERVICES
        }

    @property
    def demo_dir(self) -> Path:
        return self.runtime_dir / "demo"

    @property
    def receiver_port(self) -> int:
        return _port("ACCORD_STACK_RECEIVER_PORT", 8009)

    def receiver(self) -> ServiceProcess:
        """The demo's webhook receiver, verifying signatures with the secrets the demo keeps."""
        argv = [
            self.python, "-m", "deploy.demo.receiver",
            "--port", str(self.receiver_port),
            "--secrets", str(self.demo_dir / "secrets.json"),
            "--log", str(self.demo_dir / "webhooks.jsonl"),
        ]  # fmt: skip
        return ServiceProcess(
            RECEIVER,
            self.runtime_dir,
            argv,
            {},
            health_url=f"http://127.0.0.1:{self.receiver_port}/healthz",
        )

    def service(
        self, launch: ServiceLaunch, env: dict[str, str] | None = None, replica: int = 1
    ) -> ServiceProcess:
        return ServiceProcess(
            launch.replica_name(replica),
            self.runtime_dir,
            [self.python, *launch.serve],
            env or {},
            health_url=f"http://127.0.0.1:{launch.replica_port(replica)}/healthz",
        )

    def scrape_targets(self) -> dict[str, list[str]]:
        """What Prometheus scrapes: one job per service, named after it, every replica."""
        return {
            launch.name: [
                f"127.0.0.1:{launch.replica_port(i)}" for i in range(1, self.replicas + 1)
            ]
            for launch in SERVICES
        }

    @property
    def jwks_path(self) -> Path:
        return self.runtime_dir / "keys" / "jwks.json"

    def _secret_keys_file(self) -> Path:
        """The key that encrypts webhook secrets, generated on the first ``up`` and kept,
        given as a file the way an operator mounts one."""
        path = self.runtime_dir / "notifications_secret_keys"
        # The service's own command makes it, so that the key's format has one owner.
        kept_secret(
            path, lambda: run([self.python, *NEW_SECRET_KEY], "making a key", cwd=REPO_ROOT)
        )
        return path

    def signing_key_path(self) -> Path:
        """The token signing key, made on the first ``up`` and kept (so tokens survive
        restarts), its public half in ``jwks_path``, which is all the services read."""
        path = self.runtime_dir / "keys" / "signing.pem"
        if not path.exists():
            new_key(path, self.jwks_path)
        return path

    def common_env(self, kafka_user: str = ADMIN_USER) -> dict[str, str]:
        """Settings of every Accord process; on Kafka it is ``kafka_user`` (the admin for
        the operator's commands, each service its own user)."""
        self.signing_key_path()
        return {
            "ACCORD_ENVIRONMENT": "development",
            **self.kafka.client_env(kafka_user),
            "ACCORD_JWKS_URL": str(self.jwks_path),
            "ACCORD_ALLOW_LOOPBACK_WEBHOOKS": "true",
        }

    def issuer_env(self) -> dict[str, str]:
        """What the demo (an issuer of tokens, unlike the services) runs with."""
        return {**self.common_env(), "ACCORD_JWT_PRIVATE_KEY_FILE": str(self.signing_key_path())}

    def service_env(self, launch: ServiceLaunch, replica: int = 1) -> dict[str, str]:
        # The demo receiver is plain http on loopback, which only a local stack allows.
        notifications = (
            {
                "NOTIFICATIONS_ALLOW_HTTP_WEBHOOKS": "true",
                "NOTIFICATIONS_SECRET_KEYS_FILE": str(self._secret_keys_file()),
                # Email goes to the stack's Mailpit: plain SMTP on loopback, no login.
                "NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
                "NOTIFICATIONS_SMTP_PORT": str(self.mailpit.smtp_port),
                "NOTIFICATIONS_SMTP_STARTTLS": "false",
            }
            if launch.name == "notifications"
            else {}
        )
        return {
            **self.common_env(kafka_user=launch.name),
            f"{launch.env_prefix}_DATABASE_URL": self.postgres.url(launch.database),
            f"{launch.env_prefix}_HTTP_PORT": str(launch.replica_port(replica)),
            # A stable name per replica, the owner of its webhook leases (shared/config.py).
            "ACCORD_INSTANCE_ID": launch.replica_name(replica),
            "ACCORD_SHUTDOWN_DRAIN_SECONDS": DRAIN_SECONDS,
            # HAProxy reaches the replicas from loopback and says who the client is.
            "ACCORD_TRUSTED_PROXIES": "127.0.0.1",
            **notifications,
        }

    def _run_python(self, args: Sequence[str], env: dict[str, str], what: str) -> None:
        output = run(
            [self.python, *args], what, env={**os.environ, **env}, cwd=REPO_ROOT, timeout=300
        )
        if output.strip():
            print(output.rstrip())

    def up(self, demo: bool = True, replicas: int | None = None) -> None:
        Postgres.install()
        install_proxy()
        before = self.replicas
        if replicas is not None:
            self._remember_replicas(replicas)
        self.postgres.start()
        for launch in SERVICES:
            self.postgres.create_database(launch.database)
        print(f"postgres       running on 127.0.0.1:{self.postgres.port}")
        self._check_brokers()
        started = time.monotonic()
        self.kafka.start()
        print(
            f"kafka          running on {self.kafka.bootstrap_servers}"
            f" ({self.brokers} broker(s), {time.monotonic() - started:.1f} s)"
        )
        self._run_python(
            (*CREATE_TOPICS, "--replication", str(self.kafka.replication)),
            self.common_env(),
            "creating the Kafka topics",
        )
        self.mailpit.start()
        print(
            f"{MAILPIT:<14} running on {self.mailpit.url} (the emails sent;"
            f" SMTP on 127.0.0.1:{self.mailpit.smtp_port})"
        )
        for launch in SERVICES:
            self._up_service(launch)
            for replica in range(self.replicas + 1, before + 1):  # fewer replicas than before
                self.service(launch, replica=replica).stop()
        self.proxy.configure(self.proxy_upstreams())
        if before != self.replicas:
            self.proxy.stop()
            self.prometheus.stop()
        self.proxy.start()
        routes = "/plans/..., /meetings/..., /notifications/..."
        print(f"{PROXY:<14} running on {self.proxy.url} ({routes})")
        if not self.prometheus.is_running():
            self.prometheus.start(self.scrape_targets())
        url = self.prometheus.url
        print(f"{PROMETHEUS:<14} running on {url} (targets: {url}/targets, alerts: {url}/alerts)")
        if demo:
            self.receiver().start()
            print(f"{RECEIVER:<14} running on http://127.0.0.1:{self.receiver_port}")
            self.load_demo()
        print("\nAPIs for client apps (through the proxy):")
        for launch in SERVICES:
            print(
                f"  {launch.name:<14} {self.proxy.url}/{launch.name}  (docs: http://127.0.0.1:{launch.port}/docs)"
            )
        print(
            "\nDemo: .venv/bin/python -m deploy.demo --help    Logs: deploy/stack logs [name] [-f]"
            "\nStop: deploy/stack down"
        )

    def load_demo(self) -> None:
        """Play the demo story if it is not there yet, and print its summary. Its output goes
        straight to the terminal, so that progress shows while it runs."""
        print()
        argv = [self.python, *LOAD_DEMO]
        env = {**os.environ, **self.issuer_env()}
        try:
            result = subprocess.run(argv, stdin=subprocess.DEVNULL, env=env, cwd=REPO_ROOT)
        except OSError as exc:
            raise StackError(f"loading the demo: {exc}") from exc
        if result.returncode != 0:
            raise StackError(f"loading the demo failed (exit {result.returncode}), see above")

    def _up_service(self, launch: ServiceLaunch) -> None:
        migrated = False
        for replica in range(1, self.replicas + 1):
            env = self.service_env(launch, replica)
            process = self.service(launch, env, replica)
            if not process.is_running():
                if not migrated:
                    self._run_python(launch.migrate, env, f"migrating {launch.name}")
                    migrated = True
                process.start()
            port = launch.replica_port(replica)
            print(f"{launch.replica_name(replica):<14} running on http://127.0.0.1:{port}")

    def down(self) -> None:
        self.receiver().stop()
        self.prometheus.stop()
        self.proxy.stop()
        for launch in reversed(SERVICES):
            for replica in range(self.replicas, 0, -1):
                self.service(launch, replica=replica).stop()
        self.mailpit.stop()
        self.kafka.stop()
        self.postgres.stop()
        print("stopped: demo receiver, Prometheus, proxy, services, Mailpit, Kafka, PostgreSQL")

    def components(self) -> list[tuple[str, int | None, str, Path]]:
        """(name, pid or None, address, log) of every component, in start order."""
        rows = [
            (
                "postgres",
                self.postgres.pid(),
                f"127.0.0.1:{self.postgres.port}",
                self.postgres.log_path,
            ),
        ]
        rows += [
            (node.name, node.pid(), node.bootstrap_servers, node.log_path)
            for node in self.kafka_nodes()
        ]
        rows.append((MAILPIT, self.mailpit.pid(), self.mailpit.url, self.mailpit.log_path))
        for launch in SERVICES:
            for replica in range(1, self.replicas + 1):
                process = self.service(launch, replica=replica)
                address = f"127.0.0.1:{launch.replica_port(replica)}"
                rows.append((process.name, process.pid(), address, process.log_path))
        rows.append((PROXY, self.proxy.pid(), self.proxy.url, self.proxy.log_path))
        prometheus = self.prometheus
        rows.append((PROMETHEUS, prometheus.pid(), prometheus.url, prometheus.log_path))
        receiver = self.receiver()
        rows.append(
            (RECEIVER, receiver.pid(), f"127.0.0.1:{self.receiver_port}", receiver.log_path)
        )
        return rows

    def status(self) -> None:
        print("\n".join(status.report(self)))

    def restart(self, name: str) -> None:
        """Stop one part and start it again, with no installs, migrations or topic creation:
        those were done by ``up`` and the restarted part finds them in place."""
        started = time.monotonic()
        if name == "postgres":
            self.postgres.stop()
            self.postgres.start()
        elif name == "kafka" and isinstance(self.kafka, KafkaCluster):
            # One node at a time: the others keep serving every partition meanwhile.
            for node in self.kafka.nodes:
                node.stop()
                node.start()
        elif name == "kafka" or name in KAFKA_NODES:
            node = self._kafka_node(name)
            node.stop()
            node.start()
        elif name == MAILPIT:
            self.mailpit.stop()
            self.mailpit.start()
        elif name == PROMETHEUS:
            self.prometheus.stop()
            self.prometheus.start(self.scrape_targets())
        elif name == RECEIVER:
            receiver = self.receiver()
            receiver.stop()
            receiver.start()
        elif name == PROXY:
            self.proxy.stop()
            self.proxy.configure(self.proxy_upstreams())
            self.proxy.start()
        else:
            # A service: every replica, one after the other (a rolling restart), or one.
            replicas = [
                (launch, replica)
                for launch in SERVICES
                for replica in range(1, self.replicas + 1)
                if name in (launch.name, launch.replica_name(replica))
            ]
            if not replicas:
                raise StackError(f"no part named {name!r}: one of {', '.join(self.part_names())}")
            for launch, replica in replicas:
                started = time.monotonic()
                process = self.service(launch, self.service_env(launch, replica), replica)
                process.stop(timeout=30)  # SIGTERM: it drains, then stops within its grace
                process.start()
                self._wait_ready(launch, replica, started)
            return
        print(f"{name:<14} restarted in {time.monotonic() - started:.1f} s")

    def _kafka_node(self, name: str) -> Kafka:
        nodes = {node.name: node for node in self.kafka_nodes()}
        if name not in nodes:
            raise StackError(f"no Kafka node named {name!r}: {', '.join(nodes)}")
        return nodes[name]

    def part_names(self) -> list[str]:
        """What ``restart`` and ``logs`` take: the parts, each Kafka node of a cluster and each
        replica by its name."""
        nodes = [node.name for node in self.kafka_nodes()] if self.brokers > 1 else []
        replicas = [
            launch.replica_name(i) for launch in SERVICES for i in range(2, self.replicas + 1)
        ]
        return [*PARTS, *nodes, *replicas]

    def _wait_ready(
        self, launch: ServiceLaunch, replica: int, started: float, timeout: float = 60
    ) -> None:
        """Wait (bounded) until a restarted service is ready: it answers as soon as it runs,
        but its consumer needs a few seconds to rejoin its group."""
        url = f"http://127.0.0.1:{launch.replica_port(replica)}"
        if wait_for(lambda: probes.service_trouble(url) is None, timeout, interval=0.5):
            state = "ready"
        else:
            state = probes.service_trouble(url) or "ready"
        name = launch.replica_name(replica)
        print(f"{name:<14} restarted, {state} after {time.monotonic() - started:.1f} s")

    def logs(self, name: str | None, lines: int, follow: bool) -> None:
        paths = [
            str(log)
            for component, _pid, _address, log in self.components()
            if name in (None, component, component.partition("-")[0]) and log.exists()
        ]
        if not paths:
            print(f"no log yet for {name or 'any component'}")
            return
        # tail(1) already prints several files with headers and follows them (-F) well.
        os.execvp("tail", ["tail", "-n", str(lines), *(["-F"] if follow else []), *paths])
