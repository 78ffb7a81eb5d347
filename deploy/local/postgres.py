"""A PostgreSQL server of our own, from Debian's packages: own data directory, port and
socket directory, so that several can run side by side (the developer's, each test run's).

Like a real server it asks for a password on TCP (SCRAM-SHA-256): the superuser's is
generated on first use and kept in ``<runtime>/postgres_password`` (mode 0600), and every
URL this module hands out carries it. Only the server's own Unix socket (mode 0700, so the
server's system user and root) is trusted: that is how the password is set at each start.
"""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from deploy.local.processes import (
    StackError,
    apt_install,
    failure,
    group_gone,
    kept_secret,
    kill_group,
    live_pid,
    open_log,
    run,
    wait_for,
)

# A Unix socket path must fit in sun_path (108 bytes, NUL included).
MAX_SOCKET_PATH = 100
# Written over pg_hba.conf at every start, so that a data directory made before passwords
# (trust everywhere) is brought in line too.
PG_HBA = """\
# Written by deploy/local/postgres.py at every start: edits here are lost.
# The server's own Unix socket (mode 0700): its system user and root only.
local all all trust
# TCP, loopback only: a password, like a real server.
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""


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

    def __init__(
        self, runtime_dir: Path, port: int, settings: Mapping[str, str] | None = None
    ) -> None:
        self.runtime_dir = runtime_dir.resolve()
        self.port = port
        # Server settings beyond the defaults, given at every start (``-c name=value``).
        self.settings = dict(settings or {})
        # Written through a file descriptor pg_ctl inherits, so the postgres user needs no
        # access to the runtime directory for it.
        self.log_path = self.runtime_dir / "logs" / "postgres.log"

    @staticmethod
    def install() -> None:
        if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
            apt_install("postgresql")

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

    @property
    def password_path(self) -> Path:
        return self.runtime_dir / "postgres_password"

    @property
    def password(self) -> str:
        """The superuser's password, generated on first use and kept (URL-safe characters)."""
        return kept_secret(self.password_path, lambda: secrets.token_urlsafe(32))

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres:{self.password}@127.0.0.1:{self.port}/{database}"

    def pid(self) -> int | None:
        data_dir = str(self.data_dir)
        return live_pid(self.data_dir / "postmaster.pid", lambda args: data_dir in args)

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(self) -> None:
        if self.is_running():
            # Started by an older version, perhaps (trust on TCP): bring it in line as it runs.
            self._write_pg_hba()
            self._set_password()
            return
        self._init_data_dir()
        self._remove_stale_lock_files()
        bin_dir = _postgres_bin_dir()
        self._write_pg_hba()
        options = shlex.join(
            [
                "-p", str(self.port),
                "-k", str(self.socket_dir),
                "-c", "listen_addresses=127.0.0.1",
                "-c", "unix_socket_permissions=0700",
                "-c", "password_encryption=scram-sha-256",
                *(arg for item in self.settings.items() for arg in ("-c", "=".join(item))),
            ]
        )  # fmt: skip
        pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-o", options]
        # Without -l the server writes to pg_ctl's stdout, i.e. our log file.
        log_fd = open_log(self.log_path, f"starting PostgreSQL on 127.0.0.1:{self.port}")
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
            raise failure(f"PostgreSQL did not start on port {self.port}", self.log_path)
        self._set_password()

    def _write_pg_hba(self) -> None:
        path = self.data_dir / "pg_hba.conf"
        path.write_text(PG_HBA)
        if _running_as_root():
            shutil.chown(path, "postgres", "postgres")

    def _set_password(self) -> None:
        """Give the superuser the kept password over the trusted socket, and reload the
        configuration. The statement goes through psql's standard input, so the password is
        in no process's arguments."""
        psql = [
            str(_postgres_bin_dir() / "psql"),
            "-X", "-q", "-v", "ON_ERROR_STOP=1",
            "-h", str(self.socket_dir), "-p", str(self.port), "-U", "postgres", "-d", "postgres",
        ]  # fmt: skip
        # The reload makes a pg_hba.conf written while the server ran take effect.
        statement = f"ALTER ROLE postgres PASSWORD '{self.password}';\nSELECT pg_reload_conf();\n"
        try:
            result = subprocess.run(
                _as_postgres(psql),
                input=statement,
                capture_output=True,
                text=True,
                cwd=self._base_dir,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise StackError(f"setting the PostgreSQL password: {exc}") from exc
        if result.returncode != 0:
            raise StackError(f"setting the PostgreSQL password failed: {result.stderr.strip()}")

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
            "--auth-local", "trust",
            "--auth-host", "scram-sha-256",
            "-U", "postgres",
            "-E", "UTF8",
            "--locale=C.UTF-8",
        ]  # fmt: skip
        run(_as_postgres(initdb), f"initdb {self.data_dir}", cwd=self._base_dir)

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
        if not wait_for(lambda: group_gone(pid), 30):
            kill_group(pid, "PostgreSQL")

    def kill(self) -> None:
        """Crash the server: SIGKILL the postmaster and its backends at once.

        Killing only the postmaster would leave backends attached to its shared memory for a
        while, and PostgreSQL refuses to start again until they are gone.
        """
        pid = self.pid()
        if pid is not None:
            kill_group(pid, "PostgreSQL")

    def remove(self) -> None:
        """Stop the server and delete its data, e.g. at the end of a test run: a runtime
        directory the postgres user cannot reach (pytest's tmp_path is one) keeps its data
        under /var/tmp, which would otherwise pile up."""
        self.stop()
        shutil.rmtree(self._base_dir, ignore_errors=True)

    @property
    def bin_dir(self) -> Path:
        return _postgres_bin_dir()

    def query(self, sql: str, database: str = "postgres", timeout: float = 60) -> list[list[str]]:
        """The rows of one SQL statement run with psql, each a list of column texts."""
        psql = [
            str(_postgres_bin_dir() / "psql"),
            "-X", "-q", "-t", "-A", "-F", "\t",
            "-v", "ON_ERROR_STOP=1",
            "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database,
            "-c", sql,
        ]  # fmt: skip
        env = {
            **os.environ,
            "PGCONNECT_TIMEOUT": str(max(2, min(10, round(timeout / 2)))),
            "PGPASSWORD": self.password,
        }
        output = run(psql, f"psql {sql!r}", timeout=timeout, env=env)
        return [line.split("\t") for line in output.splitlines() if line]

    def _psql(self, sql: str) -> str:
        return "\n".join("\t".join(row) for row in self.query(sql))

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
