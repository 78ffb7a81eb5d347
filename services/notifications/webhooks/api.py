"""HTTP routes: webhook endpoints and their deliveries."""

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from services.notifications.ownership import acting_for, filter_delegation, scope_of
from services.notifications.schemas import CAPPED, CONFLICT, NOT_FOUND, WhoseDelegation
from services.notifications.webhooks import handlers, views
from services.notifications.webhooks.domain import DeliveryStatus
from services.notifications.webhooks.handlers import UrlPolicy
from services.notifications.webhooks.keyring import Keyring
from services.notifications.webhooks.schemas import (
    DeliveryDetail,
    DeliveryRead,
    EndpointCreate,
    EndpointCreated,
    EndpointRead,
    EndpointUpdate,
    RecoverRequest,
    RecoverResult,
    RetryNowResult,
    SecretRotated,
)
from shared.auth import AnyPrincipal
from shared.http import no_store, read_only, unit_of_work
from shared.pagination import Cursor, Limit, Page
from shared.schemas import MAX_BIGINT

router = APIRouter(tags=["webhooks"])

DeliveryId = Annotated[int, Path(ge=1, le=MAX_BIGINT)]


def _urls(request: Request) -> UrlPolicy:
    state = request.app.state
    return UrlPolicy(
        allow_http=state.notifications_settings.allow_http_webhooks,
        allow_loopback=state.allow_loopback_webhooks,
    )


def _keyring(request: Request) -> Keyring:
    keyring: Keyring = request.app.state.notifications_settings.keyring
    return keyring


