"""TLS to Kafka and PostgreSQL as settings (shared/config.py, shared/tls.py): what each
setting gives the clients, and the start-up refusals that name the variable at fault."""

import ssl
from pathlib import Path
from typing import cast

import pytest
from pydantic import ValidationError

from services.plans.config import PlansSettings
from shared.config import CommonSettings
from tests.support.certificates import certificate
from tests.support.production import authenticated_kafka

KAFKA_VARIABLES = (
    "ACCORD_KAFKA_SECURITY_PROTOCOL",
    "ACCORD_KAFKA_SSL_CAFILE",
    "ACCORD_KAFKA_SSL_CERTFILE",
    "ACCORD_KAFKA_SSL_KEYFILE",
    "PLANS_DATABASE_SSL_MODE",
    "PLANS_DATABASE_SSL_ROOT_CERT",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KAFKA_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def refused(
    settings: type[CommonSettings] | type[PlansSettings],
    monkeypatch: pytest.MonkeyPatch,
    **env: str,
) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as refusal:
        settings()
    return str(refusal.value)


def test_without_settings_the_clients_are_plain_and_untouched() -> None:
    options = CommonSettings().kafka_access().client_options()
    assert options["security_protocol"] == "PLAINTEXT" and "ssl_context" not in options
    assert PlansSettings().database_connect_args() == {}


@pytest.mark.parametrize("protocol", ["SSL", "SASL_SSL"])
def test_kafka_tls_trusts_the_ca_file_and_verifies_the_broker_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, protocol: str
) -> None:
    ca, _, _, _ = certificate(tmp_path, "accord-test-ca")
    monkeypatch.setenv("ACCORD_KAFKA_SSL_CAFILE", str(ca))
    # SASL_SSL: TLS under the SASL login, which needs its credentials.
    authenticated_kafka(monkeypatch, protocol=protocol)
    options = CommonSettings().kafka_access().client_options()
    assert options["security_protocol"] == protocol
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert {"commonName": "accord-test-ca"} in _ca_subjects(context)


def test_kafka_tls_takes_a_client_certificate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca, _, ca_name, ca_key = certificate(tmp_path, "ca")
    cert, key, _, _ = certificate(tmp_path, "notifications", issuer=(ca_name, ca_key))
    monkeypatch.setenv("ACCORD_KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("ACCORD_KAFKA_SSL_CAFILE", str(ca))
    monkeypatch.setenv("ACCORD_KAFKA_SSL_CERTFILE", str(cert))
    monkeypatch.setenv("ACCORD_KAFKA_SSL_KEYFILE", str(key))
    assert isinstance(
        CommonSettings().kafka_access().client_options()["ssl_context"], ssl.SSLContext
    )
    # A key that is not the certificate's.
    _, other_key, _, _ = certificate(tmp_path, "other")
    message = refused(CommonSettings, monkeypatch, ACCORD_KAFKA_SSL_KEYFILE=str(other_key))
    assert "ACCORD_KAFKA_SSL_CERTFILE / ACCORD_KAFKA_SSL_KEYFILE" in message


def test_kafka_tls_without_a_ca_file_trusts_the_system_cas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACCORD_KAFKA_SECURITY_PROTOCOL", "SSL")
    context = CommonSettings().kafka_access().client_options()["ssl_context"]
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"ACCORD_KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"}, "ACCORD_KAFKA_SSL_CAFILE"),
        ({"ACCORD_KAFKA_SSL_CERTFILE": "/nonexistent/c.pem"}, "ACCORD_KAFKA_SSL_CERTFILE"),
        ({"ACCORD_KAFKA_SSL_KEYFILE": "/nonexistent/k.pem"}, "ACCORD_KAFKA_SSL_KEYFILE"),
    ],
)
def test_a_missing_kafka_tls_file_stops_the_start_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], names: str
) -> None:
    cert, key, _, _ = certificate(tmp_path, "client")
    authenticated_kafka(monkeypatch, protocol="SASL_SSL")
    monkeypatch.setenv("ACCORD_KAFKA_SSL_CERTFILE", str(cert))
    monkeypatch.setenv("ACCORD_KAFKA_SSL_KEYFILE", str(key))
    message = refused(CommonSettings, monkeypatch, **env)
    assert f"{names}: /nonexistent/" in message and "cannot be read" in message


def test_a_ca_file_that_holds_no_certificate_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate\n")
    message = refused(
        CommonSettings,
        monkeypatch,
        ACCORD_KAFKA_SECURITY_PROTOCOL="SSL",
        ACCORD_KAFKA_SSL_CAFILE=str(garbage),
    )
    assert "ACCORD_KAFKA_SSL_CAFILE" in message and "holds no usable CA" in message


def test_kafka_tls_files_without_a_tls_protocol_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca, _, _, _ = certificate(tmp_path, "ca")
    message = refused(CommonSettings, monkeypatch, ACCORD_KAFKA_SSL_CAFILE=str(ca))
    assert "ACCORD_KAFKA_SSL_CAFILE set but ACCORD_KAFKA_SECURITY_PROTOCOL is PLAINTEXT" in message


@pytest.mark.parametrize(("mode", "check_hostname"), [("verify-full", True), ("verify-ca", False)])
def test_postgres_verify_modes_trust_the_root_certificate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mode: str, check_hostname: bool
) -> None:
    ca, _, _, _ = certificate(tmp_path, "db-ca")
    monkeypatch.setenv("PLANS_DATABASE_SSL_MODE", mode)
    monkeypatch.setenv("PLANS_DATABASE_SSL_ROOT_CERT", str(ca))
    context = PlansSettings().database_connect_args()["ssl"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is check_hostname
    assert _ca_subjects(context) == [{"commonName": "db-ca"}]


@pytest.mark.parametrize("mode", ["disable", "prefer", "require"])
def test_postgres_modes_without_verification_pass_through(
    monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("PLANS_DATABASE_SSL_MODE", mode)
    assert PlansSettings().database_connect_args() == {"ssl": mode}


def test_postgres_tls_refusals_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca, _, _, _ = certificate(tmp_path, "db-ca")
    message = refused(PlansSettings, monkeypatch, PLANS_DATABASE_SSL_ROOT_CERT=str(ca))
    assert "PLANS_DATABASE_SSL_ROOT_CERT is set without PLANS_DATABASE_SSL_MODE" in message
    message = refused(PlansSettings, monkeypatch, PLANS_DATABASE_SSL_MODE="require")
    assert "PLANS_DATABASE_SSL_ROOT_CERT is set but the SSL mode is 'require'" in message
    message = refused(
        PlansSettings,
        monkeypatch,
        PLANS_DATABASE_SSL_MODE="verify-full",
        PLANS_DATABASE_SSL_ROOT_CERT="/nonexistent/root.crt",
    )
    assert "PLANS_DATABASE_SSL_ROOT_CERT: /nonexistent/root.crt cannot be read" in message
    message = refused(PlansSettings, monkeypatch, PLANS_DATABASE_SSL_MODE="sometimes")
    assert "database_ssl_mode" in message


# A subject: relative distinguished names, each of (attribute, value) pairs.
Subject = tuple[tuple[tuple[str, str], ...], ...]


def _ca_subjects(context: ssl.SSLContext) -> list[dict[str, str]]:
    """The subject of each CA certificate ``context`` trusts, e.g. {"commonName": ...}."""
    # typeshed types every field of a certificate as the union of all fields' shapes.
    subjects = (cast(Subject, c["subject"]) for c in context.get_ca_certs())
    return [dict(part[0] for part in subject) for subject in subjects]
