"""What production mode asks of a process's settings, for tests that build them: a broker
that authenticates its clients, with a password of the process's own (shared/config.py)."""

import pytest

# Strong enough for the production checks, and published nowhere but here.
KAFKA_PASSWORD = "another-real-secret-from-the-vault-4567"
# The SASL settings as environment variables (a process's own user is added by the caller).
SASL = {"ACCORD_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "ACCORD_KAFKA_PASSWORD": KAFKA_PASSWORD}


def authenticated_kafka(
    monkeypatch: pytest.MonkeyPatch,
    *,
    user: str = "plans",
    password: str = KAFKA_PASSWORD,
    protocol: str = "SASL_PLAINTEXT",
) -> None:
    monkeypatch.setenv("ACCORD_KAFKA_SECURITY_PROTOCOL", protocol)
    monkeypatch.setenv("ACCORD_KAFKA_USERNAME", user)
    monkeypatch.setenv("ACCORD_KAFKA_PASSWORD", password)
