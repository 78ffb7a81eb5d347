"""Production starts only with secrets of its own: none published with Accord, none short,
none of few characters or one pattern repeated; the error names the variable, never the value.

Found by the probe: production refused the development default but started with the
placeholder of .env.example (`replace-me-with-a-long-random-secret`). Since tokens are checked
against public keys, production refuses the shared-secret algorithm (HS256) whatever the
secret, and the secret checks guard the database passwords."""

import re
import secrets
from pathlib import Path

import pytest
from dotenv import dotenv_values
from pydantic import ValidationError

from services.plans.config import PlansSettings
from shared.config import PUBLISHED_SECRETS, CommonSettings
from tests.support.production import authenticated_kafka

REPO = Path(__file__).resolve().parents[2]
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|KEY")
# ${NAME:-default} or ${NAME-default}
COMPOSE_DEFAULT = re.compile(r"\$\{(?P<name>[A-Za-z0-9_]+):?-(?P<default>[^}]*)\}")
# A literal value for a secret in an environment block, e.g. `POSTGRES_PASSWORD: accord`.
COMPOSE_LITERAL = re.compile(r"^\s*-?\s*(?P<name>[A-Za-z0-9_]+)\s*[:=]\s*(?P<value>[^$\s#][^\s#]*)")


def _published_in_the_repository() -> dict[str, str]:
    found = {
        f".env.example {name}": value or ""
        for name, value in dotenv_values(REPO / ".env.example").items()
        if SECRET_NAME.search(name)
    }
    compose = (REPO / "docker-compose.yml").read_text()
    for match in COMPOSE_DEFAULT.finditer(compose):
        if SECRET_NAME.search(match["name"]):
            found[f"docker-compose.yml default of {match['name']}"] = match["default"]
    for line in compose.splitlines():
        literal = COMPOSE_LITERAL.match(line)
        if literal and SECRET_NAME.search(literal["name"]):
            found[f"docker-compose.yml {literal['name']}"] = literal["value"]
    return found


def test_every_secret_the_repository_publishes_is_refused_in_production() -> None:
    published = _published_in_the_repository()
    assert ".env.example POSTGRES_PASSWORD" in published
    # An empty value publishes no secret: it leaves the feature off (no SMTP authentication).
    missing = {
        where: value
        for where, value in published.items()
        if value and value not in PUBLISHED_SECRETS
    }
    assert not missing, f"add these to shared.config.PUBLISHED_SECRETS: {missing}"


WEAK = {
    "published": sorted(PUBLISHED_SECRETS),
    "short": ["a-real-secret-but-31-bytes-long"],
    "few characters": ["abcabcabcabcabcabcabcabcabcabcabcabcab1", "0" * 64],
    "repeated": ["Xy7-Qp2_Xy7-Qp2_Xy7-Qp2_Xy7-Qp2_Xy7-Qp2_"],
}


@pytest.mark.parametrize(
    "secret", [s for values in WEAK.values() for s in values], ids=lambda s: s[:12]
)
def test_a_weak_database_password_of_any_kind_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.setenv("ACCORD_ENVIRONMENT", "production")
    monkeypatch.setenv("PLANS_DATABASE_URL", f"postgresql+asyncpg://accord:{secret}@db/x")
    with pytest.raises(ValidationError) as refused:
        PlansSettings()
    assert "PLANS_DATABASE_URL" in str(refused.value)
    assert secret not in str(refused.value)


