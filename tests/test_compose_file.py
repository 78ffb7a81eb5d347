"""docker-compose.yml agrees with the code it runs, checked without a Docker engine.

``docker-compose config`` (Debian's docker-compose 1.29) validates the file and resolves it
with the values of .env.example, alone and with the three-broker override
(docker-compose.kafka-cluster.yml); the resolved stack is then compared with the services'
settings classes and the modules of the repository. A setting misspelled in the compose
file would otherwise be ignored silently (the settings ignore unknown variables).
"""

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from dotenv import dotenv_values
from pydantic_settings import BaseSettings

from deploy.local.prometheus import Prometheus
from shared.config import CommonSettings
from tests.support.settings import (
    SERVICE_SETTINGS,
    SETTINGS_PREFIXES,
    load_settings,
    setting_names,
)

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
# On top of COMPOSE_FILE: Kafka as a cluster of three nodes (decision 37).
KAFKA_CLUSTER_FILE = REPO / "docker-compose.kafka-cluster.yml"
ENV_EXAMPLE = REPO / ".env.example"
ACCORD_DOCKERFILE = "deploy/Dockerfile"

# `service_started` (what a plain list of dependencies means) would start a service before
# its database is up or its schema migrated.
WAITING_CONDITIONS = {"service_healthy", "service_completed_successfully"}
# ${NAME}, ${NAME:-default}, ${NAME:?error} or $NAME, but not $$ (a dollar for the container).
INTERPOLATED_NAME = re.compile(r"(?<!\$)\$\{?([A-Za-z_][A-Za-z0-9_]*)")

Container = dict[str, Any]


def compose_config(
    env_file: Path, overrides: tuple[Path, ...] = ()
) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    assert binary is not None, "docker-compose is missing: apt-get install -y docker-compose"
    files = [argument for file in (COMPOSE_FILE, *overrides) for argument in ("--file", str(file))]
    return subprocess.run(
        [binary, *files, "--env-file", str(env_file), "config"],
        cwd=REPO,
        # PATH only: a variable exported in the caller's shell would win over the env file.
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
    )


# Host ports other than the defaults: the services keep listening on theirs inside the compose
# network, where Prometheus scrapes them.
MOVED_HOST_PORTS = {
    "PLANS_HTTP_PORT": "18001",
    "MEETINGS_HTTP_PORT": "18002",
    "NOTIFICATIONS_HTTP_PORT": "18003",
}


