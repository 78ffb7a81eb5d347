"""Bearer tokens: what they claim, how they are signed and how a service checks them.

A token is a JWT signed with EdDSA (Ed25519) whose header names its key (``kid``); a service
checks it against the public keys of a JWKS document (``shared.jwks``), so it holds no key
that could mint one. HS256 with a shared secret remains as a development option
(``ACCORD_JWT_ALGORITHM=HS256``) that production refuses.

Every token must carry ``iss`` (the configured issuer), ``aud`` (one audience or several; a
service takes only tokens meant for it, ``accord-<service>``), ``sub``, ``role``, ``iat`` and
``exp``; ``exp - iat`` may not exceed the configured maximum lifetime, and neither ``iat`` nor
``nbf`` may lie in the future (beyond a small leeway for clocks).
"""

import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

import jwt

from shared.jwks import JwksKeys, JwksUnavailable
from shared.problems import ServiceUnavailable, Unauthorized
from shared.signing_keys import SigningKey

DELEGATION_CODE = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")
HS256 = "HS256"
EDDSA = "EdDSA"
# The audiences of the three services: the issuing command's default is all of them.
SERVICE_AUDIENCES = ("accord-plans", "accord-meetings", "accord-notifications")
# How long a client is asked to wait when the keys cannot be read.
KEYS_RETRY_AFTER = 5


def audience_of(service: str) -> str:
    return f"accord-{service}"


class Role(StrEnum):
    SECRETARIAT = "secretariat"
    DELEGATION = "delegation"
    VIEWER = "viewer"


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    delegation: str | None = None

    @property
    def is_secretariat(self) -> bool:
        return self.role is Role.SECRETARIAT


@dataclass(frozen=True)
class SharedSecret:
    """HS256 (development only): the same secret signs and checks."""

    secret: str


Signer = SigningKey | SharedSecret


def issue_token(
    signer: Signer,
    *,
    subject: str,
    role: Role,
    delegation: str | None = None,
    ttl: timedelta = timedelta(hours=8),
    audiences: tuple[str, ...] = SERVICE_AUDIENCES,
    issuer: str = "accord",
    issued_at: datetime | None = None,
) -> str:
    if (role is Role.DELEGATION) != (delegation is not None):
        raise ValueError("a delegation code is required for, and only for, the delegation role")
    if delegation is not None and not DELEGATION_CODE.match(delegation):
        raise ValueError(f"not a delegation code: {delegation!r}")
    if not audiences:
        raise ValueError("a token needs at least one audience")
    now = issued_at or datetime.now(UTC)
    claims: dict[str, object] = {
        "iss": issuer,
        "aud": list(audiences),
        "sub": subject,
        "role": role.value,
        "iat": now,
        "exp": now + ttl,
    }
    if delegation is not None:
        claims["delegation"] = delegation
    if isinstance(signer, SharedSecret):
        return jwt.encode(claims, signer.secret, algorithm=HS256)
    return jwt.encode(claims, signer.private_key, algorithm=EDDSA, headers={"kid": signer.kid})


@dataclass(frozen=True)
class TokenPolicy:
    """What a service demands of every token besides its signature."""

    issuer: str
    audience: str
    max_lifetime_seconds: int
    leeway_seconds: int


class KeySource(Protocol):
    algorithm: str

    async def key_for(self, header: dict[str, object]) -> object: ...


class JwksKeySource:
    algorithm = EDDSA

    def __init__(self, keys: JwksKeys) -> None:
        self.keys = keys

    async def key_for(self, header: dict[str, object]) -> object:
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("the token names no key (kid)")
        try:
            key = await self.keys.key(kid)
        except JwksUnavailable as exc:
            raise ServiceUnavailable(
                "the keys that check tokens cannot be read; try again later",
                slug="token-keys-unavailable",
                retry_after=KEYS_RETRY_AFTER,
            ) from exc
        if key is None:
            raise Unauthorized("the token is signed with a key that is not known")
        return key


