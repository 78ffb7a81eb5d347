"""Tokens without servers: claims, lifetime, keys from a JWKS file, the key commands' files.
The same refusals against the running services: tests/integration/test_tokens_against_stack.py."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from shared.auth import refuse_missing_keys, token_verifier
from shared.config import CommonSettings
from shared.jwks import JwksError, parse_jwks
from shared.problems import Unauthorized
from shared.signing_keys import (
    KeyFileError,
    SigningKey,
    add_key,
    load_signing_key,
    new_key,
    read_jwks,
    remove_key,
)
from shared.tokens import (
    Role,
    SecretKeySource,
    SharedSecret,
    TokenPolicy,
    TokenVerifier,
    issue_token,
)
from tests.support.production import authenticated_kafka


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def verifier(tmp_path: Path, key: SigningKey) -> TokenVerifier:
    jwks = tmp_path / "jwks.json"
    add_key(jwks, key)
    common = CommonSettings(
        jwks_url=str(jwks), jwks_refetch_seconds=0, jwt_max_lifetime_seconds=9 * 3600
    )
    return token_verifier(common, "plans")


async def test_a_delegation_token_carries_its_role_and_code(
    key: SigningKey, verifier: TokenVerifier
) -> None:
    token = issue_token(key, subject="vnm", role=Role.DELEGATION, delegation="VNM")
    principal = await verifier.verify(token)
    assert (principal.role, principal.delegation, principal.is_secretariat) == (
        Role.DELEGATION,
        "VNM",
        False,
    )
    assert jwt.get_unverified_header(token)["kid"] == key.kid


@pytest.mark.parametrize(
    ("claims", "refusal"),
    [
        ({"ttl": timedelta(seconds=-60)}, "expired"),
        ({"audiences": ("accord-meetings",)}, "not meant for accord-plans"),
        ({"issuer": "someone-else"}, "issuer"),
        ({"ttl": timedelta(hours=10)}, "longer than the 32400 s"),
        # A time from now, taken when the test runs: parameters are built at collection, which
        # can be many minutes earlier in a whole suite (this case then passed a past time).
        ({"issued_in": timedelta(minutes=10)}, "not valid yet"),
    ],
    ids=["expired", "foreign-audience", "wrong-issuer", "too-long", "issued-in-the-future"],
)
async def test_a_token_breaking_the_policy_is_refused(
    key: SigningKey, verifier: TokenVerifier, claims: dict[str, object], refusal: str
) -> None:
    if "issued_in" in claims:
        offset = claims.pop("issued_in")
        assert isinstance(offset, timedelta)
        claims = {**claims, "issued_at": datetime.now(UTC) + offset}
    token = issue_token(key, subject="s", role=Role.SECRETARIAT, **claims)  # type: ignore[arg-type]
    with pytest.raises(Unauthorized, match=refusal):
        await verifier.verify(token)


async def test_a_token_may_name_several_audiences(key: SigningKey, verifier: TokenVerifier) -> None:
    token = issue_token(
        key, subject="s", role=Role.VIEWER, audiences=("accord-meetings", "accord-plans")
    )
    assert (await verifier.verify(token)).role is Role.VIEWER


async def test_an_unknown_key_and_hs256_are_refused(verifier: TokenVerifier) -> None:
    stranger = issue_token(SigningKey.generate(), subject="s", role=Role.SECRETARIAT)
    with pytest.raises(Unauthorized, match="key that is not known"):
        await verifier.verify(stranger)
    hs256 = issue_token(SharedSecret("x" * 40), subject="s", role=Role.SECRETARIAT)
    with pytest.raises(Unauthorized, match="not signed with EdDSA"):
        await verifier.verify(hs256)


def test_a_delegation_token_needs_a_delegation_code(key: SigningKey) -> None:
    with pytest.raises(ValueError):
        issue_token(key, subject="s", role=Role.DELEGATION)
    with pytest.raises(ValueError):
        issue_token(key, subject="s", role=Role.VIEWER, delegation="VNM")


def test_a_jwks_document_with_a_private_key_is_refused(key: SigningKey) -> None:
    leaked = {**key.public_jwk, "d": "c2VjcmV0"}
    with pytest.raises(JwksError, match="private"):
        parse_jwks(json.dumps({"keys": [leaked]}))
    assert set(parse_jwks(json.dumps({"keys": [key.public_jwk]}))) == {key.kid}


def test_the_key_commands_make_rotate_and_retire_keys(tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    old = new_key(tmp_path / "old.pem", jwks)
    new = new_key(tmp_path / "new.pem", jwks)
    assert [k["kid"] for k in read_jwks(jwks)] == [old.kid, new.kid]
    assert load_signing_key(tmp_path / "new.pem").kid == new.kid
    assert (tmp_path / "new.pem").stat().st_mode & 0o077 == 0
    with pytest.raises(KeyFileError, match="never overwritten"):
        new_key(tmp_path / "old.pem", jwks)
    remove_key(jwks, old.kid)
    assert [k["kid"] for k in read_jwks(jwks)] == [new.kid]
    with pytest.raises(KeyFileError, match="last key"):
        remove_key(jwks, new.kid)


def test_production_refuses_hs256_and_plain_http_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCORD_ENVIRONMENT", "production")
    monkeypatch.setenv("ACCORD_JWT_ALGORITHM", "HS256")
    monkeypatch.setenv("ACCORD_JWT_SECRET", "a-real-secret-from-the-vault-0123")
    # Production also needs an authenticated broker (tests/unit/test_production_secrets.py).
    authenticated_kafka(monkeypatch)
    with pytest.raises(ValueError, match="ACCORD_JWT_ALGORITHM"):
        CommonSettings()
    monkeypatch.delenv("ACCORD_JWT_ALGORITHM")
    monkeypatch.setenv("ACCORD_JWKS_URL", "http://keys.example/jwks.json")
    with pytest.raises(ValueError, match="ACCORD_JWKS_URL"):
        CommonSettings()
    monkeypatch.setenv("ACCORD_JWKS_URL", "https://keys.example/jwks.json")
    assert CommonSettings().environment == "production"


def test_a_service_needs_a_jwks_document_unless_hs256(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACCORD_JWKS_URL", raising=False)
    monkeypatch.delenv("ACCORD_JWT_ALGORITHM", raising=False)
    with pytest.raises(ValueError, match="ACCORD_JWKS_URL"):
        refuse_missing_keys(CommonSettings())
    monkeypatch.setenv("ACCORD_JWT_ALGORITHM", "HS256")
    refuse_missing_keys(CommonSettings())


async def test_a_signed_token_with_numbers_in_strings_is_a_401_not_a_500(
    key: SigningKey, verifier: TokenVerifier
) -> None:
    """Found in review: PyJWT takes "exp": "1999999999" (a number in a string), and the
    lifetime check then failed on an assertion: a 500 for a validly signed token."""
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "sub": "s",
        "role": "secretariat",
        "iss": "accord",
        "aud": "accord-plans",
        "iat": str(now),
        "exp": str(now + 60),
    }
    token = jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})
    with pytest.raises(Unauthorized, match="must be numbers"):
        await verifier.verify(token)


def _hs256_verifier(secret: str) -> TokenVerifier:
    policy = TokenPolicy(
        issuer="accord", audience="accord-plans", max_lifetime_seconds=9 * 3600, leeway_seconds=0
    )
    return TokenVerifier(SecretKeySource(secret), policy)


async def test_a_token_checked_once_is_remembered_while_its_key_stays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    verifier = _hs256_verifier("a" * 40)
    checks = []
    check = verifier._claims
    monkeypatch.setattr(verifier, "_claims", lambda *a: checks.append(1) or check(*a))
    token = issue_token(SharedSecret("a" * 40), subject="s", role=Role.SECRETARIAT)
    first, again = await verifier.verify(token), await verifier.verify(token)
    assert first == again and len(checks) == 1
    # Another key under the service's configuration: the remembered check no longer counts.
    verifier.keys = SecretKeySource("b" * 40)
    with pytest.raises(Unauthorized, match="invalid"):
        await verifier.verify(token)


async def test_a_remembered_token_is_refused_once_it_expires() -> None:
    verifier = _hs256_verifier("a" * 40)
    token = issue_token(
        SharedSecret("a" * 40), subject="s", role=Role.SECRETARIAT, ttl=timedelta(seconds=2)
    )
    await verifier.verify(token)
    await asyncio.sleep(2.5)
    with pytest.raises(Unauthorized, match="expired"):
        await verifier.verify(token)
