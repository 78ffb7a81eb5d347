"""Run Accord's local stack as real processes, without Docker.

PostgreSQL comes from Debian's packages, the Kafka broker (KRaft, one combined
broker+controller) from its jars on Maven Central, and the three services run as child
processes of the venv's Python. Every component keeps its state, pid file and log under one
runtime directory, so a test can run a stack of its own next to the developer's.

The module is stdlib-only: tests import ``Postgres``, ``Kafka`` and ``ServiceProcess`` from
it, and ``python -m deploy.localstack up|down|status|logs`` (behind ``deploy/stack``)
manages the developer's stack under ``<repo>/.runtime/``. Its ports can be changed with
``ACCORD_STACK_POSTGRES_PORT``, ``ACCORD_STACK_KAFKA_PORT``,
``ACCORD_STACK_KAFKA_CONTROLLER_PORT``, ``ACCORD_STACK_<SERVICE>_PORT`` and
``ACCORD_STACK_RECEIVER_PORT`` (the demo's webhook receiver; ``up`` also loads the demo, see
``deploy/demo``).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import hashlib
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
KAFKA_POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
# Shared by every runtime directory: the jars are tens of MB and identical for all brokers.
KAFKA_LIBS = REPO_ROOT / ".runtime" / "kafka-libs"
KAFKA_STARTED_LINE = "Kafka Server started"
LOG_TAIL_LINES = 40
# Starts the lines we write to a log before each run, so that a failure shows that run only.
RUN_HEADER = "===== "
JAVA_STACK_FRAME = re.compile(r"\s+(at |\.\.\. \d+ more)")
# A Unix socket path must fit in sun_path (108 bytes, NUL included).
MAX_SOCKET_PATH = 100


class StackError(RuntimeError):
    """A component could not be installed, started or stopped; the message says why."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- processes -----------------------------------------------------------------------------


def _cmdline(pid: int) -> list[str]:
    """The arguments of a live process; empty once it is gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [arg.decode(errors="replace") for arg in raw.rstrip(b"\0").split(b"\0")] if raw else []


def _reap(pid: int) -> None:
    """Collect the exit status of a child of ours so it does not linger as a zombie."""
    # Not our child (ChildProcessError): whoever adopted it reaps it.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _live_pid(pid_file: Path, is_ours: Callable[[list[str]], bool]) -> int | None:
    """The pid recorded in ``pid_file`` if that process is alive and is the one we started.

    Pids are recycled (quickly so in a container), so a live pid alone proves nothing: its
    command line must also be ours.
    """
    pid = _read_pid(pid_file)
    if pid is None:
        return None
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive but another user's; the command line decides
    args = _cmdline(pid)
    return pid if args and is_ours(args) else None


def _group_members(pgid: int) -> list[int]:
    """The live (non-zombie) processes of a process group."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses; the fields after it are fixed.
        state, _ppid, pgrp = text[text.rindex(")") + 2 :].split()[:3]
        pid = int(stat.parent.name)
        if int(pgrp) == pgid and (state != "Z" or _threads_left(pid)):
            members.append(pid)
    return members


def _threads_left(pid: int) -> bool:
    """Whether a zombie's other threads still run: a multi-threaded process (the JVM) shows
    its main thread as a zombie while the rest of it is still exiting."""
    try:
        return len(os.listdir(f"/proc/{pid}/task")) > 1
    except OSError:
        return False


def _wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _group_gone(pgid: int) -> bool:
    _reap(pgid)
    return not _group_members(pgid)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(pgid, sig)


def _kill_group(pgid: int, what: str) -> None:
    """SIGKILL a whole process group and wait until none of it is left."""
    _signal_group(pgid, signal.SIGKILL)
    if not _wait_for(lambda: _group_gone(pgid), 10):
        raise StackError(f"{what}: processes {_group_members(pgid)} survived SIGKILL")


def _stop_group(pgid: int, timeout: float, what: str) -> None:
    """SIGTERM a process group, then SIGKILL whatever is left after ``timeout`` seconds."""
    _signal_group(pgid, signal.SIGTERM)
    # A paused (SIGSTOPped) process only acts on SIGTERM once it runs again.
    _signal_group(pgid, signal.SIGCONT)
    if not _wait_for(lambda: _group_gone(pgid), timeout):
        _kill_group(pgid, what)


