"""The statement checker's logic: claims found in varied phrasings, each judged for internal
consistency and against a plan's record (here a fixed one: the ASEAN-UN plan as of the
CPR-UN meeting, 97 of 103 lines completed, 6 ongoing). The record read from a real database
is tested in tests/integration/test_statement_checker.py."""

from datetime import date

import pytest

from services.plans.statements import numbers
from services.plans.statements.claims import find_claims
from services.plans.statements.mentions import find_date, find_plan
from services.plans.statements.record import Counts, Record, judge

RECORD = Record(
    plan_code="ASEAN-UN-POA-2016-2020",
    as_of=date(2020, 9, 15),
    overall=Counts(counted=103, completed=97, ongoing=6),
    pillars={
        "Political-Security Cooperation": Counts(counted=33, completed=31, ongoing=2),
        "Economic Cooperation": Counts(counted=28, completed=27, ongoing=1),
        "Socio-Cultural Cooperation": Counts(counted=30, completed=28, ongoing=2),
        "Cross-cutting areas": Counts(counted=12, completed=11, ongoing=1),
    },
)

OK, BAD, WRONG = "ok", "inconsistent", "contradicts_record"

# (statement, the verdict of each claim in order). Judged against RECORD.
STATEMENTS: list[tuple[str, list[str]]] = [
    # Consistent, in several phrasings.
    ("The delegates commended the completion of 97 out of 103 action lines.", [OK]),
    ("97 of the 103 action lines (94.2 %) have been completed.", [OK]),
    ("Ninety-seven of the one hundred and three action lines have been completed.", [OK]),
    ("97 of 103 lines, or 94.2 percent, were implemented.", [OK]),
    ("About 94 % of the action lines have been completed.", [OK]),
    ("Nearly 95 per cent of the lines were carried out.", [OK]),
    ("Over 90% of the action lines were completed.", [OK]),
    ("More than ninety percent of the action lines have been achieved.", [OK]),
    ("Six action lines are still ongoing.", [OK]),
    ("The plan counts 103 action lines.", [OK]),
    ("31 of the 33 lines of the Political-Security pillar were completed (93.9 %).", [OK]),
    ("In Economic Cooperation, 27 out of 28 action lines have been completed.", [OK]),
    ("6 of the 103 lines (5.8 %) are under way.", [OK]),
    (
        "On 15 September 2020, 97 of the 103 lines of ASEAN-UN-POA-2016-2020 (94.2 %) were done.",
        [OK],
    ),
    # A number in a name between them does not part a fraction from its percentage (a plan
    # titled with digits split them, found by CI).
    ("97 of the 103 lines of the Plan of Action 2020 (94.2 %) were done.", [OK]),
    ("97 of the 103 lines of the Checker Plan 535931 (94.2 %) were done.", [OK]),
    ("97 of the 103 lines of the Checker Plan 535931 (95.2 %) were done.", [BAD]),
    ("Roughly 6 % of the action lines are still in progress.", [OK]),
    ("All ten member states and 2 partners attended.", [OK]),
    ("Nine of the ten member states (90 %) sent ministers.", [OK]),
    ("The meeting was the 3 of 3 meetings planned this year.", [OK]),
    # Inconsistent in themselves: the percentage does not fit the fraction.
    ("97 of the 103 action lines (95.2 %) have been completed.", [BAD]),
    ("97 out of 103 lines, or 92 percent, were completed.", [BAD]),
    ("103 of 97 action lines have been completed.", [BAD]),
    ("Ninety-seven of the one hundred and three lines, nearly 94 %, were completed.", [BAD]),
    ("97 of 103 lines, over 95 %, were completed.", [BAD]),
    ("97 of 103 lines, about 90 %, were completed.", [BAD]),
    ("97 of 103 lines, over 50 %, were completed.", [BAD]),
    ("Seven of the ten member states (80 %) attended.", [BAD]),
    ("5 of 0 meetings were held.", [BAD]),
    # Consistent in themselves but not what Accord recorded as of 2020-09-15.
    ("98 of the 103 action lines (95.1 %) have been completed.", [WRONG]),
    ("97 out of 104 action lines have been completed.", [WRONG]),
    ("About 90 % of the action lines have been completed.", [WRONG]),
    ("Nearly 94 % of the lines were completed.", [WRONG]),
    ("Over 95 percent of the action lines were completed.", [WRONG]),
    ("Ten action lines are still ongoing.", [WRONG]),
    ("The plan counts 100 action lines.", [WRONG]),
    ("33 of the 33 lines of the Political-Security pillar were completed.", [WRONG]),
    ("Ninety-eight action lines have been completed.", [WRONG]),
    # Several claims in one text, each judged on its own.
    (
        "97 of the 103 action lines (94.2 %) have been completed; "
        "30 of the 30 lines of Socio-Cultural Cooperation were completed. "
        "Nine of the ten member states (95 %) attended.",
        [OK, WRONG, BAD],
    ),
    # Each claim is about the pillar named nearest it (Economic: 27 of 28, 96.4 %).
    (
        "31 of the 33 lines of Political-Security Cooperation were completed, and over 99 % "
        "of Economic Cooperation.",
        [OK, WRONG],
    ),
]


