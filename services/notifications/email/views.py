"""The read side of contacts and of the emails sent to them, as response schemas."""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import orm
from services.notifications.email.schemas import ContactRead, EmailDeliveryRead
from services.notifications.ownership import Scope, get_owned
from services.notifications.views import of_delegation, page
from services.notifications.webhooks.domain import DeliveryStatus
from shared.pagination import Page


async def contacts(
    session: AsyncSession, delegation: str | None, limit: int, cursor: str | None
) -> Page[ContactRead]:
    query = select(orm.Contact).where(*of_delegation(orm.Contact, delegation))
    return await page(session, query, orm.Contact.number, limit, cursor, ContactRead.model_validate)


async def contact(session: AsyncSession, contact_id: uuid.UUID, scope: Scope) -> ContactRead:
    row = await get_owned(session, orm.Contact, contact_id, scope, "contact")
    return ContactRead.model_validate(row)


async def emails(
    session: AsyncSession,
    delegation: str | None,
    contact_id: uuid.UUID | None,
    status: DeliveryStatus | None,
    limit: int,
    cursor: str | None,
) -> Page[EmailDeliveryRead]:
    query = select(orm.EmailDelivery).where(*of_delegation(orm.EmailDelivery, delegation))
    if contact_id is not None:
        query = query.where(orm.EmailDelivery.contact_id == contact_id)
    if status is not None:
        query = query.where(orm.EmailDelivery.status == status.value)
    return await page(
        session, query, orm.EmailDelivery.id, limit, cursor, EmailDeliveryRead.model_validate
    )
