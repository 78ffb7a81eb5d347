from datetime import timedelta

import pytest

from shared.auth import Role, decode_token, issue_token
from shared.config import DEVELOPMENT_JWT_SECRET, CommonSettings
from shared.problems import Unauthorized

SECRET = "unit-test-secret-0123456789abcdef"


def test_a_delegation_token_carries_its_role_and_code() -> None:
    principal = decode_token(
        SECRET, issue_token(SECRET, subject="vnm", role=Role.DELEGATION, delegation="VNM")
    )
    assert (principal.role, principal.delegation, principal.is_secretariat) == (
        Role.DELEGATION,
        "VNM",
        False,
    )


def test_an_expired_token_is_refused() -> None:
    expired = issue_token(SECRET, subject="s", role=Role.SECRETARIAT, ttl=timedelta(seconds=-1))
    with pytest.raises(Unauthorized, match="expired"):
        decode_token(SECRET, expired)


def test_a_token_signed_with_another_secret_is_refused() -> None:
    forged = issue_token("another-secret-0123456789abcdef-xyz", subject="s", role=Role.SECRETARIAT)
    with pytest.raises(Unauthorized, match="invalid"):
        decode_token(SECRET, forged)


def test_a_delegation_token_needs_a_delegation_code() -> None:
    with pytest.raises(ValueError):
        issue_token(SECRET, subject="s", role=Role.DELEGATION)
    with pytest.raises(ValueError):
        issue_token(SECRET, subject="s", role=Role.VIEWER, delegation="VNM")


def test_production_refuses_the_development_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCORD_ENVIRONMENT", "production")
    monkeypatch.delenv("ACCORD_JWT_SECRET", raising=False)
    with pytest.raises(ValueError, match="ACCORD_JWT_SECRET"):
        CommonSettings()
    monkeypatch.setenv("ACCORD_JWT_SECRET", DEVELOPMENT_JWT_SECRET)
    with pytest.raises(ValueError, match="ACCORD_JWT_SECRET"):
        CommonSettings()
    monkeypatch.setenv("ACCORD_JWT_SECRET", "a-real-secret-from-the-vault-0123")
    # Production also needs an authenticated broker (tests/unit/test_production_secrets.py).
    monkeypatch.setenv("ACCORD_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("ACCORD_KAFKA_USERNAME", "plans")
    monkeypatch.setenv("ACCORD_KAFKA_PASSWORD", "another-real-secret-from-the-vault-4567")
    assert CommonSettings().environment == "production"
