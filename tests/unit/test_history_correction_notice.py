"""A correction of history reaches whoever follows the line like its other events (same
targets) and reads as what it is: a change re-dated, with the reason."""

import uuid

from services.notifications.domain import TargetKind
from services.notifications.inbox.render import render
from services.notifications.intake.domain import targets
from shared.contracts import plans
from tests.support.plan_events import history_corrected


def _corrected() -> plans.ActionLineHistoryCorrected:
    return history_corrected(section_path=[uuid.uuid4()], tags=["peacekeeping"], version=4)


def test_a_correction_matches_the_plan_sections_line_and_tags() -> None:
    event = _corrected()
    assert set(targets(event)) == {
        (TargetKind.PLAN, str(event.plan_id)),
        (TargetKind.SECTION, str(event.section_path[0])),
        (TargetKind.ACTION_LINE, str(event.action_line_id)),
        (TargetKind.TAG, "peacekeeping"),
    }


def test_a_correction_says_which_change_moved_to_which_date_and_why() -> None:
    event = _corrected()
    title, body = render(event, {str(event.plan_id): "ASEAN-UN POA"})
    assert title == "Action line 1.2.3: history corrected"
    assert body == (
        "ASEAN-UN POA: the change of action line 1.2.3 to completed took effect on "
        "2019-06-30, not 2020-09-15. Reason: completed at the June 2019 workshop"
    )
