"""Webhook delivery rules, free of I/O: when a failed delivery is retried, and when an
endpoint is given up on.

The dispatcher and ``endpoint_health`` load rows, pass plain values here and store what comes
back.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


@dataclass(frozen=True)
class RetryDecision:
    status: DeliveryStatus
    next_attempt_at: datetime | None


def after_attempt(
    result: AttemptResult,
    tries: int,
    schedule: Sequence[float],
    now: datetime,
    max_retry_after: float,
) -> RetryDecision:
    """What follows attempt number ``tries`` (1-based) of the current round: done, given up,
    or another try after the schedule's delay, or later if the receiver asked for more.

    A 410 gives nothing up: it disables the endpoint (``endpoint_health``) in the same
    transaction, and the delivery waits with the others until the delegation re-enables it.
    Failing it would leave a hole in what its subject's receiver sees once back."""
    if result.succeeded:
        return RetryDecision(DeliveryStatus.SUCCEEDED, None)
    if result.gone:
        return RetryDecision(DeliveryStatus.PENDING, now)
    if tries >= len(schedule):
        return RetryDecision(DeliveryStatus.FAILED, None)
    delay = schedule[tries]
    if result.retry_after is not None:
        delay = max(delay, min(result.retry_after, max_retry_after))
    return RetryDecision(DeliveryStatus.PENDING, now + timedelta(seconds=delay))


class EndpointAction(StrEnum):
    NONE = "none"
    WARN = "warn"
    DISABLE = "disable"


def endpoint_health(
    *,
    gone: bool,
    failing_since: datetime,
    warned_at: datetime | None,
    now: datetime,
    disable_after: timedelta,
    warn_before: timedelta,
) -> EndpointAction:
    """After a failure: a 410 disables at once; otherwise an endpoint failing for
    ``disable_after`` is disabled, but never before its delegation was warned."""
    if gone:
        return EndpointAction.DISABLE
    failing_for = now - failing_since
    if warned_at is None:
        return (
            EndpointAction.WARN
            if failing_for >= disable_after - warn_before
            else (EndpointAction.NONE)
        )
    return EndpointAction.DISABLE if failing_for >= disable_after else EndpointAction.NONE
