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