@pytest.fixture(scope="module", params=["env-example", "host-ports-moved"])
def env_file(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if request.param == "env-example":
        return ENV_EXAMPLE
    moved = tmp_path_factory.mktemp("env") / ".env"
    lines = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        name = line.partition("=")[0]
        lines.append(f"{name}={MOVED_HOST_PORTS[name]}" if name in MOVED_HOST_PORTS else line)
    moved.write_text("\n".join(lines) + "\n")
    return moved


@pytest.fixture(scope="module", params=["one-broker", "kafka-cluster"])
def overrides(request: pytest.FixtureRequest) -> tuple[Path, ...]:
    return (KAFKA_CLUSTER_FILE,) if request.param == "kafka-cluster" else ()


@pytest.fixture(scope="module")
def stack(env_file: Path, overrides: tuple[Path, ...]) -> dict[str, Any]:
    result = compose_config(env_file, overrides)
    assert result.returncode == 0, result.stderr
    resolved: dict[str, Any] = yaml.safe_load(result.stdout)
    return resolved


def accord_containers(stack: dict[str, Any]) -> dict[str, Container]:
    """The containers running the Accord image (the others are PostgreSQL and Kafka)."""
    return {
        name: container
        for name, container in stack["services"].items()
        if container.get("build", {}).get("dockerfile") == ACCORD_DOCKERFILE
    }


def command_of(container: Container) -> list[str]:
    command = container.get("command", [])
    return shlex.split(command) if isinstance(command, str) else command


def module_of(container: Container) -> str:
    argv = command_of(container)
    assert argv[:2] == ["python", "-m"] and len(argv) > 2, f"not `python -m <module>`: {argv}"
    return argv[2]


def service_of(container: Container) -> str | None:
    """The service whose code a container runs; None for shared tooling (topic creation)."""
    module = module_of(container)
    package, _, rest = module.partition(".")
    if package != "services":
        return None
    service = rest.partition(".")[0]
    assert service in SERVICE_SETTINGS, f"{module} is not the module of a known service"
    return service


def settings_classes_of(container: Container) -> list[type[BaseSettings]]:
    service = service_of(container)
    if service is None:
        return [CommonSettings]
    return [CommonSettings, SERVICE_SETTINGS[service]]


def one_shots(stack: dict[str, Any]) -> set[str]:
    """Services that others wait for to finish (topic creation, migrations)."""
    return {
        dependency
        for container in stack["services"].values()
        for dependency, spec in container.get("depends_on", {}).items()
        if spec.get("condition") == "service_completed_successfully"
    }


def interpolated_names(node: Any) -> Iterator[str]:
    """Variables interpolated anywhere in the parsed compose file (so not in its comments)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from interpolated_names(key)
            yield from interpolated_names(value)
    elif isinstance(node, list):
        for item in node:
            yield from interpolated_names(item)
    elif isinstance(node, str):
        yield from INTERPOLATED_NAME.findall(node)


def test_the_stack_creates_the_topics_then_migrates_and_serves_every_service(
    stack: dict[str, Any],
) -> None:
    runs = {(module_of(c), command_of(c)[3]) for c in accord_containers(stack).values()}
    expected = {("shared.topics", "create")} | {
        (f"services.{service}", command)
        for service in SERVICE_SETTINGS
        for command in ("migrate", "serve")
    }
    assert expected <= runs


def test_every_variable_the_compose_file_sets_is_a_setting_of_that_service(
    stack: dict[str, Any],
) -> None:
    unknown = {}
    for name, container in accord_containers(stack).items():
        known = set().union(*map(setting_names, settings_classes_of(container)))
        ours = {
            variable.upper()
            for variable in container.get("environment", {})
            if variable.upper().startswith(SETTINGS_PREFIXES)
        }
        if ours - known:
            unknown[name] = sorted(ours - known)
    assert unknown == {}


def test_every_container_environment_is_accepted_by_its_settings(
    stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for container in accord_containers(stack).values():
        for settings_class in settings_classes_of(container):
            load_settings(settings_class, container.get("environment", {}), monkeypatch)


def test_each_service_publishes_the_port_its_settings_make_it_listen_on(
    stack: dict[str, Any], env_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the host port that .env chooses (its default: the same port)."""
    env = dotenv_values(env_file)
    for name, container in accord_containers(stack).items():
        service = service_of(container)
        if service is None or command_of(container)[-1] != "serve":
            continue
        settings = load_settings(
            SERVICE_SETTINGS[service], container.get("environment", {}), monkeypatch
        )
        published = [(int(p["published"]), int(p["target"])) for p in container.get("ports", [])]
        host_port = int(env[f"{service.upper()}_HTTP_PORT"] or "")
        assert published == [(host_port, settings.http_port)], name


def test_every_command_names_a_module_of_the_repository(stack: dict[str, Any]) -> None:
    def exists(module: str) -> bool:
        path = REPO.joinpath(*module.split("."))
        return path.with_suffix(".py").is_file() or (path / "__main__.py").is_file()

    missing = {
        name: module_of(container)
        for name, container in accord_containers(stack).items()
        if not exists(module_of(container))
    }
    assert missing == {}


def test_every_dependency_waits_for_health_or_completion(stack: dict[str, Any]) -> None:
    not_waiting = {
        f"{name} -> {dependency}": spec.get("condition")
        for name, container in stack["services"].items()
        for dependency, spec in container.get("depends_on", {}).items()
        if spec.get("condition") not in WAITING_CONDITIONS
    }
    assert not_waiting == {}


def test_every_long_running_service_has_a_healthcheck(stack: dict[str, Any]) -> None:
    def has_healthcheck(container: Container) -> bool:
        healthcheck = container.get("healthcheck", {})
        return bool(healthcheck.get("test")) and healthcheck["test"] != ["NONE"]

    unchecked = {
        name
        for name, container in stack["services"].items()
        if name not in one_shots(stack) and not has_healthcheck(container)
    }
    assert unchecked == set()


def test_env_example_lists_exactly_the_variables_the_compose_file_uses() -> None:
    used = {
        name
        for file in (COMPOSE_FILE, KAFKA_CLUSTER_FILE)
        for name in interpolated_names(yaml.safe_load(file.read_text()))
    }
    listed = set(dotenv_values(ENV_EXAMPLE))
    assert sorted(listed - used) == [], "in .env.example but unused by docker-compose.yml"
    assert sorted(used - listed) == [], "used by docker-compose.yml but not in .env.example"


def test_the_stack_refuses_to_start_without_a_jwks_document(tmp_path: Path) -> None:
    without_keys = tmp_path / "without-keys.env"
    without_keys.write_text(
        "".join(
            line
            for line in ENV_EXAMPLE.read_text().splitlines(keepends=True)
            if not line.startswith("JWKS_FILE=")
        )
    )
    result = compose_config(without_keys)
    assert result.returncode != 0
    assert "JWKS_FILE" in result.stderr


def test_every_serving_container_reads_the_jwks_document_it_is_given(
    stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each service's JWKS setting points at the file mounted into it, read-only; the keys
    that sign tokens are mounted nowhere."""
    for name, container in accord_containers(stack).items():
        if command_of(container)[-1] != "serve":
            continue
        common = load_settings(CommonSettings, container.get("environment", {}), monkeypatch)
        mounts = dict(map(_mount, container.get("volumes", [])))
        assert common.jwks_url in mounts, f"{name} reads {common.jwks_url}, not mounted"
        _, read_only = mounts[common.jwks_url]
        assert read_only, f"{name} may write its JWKS document"
        assert not any(source.endswith(".pem") for source, _ in mounts.values()), name


def _mount(volume: str | dict[str, Any]) -> tuple[str, tuple[str, bool]]:
    """target -> (source, read-only) of a volume in short (`src:dst:ro`) or long form."""
    if isinstance(volume, dict):
        return volume["target"], (str(volume.get("source", "")), bool(volume.get("read_only")))
    source, target, *mode = volume.split(":")
    return target, (source, "ro" in mode)


def _prometheus(stack: dict[str, Any]) -> tuple[Container, dict[str, Path]]:
    """The Prometheus container and its bind mounts (path in the container -> file here)."""
    [container] = [c for c in stack["services"].values() if "prometheus" in c.get("image", "")]
    mounts = {}
    for volume in container.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("/"):
            mounts[target] = Path(source)
    return container, mounts


def test_prometheus_scrapes_every_service_at_the_port_it_listens_on(
    stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    container, mounts = _prometheus(stack)
    [config_flag] = [a for a in command_of(container) if a.startswith("--config.file=")]
    config = yaml.safe_load(mounts[config_flag.partition("=")[2]].read_text())
    scraped = {
        job["job_name"]: target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    serving = {}
    for name, accord in accord_containers(stack).items():
        service = service_of(accord)
        if service is not None and command_of(accord)[-1] == "serve":
            settings = load_settings(
                SERVICE_SETTINGS[service], accord.get("environment", {}), monkeypatch
            )
            serving[service] = f"{name}:{settings.http_port}"
    assert scraped == serving


def test_prometheus_loads_the_alert_rules_it_is_given(
    stack: dict[str, Any], tmp_path: Path
) -> None:
    """promtool accepts the configuration with the rules files where the container has them."""
    container, mounts = _prometheus(stack)
    [config_flag] = [a for a in command_of(container) if a.startswith("--config.file=")]
    config = yaml.safe_load(mounts[config_flag.partition("=")[2]].read_text())
    assert config["rule_files"], "no alert rules loaded"
    config["rule_files"] = [str(mounts[path]) for path in config["rule_files"]]
    local = tmp_path / "prometheus.yml"
    local.write_text(yaml.safe_dump(config))
    Prometheus.install()
    promtool = shutil.which("promtool")
    assert promtool is not None
    result = subprocess.run(
        [promtool, "check", "config", str(local)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_cluster_override_runs_three_nodes_of_one_kraft_cluster(
    env_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three brokers, each its own node id and host, all with the same cluster id and the
    same controllers (each node's controller port under its own id); every Accord container
    bootstraps from all three and waits for all three; the topics get the replication the
    brokers give their internal topics."""
    result = compose_config(env_file, (KAFKA_CLUSTER_FILE,))
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    nodes = {
        name: container["environment"]
        for name, container in services.items()
        if container.get("command") == ["bash", "/opt/accord/compose-broker.sh"]
    }
    assert len(nodes) == 3
    hosts = {name: str(env.get("BROKER_HOST", "kafka")) for name, env in nodes.items()}
    assert hosts == {name: name for name in nodes}, "a node advertises another's host"
    ids = {name: int(env["BROKER_NODE_ID"]) for name, env in nodes.items()}
    assert sorted(ids.values()) == [1, 2, 3]
    voters = {f"{ids[name]}@{hosts[name]}:{env.get('BROKER_CONTROLLER_PORT', 9093)}"
              for name, env in nodes.items()}  # fmt: skip
    for name, env in nodes.items():
        assert set(str(env["BROKER_QUORUM_VOTERS"]).split(",")) == voters, name
        assert int(env["BROKER_REPLICATION"]) == 3, name
    assert len({env["BROKER_CLUSTER_ID"] for env in nodes.values()}) == 1
    brokers = {f"{hosts[name]}:{env.get('BROKER_PORT', 9092)}" for name, env in nodes.items()}
    stack = {"services": services}
    for name, container in accord_containers(stack).items():
        common = load_settings(CommonSettings, container.get("environment", {}), monkeypatch)
        assert set(common.kafka_bootstrap_servers.split(",")) == brokers, name
        waits_for = set(container.get("depends_on", {}))
        if waits_for & set(nodes):
            assert set(nodes) <= waits_for, f"{name} waits for some brokers only"
    [topics] = [c for c in accord_containers(stack).values() if module_of(c) == "shared.topics"]
    argv = command_of(topics)
    assert argv[argv.index("--replication") + 1] == "3"
