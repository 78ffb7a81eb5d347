"""docker-compose.yml run for real by the compose test: a Docker engine (started if none
answers), the images (deploy/images/build for the base images a registry would give, then the
Accord image), a stack of its own under a project name of its own, and its health.

docker-compose 1.29 (Debian 12's) has no ``up --wait``: health is read from the engine.
"""

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from services.notifications.webhooks.keyring import new_key_entry

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
ENGINE = REPO / "deploy" / "images" / "engine"
BUILD_BASE_IMAGES = REPO / "deploy" / "images" / "build"
PROJECT_LABEL = "com.docker.compose.project"
SIGNING_KEY = "signing.pem"  # in new_secrets' keys_dir


class ComposeError(AssertionError):
    """A step of the compose run failed; the message says which, with the output."""


def run(argv: Sequence[str], what: str, timeout: float, **kwargs: Any) -> str:
    try:
        result = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False, **kwargs
        )
    except subprocess.TimeoutExpired as exc:
        raise ComposeError(f"{what}: no end after {timeout:.0f} s") from exc
    if result.returncode != 0:
        raise ComposeError(f"{what} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout


def start_engine() -> bool:
    """Install and start the engine if needed; True when this call started it."""
    return run([str(ENGINE), "start"], "starting the Docker engine", 1200).strip() == "started"


def stop_engine() -> None:
    run([str(ENGINE), "stop"], "stopping the Docker engine", 300)


def build_images() -> None:
    """The base images (stand-ins where no registry answers), then the Accord image. The
    build runs on the host's network: the engine runs without NAT, and the image's pip
    install needs the package registry. Docker's layer cache makes a second build quick."""
    run([str(BUILD_BASE_IMAGES)], "deploy/images/build", 1500)
    argv = ["docker", "build", "--quiet", "--network", "host", "--tag", "accord"]
    run([*argv, "--file", "deploy/Dockerfile", "."], "building the Accord image", 1200, cwd=REPO)


def env_file_from_example(path: Path, values: dict[str, str]) -> None:
    """.env.example with ``values`` put in (replacing its lines, or appended)."""
    lines, missing = [], dict(values)
    for line in ENV_EXAMPLE.read_text().splitlines():
        name = line.partition("=")[0]
        if not line.startswith("#") and "=" in line and name in missing:
            line = f"{name}={missing.pop(name)}"
        lines.append(line)
    lines.extend(f"{name}={value}" for name, value in missing.items())
    path.write_text("\n".join(lines) + "\n")


def new_secrets(keys_dir: Path) -> dict[str, str]:
    """A new value for every secret .env.example asks for: passwords, the webhook secrets'
    encryption key, and a token signing key made as an operator makes it (its public half in
    the JWKS document that JWKS_FILE names, its private half in ``keys_dir``, for the test's
    own tokens: the stack never sees it)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "shared.auth",
            "keys",
            "new",
            "--private-key",
            str(keys_dir / SIGNING_KEY),
            "--jwks",
            str(keys_dir / "jwks.json"),
        ],
        check=True,
        capture_output=True,
        cwd=REPO,
    )
    # Letters and digits only: the passwords go into database URLs and the broker's JAAS.
    passwords = {
        name: secrets.token_hex(16)
        for name in (
            "POSTGRES_PASSWORD",
            "KAFKA_ADMIN_PASSWORD",
            "KAFKA_PLANS_PASSWORD",
            "KAFKA_MEETINGS_PASSWORD",
            "KAFKA_NOTIFICATIONS_PASSWORD",
        )
    }
    return {
        **passwords,
        "NOTIFICATIONS_SECRET_KEYS": new_key_entry(),
        "JWKS_FILE": str(keys_dir / "jwks.json"),
    }


@dataclass
class ContainerState:
    service: str
    status: str  # running, exited, ...
    exit_code: int
    health: str | None  # healthy, unhealthy, starting; None without a healthcheck
    restarts: int


@dataclass
class ComposeStack:
    project: str
    env_file: Path
    extra_files: list[Path] = field(default_factory=list)

    def compose(self, *args: str, timeout: float = 600) -> str:
        binary = shutil.which("docker-compose")
        if binary is None:
            raise ComposeError("docker-compose is missing (deploy/images/engine installs it)")
        files = [COMPOSE_FILE, *self.extra_files]
        argv = [binary, "--project-name", self.project, "--env-file", str(self.env_file)]
        argv += [arg for path in files for arg in ("--file", str(path))]
        # PATH only: a variable of the caller's shell would win over the env file.
        env = {"PATH": os.environ["PATH"]}
        return run([*argv, *args], f"docker-compose {' '.join(args)}", timeout, cwd=REPO, env=env)

    def images_missing(self) -> list[str]:
        """The images of services without a build section that the engine does not have:
        `up` would try to pull them. A service added with an image that no registry here
        gives needs a stand-in in deploy/images (or a build of its own). A service behind a
        profile (Mailpit) is not started by a plain `up`, so its image is not wanted."""
        config = yaml.safe_load(self.compose("config", timeout=60))
        wanted = {
            spec["image"]
            for spec in config["services"].values()
            if "build" not in spec and "image" in spec and not spec.get("profiles")
        }
        missing = []
        for image in sorted(wanted):
            inspect = ["docker", "image", "inspect", image]
            if subprocess.run(inspect, capture_output=True, check=False).returncode != 0:
                missing.append(image)
        return missing

    def states(self) -> list[ContainerState]:
        ids = self.compose("ps", "--all", "--quiet", timeout=60).split()
        if not ids:
            return []
        fmt = (
            '{{ index .Config.Labels "com.docker.compose.service" }}|{{ .State.Status }}|'
            "{{ .State.ExitCode }}|{{ if .State.Health }}{{ .State.Health.Status }}{{ end }}|"
            "{{ .RestartCount }}"
        )
        out = run(["docker", "inspect", "--format", fmt, *ids], "docker inspect", 60)
        states = []
        for line in out.splitlines():
            service, status, code, health, restarts = line.split("|")
            states.append(ContainerState(service, status, int(code), health or None, int(restarts)))
        return states

    def wait_healthy(self, timeout: float, interval: float = 2.0) -> list[ContainerState]:
        """Until every container with a healthcheck is healthy and every one without (the
        one-shots: topic creation, migrations) has exited with 0. A one-shot that failed, a
        container found unhealthy, or one restarted (it exited: a start-up that depends on
        luck) fails at once, with its logs."""
        deadline = time.monotonic() + timeout
        while True:
            states = self.states()
            for state in states:
                failed_one_shot = state.health is None and state.status == "exited"
                failed = failed_one_shot and state.exit_code != 0
                if failed or state.health == "unhealthy" or state.restarts:
                    raise ComposeError(f"{state}\n{self.logs(state.service)}")
            if states and all(
                s.health == "healthy" if s.health else s.status == "exited" for s in states
            ):
                return states
            if time.monotonic() > deadline:
                raise ComposeError(f"not healthy after {timeout:.0f} s: {states}")
            time.sleep(interval)

    def logs(self, service: str) -> str:
        return self.compose("logs", "--no-color", "--tail", "60", service, timeout=60)

    def leftovers(self) -> dict[str, list[str]]:
        """The project's containers, networks and volumes that still exist."""
        label = f"label={PROJECT_LABEL}={self.project}"
        listings = {
            "containers": ["docker", "ps", "--all", "--quiet", "--filter", label],
            "networks": ["docker", "network", "ls", "--quiet", "--filter", label],
            "volumes": ["docker", "volume", "ls", "--quiet", "--filter", label],
        }
        return {kind: run(argv, f"listing {kind}", 60).split() for kind, argv in listings.items()}