class SecretKeySource:
    algorithm = HS256

    def __init__(self, secret: str) -> None:
        self.secret = secret

    async def key_for(self, header: dict[str, object]) -> object:
        return self.secret


@dataclass(frozen=True)
class _Verified:
    header: dict[str, object]  # its header, which names its key
    key: object  # the key that checked it
    principal: Principal
    expires: float  # its exp


class TokenVerifier:
    """Checks a bearer token for one service: signature, claims, lifetime.

    A client sends the same token with every request until it expires, so a token once
    checked is remembered (up to ``REMEMBERED`` of them, the least recently used forgotten
    first) and taken again without its signature and claims checked anew, as long as the key
    its header names is still the very key that checked it and its ``exp`` has not passed:
    a key removed from the JWKS refuses its tokens at once, and a token that passed its
    checks stays valid until it expires (``iat`` and ``nbf`` can only grow older). The
    Ed25519 check and the claims' decoding were about a tenth of a status change's CPU."""

    REMEMBERED = 4096

    def __init__(self, keys: KeySource, policy: TokenPolicy) -> None:
        self.keys = keys
        self.policy = policy
        self._verified: OrderedDict[str, _Verified] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        known = self._verified.get(token)
        if known is not None:
            # Its header as decoded when it was checked: decoding the token again (every
            # segment, base64 and JSON) was the most of a remembered token's cost.
            key = await self.keys.key_for(known.header)
            if known.key is key and time.time() < known.expires:
                self._verified.move_to_end(token)
                return known.principal
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("the token is invalid") from exc
        # Only the configured algorithm: an HS256 token never reaches an EdDSA service's keys
        # (nor an EdDSA public key an HMAC check).
        if header.get("alg") != self.keys.algorithm:
            raise Unauthorized(f"the token is not signed with {self.keys.algorithm}")
        key = await self.keys.key_for(header)
        claims = self._claims(token, key)
        principal = _principal(claims)
        self._verified[token] = _Verified(header, key, principal, _number(claims["exp"]))
        if len(self._verified) > self.REMEMBERED:
            self._verified.popitem(last=False)
        return principal

    def _claims(self, token: str, key: object) -> dict[str, object]:
        policy = self.policy
        try:
            claims: dict[str, object] = jwt.decode(
                token,
                key,  # type: ignore[arg-type]
                algorithms=[self.keys.algorithm],
                audience=policy.audience,
                issuer=policy.issuer,
                leeway=policy.leeway_seconds,
                options={"require": ["exp", "iat", "sub", "role", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("the token has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthorized(f"the token is not meant for {policy.audience}") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthorized("the token is not from the accepted issuer") from exc
        except jwt.ImmatureSignatureError as exc:
            raise Unauthorized("the token is not valid yet (iat or nbf in the future)") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("the token is invalid") from exc
        lifetime = _number(claims["exp"]) - _number(claims["iat"])
        if lifetime > policy.max_lifetime_seconds:
            raise Unauthorized(
                f"the token lives longer than the {policy.max_lifetime_seconds} s allowed"
            )
        return claims


def _number(value: object) -> float:
    # PyJWT has validated exp and iat, but it also takes a number in a string ("exp":
    # "1999999999"): anything else than a plain number is refused here, never a 500.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unauthorized("the token's exp and iat must be numbers")
    return float(value)


def _principal(claims: dict[str, object]) -> Principal:
    try:
        role = Role(str(claims["role"]))
    except ValueError as exc:
        raise Unauthorized("the token is invalid") from exc
    delegation = claims.get("delegation")
    if role is Role.DELEGATION and not (
        isinstance(delegation, str) and DELEGATION_CODE.match(delegation)
    ):
        raise Unauthorized("a delegation token must name its delegation")
    return Principal(
        subject=str(claims["sub"]),
        role=role,
        delegation=delegation if isinstance(delegation, str) and role is Role.DELEGATION else None,
    )
