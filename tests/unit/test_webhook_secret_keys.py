"""The keys that encrypt webhook secrets at rest: how an operator gives them, what production
refuses, and what the encryption binds (services/notifications/webhooks/keyring.py)."""

import base64
import secrets
import uuid
from pathlib import Path

import pytest
from dotenv import dotenv_values
from pydantic import ValidationError

from services.notifications.config import DEVELOPMENT_SECRET_KEYS, NotificationsSettings
from services.notifications.webhooks.keyring import (
    KeyringError,
    Sealed,
    SecretNotDecryptable,
    new_key_entry,
    parse_keys,
)

REPO = Path(__file__).resolve().parents[2]
STRONG_PASSWORD_URL = "postgresql+asyncpg://accord:Zk3j-9dk2LmQ0pXr7tYw1vB5nE8sHcA4@db/x"
SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def key_entry(key_id: str, key: bytes | None = None) -> str:
    return f"{key_id}:{base64.b64encode(key or secrets.token_bytes(32)).decode()}"


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("NOTIFICATIONS_SECRET_KEYS", "NOTIFICATIONS_SECRET_KEYS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ACCORD_ENVIRONMENT", "production")
    monkeypatch.setenv("NOTIFICATIONS_DATABASE_URL", STRONG_PASSWORD_URL)
    return monkeypatch


def refusal(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as refused:
        NotificationsSettings()
    return str(refused.value)


def test_the_first_key_is_current_and_the_others_still_decrypt() -> None:
    old = parse_keys(key_entry("2025"), "OLD")
    sealed = old.seal(endpoint := uuid.uuid4(), SECRET)
    (_, old_key), *_ = old.entries()
    both = parse_keys(
        f"# the new key first\n{key_entry('2026')},\n2025:{base64.b64encode(old_key).decode()}",
        "BOTH",
    )
    assert both.current == "2026" and both.ids == ("2026", "2025")
    assert both.open(endpoint, sealed) == SECRET
    resealed = both.reseal(endpoint, sealed)
    assert resealed.key_id == "2026" and both.open(endpoint, resealed) == SECRET


def test_a_ciphertext_holds_no_plaintext_and_differs_every_time() -> None:
    keyring = parse_keys(new_key_entry(), "KEYS")
    endpoint = uuid.uuid4()
    first, second = keyring.seal(endpoint, SECRET), keyring.seal(endpoint, SECRET)
    assert first.ciphertext != second.ciphertext  # a fresh nonce each time
    for sealed in (first, second):
        assert SECRET.encode() not in sealed.ciphertext
        assert base64.b64decode(SECRET.removeprefix("whsec_")) not in sealed.ciphertext


def test_a_ciphertext_moved_to_another_row_does_not_decrypt() -> None:
    keyring = parse_keys(new_key_entry(), "KEYS")
    mine, other = uuid.uuid4(), uuid.uuid4()
    sealed = keyring.seal(mine, SECRET)
    with pytest.raises(SecretNotDecryptable) as refused:
        keyring.open(other, sealed)
    assert str(other) in str(refused.value) and "another row" in str(refused.value)


def test_a_wrong_key_under_the_same_id_says_so_and_a_missing_key_is_named() -> None:
    endpoint = uuid.uuid4()
    sealed = parse_keys(key_entry("k1"), "KEYS").seal(endpoint, SECRET)
    with pytest.raises(SecretNotDecryptable) as wrong:
        parse_keys(key_entry("k1"), "KEYS").open(endpoint, sealed)
    assert "does not decrypt with key 'k1'" in str(wrong.value)
    with pytest.raises(SecretNotDecryptable) as missing:
        parse_keys(key_entry("k2"), "KEYS").open(endpoint, sealed)
    assert "key 'k1', which is not among the keys given (k2)" in str(missing.value)
    assert SECRET not in str(wrong.value) + str(missing.value)


def test_a_tampered_ciphertext_or_key_id_does_not_decrypt() -> None:
    keyring = parse_keys(key_entry("a") + "," + key_entry("b"), "KEYS")
    endpoint = uuid.uuid4()
    sealed = keyring.seal(endpoint, SECRET)
    flipped = bytes([sealed.ciphertext[-1] ^ 1])
    for tampered in (
        Sealed(sealed.key_id, sealed.ciphertext[:-1] + flipped),
        Sealed("b", sealed.ciphertext),
    ):
        with pytest.raises(SecretNotDecryptable):
            keyring.open(endpoint, tampered)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "holds no key"),
        ("no-colon", "is not 'id:base64-key'"),
        ("bad id:AAAA", "is not 'id:base64-key'"),
        ("k:not base64!", "is not base64"),
        ("k:" + base64.b64encode(b"sixteen bytes!!!").decode(), "is 16 bytes long, not 32"),
        (key_entry("k") + "," + key_entry("k"), "gives key 'k' twice"),
    ],
)
def test_keys_that_cannot_be_used_are_refused_naming_the_variable(text: str, says: str) -> None:
    with pytest.raises(KeyringError) as refused:
        parse_keys(text, "NOTIFICATIONS_SECRET_KEYS")
    assert says in str(refused.value) and "NOTIFICATIONS_SECRET_KEYS" in str(refused.value)


def test_production_refuses_to_start_without_keys(production: pytest.MonkeyPatch) -> None:
    message = refusal(production)
    assert "NOTIFICATIONS_SECRET_KEYS" in message and "new-secret-key" in message


@pytest.mark.parametrize(
    "published",
    [
        DEVELOPMENT_SECRET_KEYS,
        dotenv_values(REPO / ".env.example")["NOTIFICATIONS_SECRET_KEYS"] or "",
    ],
    ids=["development", "env-example"],
)
def test_production_refuses_a_published_key_even_among_old_ones(
    production: pytest.MonkeyPatch, published: str
) -> None:
    key = published.partition(":")[2]
    for keys in (published, f"{new_key_entry()},old:{key}"):
        message = refusal(production, NOTIFICATIONS_SECRET_KEYS=keys)
        assert "is a key published with Accord" in message
        assert key not in message


def test_production_refuses_a_key_that_is_not_random(production: pytest.MonkeyPatch) -> None:
    weak = key_entry("weak", bytes(range(8)) * 4)
    message = refusal(production, NOTIFICATIONS_SECRET_KEYS=weak)
    assert "key 'weak' has fewer than 16 different bytes" in message


def test_production_takes_keys_from_a_mounted_file(
    production: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "absent"
    message = refusal(production, NOTIFICATIONS_SECRET_KEYS_FILE=str(missing))
    assert "NOTIFICATIONS_SECRET_KEYS_FILE cannot be read" in message
    keys = tmp_path / "keys"
    keys.write_text(f"# current first\n{key_entry('new')}\n{key_entry('old')}\n")
    production.setenv("NOTIFICATIONS_SECRET_KEYS_FILE", str(keys))
    assert NotificationsSettings().keyring.ids == ("new", "old")
    message = refusal(production, NOTIFICATIONS_SECRET_KEYS=new_key_entry())
    assert "not both" in message


def test_development_encrypts_with_the_published_development_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (
        "ACCORD_ENVIRONMENT",
        "NOTIFICATIONS_SECRET_KEYS",
        "NOTIFICATIONS_SECRET_KEYS_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    assert NotificationsSettings().keyring.ids == ("development",)
