"""Finding the figure claims of a text and checking each for internal consistency, free of
I/O.

A claim is one of:
- a fraction: "97 of 103", "97 out of the 103 action lines", "ninety-seven of its one hundred
  and three lines", with the percentage that goes with it when the same sentence gives one
  after it ("(94.2 %)", ", or 94.2 percent,");
- a percentage: "94.2 %", "94 percent", "about 94 per cent", "nearly ninety-five percent";
- a count: "103 action lines", "ten member states", "over 20 meetings".

Internal consistency (the tolerances, also in docs/decisions/0033). Let ``x`` be the share a
fraction gives (100 * N / M) and ``P`` the percentage stated with it:
- no qualifier ("94.2 %"): ``x`` rounds to ``P`` at the places ``P`` is written with (half a
  unit of its last digit either way: 94.2 covers 94.15..94.25, 94 covers 93.5..94.5);
- about, around, approximately, roughly, some, close to: ``|x - P| <= 2.5`` points (so rounding
  to the nearest 5 is always "about" right);
- nearly, almost, just under, not quite: ``P - 5 <= x < P`` ("nearly 94 %" of 94.2 % says
  less than there is, so it is judged inconsistent);
- over, more than, above, exceeding, upwards of, just over: ``P < x <= P + 10`` ("over 50 %"
  of 94.2 % is true but misleads, so it is judged inconsistent);
- under, less than, below, fewer than: ``P - 10 <= x < P``;
- at least: ``P <= x <= P + 10``; at most: ``P - 10 <= x <= P``.
A fraction needs ``N <= M`` and ``M > 0``; a percentage of a fraction at most 100.
The same tolerances apply when a claim is compared with the record (``record.py``).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

from services.plans.statements import numbers

Verdict = Literal["ok", "inconsistent", "contradicts_record"]

_NOUNS = (
    r"(?:planned\s+|agreed\s+)?(?:action\s+lines|action\s+line|lines\s+of\s+action|lines|line"
    r"|activities|member\s+states|members|member|meetings|meeting|countries)"
)
_QUALIFIERS = {
    "about": "about", "around": "about", "approximately": "about", "roughly": "about",
    "some": "about", "close to": "about", "nearly": "nearly", "almost": "nearly",
    "just under": "nearly", "not quite": "nearly", "over": "over", "more than": "over",
    "above": "over", "exceeding": "over", "upwards of": "over", "just over": "over",
    "in excess of": "over", "under": "under", "less than": "under", "below": "under",
    "fewer than": "under", "at least": "at_least", "at most": "at_most", "exactly": "exact",
    "precisely": "exact",
}  # fmt: skip
_QUALIFIER = "|".join(sorted((re.escape(q) for q in _QUALIFIERS), key=len, reverse=True))
_QUALIFIER = _QUALIFIER.replace(r"\ ", r"\s+")
_FLAGS = re.IGNORECASE
FRACTION = re.compile(
    rf"(?:(?P<q>{_QUALIFIER})\s+)?(?P<n>{numbers.NUMBER})\s+(?:out\s+)?of\s+"
    rf"(?:the\s+|its\s+|their\s+|all\s+)?(?P<m>{numbers.NUMBER})(?:\s+(?P<noun>{_NOUNS}))?\b",
    _FLAGS,
)
PERCENT = re.compile(
    rf"(?:(?P<q>{_QUALIFIER})\s+)?(?P<p>{numbers.NUMBER})\s*(?:%|percent\b|per\s+cent\b)", _FLAGS
)
COUNT = re.compile(
    rf"(?:(?P<q>{_QUALIFIER})\s+)?(?P<n>{numbers.NUMBER})\s+(?P<noun>{_NOUNS})\b", _FLAGS
)
# Where a sentence (or a clause of its own) ends: after . ! ? and space before what can start
# a sentence, so not inside "94.2"; and after a semicolon.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“(])|;\s+")

_ADJACENT = re.compile(r"\s*(?:\(|[,:\u2013\u2014-]\s*(?:or|i\.e\.,?|that is,?)?)?\s*", _FLAGS)
_BRACKETED = re.compile(r"[^%()]*\(\s*")
_A_NUMBER = re.compile(numbers.NUMBER, _FLAGS)
# Numbers that belong to a name ("the Checker Plan 2020", "Chapter 3"): a capitalised word
# then numbers. They say nothing about the fraction, so they do not keep its percentage away.
_NAMED_NUMBERS = re.compile(rf"(?-i:[A-Z])[\w-]*(?:\s+{numbers.NUMBER})+", _FLAGS)

ABOUT = 2.5
NEARLY = 5.0
OVER_UNDER = 10.0


@dataclass(frozen=True)
class Claim:
    kind: Literal["fraction", "percent", "count"]
    text: str
    start: int
    end: int
    sentence: str
    sentence_start: int  # where the sentence (or clause) begins in the text
    part: float | None = None  # N of a fraction, the count of a count
    whole: float | None = None  # M of a fraction
    percent: float | None = None
    percent_places: int = 0
    qualifier: str | None = None  # of the percentage (or of the count)
    noun: str | None = None  # what is counted: lines, members, meetings...


@dataclass(frozen=True)
class Judgement:
    claim: Claim
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)
    checked_against_record: bool = False


def find_claims(text: str) -> list[Claim]:
    """Every claim of the text, in the order they appear."""
    claims: list[Claim] = []
    for start, end in _sentences(text):
        claims.extend(_claims_of_sentence(text, start, end))
    return claims


def _sentences(text: str) -> list[tuple[int, int]]:
    bounds, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        bounds.append((start, match.start()))
        start = match.end()
    bounds.append((start, len(text)))
    return bounds


def _claims_of_sentence(text: str, start: int, end: int) -> list[Claim]:
    sentence = text[start:end]
    found: list[Claim] = []
    taken: list[tuple[int, int]] = []
    percents = [m for m in PERCENT.finditer(sentence)]
    for m in FRACTION.finditer(sentence):
        noun = _noun(m.group("noun"))
        claim = Claim(
            kind="fraction",
            text=m.group(0),
            start=start + m.start(),
            end=start + m.end(),
            sentence=sentence,
            sentence_start=start,
            part=numbers.value(m.group("n")),
            whole=numbers.value(m.group("m")),
            noun=noun,
        )
        # The percentage that goes with it: right after it, after a comma, "or", "i.e." or
        # "that is" ("97 of 103, or 94.2 %"), or in the next brackets with no number between
        # ("31 of the 33 lines of the pillar were completed (93.9 %)").
        # Only the first percentage after the fraction can: any later one has a number (that
        # first percentage) in its gap. (Trying every one was cubic in the sentence's length.)
        p = next((p for p in percents if p.start() >= m.end()), None)
        if p is not None and _pairs(sentence[m.end() : p.start()]):
            percents.remove(p)
            # The closing bracket of "(94.2 %)" belongs to the claim too.
            bracketed = "(" in sentence[m.end() : p.start()]
            close = re.match(r"\s*\)", sentence[p.end() :]) if bracketed else None
            end = p.end() + (close.end() if close else 0)
            claim = replace(
                claim,
                text=sentence[m.start() : end],
                end=start + end,
                percent=numbers.value(p.group("p")),
                percent_places=numbers.places(p.group("p")),
                qualifier=_qualifier(p.group("q")),
            )
            taken.append((p.start(), p.end()))
        found.append(claim)
        taken.append((m.start(), m.end()))
    for p in percents:
        found.append(
            Claim(
                kind="percent",
                text=p.group(0),
                start=start + p.start(),
                end=start + p.end(),
                sentence=sentence,
                sentence_start=start,
                percent=numbers.value(p.group("p")),
                percent_places=numbers.places(p.group("p")),
                qualifier=_qualifier(p.group("q")),
            )
        )
        taken.append((p.start(), p.end()))
    for c in COUNT.finditer(sentence):
        if any(a < c.end() and c.start() < b for a, b in taken):
            continue
        found.append(
            Claim(
                kind="count",
                text=c.group(0),
                start=start + c.start(),
                end=start + c.end(),
                sentence=sentence,
                sentence_start=start,
                part=numbers.value(c.group("n")),
                qualifier=_qualifier(c.group("q")),
                noun=_noun(c.group("noun")),
            )
        )
    return sorted(found, key=lambda c: c.start)


def _pairs(gap: str) -> bool:
    """Whether a percentage after this gap goes with the fraction before it."""
    if _ADJACENT.fullmatch(gap):
        return True
    if not _BRACKETED.fullmatch(gap):
        return False
    return not _A_NUMBER.search(_NAMED_NUMBERS.sub(" ", gap))


def _qualifier(word: str | None) -> str | None:
    return _QUALIFIERS[re.sub(r"\s+", " ", word.lower())] if word else None


def _noun(word: str | None) -> str | None:
    if not word:
        return None
    w = re.sub(r"\s+", " ", word.lower()).removeprefix("planned ").removeprefix("agreed ")
    if "line" in w:
        return "lines"
    if w.startswith("member"):
        return "members"
    if w.startswith("meeting"):
        return "meetings"
    return w


# For each qualifier: whether the exact share x fits the stated P, and what it means.
_FITS: dict[str | None, tuple[Callable[[float, float], bool], str]] = {
    "about": (lambda x, p: abs(x - p) <= ABOUT, f"within {ABOUT} points of it"),
    "nearly": (lambda x, p: p - NEARLY <= x < p, f"less than it, by at most {NEARLY} points"),
    "over": (lambda x, p: p < x <= p + OVER_UNDER, f"more than it, by at most {OVER_UNDER} points"),
    "under": (
        lambda x, p: p - OVER_UNDER <= x < p,
        f"less than it, by at most {OVER_UNDER} points",
    ),
    "at_least": (lambda x, p: p <= x <= p + OVER_UNDER, f"it or up to {OVER_UNDER} points more"),
    "at_most": (lambda x, p: p - OVER_UNDER <= x <= p, f"it or up to {OVER_UNDER} points less"),
}


def share_matches(exact: float, stated: float, places: int, qualifier: str | None) -> str | None:
    """None when ``stated`` (a percentage written with ``places`` decimals, under
    ``qualifier``) fits the exact share; otherwise why not."""
    said = f"{_q(qualifier)}{stated:.{places}f} %"
    if qualifier in _FITS:
        fits, meaning = _FITS[qualifier]
        if fits(exact, stated):
            return None
        return f"{said} but the share is {exact:.2f} %; {_q(qualifier).strip()!r} means {meaning}"
    # Stated as such: the share rounds to it at its places (half a unit of its last digit).
    if abs(exact - stated) <= 0.5 * 10**-places + 1e-9:
        return None
    return f"{said} but the share is {exact:.2f} %, which rounds to {exact:.{places}f} %"


def count_matches(actual: float, stated: float, qualifier: str | None) -> bool:
    """A count under its qualifier: exact unless "about" (5 % either way), "over" (more),
    "nearly"/"under" (fewer), "at least"/"at most"."""
    if qualifier == "about":
        return abs(actual - stated) <= max(1.0, 0.05 * stated)
    if qualifier == "over":
        return actual > stated
    if qualifier in ("nearly", "under"):
        return actual < stated
    if qualifier == "at_least":
        return actual >= stated
    if qualifier == "at_most":
        return actual <= stated
    return actual == stated


def _q(qualifier: str | None) -> str:
    return "" if qualifier in (None, "exact") else qualifier.replace("_", " ") + " "


def check_internal(claim: Claim) -> Judgement:
    """Whether the claim agrees with itself: N <= M, and the percentage given with a
    fraction fits N / M under its qualifier."""
    reasons: list[str] = []
    if claim.kind == "fraction":
        assert claim.part is not None and claim.whole is not None
        if claim.whole <= 0:
            reasons.append(f"{claim.part:g} of {claim.whole:g}: nothing to count")
        elif claim.part > claim.whole:
            reasons.append(f"{claim.part:g} of {claim.whole:g}: the part is more than the whole")
        elif claim.percent is not None:
            exact = 100 * claim.part / claim.whole
            why = share_matches(exact, claim.percent, claim.percent_places, claim.qualifier)
            if why:
                reasons.append(f"{claim.part:g} of {claim.whole:g}: {why}")
    if claim.percent is not None and claim.kind == "fraction" and claim.percent > 100:
        reasons.append(f"{claim.percent:g} % of a whole is more than all of it")
    return Judgement(claim, "inconsistent" if reasons else "ok", reasons)
