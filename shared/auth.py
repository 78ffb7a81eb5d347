"""Who is calling: the bearer token of every request, checked by ``shared.tokens``.

Roles: ``secretariat`` writes; ``delegation`` (with its code) and ``viewer`` read. A service
checks a token's signature against the public keys of the JWKS document at
``ACCORD_JWKS_URL`` and takes only tokens whose audience names it (``accord-<service>``).
Once the token is checked, the caller's subject spends from its rate limit.

Keys and tokens: ``python -m shared.auth --help`` (``shared.auth_cli``).
"""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.config import CommonSettings, TokenAlgorithm
from shared.jwks import JwksKeys
from shared.problems import Forbidden, Unauthorized
from shared.rate_limits import TokenBuckets
from shared.tokens import (
    DELEGATION_CODE,
    JwksKeySource,
    KeySource,
    Principal,
    Role,
    SecretKeySource,
    TokenPolicy,
    TokenVerifier,
    audience_of,
)

__all__ = ["DELEGATION_CODE", "AnyPrincipal", "Principal", "Role", "Secretariat"]


def token_verifier(common: CommonSettings, service: str) -> TokenVerifier:
    """How ``service`` checks tokens, from the settings (no I/O: the keys are read lazily)."""
    keys: KeySource
    if common.jwt_algorithm is TokenAlgorithm.HS256:
        keys = SecretKeySource(common.jwt_secret)
    else:
        keys = JwksKeySource(
            JwksKeys(
                common.jwks_url,
                refresh_seconds=common.jwks_refresh_seconds,
                refetch_seconds=common.jwks_refetch_seconds,
            )
        )
    policy = TokenPolicy(
        issuer=common.jwt_issuer,
        audience=audience_of(service),
        max_lifetime_seconds=common.jwt_max_lifetime_seconds,
        leeway_seconds=common.jwt_leeway_seconds,
    )
    return TokenVerifier(keys, policy)


def refuse_missing_keys(common: CommonSettings) -> None:
    """At start-up: EdDSA needs a JWKS document to check tokens against."""
    if common.jwt_algorithm is TokenAlgorithm.EDDSA and not common.jwks_url:
        raise ValueError(
            "ACCORD_JWKS_URL is not set: tokens are checked against a JWKS document (a file"
            " path or an https URL; `python -m shared.auth keys new` makes one), or set"
            " ACCORD_JWT_ALGORITHM=HS256 with ACCORD_JWT_SECRET in development"
        )


_bearer = HTTPBearer(auto_error=False, description="A token from `python -m shared.auth issue`")


# Both async: a plain ``def`` dependency runs in FastAPI's thread pool, two thread hops per
# request for a few microseconds of work.
async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("a bearer token is required")
    return await principal_of(request, credentials.credentials)


async def principal_of(request: Request, token: str) -> Principal:
    """The caller a token names, checked and counted against its subject's rate limit: the
    bearer header's token, or the briefing pages' cookie (``shared/pages/session.py``)."""
    verified = getattr(request.state, "verified_token", None)  # by shared/idempotency.py
    if verified is not None and verified[0] == token:
        principal: Principal = verified[1]
    else:
        verifier: TokenVerifier = request.app.state.token_verifier
        principal = await verifier.verify(token)
    per_subject: TokenBuckets | None = getattr(request.app.state, "subject_limits", None)
    if per_subject is not None:
        refused = per_subject.refuse(principal.subject)
        if refused is not None:
            raise refused
    request.state.principal = principal
    return principal


async def require_secretariat(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    if not principal.is_secretariat:
        raise Forbidden("only the secretariat may do this")
    return principal


AnyPrincipal = Annotated[Principal, Depends(current_principal)]
Secretariat = Annotated[Principal, Depends(require_secretariat)]


if __name__ == "__main__":
    from shared.auth_cli import main

    main()