@router.post(
    "/endpoints",
    status_code=status.HTTP_201_CREATED,
    response_model=EndpointCreated,
    responses=CAPPED,
    dependencies=[Depends(no_store)],
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
    command = handlers.RegisterEndpoint(
        delegation=acting_for(principal, body.delegation),
        url=body.url,
        description=body.description,
        event_types=body.event_types,
    )
    async with unit_of_work(request) as session:
        endpoint, secret = await handlers.register_endpoint(
            session,
            command,
            urls=_urls(request),
            keyring=_keyring(request),
            cap=request.app.state.notifications_settings.max_endpoints_per_delegation,
        )
    return views.endpoint_created(endpoint, secret)


@router.get("/endpoints", response_model=Page[EndpointRead])
async def list_endpoints(
    request: Request,
    principal: AnyPrincipal,
    delegation: WhoseDelegation = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[EndpointRead]:
    """The caller's endpoints (the secretariat's: everyone's), newest first; never secrets."""
    code = filter_delegation(principal, delegation)
    async with read_only(request) as session:
        return await views.endpoints(session, code, limit, cursor)


@router.get("/endpoints/{endpoint_id}", response_model=EndpointRead, responses=NOT_FOUND)
async def read_endpoint(
    endpoint_id: uuid.UUID, request: Request, principal: AnyPrincipal
) -> EndpointRead:
    """One endpoint: whether it is enabled, and why not (`gone`: it answered 410; `failing`:
    it failed for the configured window; `manual`)."""
    scope = scope_of(principal)
    async with read_only(request) as session:
        return await views.endpoint(session, endpoint_id, scope)


@router.patch("/endpoints/{endpoint_id}", response_model=EndpointRead, responses=NOT_FOUND)
async def change_endpoint(
    endpoint_id: uuid.UUID, body: EndpointUpdate, request: Request, principal: AnyPrincipal
) -> EndpointRead:
    """Change an endpoint's URL (checked again), description or event filter; enable or
    disable it. Re-enabling resumes the deliveries that were waiting for it."""
    command = handlers.ChangeEndpoint(endpoint_id, scope_of(principal), **body.model_dump())
    async with unit_of_work(request) as session:
        endpoint = await handlers.change_endpoint(session, command, urls=_urls(request))
    return EndpointRead.model_validate(endpoint)


@router.delete(
    "/endpoints/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND
)
async def remove_endpoint(
    endpoint_id: uuid.UUID, request: Request, principal: AnyPrincipal
) -> Response:
    """Remove an endpoint with its delivery log."""
    command = handlers.RemoveEndpoint(endpoint_id, scope_of(principal))
    async with unit_of_work(request) as session:
        await handlers.remove_endpoint(session, command)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/endpoints/{endpoint_id}/rotate-secret",
    response_model=SecretRotated,
    responses=NOT_FOUND,
    dependencies=[Depends(no_store)],
)
async def rotate_secret(
    endpoint_id: uuid.UUID, request: Request, principal: AnyPrincipal
) -> SecretRotated:
    """Replace the signing secret without downtime: until `previous_secret_valid_until`
    every webhook carries two signatures (new and old secret), so the receiver can switch
    whenever it likes. The new secret is shown this once."""
    command = handlers.RotateSecret(endpoint_id, scope_of(principal))
    overlap = timedelta(seconds=request.app.state.notifications_settings.secret_overlap)
    async with unit_of_work(request) as session:
        secret, until = await handlers.rotate_secret(
            session, command, overlap=overlap, keyring=_keyring(request)
        )
    return SecretRotated(secret=secret, previous_secret_valid_until=until)


@router.post("/endpoints/{endpoint_id}/recover", response_model=RecoverResult, responses=NOT_FOUND)
async def recover(
    endpoint_id: uuid.UUID, body: RecoverRequest, request: Request, principal: AnyPrincipal
) -> RecoverResult:
    """Send again every delivery to this endpoint created since `since` that ended failed,
    each with its original `webhook-id` (the receiver dedupes what it already had)."""
    command = handlers.Recover(endpoint_id, scope_of(principal), since=body.since)
    async with unit_of_work(request) as session:
        scheduled = await handlers.recover(session, command)
    return RecoverResult(scheduled=scheduled)


@router.post(
    "/endpoints/{endpoint_id}/retry-now",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RetryNowResult,
    responses=NOT_FOUND | CONFLICT,
)
async def retry_now(
    endpoint_id: uuid.UUID, request: Request, principal: AnyPrincipal
) -> RetryNowResult:
    """Send now every delivery to this endpoint that waits on the retry schedule, e.g. once
    the receiver is back from an outage, instead of when each one's next attempt comes. They
    go in the usual order (one subject's deliveries one at a time, oldest first), each with
    its original `webhook-id` and a fresh round of the schedule; deliveries in flight are left
    alone. The dispatcher does this by itself when the endpoint answers again (it probes a
    failing endpoint every few seconds), so this is rarely needed. 409 if the endpoint is
    disabled: enabling it sends what waits."""
    command = handlers.RetryNow(endpoint_id, scope_of(principal))
    async with unit_of_work(request) as session:
        released = await handlers.retry_now(session, command)
    return RetryNowResult(released=released)


@router.get("/deliveries", response_model=Page[DeliveryRead])
async def list_deliveries(
    request: Request,
    principal: AnyPrincipal,
    endpoint_id: uuid.UUID | None = None,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    delegation: WhoseDelegation = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[DeliveryRead]:
    """The delivery log, newest first: one row per (event, endpoint) with its status, the
    number of attempts and the last answer."""
    code = filter_delegation(principal, delegation)
    async with read_only(request) as session:
        return await views.deliveries(session, code, endpoint_id, status_, limit, cursor)


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail, responses=NOT_FOUND)
async def read_delivery(
    delivery_id: DeliveryId, request: Request, principal: AnyPrincipal
) -> DeliveryDetail:
    """One delivery with every attempt: when, status code, latency, error."""
    scope = scope_of(principal)
    async with read_only(request) as session:
        return await views.delivery_detail(session, delivery_id, scope)


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
    command = handlers.Redeliver(delivery_id, scope_of(principal))
    async with unit_of_work(request) as session:
        delivery = await handlers.redeliver(session, command)
        return await views.delivery(session, delivery)
