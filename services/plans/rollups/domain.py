"""Rollup arithmetic, free of I/O: buckets, counters, counting rules, figures, health.

A rollup keeps raw counters per scope (a plan, a section and everything under it, an area
tag, a lead): the count and the weight of lines per (status, completed ahead of schedule),
and the count and weight of unfinished lines per target date. Counting rules are applied
when figures are read, so several rule versions can be shown side by side from the same
counters, and "overdue" (which depends on today's date) needs no rewrite when a day passes.

Health rule (documented in the API too): let ``expected`` be the share of the plan's period
that has elapsed and ``overdue_share`` the share of counted lines that are overdue.
- on_track: completion_rate >= expected - 0.10 and overdue_share <= 0.10
- off_track: completion_rate < expected - 0.25 or overdue_share > 0.25
- at_risk: otherwise.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from services.plans.domain import LineStatus
from shared import rounding

FINISHED = frozenset({LineStatus.COMPLETED, LineStatus.DISCONTINUED})


class CountingMode(StrEnum):
    COUNT = "count"
    WEIGHTED = "weighted"


class Health(StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    OFF_TRACK = "off_track"


@dataclass(frozen=True)
class CountingRule:
    version: int
    mode: CountingMode = CountingMode.COUNT
    excluded: frozenset[LineStatus] = frozenset()


@dataclass(frozen=True)
class LineFacts:
    """What a rollup needs to know of one line."""

    status: LineStatus
    weight: float
    target_date: date | None
    completed_on: date | None = None  # effective date of the completion, when completed

    @property
    def bucket(self) -> tuple[LineStatus, bool]:
        """(status, completed ahead of schedule): strictly before the target date."""
        ahead = (
            self.status is LineStatus.COMPLETED
            and self.completed_on is not None
            and self.target_date is not None
            and self.completed_on < self.target_date
        )
        return self.status, ahead

    @property
    def open_target(self) -> date | None:
        """The target date this line counts towards overdue with, if it is unfinished."""
        return None if self.status in FINISHED else self.target_date


@dataclass
class Counters:
    """Count and weight per bucket, and of unfinished lines per target date."""

    buckets: dict[tuple[LineStatus, bool], list[float]] = field(
        default_factory=lambda: defaultdict(lambda: [0.0, 0.0])
    )
    open_targets: dict[date, list[float]] = field(
        default_factory=lambda: defaultdict(lambda: [0.0, 0.0])
    )

    def add(self, line: LineFacts, sign: int = 1) -> None:
        cell = self.buckets[line.bucket]
        cell[0] += sign
        cell[1] += sign * line.weight
        if line.open_target is not None:
            target = self.open_targets[line.open_target]
            target[0] += sign
            target[1] += sign * line.weight

    def copy(self) -> "Counters":
        copied = Counters()
        for key, (c, w) in self.buckets.items():
            copied.buckets[key] = [c, w]
        for target, (c, w) in self.open_targets.items():
            copied.open_targets[target] = [c, w]
        return copied

    def normalised(
        self,
    ) -> tuple[dict[tuple[str, bool], tuple[float, float]], dict[date, tuple[float, float]]]:
        """Non-empty cells only, rounded, for comparing two counters."""

        def clean(cells: Mapping[Any, list[float]]) -> dict[Any, tuple[float, float]]:
            return {
                k: (round(c, 6), round(w, 6))
                for k, (c, w) in cells.items()
                if abs(c) > 1e-9 or abs(w) > 1e-9
            }

        return clean(self.buckets), clean(self.open_targets)


def recount(lines: Iterable[LineFacts]) -> Counters:
    counters = Counters()
    for line in lines:
        counters.add(line)
    return counters


@dataclass(frozen=True)
class Figures:
    rule_version: int
    mode: CountingMode
    total: float
    counted: float
    by_status: dict[LineStatus, float]
    completed: float
    addressed: float
    completion_rate: float
    completion_percent: float
    completed_ahead_of_schedule: float
    overdue: float
    health: Health


def figures(
    counters: Counters,
    rule: CountingRule,
    *,
    today: date,
    period: tuple[date, date] | None = None,
) -> Figures:
    index = 1 if rule.mode is CountingMode.WEIGHTED else 0
    by_status = {status: 0.0 for status in LineStatus}
    ahead = 0.0
    for (status, is_ahead), cell in counters.buckets.items():
        by_status[status] += cell[index]
        if is_ahead:
            ahead += cell[index]
    total = sum(by_status.values())
    counted = sum(v for s, v in by_status.items() if s not in rule.excluded)
    completed = (
        by_status[LineStatus.COMPLETED] if LineStatus.COMPLETED not in rule.excluded else 0.0
    )
    ongoing = by_status[LineStatus.ONGOING] if LineStatus.ONGOING not in rule.excluded else 0.0
    overdue = sum(cell[index] for target, cell in counters.open_targets.items() if target < today)
    # Each published share from the unrounded counters, rounded once (shared/rounding.py);
    # health compares the exact rate, never a rounded one.
    exact_rate = completed / counted if counted else 0.0
    return Figures(
        rule_version=rule.version,
        mode=rule.mode,
        total=_tidy(total),
        counted=_tidy(counted),
        by_status={s: _tidy(v) for s, v in by_status.items()},
        completed=_tidy(completed),
        addressed=_tidy(completed + ongoing),
        completion_rate=rounding.rate(completed, counted),
        completion_percent=rounding.percent(completed, counted),
        completed_ahead_of_schedule=_tidy(ahead),
        overdue=_tidy(overdue),
        health=health(exact_rate, overdue / counted if counted else 0.0, _elapsed(period, today)),
    )


def health(completion_rate: float, overdue_share: float, expected: float) -> Health:
    if completion_rate < expected - 0.25 or overdue_share > 0.25:
        return Health.OFF_TRACK
    if completion_rate >= expected - 0.10 and overdue_share <= 0.10:
        return Health.ON_TRACK
    return Health.AT_RISK


def _elapsed(period: tuple[date, date] | None, today: date) -> float:
    if period is None:
        return 0.0
    start, end = period
    span = (end - start).days
    if span <= 0:
        return 1.0 if today >= end else 0.0
    return min(1.0, max(0.0, (today - start).days / span))


def _tidy(value: float) -> float:
    """Counts are whole numbers; weights keep four decimals."""
    return round(value, 4) + 0.0
