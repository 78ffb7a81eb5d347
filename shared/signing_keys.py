"""The Ed25519 keys that sign bearer tokens, and the JWKS document that publishes their public
halves.

Whoever issues tokens keeps a private key in a PEM file; the services only ever read the JWKS
document (``shared.jwks``), so none of them can mint a token. A key's id (``kid``) is its RFC
7638 thumbprint, so the PEM file alone is enough to sign: the id is computed from it, never
stored beside it where the two could disagree.

Rotation: ``new`` makes a second key and adds it to the document; issuers switch to it; once
the longest lifetime a token may have has passed, ``remove`` takes the old one out.
"""

import base64
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "EdDSA"


class KeyFileError(ValueError):
    """A key file or a JWKS document cannot be used; the message says which and why."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _raw_public_bytes(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 thumbprint: SHA-256 of the required members in lexical order, no spaces."""
    members = {"crv": "Ed25519", "kty": "OKP", "x": b64url(_raw_public_bytes(public_key))}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return b64url(hashlib.sha256(canonical).digest())


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64url(_raw_public_bytes(public_key)),
        "kid": key_id(public_key),
        "alg": ALGORITHM,
        "use": "sig",
    }


@dataclass(frozen=True)
class SigningKey:
    """A private key and its id, as an issuer uses them."""

    kid: str
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> "SigningKey":
        private_key = Ed25519PrivateKey.generate()
        return cls(key_id(private_key.public_key()), private_key)

    @property
    def public_jwk(self) -> dict[str, str]:
        return public_jwk(self.private_key.public_key())

    def pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def load_signing_key(path: Path) -> SigningKey:
    try:
        private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a readable unencrypted PEM private key ({exc})") from exc
    if not isinstance(private_key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 private key")
    return SigningKey(key_id(private_key.public_key()), private_key)


def write_private_key(path: Path, key: SigningKey) -> None:
    """Write ``key`` to a new file only its owner can read; never overwrite a key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise KeyFileError(f"{path} exists: a private key is never overwritten") from exc
    with os.fdopen(fd, "wb") as file:
        file.write(key.pem())


def read_jwks(path: Path) -> list[dict[str, Any]]:
    """The keys of the JWKS document at ``path`` (none if the file does not exist yet)."""
    if not path.exists():
        return []
    try:
        document = json.loads(path.read_text())
        keys = document["keys"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a JWKS document ({exc})") from exc
    if not isinstance(keys, list):
        raise KeyFileError(f"{path}: 'keys' is not a list")
    return keys


def write_jwks(path: Path, keys: list[dict[str, Any]]) -> None:
    """Replace the document in one rename, so that a service reading it never sees half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as file:
        json.dump({"keys": keys}, file, indent=2)
        file.write("\n")
    # Public by nature: readable by the services' users.
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


def add_key(jwks_path: Path, key: SigningKey) -> None:
    keys = [k for k in read_jwks(jwks_path) if k.get("kid") != key.kid]
    write_jwks(jwks_path, [*keys, key.public_jwk])


def new_key(private_key_path: Path, jwks_path: Path) -> SigningKey:
    """Make a key pair: the private key into a new file, its public half into the document."""
    key = SigningKey.generate()
    write_private_key(private_key_path, key)
    add_key(jwks_path, key)
    return key


def remove_key(jwks_path: Path, kid: str) -> None:
    keys = read_jwks(jwks_path)
    kept = [k for k in keys if k.get("kid") != kid]
    if len(kept) == len(keys):
        raise KeyFileError(f"{jwks_path} has no key {kid!r}")
    if not kept:
        raise KeyFileError(f"{kid!r} is the last key of {jwks_path}: no token could be checked")
    write_jwks(jwks_path, kept)
