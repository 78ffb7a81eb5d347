"""The meeting's briefing page rendered from a briefing with a previous meeting (the demo's
CPR-UN meeting has none, so the browser test never shows this part): every change since the
previous meeting is in the page, per pillar, with its data attributes."""

import re
import uuid
from datetime import UTC, date, datetime
from types import SimpleNamespace

from services.meetings.briefings.schemas import BriefingRead
from services.meetings.pages import api, views
from shared.pages.charts import Marker, bar_chart, line_chart
from shared.pages.figures import provenance

POLITICAL, ECONOMIC = uuid.uuid4(), uuid.uuid4()


def _briefing() -> BriefingRead:
    pillar = {"by_status": {"completed": 1, "ongoing": 1}, "completed": 1, "total": 2}
    return BriefingRead.model_validate(
        {
            "meeting_id": uuid.uuid4(),
            "as_of": date(2020, 9, 15),
            "frozen": True,
            "frozen_at": datetime(2020, 9, 15, 12, 0, tzinfo=UTC),
            "pending_reviews": 0,
            "plans": [
                {
                    "plan_id": uuid.uuid4(),
                    "code": "P",
                    "title": "A <plan> & its title",
                    "status": "active",
                    "overall": {
                        "total": 4,
                        "by_status": {"completed": 2, "ongoing": 2},
                        "completed": 2,
                        "completion_rate": 50.0,
                    },
                    "per_pillar": [
                        {**pillar, "completion_rate": 50.0, "pillar_id": p, "pillar": name}
                        for p, name in ((POLITICAL, "Political"), (ECONOMIC, "Economic"))
                    ],
                    "changes_since_previous_meeting": {
                        "previous_meeting_id": uuid.uuid4(),
                        "since": date(2019, 9, 1),
                        "completed_since": ["1.1", "1.2"],
                        "reopened_since": ["2.1"],
                        "per_pillar": [
                            {
                                "pillar_id": POLITICAL,
                                "pillar": "Political",
                                "completed_since": 2,
                                "reopened_since": 0,
                            },
                            {
                                "pillar_id": ECONOMIC,
                                "pillar": "Economic",
                                "completed_since": 0,
                                "reopened_since": 1,
                            },
                        ],
                    },
                }
            ],
        }
    )


def _render(briefing: BriefingRead) -> str:
    (plan,) = briefing.plans
    changes = plan.changes_since_previous_meeting
    assert changes is not None
    section = views.PlanSection(
        plan=plan,
        pillar_chart=bar_chart([views.pillar_bar(p) for p in plan.per_pillar]),
        completion_chart=line_chart(
            [(date(2019, 3, 1), 1), (date(2020, 3, 1), 2)],
            4,
            date(2019, 1, 1),
            briefing.as_of,
            [Marker(changes.since, "previous meeting")],
        ),
        changes={str(c.pillar_id): c for c in changes.per_pillar},
    )
    meeting = SimpleNamespace(id=briefing.meeting_id, title="CPR", series="S", place=None)
    return api.pages.environment.get_template("meeting.html").render(
        meeting=meeting,
        briefing=briefing,
        plans=[section],
        source=provenance(f"/meetings/{briefing.meeting_id}/briefing"),
        principal=None,
        pages="/pages",
    )


def _figure(html: str, scope: object, name: str) -> str:
    found = re.findall(rf'data-figure="{name}" data-scope="{scope}" data-value="([^"]*)"', html)
    assert len(found) == 1, (scope, name, found)
    return found[0]


def test_the_change_since_the_previous_meeting_is_on_the_page_per_pillar() -> None:
    briefing = _briefing()
    html = _render(briefing)
    plan = briefing.plans[0].plan_id
    assert _figure(html, plan, "completed_since") == "2"
    assert _figure(html, plan, "reopened_since") == "1"
    assert (
        _figure(html, POLITICAL, "completed_since"),
        _figure(html, ECONOMIC, "completed_since"),
    ) == ("2", "0")
    assert (
        _figure(html, POLITICAL, "reopened_since"),
        _figure(html, ECONOMIC, "reopened_since"),
    ) == ("0", "1")
    assert "Completed since 2019-09-01" in html
    assert html.count('class="marker"') == 1  # the previous meeting on the completion curve
    assert html.count('<rect class="bar"') == 2
    # Text from the record is escaped, never markup.
    assert "A &lt;plan&gt; &amp; its title" in html and "<plan>" not in html
