"""A Prometheus server of our own, from Debian's ``prometheus`` package: it scrapes every
service's ``/metrics`` and evaluates the alert rules of ``deploy/prometheus/``, with its
configuration rendered from the stack's ports and its data under the runtime directory.

Debian's package also installs a system service (``prometheus.service`` on port 9090, with its
own configuration) that systemd starts on a machine that runs it; ours is another process, on
the stack's port, and leaves that one alone.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from deploy.local.processes import (
    REPO_ROOT,
    DetachedProcess,
    apt_install,
    failure,
    http_get,
    wait_for,
)

RULES_DIR = REPO_ROOT / "deploy" / "prometheus"
# The alert rules files (their unit tests end in .test.yml and are not rules).
RULE_FILES = ("accord-alerts.yml",)


def rule_files() -> list[Path]:
    return [RULES_DIR / name for name in RULE_FILES]


def render_config(
    targets: Mapping[str, Sequence[str]],
    *,
    scrape_interval: str = "5s",
    evaluation_interval: str = "15s",
    rules: Sequence[Path] = (),
) -> str:
    """The configuration: one job per service (named after it, every replica's host:port a
    target of it), scraped at ``/metrics``. JSON, which is YAML too."""
    config = {
        "global": {
            "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_interval if _seconds(scrape_interval) < 10 else "10s",
            "evaluation_interval": evaluation_interval,
        },
        "rule_files": [str(path) for path in rules],
        "scrape_configs": [
            {
                "job_name": job,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": list(addresses)}],
            }
            for job, addresses in targets.items()
        ],
    }
    return json.dumps(config, indent=2) + "\n"


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in ("ms", "s", "m", "h"):
        if duration.endswith(unit):
            return float(duration[: -len(unit)]) * units[unit]
    raise ValueError(f"not a Prometheus duration: {duration!r}")


class Prometheus(DetachedProcess):
    """``prometheus`` with its configuration and data under ``<runtime>/prometheus``."""

    def __init__(self, runtime_dir: Path, port: int):
        self.runtime_dir = runtime_dir.resolve()
        super().__init__("prometheus", self.runtime_dir)
        self.port = port
        self._home = self.runtime_dir / "prometheus"
        self.config_path = self._home / "prometheus.yml"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def install() -> None:
        if shutil.which("prometheus") is None or shutil.which("promtool") is None:
            apt_install("prometheus")

    def _is_ours(self, args: list[str]) -> bool:
        return f"--config.file={self.config_path}" in args

    def start(
        self,
        targets: Mapping[str, Sequence[str]],
        *,
        scrape_interval: str = "5s",
        evaluation_interval: str = "15s",
        timeout: float = 60,
    ) -> None:
        """Write the configuration and start (or, running already, reload it)."""
        self.install()
        self._home.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            render_config(
                targets,
                scrape_interval=scrape_interval,
                evaluation_interval=evaluation_interval,
                rules=rule_files(),
            )
        )
        if self.is_running():
            self.stop()
        argv = [
            shutil.which("prometheus") or "prometheus",
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self._home / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=7d",
        ]
        self._spawn(argv, cwd=self._home)
        if not wait_for(lambda: self._exited() or self.ready(), timeout, interval=0.25):
            self.stop()
            raise failure(f"Prometheus was not ready within {timeout:.0f} s", self.log_path)
        if self._exited():
            raise failure(f"Prometheus exited while starting on port {self.port}", self.log_path)

    def ready(self) -> bool:
        answer = http_get(f"{self.url}/-/ready")
        return answer is not None and answer.status == 200

    def targets_up(self) -> tuple[int, int] | None:
        """(targets up, targets in all) as Prometheus last scraped them; None if it did not
        answer."""
        answer = http_get(f"{self.url}/api/v1/targets?state=active")
        if answer is None or answer.status != 200:
            return None
        data = answer.body.get("data")
        active = data.get("activeTargets", []) if isinstance(data, dict) else []
        return sum(1 for t in active if t.get("health") == "up"), len(active)
