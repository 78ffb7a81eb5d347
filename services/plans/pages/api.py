"""Routes of the plans' pages: the list of plans and a plan's progress. For browsers (signed
in with ``/pages/login``), not in the OpenAPI document."""

import uuid
from datetime import date

from fastapi import Request
from fastapi.responses import Response

from services.plans.pages import views
from shared.http import read_only, unit_of_work
from shared.pages import routes
from shared.pages import session as session_pages
from shared.pages.session import PagePrincipal

router, pages = routes.service_pages("services.plans.pages")


@router.get("/pages/")
async def index(request: Request, principal: PagePrincipal) -> Response:
    async with read_only(request) as session:
        plans = await views.plan_index(session)
    return pages.render(request, "plans.html", principal=principal, plans=plans)


@router.get("/pages/plans/{plan_id}")
async def plan(
    plan_id: uuid.UUID, request: Request, principal: PagePrincipal, as_of: date | None = None
) -> Response:
    """A plan's progress: overall, per pillar and area, ahead of schedule, overdue, health,
    completion over time; as of a day when ``as_of`` says (from the journal). Its headline
    figures are published (idempotent) in one transaction, each linked to ``/figures/{id}``
    under the prefix the browser sees."""
    async with unit_of_work(request) as session:
        context = await views.plan_page(session, plan_id, as_of, session_pages.root(request))
    return pages.render(request, "plan.html", principal=principal, **context)
