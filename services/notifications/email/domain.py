"""Email delivery rules, free of I/O: what an SMTP answer means for the delivery, and the
stable Message-ID every attempt of one delivery carries.

A reply code of 5xx to the recipient or to the message itself is the server's final word on
this message (an unknown mailbox, a message refused): the delivery fails at once and the
delegation is told. Anything else that is not a success is temporary and follows the
webhooks' retry schedule (``NOTIFICATIONS_RETRY_SCHEDULE``): a 4xx, a server that cannot be
reached, a connection dropped midway, a timeout, and also a 5xx to the session (greeting,
authentication, our sender address, STARTTLS), which is the operator's to fix and would
otherwise fail every message at once.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.notifications.webhooks.domain import DeliveryStatus, RetryDecision


@dataclass(frozen=True)
class SmtpResult:
    """How one attempt ended: ``code`` is the server's reply code to what failed (None when it
    gave none: not reachable, disconnected, too slow); ``error`` None means accepted."""

    code: int | None = None
    error: str | None = None
    # Whether the refusal was about this message (its recipient or its content), not about
    # the session.
    about_message: bool = False

    @property
    def accepted(self) -> bool:
        return self.error is None

    @property
    def permanent(self) -> bool:
        if self.accepted or not self.about_message or self.code is None:
            return False
        return 500 <= self.code < 600


def after_send(
    result: SmtpResult, tries: int, schedule: Sequence[float], now: datetime
) -> RetryDecision:
    """What follows attempt number ``tries`` (1-based): done, failed for good, or another try
    after the schedule's delay."""
    if result.accepted:
        return RetryDecision(DeliveryStatus.SUCCEEDED, None)
    if result.permanent or tries >= len(schedule):
        return RetryDecision(DeliveryStatus.FAILED, None)
    return RetryDecision(DeliveryStatus.PENDING, now + timedelta(seconds=schedule[tries]))


def new_message_key() -> str:
    """The left part of a delivery's Message-ID, fixed when the delivery row is made."""
    return f"notice.{uuid.uuid4().hex}"


def message_id(key: str, domain: str) -> str:
    """The Message-ID every attempt of one delivery sends, so that a message sent again after
    a crash is the same message to the server and the reader (RFC 5322 3.6.4: an id names
    one message, and a resend is that message)."""
    return f"<{key}@{domain}>"