@pytest.mark.parametrize(("text", "verdicts"), STATEMENTS, ids=range(len(STATEMENTS)))
def test_each_statement_is_judged_right(text: str, verdicts: list[str]) -> None:
    judged = judge(text, RECORD)
    assert [j.verdict for j in judged] == verdicts, [(j.claim.text, j.reasons) for j in judged]
    for j in judged:
        assert text[j.claim.start : j.claim.end] == j.claim.text
        assert j.reasons or j.verdict == "ok"


def test_the_test_set_is_big_and_varied_enough() -> None:
    verdicts = [v for _, vs in STATEMENTS for v in vs]
    assert len(STATEMENTS) >= 30
    assert {verdicts.count(v) >= 8 for v in (OK, BAD, WRONG)} == {True}


def test_without_a_record_only_internal_consistency_is_judged() -> None:
    judged = judge("98 of the 103 action lines (95.1 %) have been completed.", None)
    assert [j.verdict for j in judged] == ["ok"]
    assert not judged[0].checked_against_record


def test_a_claim_the_record_cannot_answer_says_why() -> None:
    [members] = judge("Nine of the ten member states attended.", RECORD)
    assert members.verdict == "ok" and not members.checked_against_record
    assert "does not count members" in members.reasons[0]
    [vague] = judge("97 of 103 lines.", RECORD)
    assert vague.verdict == "ok" and vague.checked_against_record  # the whole is right
    [share] = judge("Some 40 % of them were discussed.", RECORD)
    assert not share.checked_against_record and "does not say" in share.reasons[0]


def test_the_reasons_name_the_record_and_the_tolerance() -> None:
    [wrong] = judge("About 90 % of the action lines have been completed.", RECORD)
    assert "within 2.5 points" in wrong.reasons[0]
    assert (
        "ASEAN-UN-POA-2016-2020 as of 2020-09-15 has 97 of 103 lines completed (94.2 %)"
        in (wrong.reasons[0])
    )
    [bad] = judge("97 of the 103 action lines (95.2 %) have been completed.", RECORD)
    assert "rounds to 94.2 %" in bad.reasons[0]


def test_the_share_is_rounded_at_the_places_it_is_written_with() -> None:
    # 2 of 3 is 66.67 %: "66.7 %" and "67 %" are right, "66.6 %" and "66 %" are not.
    verdicts = [
        judge(f"2 of 3 meetings ({p}) were held.", None)[0].verdict
        for p in ("66.7 %", "67 %", "66.6 %", "66 %")
    ]
    assert verdicts == [OK, OK, BAD, BAD]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("97", 97),
        ("1,000", 1000),
        ("94.2", 94.2),
        ("ninety-seven", 97),
        ("one hundred and three", 103),
        ("a hundred", 100),
        ("Twelve", 12),
    ],
)
def test_numbers_in_digits_and_words(text: str, value: float) -> None:
    assert numbers.value(text) == value


def test_a_fraction_and_its_bracketed_percentage_are_one_claim() -> None:
    text = "Of the plan, 97 of the 103 action lines (94.2 %) have been completed."
    [claim] = find_claims(text)
    assert claim.text == "97 of the 103 action lines (94.2 %)"
    assert (claim.part, claim.whole, claim.percent, claim.percent_places) == (97, 103, 94.2, 1)


def test_a_year_range_or_a_code_is_no_claim() -> None:
    assert find_claims("The ASEAN-UN Plan of Action 2016-2020 (ASEAN-UN-POA-2016-2020).") == []


def test_the_date_and_the_plan_a_text_names() -> None:
    text = "Jakarta, 15 September 2020. As of 31 December 2019, the ASEAN-UN Plan of Action 2016-2020 ..."
    assert find_date(text) is not None and find_date(text)[0] == date(2019, 12, 31)  # type: ignore[index]
    assert find_date("on September 15, 2020")[0] == date(2020, 9, 15)  # type: ignore[index]
    assert find_date("no date here") is None
    plans = [("ASEAN-UN-POA-2016-2020", "ASEAN-UN Plan of Action 2016-2020"), ("P", "Plan")]
    assert find_plan(text, plans) == "ASEAN-UN-POA-2016-2020"
    assert find_plan("nothing named", plans[:1]) is None
