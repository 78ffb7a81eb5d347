"""The Helm chart (deploy/helm/accord) agrees with the code it runs, checked without a cluster.

``helm lint`` checks the chart; ``helm template`` renders it with the values for managed
Kafka and PostgreSQL (values-managed.yaml) and secrets of the test's own, and the manifests
are compared with the services' settings classes and the modules of the repository, as
tests/test_compose_file.py does for the compose file: the commands, the ports, the probes,
every environment variable (a misspelled one would be ignored silently) and the values the
settings would refuse, the files those settings name, the shutdown budget, the roles.
``deploy/stack test`` installs helm from its Go module when it is missing.
"""

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.notifications.webhooks.keyring import new_key_entry
from shared.config import CommonSettings
from shared.health import health_router
from tests.support.certificates import certificate
from tests.support.settings import (
    SERVICE_SETTINGS,
    SETTINGS_PREFIXES,
    load_settings,
    setting_names,
)

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "deploy" / "helm" / "accord"
MANAGED_VALUES = CHART / "values-managed.yaml"
RELEASE = "accord"
# The roles each service's process can run (ACCORD_ROLES): one Deployment each.
ROLES = {
    "plans": {"api", "relay", "consumer"},
    "meetings": {"api", "relay", "consumer"},
    "notifications": {"api", "relay", "consumer", "dispatcher"},
}
# Secrets of the test's own, strong enough for production's checks (published nowhere else).
SECRETS = {
    "secrets.postgresPassword": "helm-test-database-password-91b2c3d4e5f6",
    "secrets.kafkaPasswords.admin": "helm-test-kafka-admin-7c1d2e3f4a5b6c7d8e",
    "secrets.kafkaPasswords.plans": "helm-test-kafka-plans-8d2e3f4a5b6c7d8e9f",
    "secrets.kafkaPasswords.meetings": "helm-test-kafka-meetings-9e3f4a5b6c7d8e9f",
    "secrets.kafkaPasswords.notifications": "helm-test-kafka-notifications-af4a5b6c7d",
    "secrets.notificationsSecretKeys": new_key_entry(),
    "secrets.jwks": '{"keys": []}',
}

Manifest = dict[str, Any]


def helm_binary() -> str:
    """helm on PATH, or where ``go install`` puts it (deploy/stack installs it there)."""
    found = shutil.which("helm")
    if found is None and shutil.which("go"):
        gopath = subprocess.run(
            ["go", "env", "GOPATH"], capture_output=True, text=True, check=True
        ).stdout.strip()
        candidate = Path(gopath) / "bin" / "helm"
        found = str(candidate) if candidate.is_file() else None
    assert found, "helm is missing: deploy/stack test installs it (go install helm.sh/helm/v3)"
    return found


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm_binary(), *args],
        capture_output=True,
        text=True,
        timeout=120,
        # No user configuration or cache of the machine's: the chart alone.
        env={"PATH": os.environ["PATH"], "HOME": str(REPO / ".runtime" / "helm-home")},
    )


def secret_args(values: dict[str, str]) -> list[str]:
    return [
        argument
        for name, value in values.items()
        for argument in ("--set-string", f"{name}={value}")
    ]


