"""What a process runs (ACCORD_ROLES) and the proxy's configuration, without servers. The
roles against running replicas: tests/integration/test_replicas.py."""

import shutil
import subprocess
from pathlib import Path

import aiokafka.client
import pytest

from deploy.local.proxy import COMPOSE_CONFIG, compose_config, haproxy_config
from services.plans.main import create
from shared.config import CommonSettings
from shared.lifecycle import ALL_ROLES, Role, parse_roles

PROBES = {"/healthz", "/readyz", "/asyncapi.json"}


def test_roles_default_to_all_and_refuse_unknown_names() -> None:
    assert parse_roles("") == ALL_ROLES
    assert parse_roles(" api , relay ") == {Role.API, Role.RELAY}
    with pytest.raises(ValueError, match=r"ACCORD_ROLES: unknown role.*publisher"):
        parse_roles("api,publisher")


def test_an_unknown_role_stops_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCORD_ROLES", "api,worker")
    with pytest.raises(ValueError, match="unknown role"):
        CommonSettings()


def _paths(monkeypatch: pytest.MonkeyPatch, roles: str) -> set[str]:
    # Building the app wraps aiokafka's connections (shared.kafka_reconnect): undone after.
    monkeypatch.setattr(aiokafka.client, "create_conn", aiokafka.client.create_conn)
    monkeypatch.setenv("PLANS_DATABASE_URL", "postgresql+asyncpg://db/x")
    monkeypatch.setenv("ACCORD_ROLES", roles)
    return set(create().openapi()["paths"])


def test_a_process_without_the_api_role_serves_only_probes_and_catalogue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with_api = _paths(monkeypatch, "api")
    without = _paths(monkeypatch, "relay,consumer")
    assert "/plans/{plan_id}" in with_api
    assert without >= PROBES
    assert not any(path.startswith(("/plans", "/action-lines")) for path in without)


def test_the_proxy_routes_each_prefix_to_its_replicas_and_haproxy_accepts_it(
    tmp_path: Path,
) -> None:
    config = haproxy_config(
        28000,
        {
            "plans": [("plans", "127.0.0.1:8001"), ("plans-2", "127.0.0.1:8101")],
            "meetings": [("meetings", "127.0.0.1:8002")],
        },
        stats_port=28404,
    )
    assert "use_backend plans if { path /plans } || { path_beg /plans/ }" in config
    assert "    server plans-2 127.0.0.1:8101 check" in config
    assert "option httpchk GET /readyz" in config
    assert "X-Request-ID %[uuid] unless { req.hdr(x-request-id) -m found }" in config
    haproxy = shutil.which("haproxy")
    assert haproxy is not None, "deploy/stack installs haproxy"
    path = tmp_path / "haproxy.cfg"
    path.write_text(config)
    checked = subprocess.run([haproxy, "-c", "-f", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "WARNING" not in checked.stdout + checked.stderr


def test_the_compose_files_proxy_configuration_is_the_generated_one() -> None:
    """docker-compose.yml mounts deploy/haproxy/haproxy-compose.cfg: the same generator as the
    local stack's, for the services' names and ports in the compose network."""
    assert COMPOSE_CONFIG.read_text() == compose_config(), (
        "regenerate it: .venv/bin/python -m deploy.local.proxy > deploy/haproxy/haproxy-compose.cfg"
    )
    for service, port in (("plans", 8001), ("meetings", 8002), ("notifications", 8003)):
        assert f"    server {service} {service}:{port} check" in compose_config()


def test_trusted_proxies_are_addresses_or_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCORD_TRUSTED_PROXIES", " 127.0.0.1, 10.0.0.0/8 ,")
    assert CommonSettings().trusted_proxy_list == ["127.0.0.1", "10.0.0.0/8"]
    monkeypatch.setenv("ACCORD_TRUSTED_PROXIES", "")
    assert CommonSettings().trusted_proxy_list == []
    # "*" would let any client name its own address and so escape its rate limit.
    for wrong in ("*", "proxy.internal", "10.0.0.0/33"):
        monkeypatch.setenv("ACCORD_TRUSTED_PROXIES", wrong)
        with pytest.raises(ValueError, match="ACCORD_TRUSTED_PROXIES"):
            CommonSettings()
