"""Signed bearer tokens (JWT, HS256) with an expiry and a role.

Roles: ``secretariat`` writes; ``delegation`` (with its code) and ``viewer`` read. Every
service checks tokens with the same secret, from ``ACCORD_JWT_SECRET``.

Issue a token: ``python -m shared.auth issue --role delegation --delegation VNM --hours 8``.
"""

import argparse
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.problems import Forbidden, Unauthorized

ALGORITHM = "HS256"
ISSUER = "accord"
DELEGATION_CODE = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")


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


def issue_token(
    secret: str,
    *,
    subject: str,
    role: Role,
    delegation: str | None = None,
    ttl: timedelta = timedelta(hours=8),
) -> str:
    if (role is Role.DELEGATION) != (delegation is not None):
        raise ValueError("a delegation code is required for, and only for, the delegation role")
    if delegation is not None and not DELEGATION_CODE.match(delegation):
        raise ValueError(f"not a delegation code: {delegation!r}")
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "iss": ISSUER,
        "sub": subject,
        "role": role.value,
        "iat": now,
        "exp": now + ttl,
    }
    if delegation is not None:
        claims["delegation"] = delegation
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "role", "iss"]},
        )
        role = Role(claims["role"])
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the token has expired") from exc
    except (jwt.InvalidTokenError, ValueError, KeyError) as exc:
        raise Unauthorized("the token is invalid") from exc
    delegation = claims.get("delegation")
    if role is Role.DELEGATION and not (
        isinstance(delegation, str) and DELEGATION_CODE.match(delegation)
    ):
        raise Unauthorized("a delegation token must name its delegation")
    return Principal(
        subject=str(claims["sub"]),
        role=role,
        delegation=delegation if role is Role.DELEGATION else None,
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
    principal = decode_token(request.app.state.jwt_secret, credentials.credentials)
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


def main() -> None:
    from shared.config import CommonSettings

    parser = argparse.ArgumentParser(prog="python -m shared.auth", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    issue = commands.add_parser("issue", help="print a signed bearer token")
    issue.add_argument("--role", choices=[r.value for r in Role], required=True)
    issue.add_argument("--delegation", help="delegation code, for the delegation role (e.g. VNM)")
    issue.add_argument("--subject", help="who the token is for (default: the role or delegation)")
    issue.add_argument("--hours", type=float, default=8.0, help="validity in hours (default 8)")
    args = parser.parse_args()
    role = Role(args.role)
    print(
        issue_token(
            CommonSettings().jwt_secret,
            subject=args.subject or args.delegation or role.value,
            role=role,
            delegation=args.delegation,
            ttl=timedelta(hours=args.hours),
        )
    )


if __name__ == "__main__":
    main()