def _log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The end of what the latest run wrote to a log, without Java stack frames (the
    exception messages and their "Caused by" lines are what explains a failure)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    latest_run = text[max(text.rfind(RUN_HEADER), 0) :]
    kept = [line for line in latest_run.splitlines() if not JAVA_STACK_FRAME.match(line)]
    return "\n".join(kept[-lines:])


def _failure(message: str, log_path: Path) -> StackError:
    return StackError(f"{message}\n--- last lines of {log_path} ---\n{_log_tail(log_path)}")


def _run(
    argv: Sequence[str],
    what: str,
    timeout: float = 600,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    """Run a command to completion and return its output; fail with that output."""
    try:
        result = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
            cwd=cwd,
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"{what}: no answer within {timeout:.0f} s") from exc
    except OSError as exc:
        raise StackError(f"{what}: {exc}") from exc
    if result.returncode != 0:
        raise StackError(f"{what} failed (exit {result.returncode}):\n{result.stdout.strip()}")
    output: str = result.stdout
    return output


def _apt_install(*packages: str) -> None:
    if os.geteuid() != 0:
        raise StackError(f"missing {' '.join(packages)}: install them (apt-get) or run as root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"installing {' '.join(packages)} with apt-get ...", file=sys.stderr)
    _run(["apt-get", "update"], "apt-get update", env=env)
    _run(["apt-get", "install", "-y", *packages], f"apt-get install {packages}", env=env)


def _open_log(path: Path, header: str) -> int:
    """Open a log for appending (as a file descriptor a child inherits), marking a new run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    os.write(fd, f"\n{RUN_HEADER}{stamp} {header} =====\n".encode())
    return fd


class _DetachedProcess:
    """A process we start in a session of its own, so that it outlives us (the CLI exits
    right after ``up``) and its whole process group can be signalled; tracked by a pid file.
    """

    def __init__(self, name: str, runtime_dir: Path):
        self.name = name
        self.log_path = runtime_dir / "logs" / f"{name}.log"
        self._pid_file = runtime_dir / "run" / f"{name}.pid"
        # Set while this object started the process: then we know its fate first-hand.
        self._process: subprocess.Popen[bytes] | None = None

    def _is_ours(self, args: list[str]) -> bool:
        """Whether a live process's command line is the one we start."""
        raise NotImplementedError

    def pid(self) -> int | None:
        # Our own child is ours without looking at /proc: just after exec its command line
        # reads empty for a moment.
        if self._process is not None and self._process.poll() is None:
            return self._process.pid
        return _live_pid(self._pid_file, self._is_ours)

    def is_running(self) -> bool:
        return self.pid() is not None

    def _spawn(self, argv: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        """Start ``argv`` with stdout and stderr appended to the log, and record its pid."""
        log_fd = _open_log(self.log_path, "starting " + shlex.join(argv))
        try:
            self._process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=cwd,
                env=env,
            )
        except OSError as exc:
            raise StackError(f"{self.name}: cannot run {argv[0]}: {exc}") from exc
        finally:
            os.close(log_fd)
        self._pid_file.parent.mkdir(parents=True, exist_ok=True)
        self._pid_file.write_text(f"{self._process.pid}\n")

    def _exited(self) -> bool:
        """Whether the process we just spawned has exited already."""
        return self._process is None or self._process.poll() is not None

    def stop(self, timeout: float = 15) -> None:
        pid = self.pid()
        if pid is not None:
            _stop_group(pid, timeout, self.name)
        self._pid_file.unlink(missing_ok=True)
        self._forget_process()

    def kill(self) -> None:
        """SIGKILL the process group; the pid file stays behind, as after a real crash."""
        pid = self.pid()
        if pid is not None:
            _kill_group(pid, self.name)
        self._forget_process()

    def _forget_process(self) -> None:
        # Collect the exit status (the process is gone or going), so that the Popen object
        # does not warn that its process is "still running" when it is garbage collected.
        if self._process is not None:
            self._process.wait(timeout=10)
            self._process = None


# --- PostgreSQL ----------------------------------------------------------------------------


def _postgres_bin_dir() -> Path:
    """The bin directory of the newest PostgreSQL installed from Debian's packages."""
    candidates = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")]
    if not candidates:
        raise StackError("PostgreSQL is not installed: call Postgres.install() (apt)")
    return max(candidates, key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0)


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _as_postgres(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: root runs it as the ``postgres`` system user."""
    if not _running_as_root():
        return argv
    # runuser lives in /usr/sbin, which a PATH set for a normal user may lack.
    return [shutil.which("runuser") or "/usr/sbin/runuser", "-u", "postgres", "--", *argv]


class Postgres:
    """A PostgreSQL server of our own: own data directory, port and socket directory."""

    def __init__(self, runtime_dir: Path, port: int):
        self.runtime_dir = runtime_dir.resolve()
        self.port = port
        # Written through a file descriptor pg_ctl inherits, so the postgres user needs no
        # access to the runtime directory for it.
        self.log_path = self.runtime_dir / "logs" / "postgres.log"

    @staticmethod
    def install() -> None:
        if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
            _apt_install("postgresql")

    @functools.cached_property
    def _base_dir(self) -> Path:
        """Where the data and socket directories live.

        Under the runtime directory when the postgres user can reach it; a checkout under
        e.g. /root cannot be, so the data then goes to /var/tmp, keyed by the runtime path.
        """
        preferred = self.runtime_dir / "postgres"
        socket_path = preferred / "run" / f".s.PGSQL.{self.port}.lock"
        if len(str(socket_path)) <= MAX_SOCKET_PATH and self._postgres_can_reach(self.runtime_dir):
            return preferred
        digest = hashlib.sha256(str(self.runtime_dir).encode()).hexdigest()[:12]
        return Path("/var/tmp") / f"accord-{digest}"

    @staticmethod
    def _postgres_can_reach(directory: Path) -> bool:
        if not _running_as_root():
            return True
        directory.mkdir(parents=True, exist_ok=True)
        check = _as_postgres(["test", "-x", str(directory)])
        return subprocess.run(check, stdin=subprocess.DEVNULL, check=False).returncode == 0

    @property
    def data_dir(self) -> Path:
        return self._base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self._base_dir / "run"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def pid(self) -> int | None:
        data_dir = str(self.data_dir)
        return _live_pid(self.data_dir / "postmaster.pid", lambda args: data_dir in args)

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(self) -> None:
        if self.is_running():
            return
        self._init_data_dir()
        self._remove_stale_lock_files()
        bin_dir = _postgres_bin_dir()
        options = shlex.join(
            ["-p", str(self.port), "-k", str(self.socket_dir), "-c", "listen_addresses=127.0.0.1"]
        )
        pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-o", options]
        # Without -l the server writes to pg_ctl's stdout, i.e. our log file.
        log_fd = _open_log(self.log_path, f"starting PostgreSQL on 127.0.0.1:{self.port}")
        try:
            result = subprocess.run(
                _as_postgres([*pg_ctl, "-w", "-t", "60", "start"]),
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=subprocess.STDOUT,
                cwd=self._base_dir,
                check=False,
            )
        finally:
            os.close(log_fd)
        if result.returncode != 0 or not self.is_running():
            raise _failure(f"PostgreSQL did not start on port {self.port}", self.log_path)

    def _init_data_dir(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if _running_as_root():
            shutil.chown(self._base_dir, "postgres", "postgres")
            shutil.chown(self.socket_dir, "postgres", "postgres")
        # An interrupted initdb leaves a directory initdb refuses to reuse.
        shutil.rmtree(self.data_dir, ignore_errors=True)
        initdb = [
            str(_postgres_bin_dir() / "initdb"),
            "-D", str(self.data_dir),
            "-A", "trust",
            "-U", "postgres",
            "-E", "UTF8",
            "--locale=C.UTF-8",
        ]  # fmt: skip
        _run(_as_postgres(initdb), f"initdb {self.data_dir}", cwd=self._base_dir)

    def _remove_stale_lock_files(self) -> None:
        """Remove lock files of a server that is gone (killed, or the machine restarted).

        PostgreSQL ignores a lock naming a dead pid, but refuses one whose pid was recycled
        by an unrelated process; we know it is stale because our own check says so.
        """
        for lock in (
            self.data_dir / "postmaster.pid",
            self.socket_dir / f".s.PGSQL.{self.port}.lock",
        ):
            lock.unlink(missing_ok=True)

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        pg_ctl = str(_postgres_bin_dir() / "pg_ctl")
        subprocess.run(
            _as_postgres(
                [pg_ctl, "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30", "stop"]
            ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self._base_dir,
            check=False,
        )
        # The postmaster leads its own process group (pg_ctl calls setsid): wait for the
        # backends too, and force what a failed fast shutdown left behind.
        if not _wait_for(lambda: _group_gone(pid), 30):
            _kill_group(pid, "PostgreSQL")

    def kill(self) -> None:
        """Crash the server: SIGKILL the postmaster and its backends at once.

        Killing only the postmaster would leave backends attached to its shared memory for a
        while, and PostgreSQL refuses to start again until they are gone.
        """
        pid = self.pid()
        if pid is not None:
            _kill_group(pid, "PostgreSQL")

    def remove(self) -> None:
        """Stop the server and delete its data, e.g. at the end of a test run: a runtime
        directory the postgres user cannot reach (pytest's tmp_path is one) keeps its data
        under /var/tmp, which would otherwise pile up."""
        self.stop()
        shutil.rmtree(self._base_dir, ignore_errors=True)

    def _psql(self, sql: str) -> str:
        psql = [
            str(_postgres_bin_dir() / "psql"),
            "-X", "-q", "-t", "-A",
            "-v", "ON_ERROR_STOP=1",
            "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres",
            "-c", sql,
        ]  # fmt: skip
        env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
        return _run(psql, f"psql {sql!r}", timeout=60, env=env).strip()

    def create_database(self, name: str) -> None:
        _check_identifier(name)
        if self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'") != "1":
            self._psql(f'CREATE DATABASE "{name}"')

    def drop_database(self, name: str) -> None:
        _check_identifier(name)
        self._psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _check_identifier(name: str) -> None:
    """Database names go into SQL text: allow plain identifiers only."""
    if not (name.isidentifier() and name.isascii()):
        raise ValueError(f"not a plain database name: {name!r}")


# --- Kafka ---------------------------------------------------------------------------------


def _kafka_libs_current(digest: str) -> bool:
    stamp = KAFKA_LIBS / ".pom-sha256"
    return stamp.is_file() and stamp.read_text() == digest


LOG4J2_PROPERTIES = """\
# Written by deploy/localstack.py. The broker's stdout is its log file, so one console
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


class Kafka(_DetachedProcess):
    """A single-node Kafka broker in KRaft mode (broker and controller in one JVM)."""

    def __init__(self, runtime_dir: Path, port: int, controller_port: int):
        self.runtime_dir = runtime_dir.resolve()
        super().__init__("kafka", self.runtime_dir)
        self.port = port
        self.controller_port = controller_port
        self.bootstrap_servers = f"127.0.0.1:{port}"
        self._home = self.runtime_dir / "kafka"
        self._data_dir = self._home / "data"
        self._config = self._home / "server.properties"
        self._log4j_config = self._home / "log4j2.properties"

    @staticmethod
    def install() -> Path:
        """Make sure java and the broker's jars are present; return the jars' directory."""
        digest = hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()
        libs_current = _kafka_libs_current(digest)
        needed = {"java": "openjdk-17-jre-headless", **({} if libs_current else {"mvn": "maven"})}
        missing = [package for command, package in needed.items() if shutil.which(command) is None]
        if missing:
            _apt_install(*missing)
        if not libs_current:
            _copy_kafka_libs(digest)
        return KAFKA_LIBS

    def _is_ours(self, args: list[str]) -> bool:
        return str(self._config) in args

    def start(self, timeout: float = 90) -> None:
        if self.is_running():
            return
        libs = self.install()
        self._write_config()
        self._format_storage(libs)
        start_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._spawn(
            [*self._java(libs), "-Xms256m", "-Xmx768m", "kafka.Kafka", str(self._config)],
            cwd=self._home,
        )
        self._wait_started(start_offset, timeout)

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
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self._data_dir),
            # One node: every internal topic has a single replica. One partition for the
            # internal topics, since creating the default 50 is slow on two cores.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # After a crash, the restarted broker cannot register until the controller has
            # expired its previous registration: 9 s by default, made shorter for restarts
            # in fault tests. Broker and controller share the JVM, so a pause stops both.
            "broker.session.timeout.ms": "4000",
            "broker.heartbeat.interval.ms": "1000",
            # Topics are created explicitly, with their partition counts (shared.topics).
            "auto.create.topics.enable": "false",
        }
        self._config.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        self._log4j_config.write_text(LOG4J2_PROPERTIES)

    def _format_storage(self, libs: Path) -> None:
        """Format the KRaft storage once, with a new random cluster id."""
        if (self._data_dir / "meta.properties").exists():
            return
        shutil.rmtree(self._data_dir, ignore_errors=True)
        cluster_id = base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()
        _run(
            [
                *self._java(libs),
                "kafka.tools.StorageTool", "format",
                # One argument, so an id that starts with "-" is not read as an option.
                f"--cluster-id={cluster_id}",
                "-c", str(self._config),
            ],
            "formatting the Kafka storage",
            timeout=120,
        )  # fmt: skip

    def _wait_started(self, start_offset: int, timeout: float) -> None:
        def started() -> bool:
            with self.log_path.open("rb") as log:
                log.seek(start_offset)
                return KAFKA_STARTED_LINE.encode() in log.read()

        if not _wait_for(lambda: self._exited() or started(), timeout, interval=0.25):
            self.stop()
            raise _failure(f"Kafka did not start within {timeout:.0f} s", self.log_path)
        if self._exited():
            raise _failure(f"Kafka exited while starting on port {self.port}", self.log_path)

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


def _copy_kafka_libs(digest: str) -> None:
    """Resolve the broker's jars with Maven into a fresh folder, then swap it in whole, so a
    concurrent or interrupted install never leaves a half-filled classpath behind."""
    staging = KAFKA_LIBS.with_name(f"{KAFKA_LIBS.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    print("resolving the Kafka broker's jars with Maven ...", file=sys.stderr)
    _run(
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


# --- our services --------------------------------------------------------------------------


def _http_ok(url: str) -> bool:
    # No proxy: the URL is local, and a proxy from the environment would answer for it.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class ServiceProcess(_DetachedProcess):
    """One long-running program of ours, e.g. a service, with a pid file and a log."""

    def __init__(
        self,
        name: str,
        runtime_dir: Path,
        argv: list[str],
        env: dict[str, str],
        health_url: str | None = None,
    ):
        super().__init__(name, runtime_dir.resolve())
        self.argv = list(argv)
        self.env = dict(env)
        self.health_url = health_url

    def _is_ours(self, args: list[str]) -> bool:
        """Whether a command line is ours: our arguments after a program of our program's name
        (a launcher such as a pyenv shim may have replaced argv[0] by the real path)."""
        offset = len(args) - len(self.argv)
        return (
            offset >= 0
            and args[offset + 1 :] == self.argv[1:]
            and Path(args[offset]).name.startswith(Path(self.argv[0]).name)
        )

    def start(self, wait_healthy: float = 60) -> None:
        if self.is_running():
            return
        # Unbuffered, so that what a Python child prints reaches its log at once.
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self._spawn(self.argv, cwd=REPO_ROOT, env=env)
        if self.health_url is not None:
            self._wait_healthy(self.health_url, wait_healthy)

    def _wait_healthy(self, url: str, timeout: float) -> None:
        if not _wait_for(lambda: self._exited() or _http_ok(url), timeout, interval=0.3):
            self.stop()
            raise _failure(
                f"{self.name}: {url} did not answer 200 within {timeout:.0f} s", self.log_path
            )
        if self._exited():
            raise _failure(f"{self.name} exited while starting", self.log_path)


# --- the developer's stack (python -m deploy.localstack) ------------------------------------


@dataclass(frozen=True)
class ServiceSpec:
    """One of Accord's services as the local stack runs it."""

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


def _service(name: str, default_port: int) -> ServiceSpec:
    module = f"services.{name}"
    return ServiceSpec(
        name, default_port, migrate=("-m", module, "migrate"), serve=("-m", module, "serve")
    )


SERVICES = (_service("plans", 8001), _service("meetings", 8002), _service("notifications", 8003))
CREATE_TOPICS = ("-m", "shared.topics", "create")
# The demo: its webhook receiver (a delegation's system) and the story loaded by ``up``.
RECEIVER = "receiver"
LOAD_DEMO = ("-m", "deploy.demo", "load")


def _port(variable: str, default: int) -> int:
    value = os.environ.get(variable, "")
    if not value:
        return default
    if not value.isdigit():
        raise StackError(f"{variable} must be a port number, not {value!r}")
    return int(value)


def _venv_python() -> str:
    venv_python = REPO_ROOT / ".venv" / "bin" / "python"
    return str(venv_python) if venv_python.exists() else sys.executable


class LocalStack:
    """PostgreSQL, Kafka and the three services, all under one runtime directory."""

    def __init__(self, runtime_dir: Path = REPO_ROOT / ".runtime"):
        self.runtime_dir = runtime_dir
        self.postgres = Postgres(runtime_dir, _port("ACCORD_STACK_POSTGRES_PORT", 55432))
        self.kafka = Kafka(
            runtime_dir,
            _port("ACCORD_STACK_KAFKA_PORT", 59092),
            _port("ACCORD_STACK_KAFKA_CONTROLLER_PORT", 59093),
        )
        self.python = _venv_python()

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

    def service(self, spec: ServiceSpec, env: dict[str, str] | None = None) -> ServiceProcess:
        return ServiceProcess(
            spec.name,
            self.runtime_dir,
            [self.python, *spec.serve],
            env or {},
            health_url=f"http://127.0.0.1:{spec.port}/healthz",
        )

    def _jwt_secret(self) -> str:
        """A signing secret generated on the first ``up`` and kept, so tokens survive restarts."""
        path = self.runtime_dir / "jwt_secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as file:
                file.write(secrets.token_urlsafe(48))
        return path.read_text().strip()

    def common_env(self) -> dict[str, str]:
        return {
            "ACCORD_ENVIRONMENT": "development",
            "ACCORD_KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
            "ACCORD_JWT_SECRET": self._jwt_secret(),
            "ACCORD_ALLOW_LOOPBACK_WEBHOOKS": "true",
        }

    def service_env(self, spec: ServiceSpec) -> dict[str, str]:
        # The demo receiver is plain http on loopback, which only a local stack allows.
        http_hooks = (
            {"NOTIFICATIONS_ALLOW_HTTP_WEBHOOKS": "true"} if spec.name == "notifications" else {}
        )
        return {
            **self.common_env(),
            f"{spec.env_prefix}_DATABASE_URL": self.postgres.url(spec.database),
            f"{spec.env_prefix}_HTTP_PORT": str(spec.port),
            # One process per service here: a stable name of its own (shared/config.py).
            "ACCORD_INSTANCE_ID": spec.name,
            **http_hooks,
        }

    def _run_python(self, args: Sequence[str], env: dict[str, str], what: str) -> None:
        output = _run(
            [self.python, *args], what, env={**os.environ, **env}, cwd=REPO_ROOT, timeout=300
        )
        if output.strip():
            print(output.rstrip())

    def up(self, demo: bool = True) -> None:
        Postgres.install()
        self.postgres.start()
        for spec in SERVICES:
            self.postgres.create_database(spec.database)
        print(f"postgres       running on 127.0.0.1:{self.postgres.port}")
        started = time.monotonic()
        self.kafka.start()
        print(
            f"kafka          running on {self.kafka.bootstrap_servers}"
            f" ({time.monotonic() - started:.1f} s)"
        )
        self._run_python(CREATE_TOPICS, self.common_env(), "creating the Kafka topics")
        for spec in SERVICES:
            self._up_service(spec)
        if demo:
            self.receiver().start()
            print(f"{RECEIVER:<14} running on http://127.0.0.1:{self.receiver_port}")
            self.load_demo()
        print("\nAPI docs:")
        for spec in SERVICES:
            print(f"  {spec.name:<14} http://127.0.0.1:{spec.port}/docs")
        print(
            "\nDemo: .venv/bin/python -m deploy.demo --help    Logs: deploy/stack logs [name] [-f]"
            "\nStop: deploy/stack down"
        )

    def load_demo(self) -> None:
        """Play the demo story if it is not there yet, and print its summary. Its output goes
        straight to the terminal, so that progress shows while it runs."""
        print()
        argv = [self.python, *LOAD_DEMO]
        env = {**os.environ, **self.common_env()}
        try:
            result = subprocess.run(argv, stdin=subprocess.DEVNULL, env=env, cwd=REPO_ROOT)
        except OSError as exc:
            raise StackError(f"loading the demo: {exc}") from exc
        if result.returncode != 0:
            raise StackError(f"loading the demo failed (exit {result.returncode}), see above")

    def _up_service(self, spec: ServiceSpec) -> None:
        env = self.service_env(spec)
        process = self.service(spec, env)
        if not process.is_running():
            self._run_python(spec.migrate, env, f"migrating {spec.name}")
            process.start()
        print(f"{spec.name:<14} running on http://127.0.0.1:{spec.port}")

    def down(self) -> None:
        self.receiver().stop()
        for spec in reversed(SERVICES):
            self.service(spec).stop()
        self.kafka.stop()
        self.postgres.stop()
        print("stopped: demo receiver, services, Kafka, PostgreSQL")

    def components(self) -> list[tuple[str, int | None, str, Path]]:
        """(name, pid or None, address, log) of every component, in start order."""
        rows = [
            (
                "postgres",
                self.postgres.pid(),
                f"127.0.0.1:{self.postgres.port}",
                self.postgres.log_path,
            ),
            ("kafka", self.kafka.pid(), self.kafka.bootstrap_servers, self.kafka.log_path),
        ]
        for spec in SERVICES:
            process = self.service(spec)
            rows.append((spec.name, process.pid(), f"127.0.0.1:{spec.port}", process.log_path))
        receiver = self.receiver()
        rows.append(
            (RECEIVER, receiver.pid(), f"127.0.0.1:{self.receiver_port}", receiver.log_path)
        )
        return rows

    def status(self) -> None:
        for name, pid, address, _log in self.components():
            state = f"running  pid {pid:<8}" if pid else f"stopped  {'':<12}"
            print(f"{name:<14} {state} {address}")

    def logs(self, name: str | None, lines: int, follow: bool) -> None:
        paths = [
            str(log)
            for component, _pid, _address, log in self.components()
            if name in (None, component) and log.exists()
        ]
        if not paths:
            print(f"no log yet for {name or 'any component'}")
            return
        # tail(1) already prints several files with headers and follows them (-F) well.
        os.execvp("tail", ["tail", "-n", str(lines), *(["-F"] if follow else []), *paths])


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="deploy/stack", description="Run Accord locally: PostgreSQL, Kafka, services."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "up", help="install what is missing, start everything, load the demo (once)"
    )
    up.add_argument("--no-demo", action="store_true", help="no demo receiver, no demo data")
    commands.add_parser("down", help="stop everything")
    commands.add_parser("status", help="one line per component")
    logs = commands.add_parser("logs", help="the end of the logs")
    names = ["postgres", "kafka", *(spec.name for spec in SERVICES), RECEIVER]
    logs.add_argument("name", nargs="?", choices=names, help="one component (default: all)")
    logs.add_argument("-n", "--lines", type=int, default=LOG_TAIL_LINES)
    logs.add_argument("-f", "--follow", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    stack = LocalStack()
    try:
        if args.command == "up":
            stack.up(demo=not args.no_demo)
        elif args.command == "down":
            stack.down()
        elif args.command == "status":
            stack.status()
        else:
            stack.logs(args.name, args.lines, args.follow)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
