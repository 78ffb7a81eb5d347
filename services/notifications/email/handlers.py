"""Command functions of contacts. Each takes the session of its caller's unit of work and a
command, and refuses with the domain's errors."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import orm
from services.notifications.domain import ContactRole
from services.notifications.ownership import CONTACTS_CAP, Scope, get_owned, owner_of_new
from shared import errors


class AddressTaken(errors.Conflict):
    def __init__(self, delegation: str, address: str) -> None:
        super().__init__(f"{address} is already a contact of {delegation}")


@dataclass(frozen=True)
class AddContact:
    """``delegation`` is whose contact it is (see ``ownership.acting_for``)."""

    delegation: str | None
    name: str
    address: str
    role: ContactRole
    language: str = "en"
    event_types: Sequence[str] = ()


async def add_contact(session: AsyncSession, command: AddContact, *, cap: int) -> orm.Contact:
    """``cap``: the most contacts one delegation may hold (the operator's setting)."""
    delegation = await owner_of_new(session, command.delegation)
    await CONTACTS_CAP.check(session, delegation, limit=cap)
    contact = orm.Contact(
        id=uuid.uuid4(),
        delegation_code=delegation,
        name=command.name,
        address=command.address,
        role=command.role.value,
        language=command.language,
        event_types=list(command.event_types),
    )
    session.add(contact)
    await _flush(session, delegation, command.address)
    return contact


@dataclass(frozen=True)
class ChangeContact:
    """Change the fields in ``changes`` (name, address, role, language, event_types)."""

    contact_id: uuid.UUID
    scope: Scope
    changes: Mapping[str, object]


async def change_contact(session: AsyncSession, command: ChangeContact) -> orm.Contact:
    contact = await get_owned(session, orm.Contact, command.contact_id, command.scope, "contact")
    for field, value in command.changes.items():
        setattr(contact, field, value.value if isinstance(value, ContactRole) else value)
    await _flush(session, contact.delegation_code, contact.address)
    return contact


@dataclass(frozen=True)
class RemoveContact:
    contact_id: uuid.UUID
    scope: Scope


async def remove_contact(session: AsyncSession, command: RemoveContact) -> None:
    """Remove the contact; emails not yet sent to it are dropped with its delivery log."""
    await session.delete(
        await get_owned(session, orm.Contact, command.contact_id, command.scope, "contact")
    )


async def _flush(session: AsyncSession, delegation: str, address: str) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        raise AddressTaken(delegation, address) from exc
