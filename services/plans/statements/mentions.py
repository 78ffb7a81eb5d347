"""What a text says it is about, free of I/O: the plan it names (by code or title) and the
date its figures are as of ("as of 31 December 2019", "on 15 September 2020", "2020-09-15",
"September 15, 2020"): the first date after "as of", "as at", "by" or "on" if there is one,
else the first date of the text."""

import re
from collections.abc import Iterable
from datetime import date

_MONTH_NAMES = [
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
]  # fmt: skip
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}
_MONTH = (
    r"(?P<month>"
    + "|".join(sorted([*_MONTHS, *(m[:3] for m in _MONTHS), "sept"], key=len, reverse=True))
    + r")\.?"
)
_DATES = [
    re.compile(r"\b(?P<year>\d{4})-(?P<num>\d{2})-(?P<day>\d{2})\b"),
    re.compile(rf"\b(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+{_MONTH}\s+(?P<year>\d{{4}})\b", re.I),
    re.compile(rf"\b{_MONTH}\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<year>\d{{4}})\b", re.I),
]
_ANCHOR = re.compile(r"\b(?:as\s+of|as\s+at|by|on)\s+(?:the\s+)?$", re.I)


def find_date(text: str) -> tuple[date, int, int] | None:
    """The date the text's figures are as of, with its span."""
    found: list[tuple[bool, int, date, int]] = []
    for pattern in _DATES:
        for m in pattern.finditer(text):
            parsed = _parse(m)
            if parsed is not None:
                anchored = bool(_ANCHOR.search(text[max(0, m.start() - 12) : m.start()]))
                found.append((not anchored, m.start(), parsed, m.end()))
    if not found:
        return None
    _, start, day, end = min(found)
    return day, start, end


def _parse(m: re.Match[str]) -> date | None:
    groups = m.groupdict()
    month = int(groups["num"]) if groups.get("num") else _month(groups["month"])
    try:
        return date(int(groups["year"]), month, int(groups["day"]))
    except ValueError:
        return None


def _month(name: str) -> int:
    key = name.lower().rstrip(".")
    return _MONTHS.get(key) or next(v for k, v in _MONTHS.items() if k.startswith(key[:3]))


def find_plan(text: str, plans: Iterable[tuple[str, str]]) -> str | None:
    """The code of the plan the text names, by its code or its title (the longest name
    found wins, so a plan's title is not mistaken for a shorter one inside it)."""
    best: tuple[int, str] | None = None
    for code, title in plans:
        for name in (code, title):
            if name and _names(text, name) and (best is None or len(name) > best[0]):
                best = (len(name), code)
    return best[1] if best else None


def _names(text: str, name: str) -> bool:
    """Whether the text has the name as words of its own ("P-1" is not in "P-10")."""
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text, re.IGNORECASE) is not None
