"""The public contracts spell the domain's states as literal strings, so that a consumer needs
no service's code; these tests keep the two spellings the same, so that a state added to a
domain (or renamed) cannot silently fall out of the events that carry it."""

from enum import StrEnum
from typing import Any, get_args

import pytest

from services.meetings import domain as meetings
from services.plans import domain as plans
from shared.contracts import meetings as meeting_events
from shared.contracts import plans as plan_events


def _literal_values(literal: Any) -> set[str]:
    return set(get_args(literal))


@pytest.mark.parametrize(
    ("literal", "enum"),
    [
        (plan_events.ActionLineStatus, plans.LineStatus),
        (plan_events.PlanStatus, plans.PlanStatus),
    ],
    ids=["line status", "plan status"],
)
def test_contract_literals_equal_the_domain_enum(literal: Any, enum: type[StrEnum]) -> None:
    assert _literal_values(literal) == {member.value for member in enum}


def test_every_decision_kind_has_a_body_contract_and_no_more() -> None:
    bodies = get_args(get_args(meeting_events.DecisionBody)[0])
    kinds = {body.model_fields["kind"].default for body in bodies}
    assert kinds == {kind.value for kind in meetings.DecisionKind}


def test_a_changed_enum_is_noticed() -> None:
    """The comparison above is not vacuous: one state more on either side breaks it."""
    assert _literal_values(plan_events.ActionLineStatus) != (
        {member.value for member in plans.LineStatus} | {"archived"}
    )
