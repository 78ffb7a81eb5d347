"""The arithmetic of published figures, free of I/O: how a figure reads in words, which
later journal events can move a figure as of a day, and what re-deriving it concluded."""

from dataclasses import dataclass
from datetime import date

from shared import rounding


@dataclass(frozen=True)
class Value:
    total: float
    counted: float
    completed: float
    completion_percent: float


def in_words(value: Value, what: str = "action lines") -> str:
    """The figure as a statement quotes it: "97 of the 103 action lines (94.2 %)"."""
    return (
        f"{_number(value.completed)} of the {_number(value.counted)} {what} "
        f"({_percent(value.completion_percent)} %)"
    )


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _percent(p: float) -> str:
    return f"{p:.{rounding.PERCENT_PLACES}f}"


def moves_across(as_of: date, old: date, new: date) -> bool:
    """A correction of history changes a figure as of ``as_of`` only when it moves its entry
    from one side of that day to the other: the journal keeps each line's changes in order
    (docs/decisions/0025), so a move on one side changes neither which change was the last by
    ``as_of`` nor whether there was one."""
    return (old <= as_of) != (new <= as_of)


@dataclass(frozen=True)
class LaterEvent:
    """Something recorded after the figure was published that can change it."""

    kind: str  # status_change | history_correction | line_added
    id: str
    action_line_id: str
    code: str
    detail: str


def explanation(same: bool, later: list[LaterEvent], published: Value, now: Value) -> str:
    if same and not later:
        return "derived again from the journal: the same value; nothing recorded since changes it"
    if same:
        return (
            f"derived again: the same value, although {len(later)} later event(s) touched what "
            "it counts (they cancel out)"
        )
    if not later:
        # Only a change outside the journal (a new counting rule never alters an old
        # version) could do this; say so rather than invent a cause.
        return (
            f"derived again: {in_words(now)} instead of {in_words(published)}, and no later "
            "journal event explains it"
        )
    return (
        f"derived again: {in_words(now)} instead of {in_words(published)}, changed by "
        f"{len(later)} later event(s) listed in later_events"
    )
