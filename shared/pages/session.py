"""Signing in to the pages: a browser cannot send a bearer header with a link, so the person
pastes their token once into a form, posted to this service, which checks it like the API
does and keeps it in an HttpOnly cookie for the pages only (decision 34).

The cookie holds the token itself: a service holds no key to sign a session of its own
(decision 18), and so a page is allowed exactly what the token allows, until the token
expires. It is sent only to ``/pages`` (never to the API, which stays bearer-only and so safe
from cross-site requests), only from this site (``SameSite=Strict``), never readable by a
script (``HttpOnly``), and only over HTTPS where the request came over it or in production.
The token never appears in a URL, so no proxy or server log records it.
"""

from typing import Annotated
from urllib.parse import parse_qs, quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response

from shared.auth import Principal, principal_of
from shared.config import Environment
from shared.problems import Unauthorized

PATH = "/pages"
LOGIN = f"{PATH}/login"


def root(request: Request) -> str:
    """The prefix the entry point routes to this service (``<NAME>_ROOT_PATH``, e.g.
    ``/meetings``), "" when none: where the browser sees this service's paths."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def base(request: Request) -> str:
    """Where the pages are as the browser sees them: ``/pages`` under the prefix the entry
    point routes to this service (``<NAME>_ROOT_PATH``, e.g. ``/meetings/pages``)."""
    return root(request) + PATH


def _here(request: Request) -> str:
    """The page asked for, as the browser sees its path."""
    root = request.scope.get("root_path", "").rstrip("/")
    path = request.url.path
    path = path[len(root) :] if root and path.startswith(root) else path
    return root + path + (f"?{request.url.query}" if request.url.query else "")


def cookie_name(request: Request) -> str:
    # One cookie per service: browsers share cookies across the ports of one host, and a
    # token may be valid for one service's audience and not another's.
    return f"accord_pages_{request.app.state.spec.name}"


class LoginRequired(Exception):
    """No cookie, or its token is no longer accepted: the page sends the browser to sign in."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


def safe_next(request: Request, value: str | None) -> str:
    """Where to go after signing in: a page of this service, never another site."""
    pages = base(request)
    if value and value.startswith(f"{pages}/") and not value.startswith("//") and "\\" not in value:
        return value
    return f"{pages}/"


async def on_login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    pages = base(request)
    response = RedirectResponse(f"{pages}/login?next={quote(exc.next_path, safe='/')}", 303)
    response.delete_cookie(cookie_name(request), path=pages)
    response.headers["Cache-Control"] = "no-store"
    return response


async def page_principal(request: Request) -> Principal:
    """The caller of a page, from the cookie's token, checked as a bearer token is."""
    token = request.cookies.get(cookie_name(request))
    here = _here(request)
    if not token:
        raise LoginRequired(here)
    try:
        return await principal_of(request, token)
    except Unauthorized as exc:
        raise LoginRequired(here) from exc


PagePrincipal = Annotated[Principal, Depends(page_principal)]


async def login_form(request: Request) -> dict[str, str]:
    """The posted form's fields (application/x-www-form-urlencoded), first value of each."""
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
    return {name: values[0] for name, values in fields.items()}


def cross_site(request: Request) -> bool:
    """A sign-in posted from another site (a browser says so): refused, so that no site can
    sign a visitor in under a token of its own choosing."""
    return request.headers.get("sec-fetch-site", "same-origin") not in {
        "same-origin",
        "none",
    }


def signed_in(request: Request, token: str, next_path: str) -> Response:
    response = RedirectResponse(safe_next(request, next_path), 303)
    spec = request.app.state.spec
    secure = request.url.scheme == "https" or spec.common.environment is Environment.PRODUCTION
    # No Max-Age: the cookie ends with the browser session, the token's own expiry sooner.
    response.set_cookie(
        cookie_name(request),
        token,
        path=base(request),
        httponly=True,
        samesite="strict",
        secure=secure,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def signed_out(request: Request) -> Response:
    response = RedirectResponse(f"{base(request)}/login", 303)
    response.delete_cookie(cookie_name(request), path=base(request))
    return response
