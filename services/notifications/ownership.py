"""Who may see and change what: a delegation only its own subscriptions, endpoints, deliveries
and inbox, the secretariat everything. Another delegation's ids answer 404, exactly like
unknown ids, so that ids cannot be probed."""

from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import orm
from shared.auth import Principal, Role
from shared.problems import FieldError, Forbidden, NotFound, Unprocessable

M = TypeVar("M", bound=orm.Base)


def scope(principal: Principal) -> str | None:
    """The delegation whose objects the caller may reach; None for all (the secretariat)."""
    if principal.is_secretariat:
        return None
    if principal.role is Role.DELEGATION and principal.delegation is not None:
        return principal.delegation
    raise Forbidden("only a delegation or the secretariat may do this")


async def owner_for_new(session: AsyncSession, principal: Principal, requested: str | None) -> str:
    """The delegation a new object belongs to: the caller's own, or the one the secretariat
    names in the body."""
    own = scope(principal)
    if own is not None and requested not in (None, own):
        raise Forbidden("a delegation may only act for itself")
    code = own or requested
    if code is None:
        _unprocessable("body.delegation", "the secretariat must name the delegation")
    assert code is not None
    if await session.get(orm.Delegation, code) is None:
        _unprocessable("body.delegation", f"delegation {code} is not registered")
    return code


def filter_delegation(principal: Principal, requested: str | None) -> str | None:
    """For lists: a delegation sees its own; the secretariat all, or the one it names."""
    own = scope(principal)
    return own if own is not None else requested


async def get_owned(
    session: AsyncSession, model: type[M], key: Any, principal: Principal, what: str
) -> M:
    row = await session.get(model, key)
    own = scope(principal)
    if row is None or (own is not None and row.delegation_code != own):  # type: ignore[attr-defined]
        raise NotFound(f"{what} {key} does not exist")
    return row


def _unprocessable(field: str, message: str) -> None:
    raise Unprocessable(message, errors=[FieldError(field=field, message=message)])
