"""The notifications domain, free of I/O: what an event concerns, who is told how, when a
failed delivery is retried, and when an endpoint is given up on.

Handlers load rows, pass plain values here and store what comes back.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any


class TargetKind(StrEnum):
    PLAN = "plan"
    SECTION = "section"
    ACTION_LINE = "action_line"
    TAG = "tag"
    MEETING_SERIES = "meeting_series"


class Channel(StrEnum):
    WEBHOOK = "webhook"
    INBOX = "inbox"
    STREAM = "stream"


class Cadence(StrEnum):
    IMMEDIATE = "immediate"
    DAILY_DIGEST = "daily_digest"
    MEETING_DIGEST = "meeting_digest"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


Target = tuple[TargetKind, str]

PLANS = "org.accord.plans."
MEETINGS = "org.accord.meetings."
LINE_EVENTS = frozenset(
    PLANS + t for t in ("action_line.created", "action_line.updated", "action_line.status_changed")
)
PLAN_APPROVED = PLANS + "plan.approved"
DECISION_ADOPTED = MEETINGS + "decision.adopted"
ENDPOINT_DISABLING_SOON = "org.accord.notifications.endpoint.disabling_soon"
ENDPOINT_DISABLED = "org.accord.notifications.endpoint.disabled"


def targets(event_type: str, data: Mapping[str, Any]) -> list[Target]:
    """Everything an event concerns, i.e. every subscription target it matches: a line event
    matches its plan, each section on its path, the line and each of its tags."""
    found: list[Target] = []
    if plan_id := data.get("plan_id"):
        found.append((TargetKind.PLAN, str(plan_id)))
    for section_id in data.get("section_path") or data.get("path") or ():
        found.append((TargetKind.SECTION, str(section_id)))
    if event_type in LINE_EVENTS:
        found.append((TargetKind.ACTION_LINE, str(data["action_line_id"])))
        found.extend((TargetKind.TAG, tag) for tag in data.get("tags") or ())
    if event_type == PLANS + "rollup.changed" and data.get("scope_kind") in ("section", "tag"):
        kind = TargetKind.SECTION if data["scope_kind"] == "section" else TargetKind.TAG
        found.append((kind, str(data["scope_key"])))
    if event_type.startswith(MEETINGS):
        if series := data.get("series"):
            found.append((TargetKind.MEETING_SERIES, series))
        found.extend((TargetKind.PLAN, str(p)) for p in data.get("plans_under_review") or ())
        body = data.get("body") or {}
        if body.get("plan_id"):
            found.append((TargetKind.PLAN, str(body["plan_id"])))
    return list(dict.fromkeys(found))


def is_critical(event_type: str, data: Mapping[str, Any]) -> bool:
    """Critical events are sent at once even to delegations that asked for digests."""
    if event_type in (PLAN_APPROVED, ENDPOINT_DISABLING_SOON, ENDPOINT_DISABLED):
        return True
    return event_type == DECISION_ADOPTED and (data.get("body") or {}).get("kind") == (
        "plan_approval"
    )


def type_matches(patterns: Sequence[str], event_type: str) -> bool:
    """An empty filter takes everything; a pattern is a full type, a suffix of one
    (``action_line.status_changed``) or a prefix ending in ``*`` (``org.accord.plans.*``)."""
    if not patterns:
        return True
    for pattern in patterns:
        if pattern.endswith("*"):
            if event_type.startswith(pattern[:-1]):
                return True
        elif event_type == pattern or event_type.endswith("." + pattern):
            return True
    return False


@dataclass(frozen=True)
class SubscriptionRule:
    delegation: str
    event_types: Sequence[str]
    statuses: Sequence[str]
    channels: Sequence[str]
    cadence: str

    def accepts(self, event_type: str, data: Mapping[str, Any]) -> bool:
        if not type_matches(self.event_types, event_type):
            return False
        return not self.statuses or data.get("new_status") in self.statuses


@dataclass
class Recipient:
    """How one delegation is told about one event, merged from all its matching rules."""

    delegation: str
    channels: set[str] = field(default_factory=set)
    immediate_channels: set[str] = field(default_factory=set)
    digests: set[str] = field(default_factory=set)


def recipients(
    rules: Iterable[SubscriptionRule], event_type: str, data: Mapping[str, Any]
) -> dict[str, Recipient]:
    """One recipient per delegation however many of its subscriptions match: a delegation is
    told once. A critical event turns every digest into an immediate notice."""
    critical = is_critical(event_type, data)
    found: dict[str, Recipient] = {}
    for rule in rules:
        if not rule.accepts(event_type, data):
            continue
        recipient = found.setdefault(rule.delegation, Recipient(rule.delegation))
        recipient.channels.update(rule.channels)
        if critical or rule.cadence == Cadence.IMMEDIATE:
            recipient.immediate_channels.update(rule.channels)
        else:
            recipient.digests.add(rule.cadence)
    return found


# --- delivery --------------------------------------------------------------------------------


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


# --- delegations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Membership:
    delegation: str
    valid_from: date
    valid_to: date | None = None

    def holds_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


def members_on(memberships: Iterable[Membership], day: date) -> list[str]:
    return sorted({m.delegation for m in memberships if m.holds_on(day)})


# --- digests ---------------------------------------------------------------------------------


def daily_digest_due(
    now: datetime, zone: tzinfo, digest_hour: int, last_sent_on: date | None
) -> date | None:
    """The local date a daily digest is due for, if one is: once a day, from the delegation's
    digest hour in its own time zone."""
    local = now.astimezone(zone)
    if local.hour < digest_hour or last_sent_on == local.date():
        return None
    return local.date()


def meeting_digest_due(now: datetime, zone: tzinfo, digest_hour: int, starts_at: datetime) -> bool:
    """A briefing digest goes out from the digest hour of the local day before the meeting
    until the meeting starts."""
    day_before = starts_at.astimezone(zone).date() - timedelta(days=1)
    opens = datetime.combine(day_before, time(hour=digest_hour), tzinfo=zone)
    return opens <= now < starts_at


def digest_text(titles: Sequence[str], limit: int = 50) -> str:
    lines = [f"- {t}" for t in titles[:limit]]
    if len(titles) > limit:
        lines.append(f"... and {len(titles) - limit} more")
    return "\n".join(lines)
