"""When a digest is due, what it says and how it reads, free of I/O."""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from shared.contracts.notifications import DigestLineChange, DigestReady

# At most this many entries and line changes are listed; the rest are counted.
LISTED = 50


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


def digest_key(delegation: str, kind: str, period: object) -> str:
    """The one key of a delegation's digest of a period (a local date, or a meeting): a
    digest of the same key is never composed twice, whatever number of jobs race."""
    return f"{delegation}/{kind}/{period}"


@dataclass(frozen=True)
class StatusChange:
    """One status change of a line, as taken in (in the order taken in)."""

    action_line_id: uuid.UUID
    code: str
    old_status: str
    new_status: str
    effective_date: date


def net_changes(changes: Iterable[StatusChange]) -> list[DigestLineChange]:
    """Each line's change from its first status to its last, in line code order; a line back
    where it started has not changed."""
    first: dict[uuid.UUID, StatusChange] = {}
    last: dict[uuid.UUID, StatusChange] = {}
    for change in changes:
        first.setdefault(change.action_line_id, change)
        last[change.action_line_id] = change
    net = [
        DigestLineChange(
            action_line_id=line,
            code=change.code,
            old_status=first[line].old_status,
            new_status=change.new_status,
            effective_date=change.effective_date,
        )
        for line, change in last.items()
        if first[line].old_status != change.new_status
    ]
    return sorted(net, key=lambda c: (c.code, str(c.action_line_id)))


def is_empty(entries: Sequence[object], lines_changed: int) -> bool:
    """Nothing held and nothing changed: such a digest is not sent."""
    return not entries and lines_changed == 0


def digest_text(digest: DigestReady, zone: tzinfo) -> str:
    """The digest as plain text, every time in the delegation's time zone."""
    lines = [f"{digest.title} (times in {digest.timezone})"]
    if digest.meeting is not None:
        starts = digest.meeting.starts_at.astimezone(zone)
        lines.append(f"{digest.meeting.title} starts {starts:%Y-%m-%d %H:%M}.")
    if digest.plans:
        lines += ["", f"Plans under review, as of {digest.day}:"]
        for plan in digest.plans:
            others = ", ".join(
                f"{status.replace('_', ' ')} {count}"
                for status, count in sorted(plan.by_status.items())
                if status != "completed"
            )
            lines.append(
                f"- {plan.code} {plan.title}: {plan.completed} of {plan.lines} lines completed"
                + (f" ({others})" if others else "")
            )
    if (since := digest.since_previous_meeting) is not None:
        lines += [
            "",
            f"Since {since.title} of {since.date}: {since.lines_changed} line(s) changed",
        ]
        lines += [
            f"- {c.code}: {_status(c.old_status)} -> {_status(c.new_status)} "
            f"(effective {c.effective_date})"
            for c in since.changes
        ]
        if since.lines_changed > len(since.changes):
            lines.append(f"... and {since.lines_changed - len(since.changes)} more")
    if digest.entries:
        lines += ["", f"{len(digest.entries) + digest.entries_left_out} update(s):"]
        lines += [
            f"- {e.occurred_at.astimezone(zone):%Y-%m-%d %H:%M} {e.title}" for e in digest.entries
        ]
        if digest.entries_left_out:
            lines.append(f"... and {digest.entries_left_out} more")
    return "\n".join(lines)


def _status(status: str) -> str:
    return status.replace("_", " ")
