"""Completion over time, from a journal of status changes: how many lines were completed at
the end of each day on which that number changed. Both services draw it, plans from its
journal and meetings from its read model of plans' events."""

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date

COMPLETED = "completed"


@dataclass(frozen=True, order=True)
class Change:
    """One line's change of status, ``order`` breaking ties between changes of the same day
    (the journal's id, the line's version) as the services' own as-of reads do."""

    effective_date: date
    order: int
    line: Hashable
    status: str


def completion_over_time(
    initial: Mapping[Hashable, str], changes: Iterable[Change], until: date | None = None
) -> list[tuple[date, int]]:
    """(day, lines completed at its end) for each day the count changed, changes after
    ``until`` left out. ``initial`` is every line's status before its first change."""
    status = dict(initial)
    completed = sum(1 for s in status.values() if s == COMPLETED)
    points: list[tuple[date, int]] = []
    for change in sorted(changes, key=lambda c: (c.effective_date, c.order)):
        if until is not None and change.effective_date > until:
            break
        was = status.get(change.line) == COMPLETED
        status[change.line] = change.status
        completed += (change.status == COMPLETED) - was
        if points and points[-1][0] == change.effective_date:
            points[-1] = (change.effective_date, completed)
        else:
            points.append((change.effective_date, completed))
    # Days whose changes cancelled out (completed then reopened) draw nothing.
    kept: list[tuple[date, int]] = []
    for day, count in points:
        if not kept or kept[-1][1] != count:
            kept.append((day, count))
    return kept
