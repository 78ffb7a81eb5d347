"""Processes of the local stack: started detached, tracked by pid files, stopped by group.

Also what every component needs around them: running a command to completion, installing
Debian packages, logs that mark each run, and the error all of it raises (``StackError``).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shlex
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

REPO_ROOT = Path(__file__).resolve().parents[2]
LOG_TAIL_LINES = 40
# Starts the lines we write to a log before each run, so that a failure shows that run only.
RUN_HEADER = "===== "
JAVA_STACK_FRAME = re.compile(r"\s+(at |\.\.\. \d+ more)")


class StackError(RuntimeError):
    """A component could not be installed, started or stopped; the message says why."""


# --- ports ---------------------------------------------------------------------------------

# The kernel picks the source port of every outgoing connection from this range. A server
# listening on a port inside it can lose that port while it is down: a client reconnecting to
# it over loopback may be given the very port as its source and connect to itself (TCP
# simultaneous open), and the server cannot bind when it comes back. So our servers listen
# below the range.
EPHEMERAL_PORT_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LINUX_DEFAULT_EPHEMERAL_RANGE = (32768, 60999)
# Where ``free_port`` looks: above the ports of well-known and commonly configured servers,
# below Linux's default ephemeral range.
PORT_BAND = (20000, 32000)
_handed_out: set[int] = set()


def kept_secret(path: Path, make: Callable[[], str]) -> str:
    """The secret kept in ``path``, made by ``make`` on first use in a file only its owner
    can read, and kept so that what it protects survives restarts. Two processes making it
    at once agree: the one that loses the race reads the other's."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as file:
                file.write(make() + "\n")
    return path.read_text().strip()


def ephemeral_port_range() -> tuple[int, int]:
    """The kernel's range of ephemeral (source) ports, both ends included."""
    try:
        low, high = (int(part) for part in EPHEMERAL_PORT_RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return LINUX_DEFAULT_EPHEMERAL_RANGE
    return low, high


def is_ephemeral(port: int) -> bool:
    low, high = ephemeral_port_range()
    return low <= port <= high


def _bindable(port: int) -> bool:
    # No SO_REUSEADDR: a port that any socket holds, even one in TIME_WAIT, counts as taken.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing holds right now, outside the kernel's ephemeral
    range (see ``EPHEMERAL_PORT_RANGE_FILE``) and never handed out before by this process."""
    low, high = PORT_BAND
    ephemeral_low, ephemeral_high = ephemeral_port_range()
    candidates = [
        port
        for port in range(low, high + 1)
        if not ephemeral_low <= port <= ephemeral_high and port not in _handed_out
    ]
    random.shuffle(candidates)
    for port in candidates[:500]:
        if _bindable(port):
            _handed_out.add(port)
            return port
    raise StackError(
        f"no free port in {low}-{high} outside the ephemeral range {ephemeral_port_range()}"
    )


# --- pids and process groups ---------------------------------------------------------------


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


def live_pid(pid_file: Path, is_ours: Callable[[list[str]], bool]) -> int | None:
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


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def group_gone(pgid: int) -> bool:
    _reap(pgid)
    return not _group_members(pgid)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(pgid, sig)


def kill_group(pgid: int, what: str) -> None:
    """SIGKILL a whole process group and wait until none of it is left."""
    _signal_group(pgid, signal.SIGKILL)
    if not wait_for(lambda: group_gone(pgid), 10):
        raise StackError(f"{what}: processes {_group_members(pgid)} survived SIGKILL")


def _stop_group(pgid: int, timeout: float, what: str) -> None:
    """SIGTERM a process group, then SIGKILL whatever is left after ``timeout`` seconds."""
    _signal_group(pgid, signal.SIGTERM)
    # A paused (SIGSTOPped) process only acts on SIGTERM once it runs again.
    _signal_group(pgid, signal.SIGCONT)
    if not wait_for(lambda: group_gone(pgid), timeout):
        kill_group(pgid, what)


# --- logs and commands ---------------------------------------------------------------------


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


def failure(message: str, log_path: Path) -> StackError:
    """A ``StackError`` that quotes the end of the log of the run that failed."""
    return StackError(f"{message}\n--- last lines of {log_path} ---\n{_log_tail(log_path)}")


def open_log(path: Path, header: str) -> int:
    """Open a log for appending (as a file descriptor a child inherits), marking a new run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    os.write(fd, f"\n{RUN_HEADER}{stamp} {header} =====\n".encode())
    return fd


def run(
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


def apt_install(*packages: str) -> None:
    if os.geteuid() != 0:
        raise StackError(f"missing {' '.join(packages)}: install them (apt-get) or run as root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"installing {' '.join(packages)} with apt-get ...", file=sys.stderr)
    run(["apt-get", "update"], "apt-get update", env=env)
    # Without the recommended packages: Debian's prometheus recommends a node exporter, its
    # docker-compose the Docker engine, daemons nobody asked for.
    run(
        ["apt-get", "install", "-y", "--no-install-recommends", *packages],
        f"apt-get install {packages}",
        env=env,
    )


# --- detached processes --------------------------------------------------------------------


class DetachedProcess:
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
        return live_pid(self._pid_file, self._is_ours)

    def is_running(self) -> bool:
        return self.pid() is not None

    def _spawn(self, argv: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        """Start ``argv`` with stdout and stderr appended to the log, and record its pid."""
        log_fd = open_log(self.log_path, "starting " + shlex.join(argv))
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
            kill_group(pid, self.name)
        self._forget_process()

    def _forget_process(self) -> None:
        # Collect the exit status (the process is gone or going), so that the Popen object
        # does not warn that its process is "still running" when it is garbage collected.
        if self._process is not None:
            self._process.wait(timeout=10)
            self._process = None


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: dict[str, object]


def http_get(url: str, timeout: float = 2.0) -> HttpAnswer | None:
    """The status and JSON body (empty if none) of a GET, or None if nothing answered."""
    # No proxy: the URL is local, and a proxy from the environment would answer for it.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:  # 4xx/5xx: an answer all the same
        status, raw = error.code, error.read()
    except (urllib.error.URLError, OSError):
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        body = {}
    return HttpAnswer(status, body if isinstance(body, dict) else {})


def _http_ok(url: str) -> bool:
    answer = http_get(url)
    return answer is not None and answer.status == 200


class ServiceProcess(DetachedProcess):
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
        if not wait_for(lambda: self._exited() or _http_ok(url), timeout, interval=0.3):
            self.stop()
            raise failure(
                f"{self.name}: {url} did not answer 200 within {timeout:.0f} s", self.log_path
            )
        if self._exited():
            raise failure(f"{self.name} exited while starting", self.log_path)
