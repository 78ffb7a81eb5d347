"""HTTP routes: webhook endpoints and their deliveries."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from services.notifications import handlers, orm, views
from services.notifications.api import CONFLICT, NOT_FOUND
from services.notifications.config import NotificationsSettings
from services.notifications.domain import DeliveryStatus
from services.notifications.ownership import filter_delegation, get_owned
from services.notifications.schemas import (
    DeliveryDetail,
    DeliveryRead,
    EndpointCreate,
    EndpointCreated,
    EndpointRead,
    EndpointUpdate,
    RecoverRequest,
    RecoverResult,
    SecretRotated,
)
from shared.auth import AnyPrincipal
from shared.http import read_only, unit_of_work
from shared.pagination import Cursor, Limit, Page
from shared.schemas import MAX_BIGINT

router = APIRouter(tags=["webhooks"])

DeliveryId = Annotated[int, Path(ge=1, le=MAX_BIGINT)]


def _settings(request: Request) -> tuple[NotificationsSettings, bool]:
    state = request.app.state
    return state.notifications_settings, state.allow_loopback_webhooks


@router.post(
    "/endpoints",
    status_code=status.HTTP_201_CREATED,
    response_model=EndpointCreated,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "example": {
                        "url": "https://hooks.mission.example.vn/accord",
                        "description": "Mission intranet",
                        "event_types": ["action_line.status_changed", "org.accord.plans.plan.*"],
                    }
                }
            }
        }
    },
)
async def register_endpoint(
    body: EndpointCreate, request: Request, principal: AnyPrincipal
) -> EndpointCreated:
    """Register a webhook endpoint. The URL must be https (http only where the operator
    allows it) and resolve to public addresses only: private, loopback, link-local, reserved
    and multicast targets are refused (422), in every spelling. The signing secret
    (`whsec_...`) is in this response and never shown again; see "Verifying webhooks"."""
    settings, loopback = _settings(request)
    async with unit_of_work(request) as session:
        endpoint = await handlers.register_endpoint(session, principal, body, settings, loopback)
    return EndpointCreated.model_validate(
        {**EndpointRead.model_validate(endpoint).model_dump(), "secret": endpoint.secret}
    )


@router.get("/endpoints", response_model=Page[EndpointRead])
async def list_endpoints(
    request: Request,
    principal: AnyPrincipal,
    delegation: str | None = Query(default=None, description="Secretariat only: whose"),
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[EndpointRead]:
    """The caller's endpoints (the secretariat's: everyone's), newest first; never secrets."""
    query = views.owned_by(orm.Endpoint, filter_delegation(principal, delegation))
    async with read_only(request) as session:
        return await views.page(
            session, query, orm.Endpoint.number, limit, cursor, EndpointRead.model_validate
        )


@router.get("/endpoints/{endpoint_id}", response_model=EndpointRead, responses=NOT_FOUND)
async def read_endpoint(
    endpoint_id: uuid.UUID, request: Request, principal: AnyPrincipal
) -> EndpointRead:
    """One endpoint: whether it is enabled, and why not (`gone`: it answered 410; `failing`:
    it failed for the configured window; `manual`)."""
    async with read_only(request) as session:
        endpoint = await get_owned(session, orm.Endpoint, endpoint_id, principal, "endpoint")
        return EndpointRead.model_validate(endpoint)


@router.patch("/endpoints/{endpoint_id}", response_model=EndpointRead, responses=NOT_FOUND)
async def change_endpoint(
    endpoint_id: uuid.UUID, body: EndpointUpdate, request: Request, principal: AnyPrincipal
) -> EndpointRead:
    """Change an endpoint's URL (checked again), description or event filter; enable or
    disable it. Re-enabling resumes the deliveries that were waiting for it."""
    settings, loopback = _settings(request)
    async with unit_of_work(request) as session:
        endpoint = await handlers.change_endpoint(
            session, principal, endpoint_id, body, settings, loopback
        )
    return EndpointRead.model_validate(endpoint)


@router.delete(
    "/endpoints/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND
)
async def remove_endpoint(
    endpoint_id: uuid.UUID, request: Request, principal: AnyPrincipal
) -> Response:
    """Remove an endpoint with its delivery log."""
    async with unit_of_work(request) as session:
        await handlers.remove_endpoint(session, principal, endpoint_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/endpoints/{endpoint_id}/rotate-secret", response_model=SecretRotated, responses=NOT_FOUND
)
async def rotate_secret(
    endpoint_id: uuid.UUID, request: Request, principal: AnyPrincipal
) -> SecretRotated:
    """Replace the signing secret without downtime: until `previous_secret_valid_until`
    every webhook carries two signatures (new and old secret), so the receiver can switch
    whenever it likes. The new secret is shown this once."""
    settings, _ = _settings(request)
    async with unit_of_work(request) as session:
        secret, until = await handlers.rotate_secret(session, principal, endpoint_id, settings)
    return SecretRotated(secret=secret, previous_secret_valid_until=until)


@router.post("/endpoints/{endpoint_id}/recover", response_model=RecoverResult, responses=NOT_FOUND)
async def recover(
    endpoint_id: uuid.UUID, body: RecoverRequest, request: Request, principal: AnyPrincipal
) -> RecoverResult:
    """Send again every delivery to this endpoint created since `since` that ended failed,
    each with its original `webhook-id` (the receiver dedupes what it already had)."""
    async with unit_of_work(request) as session:
        scheduled = await handlers.recover(session, principal, endpoint_id, body.since)
    return RecoverResult(scheduled=scheduled)


@router.get("/deliveries", response_model=Page[DeliveryRead])
async def list_deliveries(
    request: Request,
    principal: AnyPrincipal,
    endpoint_id: uuid.UUID | None = None,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    delegation: str | None = Query(default=None, description="Secretariat only: whose"),
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[DeliveryRead]:
    """The delivery log, newest first: one row per (event, endpoint) with its status, the
    number of attempts and the last answer."""
    code = filter_delegation(principal, delegation)
    query = views.deliveries_query(code, endpoint_id, status_.value if status_ else None)
    async with read_only(request) as session:
        return await views.page(
            session, query, orm.Delivery.id, limit, cursor, views.delivery_read, scalars=False
        )


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail, responses=NOT_FOUND)
async def read_delivery(
    delivery_id: DeliveryId, request: Request, principal: AnyPrincipal
) -> DeliveryDetail:
    """One delivery with every attempt: when, status code, latency, error."""
    async with read_only(request) as session:
        return await views.delivery_detail(session, principal, delivery_id)


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryRead,
    responses=NOT_FOUND | CONFLICT,
)
async def redeliver(
    delivery_id: DeliveryId, request: Request, principal: AnyPrincipal
) -> DeliveryRead:
    """Send one delivery again now, with its original `webhook-id`, starting a new round of
    the retry schedule."""
    async with unit_of_work(request) as session:
        delivery = await handlers.redeliver(session, principal, delivery_id)
        event = await session.get(orm.ReceivedEvent, delivery.event_row_id)
    read: DeliveryRead = views.delivery_read((delivery, event))
    return read
