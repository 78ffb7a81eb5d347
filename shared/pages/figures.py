"""Where a figure on a page comes from: the one place that ties a shown number to its
provenance, so that every figure of every page links the same way.

A figure that plans published (``GET /figures/{id}``: what was counted, the rule, the as-of
day, the journal position, the value) links there. It is linked only when the published value
is the one shown: a link must never vouch for a different number. Every other figure (overdue,
health, a change since the previous meeting: nothing publishes those) names the API read it
was computed by, the same view functions the API uses, so the numbers are the API's.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode


@dataclass(frozen=True)
class Provenance:
    source: str  # the API read that gives the same figure, e.g. "GET /plans/<id>/rollups"
    href: str | None = None  # a page a browser can open for it, when there is one


def provenance(api_path: str, **query: object) -> Provenance:
    """The provenance of a figure read from ``api_path`` with ``query`` (None values left out)."""
    params = {k: str(v) for k, v in query.items() if v is not None}
    return Provenance(source=f"GET {api_path}" + (f"?{urlencode(params)}" if params else ""))


@dataclass(frozen=True)
class Published:
    """A published figure as a page links to it: its values by the names the page shows
    them under (``completed``, ``counted``, ...)."""

    figure_id: uuid.UUID
    values: Mapping[str, float]


@dataclass(frozen=True)
class Sources:
    """The provenance of each figure of a page: the published figure of its scope when that
    holds the value shown, else the API read (``default``). ``figures_at`` is where the
    figures' service answers ``/figures/{id}`` as the browser sees it (its entry point's
    prefix, or its public URL when it is another service)."""

    default: Provenance
    figures_at: str = ""
    published: Mapping[str | None, Published] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return self.default.source

    def of(self, scope: str | None, name: str, value: object) -> Provenance:
        figure = self.published.get(scope)
        if figure is None or name not in figure.values or not _same(figure.values[name], value):
            return self.default
        path = f"/figures/{figure.figure_id}"
        return Provenance(source=f"GET {path}", href=self.figures_at.rstrip("/") + path)


def _same(published: float, shown: object) -> bool:
    return isinstance(shown, int | float) and float(shown) == float(published)
