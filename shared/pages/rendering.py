"""Rendering a page: one Jinja2 environment per service (its own templates, then the shared
ones), autoescaped, and the headers every page carries."""

from importlib.resources import files
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from shared.pages import session

# Nothing but this service: no script at all, styles and images from here only, forms posted
# here only, never framed. The charts are inline SVG drawn with attributes, not style="".
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    # A page shows what its token may see: no shared cache keeps it, no other site learns it.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def count(value: float) -> str:
    """A count as people write it: 97, not 97.0 (weights keep their decimals)."""
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def percent(value: float) -> str:
    return f"{value:.1f} %"


class Pages:
    """The templates of one service's pages (``<package>/templates``) over the shared ones."""

    def __init__(self, package: str) -> None:
        self.environment = jinja2.Environment(
            loader=jinja2.ChoiceLoader(
                [jinja2.PackageLoader(package, "templates"), jinja2.PackageLoader("shared.pages")]
            ),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.environment.filters["count"] = count
        self.environment.filters["percent"] = percent

    def render(
        self, request: Request, template: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        html = self.environment.get_template(template).render(
            request=request, pages=session.base(request), **context
        )
        return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


STATIC = files("shared.pages").joinpath("static")
STYLESHEET = STATIC.joinpath("pages.css").read_text(encoding="utf-8")
ICON = STATIC.joinpath("favicon.svg").read_text(encoding="utf-8")
