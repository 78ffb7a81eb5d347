"""``python -m shared.auth``: make signing keys, publish and retire them, issue tokens.

    python -m shared.auth keys new --private-key signing.pem --jwks jwks.json
    python -m shared.auth issue --private-key signing.pem --role delegation --delegation VNM
    python -m shared.auth keys remove --jwks jwks.json --kid <old kid>

``--private-key`` defaults to ``ACCORD_JWT_PRIVATE_KEY_FILE``; the issuer is
``ACCORD_JWT_ISSUER``. With ``ACCORD_JWT_ALGORITHM=HS256`` (development only) ``issue`` signs
with ``ACCORD_JWT_SECRET`` instead.

Rotation: ``keys new`` a second key into the same JWKS document; once every service has read
it (``ACCORD_JWKS_REFRESH_SECONDS``), issue with the new key; once the longest-lived token of
the old one has expired (``ACCORD_JWT_MAX_LIFETIME_SECONDS``), ``keys remove`` it.
"""

import argparse
import os
import sys
from datetime import timedelta
from pathlib import Path

from shared.config import CommonSettings, TokenAlgorithm
from shared.signing_keys import KeyFileError, load_signing_key, new_key, read_jwks, remove_key
from shared.tokens import SERVICE_AUDIENCES, Role, SharedSecret, Signer, issue_token

PRIVATE_KEY_VARIABLE = "ACCORD_JWT_PRIVATE_KEY_FILE"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m shared.auth",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    issue = commands.add_parser("issue", help="print a signed bearer token")
    issue.add_argument("--role", choices=[r.value for r in Role], required=True)
    issue.add_argument("--delegation", help="delegation code, for the delegation role (e.g. VNM)")
    issue.add_argument("--subject", help="who the token is for (default: the role or delegation)")
    issue.add_argument("--hours", type=float, default=8.0, help="validity in hours (default 8)")
    issue.add_argument(
        "--audience",
        action="append",
        help=f"a service the token is for (repeatable; default: {', '.join(SERVICE_AUDIENCES)})",
    )
    issue.add_argument(
        "--private-key", type=Path, help=f"PEM file (default: ${PRIVATE_KEY_VARIABLE})"
    )

    keys = commands.add_parser("keys", help="signing keys and the JWKS document").add_subparsers(
        dest="keys_command", required=True
    )
    new = keys.add_parser("new", help="make a key pair; add its public key to the document")
    new.add_argument("--private-key", type=Path, required=True, help="new PEM file (0600)")
    new.add_argument("--jwks", type=Path, required=True, help="JWKS document (made if missing)")
    remove = keys.add_parser("remove", help="take a key out of the document")
    remove.add_argument("--jwks", type=Path, required=True)
    remove.add_argument("--kid", required=True)
    listing = keys.add_parser("list", help="the key ids of the document")
    listing.add_argument("--jwks", type=Path, required=True)
    return parser


def _signer(common: CommonSettings, private_key: Path | None) -> Signer:
    if common.jwt_algorithm is TokenAlgorithm.HS256:
        return SharedSecret(common.jwt_secret)
    path = private_key or (
        Path(os.environ[PRIVATE_KEY_VARIABLE]) if os.environ.get(PRIVATE_KEY_VARIABLE) else None
    )
    if path is None:
        raise KeyFileError(f"give --private-key or set {PRIVATE_KEY_VARIABLE}")
    return load_signing_key(path)


def _issue(args: argparse.Namespace) -> None:
    common = CommonSettings()
    ttl = timedelta(hours=args.hours)
    if ttl.total_seconds() > common.jwt_max_lifetime_seconds:
        print(
            f"warning: {args.hours} h is longer than ACCORD_JWT_MAX_LIFETIME_SECONDS"
            f" ({common.jwt_max_lifetime_seconds} s): services will refuse the token",
            file=sys.stderr,
        )
    role = Role(args.role)
    print(
        issue_token(
            _signer(common, args.private_key),
            subject=args.subject or args.delegation or role.value,
            role=role,
            delegation=args.delegation,
            ttl=ttl,
            audiences=tuple(args.audience or SERVICE_AUDIENCES),
            issuer=common.jwt_issuer,
        )
    )


def main() -> None:
    args = _parser().parse_args()
    try:
        if args.command == "issue":
            _issue(args)
        elif args.keys_command == "new":
            key = new_key(args.private_key, args.jwks)
            print(f"key {key.kid}: private key in {args.private_key}, public key in {args.jwks}")
        elif args.keys_command == "remove":
            remove_key(args.jwks, args.kid)
            print(f"key {args.kid} removed from {args.jwks}")
        else:
            for published in read_jwks(args.jwks):
                print(published.get("kid"))
    except (KeyFileError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from exc