def render(*args: str) -> list[Manifest]:
    result = helm("template", RELEASE, str(CHART), *args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def manifests() -> list[Manifest]:
    return render("--values", str(MANAGED_VALUES), *secret_args(SECRETS))


def of_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def deployments(manifests: list[Manifest]) -> dict[tuple[str, str], Manifest]:
    """(service, role) -> its Deployment."""
    found = {}
    for deployment in of_kind(manifests, "Deployment").values():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        found[(labels["app.kubernetes.io/component"], labels["accord.org/role"])] = deployment
    return found


def containers(manifests: list[Manifest]) -> Iterator[tuple[str, Manifest, Manifest]]:
    """(the service whose code it runs or "" for shared tooling, container, pod spec) of
    every Accord container: the Deployments' and the setup Job's."""
    for kind in ("Deployment", "Job"):
        for workload in of_kind(manifests, kind).values():
            pod = workload["spec"]["template"]["spec"]
            for container in [*pod.get("initContainers", []), *pod["containers"]]:
                module = container["command"][2]
                service = module.split(".")[1] if module.startswith("services.") else ""
                yield service, container, pod


def settings_classes(service: str) -> list[Any]:
    return [CommonSettings, *([SERVICE_SETTINGS[service]] if service else [])]


def environment(container: Manifest, secret: dict[str, str]) -> dict[str, str]:
    """A container's environment as Kubernetes would give it: plain values, keys of the
    release's Secret, the pod's name."""
    env = {}
    for variable in container["env"]:
        source = variable.get("valueFrom", {})
        if "secretKeyRef" in source:
            env[variable["name"]] = secret[source["secretKeyRef"]["key"]]
        elif "fieldRef" in source:
            assert source["fieldRef"]["fieldPath"] == "metadata.name", variable
            env[variable["name"]] = "accord-plans-api-5d9c7-xk2lp"
        else:
            env[variable["name"]] = variable["value"]
    return env


def release_secret(manifests: list[Manifest]) -> dict[str, str]:
    [secret] = of_kind(manifests, "Secret").values()
    data: dict[str, str] = secret["stringData"]
    return data


def test_the_chart_lints_cleanly() -> None:
    strict = helm(
        "lint", "--strict", str(CHART), "--values", str(MANAGED_VALUES), *secret_args(SECRETS)
    )
    assert strict.returncode == 0, strict.stdout + strict.stderr
    # Without values it still lints: what is missing is reported when it is rendered.
    assert helm("lint", str(CHART)).returncode == 0


def test_rendering_without_the_external_services_names_what_is_missing() -> None:
    result = helm("template", RELEASE, str(CHART), *secret_args(SECRETS))
    assert result.returncode != 0
    assert "kafka.bootstrapServers is required" in result.stderr


def test_each_service_runs_one_deployment_per_role_serving_that_role(
    manifests: list[Manifest],
) -> None:
    found = deployments(manifests)
    assert set(found) == {(service, role) for service, roles in ROLES.items() for role in roles}
    for (service, role), deployment in found.items():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["python", "-m", f"services.{service}", "serve"]
        env = {v["name"]: v.get("value") for v in container["env"]}
        assert env["ACCORD_ROLES"] == role
        assert deployment["spec"]["replicas"] >= 2, f"{service} {role}: a single replica"
        assert container["resources"]["requests"], f"{service} {role}: no resource requests"


def test_every_command_names_a_module_of_the_repository(manifests: list[Manifest]) -> None:
    for _, container, _ in containers(manifests):
        argv = container["command"]
        assert argv[:2] == ["python", "-m"], argv
        path = REPO.joinpath(*argv[2].split("."))
        assert path.with_suffix(".py").is_file() or (path / "__main__.py").is_file(), argv


def test_every_variable_the_chart_sets_is_a_setting_of_that_service(
    manifests: list[Manifest],
) -> None:
    unknown = {}
    for service, container, _ in containers(manifests):
        known = set().union(*map(setting_names, settings_classes(service)))
        ours = {v["name"] for v in container["env"] if v["name"].startswith(SETTINGS_PREFIXES)}
        if ours - known:
            unknown[container["name"]] = sorted(ours - known)
    assert unknown == {}


def test_every_container_environment_is_accepted_by_its_settings_in_production(
    manifests: list[Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the files the environment names where the pod mounts them (here: a CA made for
    the test, the JWKS document from the Secret), the settings load: no refused value, no
    published secret, and the files are found."""
    secret = release_secret(manifests)
    ca, _, _, _ = certificate(tmp_path, "managed-ca")
    for service, container, pod in containers(manifests):
        env = environment(container, secret)
        assert env["ACCORD_ENVIRONMENT"] == "production"
        local = {**env, **local_files(container, pod, env, secret, ca, tmp_path)}
        for settings_class in settings_classes(service):
            load_settings(settings_class, local, monkeypatch)


def local_files(
    container: Manifest,
    pod: Manifest,
    env: dict[str, str],
    secret: dict[str, str],
    ca: Path,
    tmp_path: Path,
) -> dict[str, str]:
    """Each variable naming a file under /run/accord, pointed at a copy here of what the pod
    mounts there; a file no volume mounts fails the test."""
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: volumes[mount["name"]] for mount in container["volumeMounts"]}
    moved = {}
    for variable, value in env.items():
        if not value.startswith("/run/accord/"):
            continue
        directory, name = value.rsplit("/", 1)
        assert directory in mounts, f"{container['name']}: {variable}={value} is not mounted"
        assert "secret" in mounts[directory], f"{variable}: mounted from no Secret"
        source = mounts[directory]["secret"]
        copy = tmp_path / variable
        if source["secretName"] == f"{RELEASE}-accord-secrets":
            [item] = [i for i in source["items"] if i["path"] == name]
            copy.write_text(secret[item["key"]])
        else:
            assert name == "ca.crt", f"{variable}: a CA Secret holds ca.crt"
            copy.write_bytes(ca.read_bytes())
        moved[variable] = str(copy)
    return moved


def test_every_secret_a_container_reads_is_in_the_release_secret(
    manifests: list[Manifest],
) -> None:
    secret = release_secret(manifests)
    [name] = of_kind(manifests, "Secret")
    for _, container, _ in containers(manifests):
        for variable in container["env"]:
            ref = variable.get("valueFrom", {}).get("secretKeyRef")
            if ref is not None:
                assert ref["name"] == name and ref["key"] in secret, variable


def test_each_pod_listens_where_its_settings_make_it_and_is_probed_there(
    manifests: list[Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = release_secret(manifests)
    paths = {route.path for route in health_router.routes}  # type: ignore[attr-defined]
    for (service, role), deployment in deployments(manifests).items():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        env = {k: v for k, v in environment(container, secret).items() if "SSL" not in k}
        settings = load_settings(SERVICE_SETTINGS[service], env, monkeypatch)
        assert settings.http_host == "0.0.0.0", f"{service} {role}: unreachable from outside"
        [port] = container["ports"]
        assert (port["name"], port["containerPort"]) == ("http", settings.http_port)
        readiness = container["readinessProbe"]["httpGet"]
        liveness = container["livenessProbe"]["httpGet"]
        assert (readiness["path"], readiness["port"]) == ("/readyz", "http")
        assert (liveness["path"], liveness["port"]) == ("/healthz", "http")
        assert {readiness["path"], liveness["path"]} <= paths


def test_the_termination_grace_period_covers_the_pre_stop_the_drain_and_the_grace(
    manifests: list[Manifest],
) -> None:
    for (service, role), deployment in deployments(manifests).items():
        pod = deployment["spec"]["template"]["spec"]
        [container] = pod["containers"]
        env = {v["name"]: v.get("value") for v in container["env"]}
        sleep = container["lifecycle"]["preStop"]["exec"]["command"]
        assert sleep[0] == "sleep", sleep
        needed = (
            float(sleep[1])
            + float(env["ACCORD_SHUTDOWN_DRAIN_SECONDS"])
            + float(env["ACCORD_SHUTDOWN_GRACE_SECONDS"])
        )
        budget = pod["terminationGracePeriodSeconds"]
        assert needed < budget, f"{service} {role}: SIGKILL before the grace period ends"


def test_every_deployment_has_a_disruption_budget_over_exactly_its_pods(
    manifests: list[Manifest],
) -> None:
    budgets = [b["spec"] for b in of_kind(manifests, "PodDisruptionBudget").values()]
    for (service, role), deployment in deployments(manifests).items():
        selector = deployment["spec"]["selector"]["matchLabels"]
        matching = [b for b in budgets if b["selector"]["matchLabels"] == selector]
        assert len(matching) == 1, f"{service} {role}"
        assert matching[0]["maxUnavailable"] < deployment["spec"]["replicas"]


def test_the_ingress_routes_each_prefix_to_its_service_api_pods(
    manifests: list[Manifest],
) -> None:
    [ingress] = of_kind(manifests, "Ingress").values()
    services = of_kind(manifests, "Service")
    found = deployments(manifests)
    [rule] = ingress["spec"]["rules"]
    routed = {}
    for path in rule["http"]["paths"]:
        backend = path["backend"]["service"]
        service = services[backend["name"]]
        api = found[(path["path"].split("(")[0].strip("/"), "api")]
        # The Service picks the api pods of that service, on the port they name "http".
        assert service["spec"]["selector"] == api["spec"]["selector"]["matchLabels"]
        assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
        assert backend["port"]["name"] == service["spec"]["ports"][0]["name"]
        routed[path["path"]] = service["metadata"]["labels"]["app.kubernetes.io/component"]
    assert routed == {f"/{name}(/|$)(.*)": name for name in ROLES}
    annotations = ingress["metadata"]["annotations"]
    # The prefix is taken off: /plans/plans/{id} reaches plans as /plans/{id}.
    assert annotations["nginx.ingress.kubernetes.io/rewrite-target"] == "/$2"
    # The entry point's body limit is the services' own.
    limits = {
        v["value"]
        for _, c, _ in containers(manifests)
        for v in c["env"]
        if v["name"] == "ACCORD_MAX_BODY_BYTES"
    }
    assert limits == {annotations["nginx.ingress.kubernetes.io/proxy-body-size"]}


def test_the_setup_job_migrates_every_service_then_creates_the_topics_before_install(
    manifests: list[Manifest],
) -> None:
    [job] = of_kind(manifests, "Job").values()
    [secret] = of_kind(manifests, "Secret").values()
    hooks = job["metadata"]["annotations"]
    assert set(hooks["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    # The Secret it reads is made before it (a hook of a lower weight).
    assert set(secret["metadata"]["annotations"]["helm.sh/hook"].split(",")) >= {
        "pre-install",
        "pre-upgrade",
    }
    assert int(secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        hooks["helm.sh/hook-weight"]
    )
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert sorted(c["command"] for c in pod["initContainers"]) == sorted(
        ["python", "-m", f"services.{service}", "migrate"] for service in ROLES
    )
    [topics] = pod["containers"]
    assert topics["command"] == ["python", "-m", "shared.topics", "create", "--replication", "3"]
    env = {v["name"]: v.get("value") for v in topics["env"]}
    assert env["ACCORD_KAFKA_USERNAME"] == "admin"


def test_an_existing_secret_replaces_the_chart_made_one() -> None:
    rendered = render(
        "--values", str(MANAGED_VALUES), "--set", "secrets.existingSecret=accord-from-vault"
    )
    assert of_kind(rendered, "Secret") == {}
    names = {
        variable["valueFrom"]["secretKeyRef"]["name"]
        for _, container, _ in containers(rendered)
        for variable in container["env"]
        if "secretKeyRef" in variable.get("valueFrom", {})
    }
    assert names == {"accord-from-vault"}
