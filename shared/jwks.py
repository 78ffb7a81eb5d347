"""The public keys a service checks token signatures with: a JWKS document read from a file
or an http(s) URL (``ACCORD_JWKS_URL``), cached and read again.

The document is read again when it is older than ``refresh_seconds``, and sooner when a token
names a key it does not hold (a key just added for rotation), but then at most once every
``refetch_seconds``, so that tokens with made-up key ids cannot make a service hammer the
document's server. If reading fails the keys already held stay in use (logged); a service
that never managed to read it answers 503.

Only Ed25519 public keys with a ``kid`` are taken. A document holding a private key (a ``d``
member) is refused whole: someone published a key that can mint tokens.
"""

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from shared.signing_keys import b64url_decode

log = structlog.get_logger(__name__)

# A JWKS document holds a few keys; anything much larger is not one.
MAX_DOCUMENT_BYTES = 64 * 1024
FETCH_TIMEOUT_SECONDS = 5.0


class JwksUnavailable(Exception):
    """No key could ever be read: tokens cannot be checked at all."""


class JwksError(ValueError):
    """The document could not be read or is not an acceptable JWKS document."""


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def parse_jwks(text: str | bytes) -> dict[str, Ed25519PublicKey]:
    try:
        document = json.loads(text)
        entries = document["keys"]
    except (ValueError, KeyError, TypeError) as exc:
        raise JwksError(f"not a JWKS document: {type(exc).__name__}") from exc
    if not isinstance(entries, list):
        raise JwksError("not a JWKS document: 'keys' is not a list")
    keys: dict[str, Ed25519PublicKey] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise JwksError("not a JWKS document: a key is not an object")
        if "d" in entry:
            raise JwksError(f"key {entry.get('kid')!r} holds private material: refused")
        key = _ed25519_key(entry)
        if key is not None:
            keys[entry["kid"]] = key
    return keys


def _ed25519_key(entry: dict[str, Any]) -> Ed25519PublicKey | None:
    kid, x = entry.get("kid"), entry.get("x")
    usable = (
        entry.get("kty") == "OKP"
        and entry.get("crv") == "Ed25519"
        and entry.get("use", "sig") == "sig"
        and isinstance(kid, str)
        and kid
        and isinstance(x, str)
    )
    if not usable:
        log.warning("jwks_key_ignored", kid=kid, kty=entry.get("kty"), crv=entry.get("crv"))
        return None
    assert isinstance(x, str)
    try:
        return Ed25519PublicKey.from_public_bytes(b64url_decode(x))
    except ValueError as exc:
        raise JwksError(f"key {kid!r} is not an Ed25519 public key") from exc


async def read_document(source: str) -> bytes:
    if not is_url(source):
        return await asyncio.to_thread(Path(source).read_bytes)
    async with (
        httpx.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False) as client,
        client.stream("GET", source, headers={"Accept": "application/json"}) as response,
    ):
        if response.status_code != 200:
            raise JwksError(f"answered {response.status_code}")
        body = b""
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_DOCUMENT_BYTES:
                raise JwksError(f"larger than {MAX_DOCUMENT_BYTES} bytes")
        return body


class JwksKeys:
    """The keys of one JWKS document, as one service process holds them."""

    def __init__(self, source: str, *, refresh_seconds: float, refetch_seconds: float) -> None:
        self.source = source
        self.refresh_seconds = refresh_seconds
        self.refetch_seconds = refetch_seconds
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._loaded = False
        self._read_at = -float("inf")
        self._tried_at = -float("inf")
        self._lock = asyncio.Lock()
        self._refreshing: asyncio.Task[None] | None = None

    async def key(self, kid: str) -> Ed25519PublicKey | None:
        """The public key ``kid`` names, or None if the document does not hold it."""
        if self._wants_reading(kid):
            if kid in self._keys:
                # Known but due for a refresh: answer with it now, refresh in the background
                # (no request waits on the document's server for a key it already has).
                self._refresh_in_background()
            else:
                async with self._lock:
                    if self._wants_reading(kid):
                        await self._read()
        if not self._loaded:
            raise JwksUnavailable(self.source)
        return self._keys.get(kid)

    def _refresh_in_background(self) -> None:
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._locked_read(), name="jwks-refresh")

    async def _locked_read(self) -> None:
        async with self._lock:
            await self._read()

    def _wants_reading(self, kid: str) -> bool:
        now = time.monotonic()
        if now - self._tried_at < self.refetch_seconds:
            return False
        return kid not in self._keys or now - self._read_at >= self.refresh_seconds

    async def _read(self) -> None:
        self._tried_at = time.monotonic()
        try:
            keys = parse_jwks(await read_document(self.source))
        except Exception as exc:  # any failure keeps the keys already held
            # The source is an operator's setting, not a secret: it may be logged.
            log.warning("jwks_not_read", source=self.source, error=f"{type(exc).__name__}: {exc}")
            return
        if set(keys) != set(self._keys):
            log.info("jwks_read", source=self.source, kids=sorted(keys))
        self._keys = keys
        self._loaded = True
        self._read_at = time.monotonic()
