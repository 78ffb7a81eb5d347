"""Webhook delivery rules, free of I/O: when a failed delivery is retried, when a failing
endpoint is probed, and when an endpoint is given up on.

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


# Answers that say the receiver is not available now, whatever is sent: too many requests,
# a gateway's error or timeout, service unavailable. Any other error answer (a 400, a 500) may
# be about the delivery itself: it follows the schedule, so that a delivery its receiver
# refuses is not sent again each time the endpoint accepts another.
UNAVAILABLE = (429, 502, 503, 504)


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

    @property
    def unreachable(self) -> bool:
        """A failure of the endpoint as a whole, not of this delivery: no answer at all, or
        "not now" (see ``UNAVAILABLE``). Only these are probed for and released early."""
        return self.status_code is None or self.status_code in UNAVAILABLE


@dataclass(frozen=True)
class RetryDecision:
    """``not_before``: what the receiver's Retry-After asked for, if it asked; a release
    (``webhooks/release.py``) does not send the delivery before then."""

    status: DeliveryStatus
    next_attempt_at: datetime | None
    not_before: datetime | None = None


# The pause between probes as a share of the outage so far: a receiver back after an outage of
# T waits at most about T/10 (and at least the probe interval) for what waited.
PROBE_BACKOFF = 0.1


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
    if result.succeeded or result.gone:
        return _answered(result, now)
    if tries >= len(schedule):
        return RetryDecision(DeliveryStatus.FAILED, None)
    not_before = _asked_for(result, now, max_retry_after)
    due = now + timedelta(seconds=schedule[tries])
    return RetryDecision(DeliveryStatus.PENDING, max(due, not_before or due), not_before)


def after_probe(
    result: AttemptResult, resume_at: datetime, now: datetime, max_retry_after: float
) -> RetryDecision:
    """What follows a probe: an early try of a delivery that waited on the schedule, made to
    see whether its endpoint answers again. A failed probe costs the delivery nothing: it
    keeps its place in the schedule (due at ``resume_at``, or later if the receiver asks)."""
    if result.succeeded or result.gone:
        return _answered(result, now)
    not_before = _asked_for(result, now, max_retry_after)
    return RetryDecision(
        DeliveryStatus.PENDING, max(resume_at, not_before or resume_at), not_before
    )


def next_probe(
    result: AttemptResult,
    now: datetime,
    failing_since: datetime,
    interval: float,
    max_interval: float,
    max_retry_after: float,
) -> datetime:
    """After a failure, when the endpoint may be probed: ``interval`` on, growing with the
    outage (a tenth of it so far, up to ``max_interval``) so that a receiver that stays away
    is not asked every few seconds for days, while one back soon waits about ``interval``;
    never sooner than its receiver asked."""
    failing_for = (now - failing_since).total_seconds()
    wait = max(interval, min(failing_for * PROBE_BACKOFF, max_interval))
    asked = _asked_for(result, now, max_retry_after)
    due = now + timedelta(seconds=wait)
    return max(due, asked or due)


def _answered(result: AttemptResult, now: datetime) -> RetryDecision:
    """A success is done; a 410 waits with the others (see ``after_attempt``)."""
    if result.succeeded:
        return RetryDecision(DeliveryStatus.SUCCEEDED, None)
    return RetryDecision(DeliveryStatus.PENDING, now)


def _asked_for(result: AttemptResult, now: datetime, max_retry_after: float) -> datetime | None:
    if result.retry_after is None:
        return None
    return now + timedelta(seconds=min(result.retry_after, max_retry_after))


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
