"""Who may see and change what: a delegation only its own subscriptions, endpoints,
deliveries and inbox, the secretariat everything. Another delegation's ids answer 404,
exactly like unknown ids, so that ids cannot be probed.

The policy has two halves. Routes turn the caller's token into a *scope* (``scope_of``,
``acting_for``, ...): the delegation whose objects it may reach, or None for every
delegation's (the secretariat); a viewer has none and is refused (403) before anything else.
Commands and views then carry that scope and look objects up through ``get_owned`` and
``owner_of_new``, which refuse in the domain's words (not found, invalid) and know no HTTP.
"""

import uuid
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import orm
from services.notifications.domain import DelegationNotRegistered
from shared import errors
from shared.auth import Principal, Role
from shared.problems import FieldError, Forbidden, Unprocessable

M = TypeVar("M", bound=orm.Base)

# The delegation whose objects a caller may reach; None: every delegation's (the secretariat).
Scope = str | None


# --- for routes: from the caller's token to its scope ----------------------------------------


def scope_of(principal: Principal) -> Scope:
    """The caller's scope; only a delegation or the secretariat has one."""
    if principal.is_secretariat:
        return None
    if principal.role is Role.DELEGATION and principal.delegation is not None:
        return principal.delegation
    raise Forbidden("only a delegation or the secretariat may do this")


def acting_for(principal: Principal, requested: str | None) -> str | None:
    """Whose a new object is: the caller's own delegation (which may name only itself), or
    the one the secretariat names (None if it names none: the command refuses that)."""
    own = scope_of(principal)
    if own is not None and requested not in (None, own):
        raise Forbidden("a delegation may only act for itself")
    return own or requested


def filter_delegation(principal: Principal, requested: str | None) -> str | None:
    """For lists: a delegation sees its own; the secretariat all, or the one it names."""
    own = scope_of(principal)
    return own if own is not None else requested


def one_delegation(principal: Principal, requested: str | None) -> str:
    """For what concerns exactly one delegation (an unread count, a stream): the caller's
    own, or the one the secretariat names in the query."""
    code = scope_of(principal) or requested
    if code is None:
        message = "the secretariat must name the delegation"
        raise Unprocessable(message, errors=[FieldError(field="query.delegation", message=message)])
    return code


# --- for commands and views: objects within a scope ------------------------------------------


async def get_owned(
    session: AsyncSession, model: type[M], key: uuid.UUID | int, scope: Scope, what: str
) -> M:
    """The object, if it exists and is within the scope; otherwise not found, either way."""
    row = await session.get(model, key)
    if row is None or (scope is not None and row.delegation_code != scope):  # type: ignore[attr-defined]
        raise errors.NotFound(what, key)
    return row


async def owner_of_new(session: AsyncSession, delegation: str | None) -> str:
    """The registered delegation a new object will belong to (see ``acting_for``)."""
    if delegation is None:
        raise errors.Invalid("delegation", "the secretariat must name the delegation")
    if await session.get(orm.Delegation, delegation) is None:
        raise DelegationNotRegistered(delegation, field="delegation")
    return delegation


@dataclass(frozen=True)
class Cap:
    """How many rows of ``model`` one delegation may hold (the limit is the operator's)."""

    model: type[orm.Base]
    name: str  # as the refusal names it, e.g. webhook_endpoints_per_delegation
    what: str

    async def check(self, session: AsyncSession, delegation: str, limit: int) -> None:
        """Refuse a new row if ``delegation`` already holds ``limit``. The delegation's row is
        locked first, so that two creations at once cannot both pass."""
        await session.execute(
            select(orm.Delegation.code)
            .where(orm.Delegation.code == delegation)
            .with_for_update(key_share=True)
        )
        owner = self.model.delegation_code  # type: ignore[attr-defined]
        held = await session.scalar(
            select(func.count()).select_from(self.model).where(owner == delegation)
        )
        if (held or 0) >= limit:
            raise errors.CapReached(f"{self.what} of {delegation}", cap=self.name, limit=limit)


ENDPOINTS_CAP = Cap(orm.Endpoint, "webhook_endpoints_per_delegation", "webhook endpoints")
SUBSCRIPTIONS_CAP = Cap(orm.Subscription, "subscriptions_per_delegation", "subscriptions")
CONTACTS_CAP = Cap(orm.Contact, "contacts_per_delegation", "contacts")
