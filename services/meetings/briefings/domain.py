"""The briefing arithmetic, free of I/O: each action line's status as of a date, a plan's
figures under the count rule (overall and per pillar), and what changed between two dates.

``views.py`` loads the lines from the read model of plans and renders what this computes.
"""

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from shared import rounding

COMPLETED = "completed"


@dataclass(frozen=True)
class StatusChange:
    effective_date: date
    version: int
    status: str


@dataclass(frozen=True)
class LineHistory:
    """An action line as meetings knows it: its status before any recorded change, and every
    change since."""

    action_line_id: uuid.UUID
    code: str
    pillar_id: uuid.UUID | None
    initial_status: str
    changes: Sequence[StatusChange] = ()

    def status_as_of(self, day: date) -> str:
        """The last change that had taken effect by ``day`` (ties broken by version)."""
        effective = [c for c in self.changes if c.effective_date <= day]
        if not effective:
            return self.initial_status
        return max(effective, key=lambda c: (c.effective_date, c.version)).status


@dataclass(frozen=True)
class Figures:
    """Count rule: every line counts once, whatever its status (97 of 103 = 94.2 %)."""

    total: int
    by_status: dict[str, int]
    completed: int
    completion_rate: float


def figures(statuses: Iterable[str]) -> Figures:
    by_status = dict(sorted(Counter(statuses).items()))
    total = sum(by_status.values())
    completed = by_status.get(COMPLETED, 0)
    rate = rounding.percent(completed, total)
    return Figures(total=total, by_status=by_status, completed=completed, completion_rate=rate)


@dataclass(frozen=True)
class PillarChange:
    pillar_id: uuid.UUID | None
    completed_since: int
    reopened_since: int


@dataclass(frozen=True)
class Changes:
    since: date
    completed_since: list[str]
    reopened_since: list[str]
    per_pillar: list[PillarChange]


@dataclass(frozen=True)
class Progress:
    as_of: date
    overall: Figures
    per_pillar: dict[uuid.UUID | None, Figures]
    changes: Changes | None = field(default=None)


def progress(lines: Sequence[LineHistory], day: date, previous: date | None) -> Progress:
    """A plan's figures as of ``day``, per pillar, and what changed since ``previous``."""
    statuses = {line.action_line_id: line.status_as_of(day) for line in lines}
    pillars: dict[uuid.UUID | None, list[str]] = {}
    for line in lines:
        pillars.setdefault(line.pillar_id, []).append(statuses[line.action_line_id])
    return Progress(
        as_of=day,
        overall=figures(statuses.values()),
        per_pillar={pillar: figures(s) for pillar, s in pillars.items()},
        changes=changes_between(lines, previous, day) if previous is not None else None,
    )


def changes_between(lines: Sequence[LineHistory], since: date, day: date) -> Changes:
    """Lines completed since ``since`` (not completed then, completed on ``day``) and lines
    reopened (completed then, not any more), overall and per pillar."""
    completed: list[LineHistory] = []
    reopened: list[LineHistory] = []
    for line in lines:
        was, now = line.status_as_of(since) == COMPLETED, line.status_as_of(day) == COMPLETED
        if now and not was:
            completed.append(line)
        elif was and not now:
            reopened.append(line)
    pillar_ids = {line.pillar_id for line in completed + reopened}
    per_pillar = [
        PillarChange(
            pillar_id=pillar,
            completed_since=sum(1 for line in completed if line.pillar_id == pillar),
            reopened_since=sum(1 for line in reopened if line.pillar_id == pillar),
        )
        for pillar in pillar_ids
    ]
    return Changes(
        since=since,
        completed_since=sorted(line.code for line in completed),
        reopened_since=sorted(line.code for line in reopened),
        per_pillar=per_pillar,
    )
