"""Statement drafts' logic: figures from a frozen briefing, markers in the template's text,
the text rendered with the figures and their links."""

import uuid

from services.meetings.statements.domain import (
    draft_text,
    rendered,
    rendered_html,
    snapshot_figures,
    unknown_markers,
)

PLAN, PILLAR = str(uuid.uuid4()), str(uuid.uuid4())
BRIEFING = {
    "as_of": "2020-09-15",
    "plans": [
        {
            "plan_id": PLAN,
            "code": "ASEAN-UN-POA-2016-2020",
            "title": "ASEAN-UN Plan of Action 2016-2020",
            "overall": {"total": 103, "completed": 97, "completion_rate": 94.2},
            "per_pillar": [
                {
                    "pillar_id": PILLAR,
                    "pillar": "Political-Security Cooperation",
                    "total": 33,
                    "completed": 31,
                    "completion_rate": 93.9,
                },
                {"pillar_id": None, "pillar": "(no section)", "total": 1, "completed": 0,
                 "completion_rate": 0.0},
            ],
        }
    ],
}  # fmt: skip
MEETING = {
    "place": "Jakarta",
    "day": "15 September 2020",
    "meeting_title": "CPR-UN meeting",
    "format": "virtual",
    "parties": "Viet Nam and United Nations",
    "co_chairs": "",
}


def test_each_plan_and_pillar_of_the_snapshot_is_a_figure_in_words() -> None:
    figures = snapshot_figures(BRIEFING)
    assert [(f.key, f.scope, f.words) for f in figures] == [
        ("F1", "plan", "97 of the 103 action lines (94.2 %)"),
        ("F2", f"section:{PILLAR}", "31 of the 33 action lines (93.9 %)"),
    ]


def test_the_template_places_a_marker_per_figure_and_rendering_fills_them() -> None:
    figures = snapshot_figures(BRIEFING)
    text = draft_text("statement", MEETING, figures)
    assert "[[F1]] have been completed" in text and "[[F2]]" in text
    assert "co-chaired" not in text  # no co-chairs, no sentence about them
    out = rendered(text, figures)
    assert "97 of the 103 action lines (94.2 %) have been completed" in out
    assert "In Political-Security Cooperation, 31 of the 33 action lines (93.9 %)" in out
    assert "[[" not in out
    release = rendered(draft_text("press_release", MEETING, figures), figures)
    assert release.startswith("JAKARTA, 15 September 2020")


def test_the_html_escapes_the_text_and_links_only_figures_with_a_provenance() -> None:
    figures = snapshot_figures(BRIEFING)
    html = rendered_html("<b>[[F1]]</b> & [[F2]]", figures, {"F1": "/figures/abc"})
    assert html == (
        '<p>&lt;b&gt;<a class="figure" data-figure="F1" href="/figures/abc">'
        "97 of the 103 action lines (94.2 %)</a>&lt;/b&gt; &amp; "
        '<span class="figure" data-figure="F2">31 of the 33 action lines (93.9 %)</span></p>'
    )


def test_a_marker_the_draft_has_no_figure_for_is_named() -> None:
    figures = snapshot_figures(BRIEFING)
    assert unknown_markers("[[F1]] and [[F3]] and [[F12]]", figures) == ["F12", "F3"]
    assert unknown_markers("[[F2]] only", figures) == []
