"""Statement drafts, free of I/O: the figures of a frozen briefing, the draft's text from a
template with a marker per figure, and the text with the figures put back in, linked.

The text the secretariat edits keeps each figure as a marker, ``[[F1]]``; the figures
themselves are kept beside it and never edited, so whatever the edits, a figure in the
statement is the snapshot's and links to the figure plans published for the meeting.
"""

import html
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from shared import rounding

Kind = Literal["statement", "press_release"]
MARKER = re.compile(r"\[\[(F\d+)\]\]")

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    autoescape=False,  # plain text; the HTML rendering escapes it (rendered_html)
)


@dataclass(frozen=True)
class DraftFigure:
    key: str  # its marker's name: F1, F2...
    plan_id: str
    scope: str  # plan or section:<pillar id>, as plans names it
    title: str  # the plan's or the pillar's
    completed: int
    counted: int
    completion_percent: float
    as_of: str

    @property
    def words(self) -> str:
        """ "97 of the 103 action lines (94.2 %)" """
        return (
            f"{self.completed} of the {self.counted} action lines "
            f"({self.completion_percent:.{rounding.PERCENT_PLACES}f} %)"
        )


def snapshot_figures(briefing: dict[str, Any]) -> list[DraftFigure]:
    """Each plan's overall figure and each pillar's, from a frozen briefing, in order."""
    found: list[DraftFigure] = []

    def add(plan_id: str, scope: str, title: str, f: dict[str, Any]) -> None:
        found.append(
            DraftFigure(
                key=f"F{len(found) + 1}",
                plan_id=plan_id,
                scope=scope,
                title=title,
                completed=f["completed"],
                counted=f["total"],
                completion_percent=f["completion_rate"],
                as_of=briefing["as_of"],
            )
        )

    for plan in briefing["plans"]:
        add(plan["plan_id"], "plan", plan["title"] or plan["code"] or "the plan", plan["overall"])
        for pillar in plan["per_pillar"]:
            if pillar["pillar_id"] is not None:
                add(plan["plan_id"], f"section:{pillar['pillar_id']}", pillar["pillar"], pillar)
    return found


def draft_text(kind: Kind, meeting: dict[str, Any], figures: list[DraftFigure]) -> str:
    """The first text of a draft: the template filled, a marker where each figure goes."""
    plans: list[dict[str, Any]] = []
    for figure in figures:
        marker = f"[[{figure.key}]]"
        if figure.scope == "plan":
            plans.append({"title": figure.title, "overall": marker, "pillars": []})
        else:
            plans[-1]["pillars"].append({"title": figure.title, "figure": marker})
    return _TEMPLATES.get_template(f"{kind}.txt.j2").render(**meeting, plans=plans)


def unknown_markers(text: str, figures: list[DraftFigure]) -> list[str]:
    keys = {f.key for f in figures}
    return sorted({m.group(1) for m in MARKER.finditer(text)} - keys)


def rendered(text: str, figures: list[DraftFigure]) -> str:
    """The text as it will be published: each marker replaced by its figure in words."""
    words = {f.key: f.words for f in figures}
    return MARKER.sub(lambda m: words[m.group(1)], text)


def rendered_html(text: str, figures: list[DraftFigure], links: dict[str, str]) -> str:
    """The text as HTML paragraphs, each figure a link to its provenance when it has one."""
    by_key = {f.key: f for f in figures}

    def figure(m: re.Match[str]) -> str:
        f = by_key[m.group(1)]
        words = html.escape(f.words)
        link = links.get(f.key)
        if link is None:
            return f'<span class="figure" data-figure="{f.key}">{words}</span>'
        return f'<a class="figure" data-figure="{f.key}" href="{html.escape(link)}">{words}</a>'

    paragraphs = [p for p in text.split("\n") if p.strip()]
    return "\n".join(f"<p>{MARKER.sub(figure, html.escape(p))}</p>" for p in paragraphs)


def to_json(figures: list[DraftFigure]) -> list[dict[str, Any]]:
    return [asdict(f) for f in figures]


def from_json(rows: list[dict[str, Any]]) -> list[DraftFigure]:
    return [DraftFigure(**row) for row in rows]
