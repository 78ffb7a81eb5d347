"""Mailpit, the SMTP server of the local stack and of the test suite: it keeps every message it
is given and shows them on a web page and through its HTTP API (``/api/v1/messages``). It is
installed from its Go module when missing (``go install``, into ``.runtime/tools/bin``, so a
clean clone gets it from the stack script as it gets everything else).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from deploy.local.processes import (
    REPO_ROOT,
    DetachedProcess,
    StackError,
    failure,
    http_get,
    run,
    wait_for,
)

MODULE = "github.com/axllent/mailpit@v1.33.1"
TOOLS_BIN = REPO_ROOT / ".runtime" / "tools" / "bin"
BINARY = TOOLS_BIN / "mailpit"


class Mailpit(DetachedProcess):
    """``mailpit`` with its message store under ``<runtime>/mailpit``. ``chaos``: accept the
    API's ``/api/v1/chaos`` triggers, which make the SMTP server answer with errors (tests)."""

    def __init__(self, runtime_dir: Path, smtp_port: int, http_port: int, *, chaos: bool = False):
        self.runtime_dir = runtime_dir.resolve()
        super().__init__("mailpit", self.runtime_dir)
        self.smtp_port = smtp_port
        self.http_port = http_port
        self.chaos = chaos
        self._home = self.runtime_dir / "mailpit"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @staticmethod
    def install() -> Path:
        """The binary, built with ``go install`` the first time (a minute or two)."""
        if BINARY.exists():
            return BINARY
        # Go's own installer puts it in /usr/local/go/bin, often not on PATH.
        go = shutil.which("go", path=f"{os.environ.get('PATH', '')}:/usr/local/go/bin")
        if go is None:
            raise StackError(
                f"Mailpit is missing and there is no Go to build it: install Go 1.24 or later,"
                f" or put a mailpit binary at {BINARY}"
            )
        TOOLS_BIN.mkdir(parents=True, exist_ok=True)
        print(f"stack: installing Mailpit ({MODULE}, go install)", flush=True)
        run(
            [go, "install", MODULE],
            "go install mailpit",
            timeout=1200,
            env={**os.environ, "GOBIN": str(TOOLS_BIN)},
        )
        return BINARY

    def _is_ours(self, args: list[str]) -> bool:
        return f"--database={self._home / 'mailpit.db'}" in args

    def start(self, timeout: float = 30) -> None:
        binary = self.install()
        self._home.mkdir(parents=True, exist_ok=True)
        if self.is_running():
            return
        argv = [
            str(binary),
            f"--database={self._home / 'mailpit.db'}",
            f"--smtp=127.0.0.1:{self.smtp_port}",
            f"--listen=127.0.0.1:{self.http_port}",
            # Plain SMTP on loopback, no login: the stack's services are its only clients.
            "--smtp-auth-accept-any",
            "--smtp-auth-allow-insecure",
            "--max=10000",
            *(["--enable-chaos"] if self.chaos else []),
        ]
        self._spawn(argv, cwd=self._home)
        if not wait_for(lambda: self._exited() or self.ready(), timeout, interval=0.1):
            self.stop()
            raise failure(f"Mailpit was not ready within {timeout:.0f} s", self.log_path)
        if self._exited():
            raise failure(f"Mailpit exited while starting on port {self.smtp_port}", self.log_path)

    def ready(self) -> bool:
        answer = http_get(f"{self.url}/readyz")
        return answer is not None and answer.status == 200
