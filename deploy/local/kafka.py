"""Kafka in KRaft mode, run from its jars on Maven Central (resolved by Maven from
``deploy/kafka/pom.xml`` into ``KAFKA_LIBS``, once for every runtime directory): one node
(``Kafka``, broker and controller in one JVM), or a cluster of such nodes (``KafkaCluster``:
three by default, every topic on three of them, decision 37).

It authenticates every client with SASL/SCRAM and authorises with ACLs, like a production
broker: an ``admin`` super user (also the broker's identity towards its own controller, over
SASL/PLAIN, since SCRAM users live in the metadata the controller serves) and one user per
service (``shared/kafka_acls.py``). Their random passwords are made when the storage is
formatted (``--add-scram``) and kept in ``<runtime>/kafka/credentials.json``; the ACLs are
created with the topics, by ``python -m shared.topics create`` run as the admin.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import signal
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from deploy.local.processes import (
    REPO_ROOT,
    DetachedProcess,
    StackError,
    apt_install,
    failure,
    kept_secret,
    run,
    wait_for,
)
from shared.topics import min_in_sync_for, replication_for

if TYPE_CHECKING:
    from shared.kafka_access import KafkaAccess

KAFKA_POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
# Shared by every runtime directory: the jars are tens of MB and identical for all brokers.
KAFKA_LIBS = REPO_ROOT / ".runtime" / "kafka-libs"
KAFKA_STARTED_LINE = "Kafka Server started"
# The largest record batch the broker accepts (Kafka's default, set explicitly so that tests
# can produce a message just under it).
MESSAGE_MAX_BYTES = 1_048_588
ADMIN_USER = "admin"
SCRAM_MECHANISM = "SCRAM-SHA-512"
# Clients connect to this listener; the controller has its own.
CLIENT_LISTENER = "CLIENT"


def _kafka_libs_current(digest: str) -> bool:
    stamp = KAFKA_LIBS / ".pom-sha256"
    return stamp.is_file() and stamp.read_text() == digest


LOG4J2_PROPERTIES = """\
# Written by deploy/local/kafka.py. The broker's stdout is its log file, so one console
# appender is enough. Kafka is chatty at INFO: keep its own loggers at WARN except the one
# that says "Kafka Server started", which tells us the broker is ready.
status = warn
# Kafka logs from its own shutdown hook; log4j's hook would only warn that it comes too late.
shutdownHook = disable
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
"""


class KafkaClients:
    """How clients reach a broker or a cluster as one of its users: the bootstrap servers and
    the SCRAM credentials made for the users."""

    bootstrap_servers: str

    def credentials(self) -> dict[str, str]:
        raise NotImplementedError

    def client_env(self, user: str = ADMIN_USER) -> dict[str, str]:
        """The ``ACCORD_KAFKA_*`` settings of a process connecting as ``user``."""
        return {
            "ACCORD_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "ACCORD_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "ACCORD_KAFKA_SASL_MECHANISM": SCRAM_MECHANISM,
            "ACCORD_KAFKA_USERNAME": user,
            "ACCORD_KAFKA_PASSWORD": self.credentials()[user],
        }

    def access(self, user: str = ADMIN_USER) -> KafkaAccess:
        """How a client in this process connects as ``user`` (the admin by default)."""
        from shared.kafka_access import KafkaAccess, SaslMechanism, SecurityProtocol

        return KafkaAccess(
            bootstrap_servers=self.bootstrap_servers,
            security_protocol=SecurityProtocol.SASL_PLAINTEXT,
            sasl_mechanism=SaslMechanism(SCRAM_MECHANISM),
            username=user,
            password=self.credentials()[user],
        )


class Kafka(DetachedProcess, KafkaClients):
    """One Kafka node in KRaft mode (broker and controller in one JVM): alone, or node
    ``node_id`` of a cluster whose controllers are ``voters`` (node id -> controller port),
    with its files in ``home`` and the cluster's credentials and id in ``shared_dir``."""

    def __init__(
        self,
        runtime_dir: Path,
        port: int,
        controller_port: int,
        *,
        node_id: int = 1,
        voters: dict[int, int] | None = None,
        name: str = "kafka",
        home: Path | None = None,
        shared_dir: Path | None = None,
    ):
        self.runtime_dir = runtime_dir.resolve()
        super().__init__(name, self.runtime_dir)
        self.port = port
        self.controller_port = controller_port
        self.node_id = node_id
        self.voters = voters or {node_id: controller_port}
        self.bootstrap_servers = f"127.0.0.1:{port}"
        self._home = home.resolve() if home else self.runtime_dir / "kafka"
        self._shared = shared_dir.resolve() if shared_dir else self._home
        self._data_dir = self._home / "data"
        self._config = self._home / "server.properties"
        self._log4j_config = self._home / "log4j2.properties"
        self._credentials_path = self._shared / "credentials.json"

    @property
    def replication(self) -> int:
        return replication_for(len(self.voters))

    @staticmethod
    def install() -> Path:
        """Make sure java and the broker's jars are present; return the jars' directory."""
        digest = hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()
        libs_current = _kafka_libs_current(digest)
        needed = {"java": "openjdk-17-jre-headless", **({} if libs_current else {"mvn": "maven"})}
        missing = [package for command, package in needed.items() if shutil.which(command) is None]
        if missing:
            apt_install(*missing)
        if not libs_current:
            _copy_kafka_libs(digest)
        return KAFKA_LIBS

    def credentials(self) -> dict[str, str]:
        """Username -> password of the admin and of every service, made on first use."""
        from shared.kafka_acls import PRINCIPALS

        if not self._credentials_path.exists():
            if (self._data_dir / "meta.properties").exists():
                raise StackError(
                    f"the Kafka storage in {self._data_dir} was formatted without users (before"
                    " the broker authenticated its clients) and its credentials are gone: stop"
                    f" the stack and remove {self._home} (its topics go with it)"
                )
            users = [ADMIN_USER, *(service.name for service in PRINCIPALS)]
            self._shared.mkdir(parents=True, exist_ok=True)
            _write_private(
                self._credentials_path,
                json.dumps({user: secrets.token_urlsafe(32) for user in users}, indent=2),
            )
        credentials: dict[str, str] = json.loads(self._credentials_path.read_text())
        return credentials

    def _is_ours(self, args: list[str]) -> bool:
        return str(self._config) in args

    def start(self, timeout: float = 90) -> None:
        if self.is_running():
            return
        self._wait_started(self.spawn(), timeout)

    def spawn(self) -> int:
        """Start the node without waiting; the offset of its log where this run begins.
        (A node of a cluster starts only once a majority of its controllers runs.)"""
        libs = self.install()
        self._write_config()
        self._format_storage(libs)
        start_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        # Less heap per node in a cluster: three JVMs share the machine.
        heap = "-Xmx768m" if len(self.voters) == 1 else "-Xmx512m"
        self._spawn(
            [*self._java(libs), "-Xms256m", heap, "kafka.Kafka", str(self._config)],
            cwd=self._home,
        )
        return start_offset

    def _java(self, libs: Path) -> list[str]:
        return [
            "java",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self._log4j_config}",
            "-cp",
            f"{libs}/*",
        ]

    def _write_config(self) -> None:
        self._home.mkdir(parents=True, exist_ok=True)
        admin_password = self.credentials()[ADMIN_USER]
        client = CLIENT_LISTENER.lower()
        replication = str(self.replication)
        min_in_sync = str(min_in_sync_for(self.replication))
        settings = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": ",".join(
                f"{node}@127.0.0.1:{port}" for node, port in sorted(self.voters.items())
            ),
            "listeners": (
                f"{CLIENT_LISTENER}://127.0.0.1:{self.port}"
                f",CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": f"{CLIENT_LISTENER}://127.0.0.1:{self.port}",
            "inter.broker.listener.name": CLIENT_LISTENER,
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": (
                f"{CLIENT_LISTENER}:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"
            ),
            # Clients (and the broker talking to itself) authenticate with SCRAM.
            f"listener.name.{client}.sasl.enabled.mechanisms": SCRAM_MECHANISM,
            "sasl.mechanism.inter.broker.protocol": SCRAM_MECHANISM,
            f"listener.name.{client}.{SCRAM_MECHANISM.lower()}.sasl.jaas.config": _jaas(
                "org.apache.kafka.common.security.scram.ScramLoginModule", admin_password
            ),
            # The controller cannot check SCRAM (its users are in the metadata it serves):
            # the broker reaches it as the admin over PLAIN, with the password in this file.
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": _jaas(
                "org.apache.kafka.common.security.plain.PlainLoginModule",
                admin_password,
                f'user_{ADMIN_USER}="{admin_password}"',
            ),
            # Whatever no ACL allows is denied; only the admin is above the ACLs.
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "super.users": f"User:{ADMIN_USER}",
            "log.dirs": str(self._data_dir),
            # Internal topics as many replicas as the topics (one on a single node). One
            # partition for them, since creating the default 50 is slow on two cores.
            "offsets.topic.replication.factor": replication,
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": replication,
            "transaction.state.log.min.isr": min_in_sync,
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": replication,
            "share.coordinator.state.topic.min.isr": min_in_sync,
            # What a topic gets when its creator states nothing (shared.topics states both):
            # an acks=all write is acknowledged once min_in_sync copies hold it, and a copy
            # that fell behind never becomes leader (that would drop acknowledged events).
            "default.replication.factor": replication,
            "min.insync.replicas": min_in_sync,
            "unclean.leader.election.enable": "false",
            "group.initial.rebalance.delay.ms": "0",
            # After a crash, the restarted broker cannot register until the controller has
            # expired its previous registration: 9 s by default, made shorter for restarts
            # in fault tests. Broker and controller share the JVM, so a pause stops both.
            "broker.session.timeout.ms": "4000",
            "broker.heartbeat.interval.ms": "1000",
            # Topics are created explicitly, with their partition counts (shared.topics).
            "auto.create.topics.enable": "false",
            "message.max.bytes": str(MESSAGE_MAX_BYTES),
        }
        # It holds the admin's password: readable by its owner only.
        _write_private(self._config, "".join(f"{key}={value}\n" for key, value in settings.items()))
        self._log4j_config.write_text(LOG4J2_PROPERTIES)

    def cluster_id(self) -> str:
        """The id its storage is formatted with: random, made once, shared by the nodes."""
        return kept_secret(
            self._shared / "cluster-id",
            lambda: base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode(),
        )

    def _format_storage(self, libs: Path) -> None:
        """Format the KRaft storage once, with the cluster's id (random, made once and kept
        for every node of the cluster)."""
        if (self._data_dir / "meta.properties").exists():
            return
        shutil.rmtree(self._data_dir, ignore_errors=True)
        cluster_id = self.cluster_id()
        run(
            [
                *self._java(libs),
                "kafka.tools.StorageTool", "format",
                # One argument, so an id that starts with "-" is not read as an option.
                f"--cluster-id={cluster_id}",
                "-c", str(self._config),
                # The SCRAM users, in the storage's first metadata. (Their passwords show in
                # the process list for the second the format takes: a developer's machine.)
                *(
                    argument
                    for user, password in self.credentials().items()
                    for argument in (
                        "--add-scram", f"{SCRAM_MECHANISM}=[name={user},password={password}]"
                    )
                ),
            ],
            "formatting the Kafka storage",
            timeout=120,
        )  # fmt: skip

    def wait_started(self, start_offset: int, timeout: float = 90) -> None:
        self._wait_started(start_offset, timeout)

    def _wait_started(self, start_offset: int, timeout: float) -> None:
        def started() -> bool:
            with self.log_path.open("rb") as log:
                log.seek(start_offset)
                return KAFKA_STARTED_LINE.encode() in log.read()

        if not wait_for(lambda: self._exited() or started(), timeout, interval=0.25):
            self.stop()
            raise failure(f"Kafka did not start within {timeout:.0f} s", self.log_path)
        if self._exited():
            raise failure(f"Kafka exited while starting on port {self.port}", self.log_path)

    def stop(self, timeout: float = 30) -> None:
        """Controlled shutdown (SIGTERM), SIGKILL after ``timeout`` seconds."""
        super().stop(timeout)

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): connections stay open but nothing answers."""
        os.kill(self._running_pid(), signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self._running_pid(), signal.SIGCONT)

    def _running_pid(self) -> int:
        pid = self.pid()
        if pid is None:
            raise StackError("Kafka is not running")
        return pid


class KafkaCluster(KafkaClients):
    """The nodes of one KRaft cluster, each a broker and a controller (combined mode), node
    ``n`` on the ``n``-th (client port, controller port) of ``ports``; their files under
    ``<runtime>/kafka-cluster/node-<n>``, the users and the cluster id shared."""

    def __init__(self, runtime_dir: Path, ports: Sequence[tuple[int, int]]):
        home = runtime_dir.resolve() / "kafka-cluster"
        voters = {node: controller for node, (_port, controller) in enumerate(ports, start=1)}
        self.nodes = [
            Kafka(
                runtime_dir,
                port,
                controller,
                node_id=node,
                voters=voters,
                name=f"kafka-{node}",
                home=home / f"node-{node}",
                shared_dir=home,
            )
            for node, (port, controller) in enumerate(ports, start=1)
        ]
        self.bootstrap_servers = ",".join(node.bootstrap_servers for node in self.nodes)
        self.replication = replication_for(len(self.nodes))

    install = staticmethod(Kafka.install)

    def credentials(self) -> dict[str, str]:
        return self.nodes[0].credentials()

    def node(self, node_id: int) -> Kafka:
        return self.nodes[node_id - 1]

    def is_running(self) -> bool:
        return any(node.is_running() for node in self.nodes)

    def start(self, timeout: float = 120) -> None:
        """Start the nodes that are not running, all at once (a node waits for a majority of
        the controllers before it serves), and wait until each has started."""
        stopped = [node for node in self.nodes if not node.is_running()]
        if not stopped:
            return
        # Once, before the nodes look for them at the same time: the jars, the users'
        # passwords and the cluster's id.
        Kafka.install()
        self.credentials()
        self.nodes[0].cluster_id()
        # In parallel, formatting the storages too (a JVM run each, the first time).
        with ThreadPoolExecutor(max_workers=len(stopped)) as pool:
            offsets = list(pool.map(lambda node: node.spawn(), stopped))
        for node, offset in zip(stopped, offsets, strict=True):
            node.wait_started(offset, timeout)

    def stop(self, timeout: float = 30) -> None:
        """Every node at once: one after the other, the last ones would wait in their
        controlled shutdown for a quorum that is gone."""
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            list(pool.map(lambda node: node.stop(timeout), self.nodes))

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()


def _jaas(login_module: str, admin_password: str, *extra: str) -> str:
    # Passwords are URL-safe base64 (credentials()): nothing in them needs quoting.
    options = " ".join([f'username="{ADMIN_USER}"', f'password="{admin_password}"', *extra])
    return f"{login_module} required {options};"


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it holds passwords)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    os.chmod(path, 0o600)


def _copy_kafka_libs(digest: str) -> None:
    """Resolve the broker's jars with Maven into a fresh folder, then swap it in whole, so a
    concurrent or interrupted install never leaves a half-filled classpath behind."""
    staging = KAFKA_LIBS.with_name(f"{KAFKA_LIBS.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    print("resolving the Kafka broker's jars with Maven ...", file=sys.stderr)
    run(
        [
            "mvn", "-B", "-q", "-f", str(KAFKA_POM),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ],
        "mvn dependency:copy-dependencies",
    )  # fmt: skip
    (staging / ".pom-sha256").write_text(digest)
    shutil.rmtree(KAFKA_LIBS, ignore_errors=True)
    try:
        staging.rename(KAFKA_LIBS)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not _kafka_libs_current(digest):
            raise
