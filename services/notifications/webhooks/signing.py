"""Standard Webhooks signing (https://www.standardwebhooks.com), with the reference library.

Headers: ``webhook-id`` (the delivery's fixed id), ``webhook-timestamp`` (unix seconds of this
attempt) and ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, one
per active secret, space-separated, so a receiver can switch secrets during a rotation.
"""

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks.webhooks import Webhook

from services.notifications import orm

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature_headers(
    webhook_id: str, body: str, active_secrets: Sequence[str], at: datetime
) -> dict[str, str]:
    signatures = " ".join(
        Webhook(secret).sign(msg_id=webhook_id, timestamp=at, data=body)
        for secret in active_secrets
    )
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
    }


def active_secrets(endpoint: orm.Endpoint, now: datetime) -> tuple[str, ...]:
    """The current secret, and the previous one while the rotation's overlap lasts."""
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_until
        and now < (endpoint.previous_secret_until)
    ):
        return (endpoint.secret, endpoint.previous_secret)
    return (endpoint.secret,)
