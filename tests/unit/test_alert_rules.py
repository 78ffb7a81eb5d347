"""The alert rules of deploy/prometheus/ with Prometheus's own tool: they load, each one fires
in its unit tests (``promtool test rules``), and the configuration the local stack renders is
one Prometheus accepts."""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.local.prometheus import RULES_DIR, Prometheus, render_config, rule_files

RULE_TESTS = RULES_DIR / "accord-alerts.test.yml"


@pytest.fixture(scope="module")
def promtool() -> str:
    Prometheus.install()  # Debian's package, with apt-get if it is missing
    path = shutil.which("promtool")
    assert path is not None
    return path


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def test_the_rules_load(promtool: str) -> None:
    result = _run(promtool, "check", "rules", *map(str, rule_files()))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rules_pass_their_unit_tests(promtool: str) -> None:
    result = _run(promtool, "test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def _alert_names() -> set[str]:
    names = set()
    for path in rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {rule["alert"] for rule in group["rules"] if "alert" in rule}
    return names


def test_every_alert_is_seen_firing_in_the_unit_tests() -> None:
    tests: list[dict[str, Any]] = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert _alert_names() - fired == set()


def test_the_rendered_configuration_is_valid(promtool: str, tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(
        render_config(
            {"plans": ["127.0.0.1:8001"], "notifications": ["127.0.0.1:8003", "127.0.0.1:8013"]},
            scrape_interval="1s",
            evaluation_interval="1s",
            rules=rule_files(),
        )
    )
    result = _run(promtool, "check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
