"""Routes of published figures: publish one (idempotent), read it, derive it again."""

import uuid

from fastapi import APIRouter, Request, Response, status

from services.plans.figures import handlers, views
from services.plans.figures.schemas import FigurePublish, FigureRead, RederivationRead
from services.plans.schemas import NOT_FOUND
from shared.auth import AnyPrincipal
from shared.http import read_only, unit_of_work

router = APIRouter(tags=["figures"])


@router.post(
    "/figures",
    status_code=status.HTTP_201_CREATED,
    response_model=FigureRead,
    responses={200: {"description": "The same figure was already published"}},
)
async def publish_figure(
    body: FigurePublish, request: Request, response: Response, principal: AnyPrincipal
) -> FigureRead:
    """Compute a figure (completed of counted lines, and the share) from the journal as of
    the end of `as_of` under a counting rule, and keep it as published: a page or a
    statement that shows a figure publishes it and links to `GET /figures/{id}`.

    Idempotent: the same plan, scope, rule version and day at the same journal position
    (nothing recorded since) answer the figure already kept, with 200 instead of 201."""
    command = handlers.PublishFigure(
        plan_id=body.plan_id, scope=body.scope, rule_version=body.rule_version, as_of=body.as_of
    )
    async with unit_of_work(request) as session:
        row, created = await handlers.publish(session, command)
        read = await views.read(session, row)
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = read.links.self
    return read


@router.get("/figures/{figure_id}", response_model=FigureRead, responses=NOT_FOUND)
async def get_figure(figure_id: uuid.UUID, request: Request, principal: AnyPrincipal) -> FigureRead:
    """A published figure: what was counted, the counting rule's version, the as-of day, the
    journal position it was computed from, its value, and the link that derives it again."""
    async with read_only(request) as session:
        return await views.figure(session, figure_id)


@router.get(
    "/figures/{figure_id}/rederivation", response_model=RederivationRead, responses=NOT_FOUND
)
async def rederive_figure(
    figure_id: uuid.UUID, request: Request, principal: AnyPrincipal
) -> RederivationRead:
    """Derive the figure again now from the same inputs: `same` when it still holds; the
    later events that changed it otherwise (status changes effective by its day, corrections
    of history moving an entry across it, lines added)."""
    async with read_only(request) as session:
        return await views.rederivation(session, figure_id)
