"""The routes every service's pages share: signing in and out, and the stylesheet. Not in the
OpenAPI document: they are for browsers, not for client apps."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from shared.auth import principal_of
from shared.pages import session
from shared.pages.rendering import ICON, STYLESHEET, Pages
from shared.problems import Forbidden, Unauthorized

_pages = Pages("shared.pages")
STATIC_HEADERS = {"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"}


def service_pages(package: str) -> tuple[APIRouter, Pages]:
    """A service's pages: their router, holding the shared routes too, and their templates
    (``<package>/templates`` over the shared ones)."""
    pages = APIRouter(include_in_schema=False)
    pages.include_router(router())
    return pages, Pages(package)


def router() -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.get(session.LOGIN)
    async def login_page(request: Request, next: str | None = None) -> Response:
        return _pages.render(
            request, "login.html", next=session.safe_next(request, next), error=None
        )

    @routes.post(session.LOGIN)
    async def login(request: Request) -> Response:
        if session.cross_site(request):
            raise Forbidden("signing in to the pages is only possible from the pages")
        form = await session.login_form(request)
        token, next_path = form.get("token", "").strip(), form.get("next", "")
        try:
            if not token:
                raise Unauthorized("a token is required")
            await principal_of(request, token)
        except Unauthorized as exc:
            return _pages.render(
                request,
                "login.html",
                status_code=401,
                next=session.safe_next(request, next_path),
                error=exc.detail,
            )
        return session.signed_in(request, token, next_path)

    @routes.post(f"{session.PATH}/logout")
    async def logout(request: Request) -> Response:
        return session.signed_out(request)

    @routes.get(f"{session.PATH}/static/pages.css")
    async def stylesheet() -> Response:
        return Response(STYLESHEET, media_type="text/css", headers=STATIC_HEADERS)

    @routes.get(f"{session.PATH}/static/favicon.svg")
    async def icon() -> Response:
        return Response(ICON, media_type="image/svg+xml", headers=STATIC_HEADERS)

    return routes