@pytest.mark.parametrize(
    "secret", [*sorted(PUBLISHED_SECRETS), "a-real-secret-from-the-vault-0123"]
)
def test_production_refuses_hs256_tokens_whatever_the_secret(
    monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.setenv("ACCORD_ENVIRONMENT", "production")
    monkeypatch.setenv("ACCORD_JWT_ALGORITHM", "HS256")
    monkeypatch.setenv("ACCORD_JWT_SECRET", secret)
    with pytest.raises(ValidationError) as refused:
        CommonSettings()
    assert "ACCORD_JWT_ALGORITHM" in str(refused.value)
    assert secret not in str(refused.value)


@pytest.mark.parametrize("password", ["replace-me-with-a-database-password", "accord"])
def test_a_weak_database_password_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    monkeypatch.setenv("ACCORD_ENVIRONMENT", "production")
    monkeypatch.setenv("PLANS_DATABASE_URL", f"postgresql+asyncpg://accord:{password}@db/x")
    with pytest.raises(ValidationError) as refused:
        PlansSettings()
    assert "PLANS_DATABASE_URL" in str(refused.value)
    assert password not in str(refused.value)


@pytest.mark.parametrize(
    "secret",
    [secrets.token_urlsafe(32), secrets.token_hex(32), "a-real-secret-from-the-vault-0123"],
)
def test_a_secret_of_its_own_is_accepted(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    monkeypatch.setenv("ACCORD_ENVIRONMENT", "production")
    authenticated_kafka(monkeypatch, password=secret)
    monkeypatch.setenv("PLANS_DATABASE_URL", f"postgresql+asyncpg://accord:{secret}@db/x")
    assert PlansSettings().environment == "production"


def test_development_keeps_its_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACCORD_ENVIRONMENT", raising=False)
    monkeypatch.delenv("ACCORD_JWT_SECRET", raising=False)
    assert CommonSettings().jwt_secret in PUBLISHED_SECRETS


def test_production_refuses_a_broker_that_does_not_authenticate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACCORD_ENVIRONMENT", "production")
    monkeypatch.setenv("ACCORD_JWT_SECRET", secrets.token_urlsafe(32))
    monkeypatch.setenv("ACCORD_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    with pytest.raises(ValidationError) as refused:
        CommonSettings()
    assert "ACCORD_KAFKA_SECURITY_PROTOCOL" in str(refused.value)


@pytest.mark.parametrize(
    "password",
    [
        *(s for s in PUBLISHED_SECRETS if "kafka" in s),
        "a-real-secret-but-31-bytes-long",
    ],
)
def test_a_weak_kafka_password_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    monkeypatch.setenv("ACCORD_ENVIRONMENT", "production")
    monkeypatch.setenv("ACCORD_JWT_SECRET", secrets.token_urlsafe(32))
    authenticated_kafka(monkeypatch, password=password)
    with pytest.raises(ValidationError) as refused:
        CommonSettings()
    assert "ACCORD_KAFKA_PASSWORD" in str(refused.value)
    assert password not in str(refused.value)


@pytest.mark.parametrize("missing", ["ACCORD_KAFKA_USERNAME", "ACCORD_KAFKA_PASSWORD"])
def test_sasl_without_a_username_and_password_is_refused_in_any_environment(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.delenv("ACCORD_ENVIRONMENT", raising=False)
    authenticated_kafka(monkeypatch, password=secrets.token_urlsafe(32))
    monkeypatch.delenv(missing)
    with pytest.raises(ValidationError) as refused:
        CommonSettings()
    assert missing in str(refused.value)


def test_an_authenticated_client_sends_its_credentials_and_never_shows_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    password = secrets.token_urlsafe(32)
    authenticated_kafka(monkeypatch, password=password)
    monkeypatch.setenv("ACCORD_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    access = CommonSettings().kafka_access()
    options = access.client_options()
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert options["sasl_mechanism"] == "SCRAM-SHA-256"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("plans", password)
    assert password not in repr(access)


def test_a_client_of_a_broker_without_users_sends_no_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ACCORD_KAFKA_SECURITY_PROTOCOL", raising=False)
    options = CommonSettings().kafka_access().client_options()
    assert options["security_protocol"] == "PLAINTEXT"
    assert "sasl_plain_password" not in options


def test_production_refuses_kafka_tls_without_a_client_certificate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found in review: SSL without a client certificate passed, although the broker then
    cannot tell who connects (the refusal's own message asked for client certificates)."""
    monkeypatch.setenv("ACCORD_ENVIRONMENT", "production")
    monkeypatch.setenv("ACCORD_KAFKA_SECURITY_PROTOCOL", "SSL")
    with pytest.raises(ValidationError) as refused:
        CommonSettings()
    assert "ACCORD_KAFKA_SSL_CERTFILE" in str(refused.value)
