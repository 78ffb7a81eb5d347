"""Where a figure on a page comes from: the one place that ties a shown number to its
provenance, so that every figure of every page links the same way.

Today a figure names the API read it was computed by (the same view functions the API uses,
so the numbers are the API's). Once published figures are stored with their provenance
(``GET /figures/{id}``), ``provenance`` is the function to change so that each figure links there.
"""

from dataclasses import dataclass
from urllib.parse import urlencode


@dataclass(frozen=True)
class Provenance:
    source: str  # the API read that gives the same figure, e.g. "GET /plans/<id>/rollups"
    href: str | None = None  # a page a browser can open for it, when there is one


def provenance(api_path: str, **query: object) -> Provenance:
    """The provenance of a figure read from ``api_path`` with ``query`` (None values left out)."""
    params = {k: str(v) for k, v in query.items() if v is not None}
    return Provenance(source=f"GET {api_path}" + (f"?{urlencode(params)}" if params else ""))
