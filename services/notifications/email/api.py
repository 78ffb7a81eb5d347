"""HTTP routes: a delegation's contacts, and the log of the emails sent to them. A delegation
manages its own contacts; the secretariat any delegation's."""

import uuid

from fastapi import APIRouter, Request, Response, status

from services.notifications.email import handlers, views
from services.notifications.email.schemas import (
    ContactCreate,
    ContactRead,
    ContactUpdate,
    EmailDeliveryRead,
)
from services.notifications.ownership import acting_for, filter_delegation, scope_of
from services.notifications.schemas import CAPPED, CONFLICT, NOT_FOUND, WhoseDelegation
from services.notifications.webhooks.domain import DeliveryStatus
from shared.auth import AnyPrincipal
from shared.http import read_only, unit_of_work
from shared.pagination import Cursor, Limit, Page

router = APIRouter(tags=["contacts"])


@router.post(
    "/contacts",
    status_code=status.HTTP_201_CREATED,
    response_model=ContactRead,
    responses={**CAPPED, **CONFLICT},
)
async def add_contact(
    body: ContactCreate, request: Request, principal: AnyPrincipal
) -> ContactRead:
    """A person of the delegation who is told by email: notices of the subscriptions that
    choose the `email` channel whose type they want (`event_types`, empty: all), and, for a
    `technical` contact, the warnings about a failing webhook endpoint. Every time in an email
    is in the delegation's time zone."""
    command = handlers.AddContact(
        delegation=acting_for(principal, body.delegation),
        name=body.name,
        address=body.address,
        role=body.role,
        language=body.language,
        event_types=body.event_types,
    )
    cap = request.app.state.notifications_settings.max_contacts_per_delegation
    async with unit_of_work(request) as session:
        contact = await handlers.add_contact(session, command, cap=cap)
    return ContactRead.model_validate(contact)


@router.get("/contacts", response_model=Page[ContactRead])
async def list_contacts(
    request: Request,
    principal: AnyPrincipal,
    delegation: WhoseDelegation = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ContactRead]:
    """The caller's contacts (the secretariat's: everyone's), newest first."""
    code = filter_delegation(principal, delegation)
    async with read_only(request) as session:
        return await views.contacts(session, code, limit, cursor)


@router.get("/contacts/{contact_id}", response_model=ContactRead, responses=NOT_FOUND)
async def read_contact(
    contact_id: uuid.UUID, request: Request, principal: AnyPrincipal
) -> ContactRead:
    scope = scope_of(principal)
    async with read_only(request) as session:
        return await views.contact(session, contact_id, scope)


@router.patch(
    "/contacts/{contact_id}", response_model=ContactRead, responses={**NOT_FOUND, **CONFLICT}
)
async def change_contact(
    contact_id: uuid.UUID, body: ContactUpdate, request: Request, principal: AnyPrincipal
) -> ContactRead:
    """Change a contact's name, address, role, language or wishes (only the fields sent);
    emails already made keep the address they were made for."""
    command = handlers.ChangeContact(
        contact_id, scope_of(principal), body.model_dump(exclude_unset=True)
    )
    async with unit_of_work(request) as session:
        contact = await handlers.change_contact(session, command)
    return ContactRead.model_validate(contact)


@router.delete(
    "/contacts/{contact_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND
)
async def remove_contact(
    contact_id: uuid.UUID, request: Request, principal: AnyPrincipal
) -> Response:
    """Remove a contact; emails not sent yet are dropped."""
    command = handlers.RemoveContact(contact_id, scope_of(principal))
    async with unit_of_work(request) as session:
        await handlers.remove_contact(session, command)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/emails", response_model=Page[EmailDeliveryRead])
async def list_emails(
    request: Request,
    principal: AnyPrincipal,
    delegation: WhoseDelegation = None,
    contact_id: uuid.UUID | None = None,
    status: DeliveryStatus | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[EmailDeliveryRead]:
    """The emails made for the caller's contacts, newest first: each one's state (`pending`,
    `succeeded`: accepted by the mail server, `failed`: refused for good or given up after the
    retry schedule), tries and the server's last answer."""
    code = filter_delegation(principal, delegation)
    async with read_only(request) as session:
        return await views.emails(session, code, contact_id, status, limit, cursor)
