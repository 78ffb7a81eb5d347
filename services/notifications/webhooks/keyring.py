"""The keys that encrypt webhook signing secrets at rest (AES-256-GCM, ``cryptography``).

An operator gives keys by id: ``id:base64-key`` entries, the first one current (new secrets
are encrypted with it), the others only read (secrets still encrypted with them decrypt), so
that a key can be replaced without downtime (docs/decisions/0019). Each ciphertext is bound
to its endpoint's id as associated data: moved to another row it does not decrypt.

Errors name key ids and endpoint ids, never a key or a secret.
"""

import base64
import binascii
import re
import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # GCM's standard nonce, random per encryption
KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# What a ciphertext is bound to besides its row: a version, so that a later format cannot be
# mistaken for this one.
ASSOCIATED_DATA_PREFIX = b"accord/notifications/webhook-secret/v1/"
# A random 32-byte key has about 30 different bytes; fewer than this is no random key.
MIN_DISTINCT_KEY_BYTES = 16


class KeyringError(ValueError):
    """The keys an operator gave are unusable (the message says which and why)."""


class SecretNotDecryptable(Exception):
    """A stored secret that the keyring cannot decrypt: its key is missing, or the key under
    that id is not the one it was encrypted with, or the ciphertext is not this row's."""


@dataclass(frozen=True)
class Sealed:
    """A secret as stored: the id of the key that encrypted it, and nonce + ciphertext + tag."""

    key_id: str
    ciphertext: bytes


def associated_data(endpoint_id: uuid.UUID) -> bytes:
    return ASSOCIATED_DATA_PREFIX + endpoint_id.bytes


class Keyring:
    def __init__(self, keys: Mapping[str, bytes], current: str) -> None:
        if current not in keys:
            raise KeyringError(f"the current key {current!r} is not among the keys")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._keys = dict(keys)
        self.current = current

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._ciphers)

    def holds_key(self, key: bytes) -> bool:
        return key in self._keys.values()

    def entries(self) -> Iterable[tuple[str, bytes]]:
        return self._keys.items()

    def seal(self, endpoint_id: uuid.UUID, secret: str) -> Sealed:
        nonce = secrets.token_bytes(NONCE_BYTES)
        cipher = self._ciphers[self.current]
        ciphertext = cipher.encrypt(nonce, secret.encode(), associated_data(endpoint_id))
        return Sealed(self.current, nonce + ciphertext)

    def open(self, endpoint_id: uuid.UUID, sealed: Sealed) -> str:
        cipher = self._ciphers.get(sealed.key_id)
        if cipher is None:
            raise SecretNotDecryptable(
                f"the secret of endpoint {endpoint_id} is encrypted with key {sealed.key_id!r},"
                f" which is not among the keys given ({', '.join(self.ids)}): give that key"
                " again (as one that is not current) until the secrets are re-encrypted"
            )
        nonce, ciphertext = sealed.ciphertext[:NONCE_BYTES], sealed.ciphertext[NONCE_BYTES:]
        try:
            plaintext = cipher.decrypt(nonce, ciphertext, associated_data(endpoint_id))
        except InvalidTag:
            raise SecretNotDecryptable(
                f"the secret of endpoint {endpoint_id} does not decrypt with key"
                f" {sealed.key_id!r}: the key given under that id is not the one that"
                " encrypted it, or the ciphertext belongs to another row"
            ) from None
        return plaintext.decode()

    def reseal(self, endpoint_id: uuid.UUID, sealed: Sealed) -> Sealed:
        """The same secret under the current key (unchanged if it already is, but decrypted
        all the same: a wrong key under the current id is found too)."""
        secret = self.open(endpoint_id, sealed)
        if sealed.key_id == self.current:
            return sealed
        return self.seal(endpoint_id, secret)


def parse_keys(text: str, variable: str) -> Keyring:
    """A keyring from ``id:base64-key`` entries separated by commas, spaces or new lines
    (``#`` starts a comment to the end of its line); the first entry is the current key."""
    entries = [
        entry
        for line in text.splitlines()
        for entry in re.split(r"[,\s]+", line.partition("#")[0])
        if entry
    ]
    if not entries:
        raise KeyringError(f"{variable} holds no key")
    keys: dict[str, bytes] = {}
    for number, entry in enumerate(entries, start=1):
        key_id, separator, encoded = entry.partition(":")
        if not separator or not KEY_ID.fullmatch(key_id):
            raise KeyringError(
                f"entry {number} of {variable} is not 'id:base64-key' with an id of letters,"
                " digits, '.', '_' or '-'"
            )
        if key_id in keys:
            raise KeyringError(f"{variable} gives key {key_id!r} twice")
        keys[key_id] = _decode_key(encoded, f"key {key_id!r} of {variable}")
    return Keyring(keys, current=next(iter(keys)))


def _decode_key(encoded: str, what: str) -> bytes:
    try:
        key = base64.b64decode(encoded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(f"{what} is not base64") from None
    if len(key) != KEY_BYTES:
        raise KeyringError(f"{what} is {len(key)} bytes long, not {KEY_BYTES}")
    return key


def weak_key_ids(keyring: Keyring, published: Keyring) -> dict[str, str]:
    """The ids of keys not fit for production, with why: published with Accord, or too few
    different bytes to be random."""
    weak = {}
    for key_id, key in keyring.entries():
        if published.holds_key(key):
            weak[key_id] = "is a key published with Accord"
        elif len(set(key)) < MIN_DISTINCT_KEY_BYTES:
            weak[key_id] = f"has fewer than {MIN_DISTINCT_KEY_BYTES} different bytes"
    return weak


def new_key_entry(now: datetime | None = None) -> str:
    """A fresh random key as a ``id:base64-key`` entry, its id the date and a random suffix."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d")
    key = base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()
    return f"k{stamp}-{secrets.token_hex(2)}:{key}"
