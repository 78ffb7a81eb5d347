"""The statement checker's work stays small whatever a caller sends: pairing a fraction with
its percentage looks at the first percentage after it only (found by a review: trying every
percentage of the sentence copied the text between them each time, cubic in its length, and
a 9,200-character sentence held the worker 7 s), and the text it takes is bounded."""

import pytest
from pydantic import ValidationError

from services.plans.statements import claims
from services.plans.statements.schemas import MAX_TEXT, StatementCheck


def test_each_fraction_tries_one_percentage_however_many_the_sentence_has(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gaps: list[str] = []
    pairs = claims._pairs

    def counted(gap: str) -> bool:
        gaps.append(gap)
        return pairs(gap)

    monkeypatch.setattr(claims, "_pairs", counted)
    found = claims.find_claims("1 of 2 " * 400 + "1 % " * 1600)
    # 400 fractions, the last one with the percentage right after it, 1,599 more percentages.
    assert len(found) == 400 + 1599
    assert len(gaps) <= 400  # one try per fraction, not one per (fraction, percentage)


def test_a_percentage_before_a_fraction_is_not_its_percentage() -> None:
    (percent, fraction) = claims.find_claims("About 94 %. Then 97 of 103 lines were completed.")[:2]
    assert (percent.kind, fraction.kind) == ("percent", "fraction")
    assert fraction.percent is None


def test_a_text_longer_than_the_bound_is_refused() -> None:
    with pytest.raises(ValidationError):
        StatementCheck(text="x" * (MAX_TEXT + 1))
