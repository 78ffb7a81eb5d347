"""Email messages rendered from the Jinja2 templates beside this module: a subject, a plain
text part and an HTML part, every time in the delegation's own time zone (no I/O).

The text part is what a person reads first (many mission mail clients show plain text); the
HTML part says the same. Templates exist in English only for now: a contact's language tag is
sent as ``Content-Language`` and picks a template set once there are others.
"""

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def local_time(moment: datetime, zone: str) -> str:
    """``Tuesday 15 September 2020, 16:00 (Asia/Ho_Chi_Minh, UTC+07:00)``: a time in a
    delegation's zone, saying which, so that a reader elsewhere is not misled."""
    here = moment.astimezone(ZoneInfo(zone))
    offset = here.strftime("%z")
    return (
        f"{here.strftime('%A')} {here.day} {here.strftime('%B %Y, %H:%M')}"
        f" ({zone}, UTC{offset[:3]}:{offset[3:]})"
    )


def local_clock(moment: datetime, zone: str) -> str:
    """``2020-09-15 16:00``: a time in a delegation's zone, short, for lists whose heading
    says the zone once (a digest's entries)."""
    return f"{moment.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M}"


def long_date(day: date) -> str:
    return f"{day.day} {day.strftime('%B %Y')}"


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,  # a missing value is a bug, not an empty line
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = local_time
    env.filters["local_clock"] = local_clock
    env.filters["long_date"] = long_date
    return env


_TEXT = _environment(autoescape=False)
_HTML = _environment(autoescape=True)


def render(kind: str, subject: str, values: dict[str, Any]) -> Rendered:
    """``kind`` names the template pair ``<kind>.txt`` and ``<kind>.html``."""
    # One line: a title may hold line breaks (a commitment's text, a meeting's title), and a
    # header cannot (the message could never be built, and its delivery would block the rest).
    subject = " ".join(subject.split())[:300]
    values = {**values, "subject": subject}
    return Rendered(
        subject=subject,
        text=_TEXT.get_template(f"{kind}.txt").render(values),
        html=_HTML.get_template(f"{kind}.html").render(values),
    )
