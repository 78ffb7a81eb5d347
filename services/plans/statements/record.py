"""Comparing claims with the record, free of I/O: a plan's figures as of a date, overall and
per pillar, against what a claim says.

What a claim is compared with: its sentence decides the scope (a pillar whose title it
names, the whole plan otherwise) and the status (ongoing when it says "ongoing", "under
way", "in progress" or "being implemented"; completed when it says complete, implement,
achieve, carry out or fulfil; neither otherwise). A fraction of lines is compared with the
lines counted and, when the status is known, with the lines in it; a percentage with the
share of lines in that status (the tolerances of ``claims.py``); a count of lines with the
lines in that status, or all counted lines. Members, meetings and activities are not
Accord's figures: such claims are only checked for internal consistency.
"""

import re
from dataclasses import dataclass, replace
from datetime import date

from services.plans.statements.claims import (
    Claim,
    Judgement,
    check_internal,
    count_matches,
    find_claims,
    share_matches,
)
from shared import rounding

_ONGOING = re.compile(r"\bongoing\b|under\s*way|in progress|being implemented", re.IGNORECASE)
_COMPLETED = re.compile(r"complet|implement|achiev|carried out|fulfil", re.IGNORECASE)


@dataclass(frozen=True)
class Counts:
    counted: float
    completed: float
    ongoing: float


@dataclass(frozen=True)
class Record:
    plan_code: str
    as_of: date
    overall: Counts
    pillars: dict[str, Counts]  # by title


def compare(judgement: Judgement, record: Record) -> Judgement:
    """The judgement once the claim is compared with the record (an inconsistent claim is
    left as it is: it cannot be right about anything)."""
    claim = judgement.claim
    if judgement.verdict == "inconsistent":
        return judgement
    if claim.noun not in (None, "lines"):
        return replace(
            judgement,
            reasons=[f"not compared with the record: Accord does not count {claim.noun}"],
        )
    scope, counts = _scope(claim, record)
    status = _status(claim.sentence)
    where = f"the record of {record.plan_code} as of {record.as_of}{scope}"
    wrong = _wrong(claim, counts, status)
    if wrong is None:
        return replace(
            judgement,
            checked_against_record=True,
            reasons=[f"agrees with {where}: {_say(counts, status)}"],
        )
    if wrong == "":
        return replace(
            judgement,
            reasons=["not compared with the record: the sentence does not say what was counted"],
        )
    return Judgement(
        claim, "contradicts_record", [f"{wrong}; {where} has {_say(counts, status)}"], True
    )


def _wrong(claim: Claim, counts: Counts, status: str | None) -> str | None:
    """Why the claim disagrees with the counts; None if it agrees, "" if it cannot say."""
    in_status = getattr(counts, status) if status else None
    if claim.kind == "fraction":
        assert claim.part is not None and claim.whole is not None
        if claim.whole != counts.counted:
            return f"{claim.whole:g} lines counted in the claim"
        if in_status is not None and claim.part != in_status:
            return f"{claim.part:g} lines {status} in the claim"
        return None
    if claim.kind == "percent":
        if in_status is None or claim.percent is None:
            return ""
        exact = 100 * in_status / counts.counted if counts.counted else 0.0
        return share_matches(exact, claim.percent, claim.percent_places, claim.qualifier)
    assert claim.part is not None
    actual = in_status if in_status is not None else counts.counted
    if count_matches(actual, claim.part, claim.qualifier):
        return None
    return f"{claim.text!r} in the claim"


def _scope(claim: Claim, record: Record) -> tuple[str, Counts]:
    """The pillar named nearest the claim in its sentence, or the whole plan."""
    lowered = claim.sentence.lower()
    at, end = claim.start - claim.sentence_start, claim.end - claim.sentence_start
    best: tuple[int, str, Counts] | None = None
    for title, counts in record.pillars.items():
        for name in {title.lower(), title.lower().removesuffix(" cooperation")}:
            for m in re.finditer(re.escape(name), lowered) if name else ():
                distance = m.start() - end if m.start() >= end else at - m.end()
                if best is None or abs(distance) < best[0]:
                    best = (abs(distance), title, counts)
    return (f" ({best[1]})", best[2]) if best else ("", record.overall)


def _status(sentence: str) -> str | None:
    if _ONGOING.search(sentence):
        return "ongoing"
    if _COMPLETED.search(sentence):
        return "completed"
    return None


def _say(counts: Counts, status: str | None) -> str:
    if status is None:
        return f"{counts.counted:g} lines counted"
    n = getattr(counts, status)
    return f"{n:g} of {counts.counted:g} lines {status} ({rounding.percent(n, counts.counted)} %)"


def judge(text: str, record: Record | None) -> list[Judgement]:
    """Every claim of the text, checked for internal consistency and, given the record of
    the plan and day the text names, against it."""
    judgements = [check_internal(c) for c in find_claims(text)]
    return judgements if record is None else [compare(j, record) for j in judgements]
