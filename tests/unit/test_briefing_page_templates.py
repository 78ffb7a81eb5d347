"""The meeting's briefing page rendered from a briefing with a previous meeting (the demo's
CPR-UN meeting has none, so the browser test never shows this part): every change since the
previous meeting is in the page, per pillar, with its data attributes; and the links of its
figures to the figures plans published, only where the published value is the one shown."""

import re
import uuid
from datetime import UTC, date, datetime
from types import SimpleNamespace

from services.meetings.briefings.schemas import BriefingRead, PublishedFigureRead
from services.meetings.pages import api, views
from shared.pages.charts import Marker, bar_chart, line_chart
from shared.pages.figures import Sources, provenance

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


def _render(briefing: BriefingRead, plans_at: str = "") -> str:
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
        source=Sources(
            provenance(f"/meetings/{briefing.meeting_id}/briefing"),
            plans_at,
            views.published(briefing.published_figures),
        ),
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


def _published(scope: str, completed: float, counted: float, percent: float) -> dict[str, object]:
    return {
        "figure_id": uuid.uuid4(),
        "scope": scope,
        "scope_title": scope,
        "as_of": date(2020, 9, 15),
        "completed": completed,
        "counted": counted,
        "completion_percent": percent,
    }


def _link(html: str, scope: object, name: str) -> str | None:
    found = re.findall(
        rf'data-figure="{name}" data-scope="{scope}" data-value="[^"]*" '
        rf'data-source="([^"]*)" title="[^"]*">(?:<a href="([^"]*)">)?',
        html,
    )
    assert len(found) == 1, (scope, name, found)
    source, href = found[0]
    assert (source == f"GET {href.removeprefix(PLANS)}") == bool(href), found
    return href or None


PLANS = "https://accord.example/plans"


def test_each_figure_links_to_the_published_figure_only_when_it_shows_its_value() -> None:
    briefing = _briefing()
    plan = briefing.plans[0].plan_id
    published = [
        _published("plan", 2, 4, 50.0),
        _published(f"section:{POLITICAL}", 1, 2, 50.0),
        # Published with a value other than the one shown: its completed and share are not
        # linked to it (a link never vouches for another number); its total is.
        _published(f"section:{ECONOMIC}", 0, 2, 0.0),
    ]
    briefing = briefing.model_copy(
        update={
            "published_figures": [
                PublishedFigureRead.model_validate({**f, "plan_id": plan}) for f in published
            ]
        }
    )
    html = _render(briefing, PLANS)
    overall, political, economic = (f"{PLANS}/figures/{f['figure_id']}" for f in published)
    names = ("completed", "total", "completion_percent")
    assert [_link(html, plan, n) for n in names] == [overall] * 3
    assert [_link(html, POLITICAL, n) for n in names] == [political] * 3
    assert [_link(html, ECONOMIC, n) for n in names] == [None, economic, None]
    # What plans never published (a change since the previous meeting) is not linked.
    assert _link(html, POLITICAL, "completed_since") is None


def test_before_plans_published_the_figures_name_the_briefing_read() -> None:
    briefing = _briefing()
    html = _render(briefing, PLANS)
    assert "/figures/" not in html
    assert _link(html, briefing.plans[0].plan_id, "completed") is None
