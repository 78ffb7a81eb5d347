"""An endpoint's signing secrets as the database keeps them: encrypted with the keyring's
current key (``keyring.py``), each with its key's id, bound to the endpoint's row. Nothing
else reads or writes the secret columns."""

from datetime import datetime

from services.notifications import orm
from services.notifications.webhooks.keyring import Keyring, Sealed


def store_secret(endpoint: orm.Endpoint, keyring: Keyring, secret: str) -> None:
    """Make ``secret`` the endpoint's current one (its id must be set)."""
    sealed = keyring.seal(endpoint.id, secret)
    endpoint.secret_key_id, endpoint.secret_ciphertext = sealed.key_id, sealed.ciphertext


def current_secret(endpoint: orm.Endpoint, keyring: Keyring) -> str:
    return keyring.open(endpoint.id, Sealed(endpoint.secret_key_id, endpoint.secret_ciphertext))


def keep_as_previous(endpoint: orm.Endpoint, until: datetime) -> None:
    """The current secret becomes the previous one, signing until ``until``. Its ciphertext
    moves as it is: it is bound to the row, not to the column."""
    endpoint.previous_secret_key_id = endpoint.secret_key_id
    endpoint.previous_secret_ciphertext = endpoint.secret_ciphertext
    endpoint.previous_secret_until = until


def active_secrets(endpoint: orm.Endpoint, keyring: Keyring, now: datetime) -> tuple[str, ...]:
    """The current secret, and the previous one while the rotation's overlap lasts."""
    current = current_secret(endpoint, keyring)
    if (
        endpoint.previous_secret_key_id is not None
        and endpoint.previous_secret_ciphertext is not None
        and endpoint.previous_secret_until is not None
        and now < endpoint.previous_secret_until
    ):
        previous = Sealed(endpoint.previous_secret_key_id, endpoint.previous_secret_ciphertext)
        return (current, keyring.open(endpoint.id, previous))
    return (current,)


def reseal(endpoint: orm.Endpoint, keyring: Keyring) -> bool:
    """Encrypt the endpoint's secrets again with the current key; whether anything changed.
    Secrets already under it are decrypted all the same, as a check."""
    current = keyring.reseal(
        endpoint.id, Sealed(endpoint.secret_key_id, endpoint.secret_ciphertext)
    )
    previous = None
    if endpoint.previous_secret_key_id is not None and endpoint.previous_secret_ciphertext:
        previous = keyring.reseal(
            endpoint.id,
            Sealed(endpoint.previous_secret_key_id, endpoint.previous_secret_ciphertext),
        )
    changed = current.key_id != endpoint.secret_key_id
    endpoint.secret_key_id, endpoint.secret_ciphertext = current.key_id, current.ciphertext
    if previous is not None:
        changed |= previous.key_id != endpoint.previous_secret_key_id
        endpoint.previous_secret_key_id = previous.key_id
        endpoint.previous_secret_ciphertext = previous.ciphertext
    return changed
