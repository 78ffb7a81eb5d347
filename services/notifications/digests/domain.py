"""When a digest is due, and what it says, free of I/O."""

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, tzinfo


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
