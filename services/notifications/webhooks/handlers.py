"""Command functions of webhook endpoints and deliveries. Each takes the session of its
caller's unit of work and a command, and refuses with the domain's errors; what comes from the
operator's settings rather than from the caller (which URLs are allowed, how long a rotated
secret still signs, the keys that encrypt secrets at rest) is a keyword argument.

Whatever sends deliveries again wakes the dispatcher (``wakeup.DELIVERIES``) when it commits.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import orm, wakeup
from services.notifications.ownership import ENDPOINTS_CAP, Scope, get_owned, owner_of_new
from services.notifications.webhooks import ssrf
from services.notifications.webhooks.domain import DeliveryStatus
from services.notifications.webhooks.keyring import Keyring
from services.notifications.webhooks.release import release_on_request
from services.notifications.webhooks.secrets_at_rest import keep_as_previous, store_secret
from services.notifications.webhooks.signing import new_secret
from shared import errors

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class UrlPolicy:
    """Which webhook URLs the operator allows besides public https ones."""

    allow_http: bool
    allow_loopback: bool

    async def checked(self, url: str) -> str:
        """The URL, if it may be a webhook target (see ``ssrf``); invalid otherwise."""
        try:
            await ssrf.check_url(
                url, allow_loopback=self.allow_loopback, allow_http=self.allow_http
            )
        except ssrf.UnsafeURL as exc:
            log.info("webhook_url_refused", reason=exc.detail)
            raise errors.Invalid("url", str(exc)) from exc
        return url


# --- endpoints -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterEndpoint:
    """``delegation`` is whose endpoint it is (see ``ownership.acting_for``)."""

    delegation: str | None
    url: str
    description: str | None = None
    event_types: Sequence[str] = ()


async def register_endpoint(
    session: AsyncSession,
    command: RegisterEndpoint,
    *,
    urls: UrlPolicy,
    keyring: Keyring,
    cap: int,
) -> tuple[orm.Endpoint, str]:
    """The new endpoint and its signing secret (shown to the caller this once). ``cap``: the
    most endpoints one delegation may hold (the operator's setting)."""
    delegation = await owner_of_new(session, command.delegation)
    await ENDPOINTS_CAP.check(session, delegation, limit=cap)
    endpoint = orm.Endpoint(
        id=uuid.uuid4(),
        delegation_code=delegation,
        url=await urls.checked(command.url),
        description=command.description,
        event_types=list(command.event_types),
        enabled=True,
    )
    secret = new_secret()
    store_secret(endpoint, keyring, secret)
    session.add(endpoint)
    await session.flush()
    return endpoint, secret


@dataclass(frozen=True)
class ChangeEndpoint:
    """Change what is given (None: unchanged); ``enabled`` enables or disables."""

    endpoint_id: uuid.UUID
    scope: Scope
    url: str | None = None
    description: str | None = None
    event_types: Sequence[str] | None = None
    enabled: bool | None = None


async def change_endpoint(
    session: AsyncSession, command: ChangeEndpoint, *, urls: UrlPolicy
) -> orm.Endpoint:
    endpoint = await get_owned(
        session, orm.Endpoint, command.endpoint_id, command.scope, "endpoint"
    )
    if command.url is not None:
        endpoint.url = await urls.checked(command.url)
    if command.description is not None:
        endpoint.description = command.description
    if command.event_types is not None:
        endpoint.event_types = list(command.event_types)
    if command.enabled is True and not endpoint.enabled:
        endpoint.enabled = True
        endpoint.disabled_reason = endpoint.disabled_at = None
        endpoint.failing_since = endpoint.warned_at = None
        # What waited for it goes now, each with a fresh round of the retry schedule.
        await session.execute(
            update(orm.Delivery)
            .where(
                orm.Delivery.endpoint_id == endpoint.id,
                orm.Delivery.status == DeliveryStatus.PENDING.value,
            )
            .values(tries=0, next_attempt_at=func.now())
        )
        await wakeup.notify(session, wakeup.DELIVERIES)
    elif command.enabled is False and endpoint.enabled:
        endpoint.enabled = False
        endpoint.disabled_reason = "manual"
        endpoint.disabled_at = datetime.now(UTC)
    await session.flush()
    return endpoint


@dataclass(frozen=True)
class RotateSecret:
    endpoint_id: uuid.UUID
    scope: Scope


async def rotate_secret(
    session: AsyncSession, command: RotateSecret, *, overlap: timedelta, keyring: Keyring
) -> tuple[str, datetime]:
    """A new secret; the previous one still signs (a second signature) for ``overlap``.
    Returns the new secret and when the previous one stops signing."""
    endpoint = await get_owned(
        session, orm.Endpoint, command.endpoint_id, command.scope, "endpoint"
    )
    until = datetime.now(UTC) + overlap
    keep_as_previous(endpoint, until)
    secret = new_secret()
    store_secret(endpoint, keyring, secret)
    return secret, until


@dataclass(frozen=True)
class RemoveEndpoint:
    endpoint_id: uuid.UUID
    scope: Scope


async def remove_endpoint(session: AsyncSession, command: RemoveEndpoint) -> None:
    """Remove the endpoint with its delivery log."""
    endpoint = await get_owned(
        session, orm.Endpoint, command.endpoint_id, command.scope, "endpoint"
    )
    deliveries = select(orm.Delivery.id).where(orm.Delivery.endpoint_id == endpoint.id)
    await session.execute(
        delete(orm.DeliveryAttempt).where(orm.DeliveryAttempt.delivery_id.in_(deliveries))
    )
    await session.execute(delete(orm.Delivery).where(orm.Delivery.endpoint_id == endpoint.id))
    await session.delete(endpoint)


@dataclass(frozen=True)
class Recover:
    """Send again every delivery to the endpoint created since ``since`` that ended failed."""

    endpoint_id: uuid.UUID
    scope: Scope
    since: datetime


async def recover(session: AsyncSession, command: Recover) -> int:
    """Returns how many deliveries were scheduled again."""
    endpoint = await get_owned(
        session, orm.Endpoint, command.endpoint_id, command.scope, "endpoint"
    )
    result = await session.execute(
        update(orm.Delivery)
        .where(
            orm.Delivery.endpoint_id == endpoint.id,
            orm.Delivery.created_at >= command.since,
            orm.Delivery.status == DeliveryStatus.FAILED.value,
        )
        .values(status=DeliveryStatus.PENDING.value, tries=0, next_attempt_at=func.now())
        .returning(orm.Delivery.id)
    )
    scheduled = len(result.all())
    if scheduled:
        await wakeup.notify(session, wakeup.DELIVERIES)
    return scheduled


@dataclass(frozen=True)
class RetryNow:
    """Send now what waits for the endpoint on the retry schedule (its receiver is back)."""

    endpoint_id: uuid.UUID
    scope: Scope


async def retry_now(session: AsyncSession, command: RetryNow) -> int:
    """Returns how many waiting deliveries were released: each is due now with a fresh
    round of the schedule, in the usual order. A disabled endpoint sends nothing: re-enabling
    it is what releases its deliveries."""
    endpoint = await get_owned(
        session, orm.Endpoint, command.endpoint_id, command.scope, "endpoint"
    )
    if not endpoint.enabled:
        raise errors.Conflict("the endpoint is disabled: enabling it sends what waits for it")
    return await release_on_request(session, endpoint.id)


async def _owned_endpoint(
    session: AsyncSession, command: ChangeEndpoint | RotateSecret | RemoveEndpoint | Recover
) -> orm.Endpoint:
    return await get_owned(session, orm.Endpoint, command.endpoint_id, command.scope, "endpoint")


# --- deliveries ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Redeliver:
    """Send one delivery again, whatever its state, with its same ``webhook-id``."""

    delivery_id: int
    scope: Scope


async def redeliver(session: AsyncSession, command: Redeliver) -> orm.Delivery:
    delivery = await get_owned(
        session, orm.Delivery, command.delivery_id, command.scope, "delivery"
    )
    delivery.status = DeliveryStatus.PENDING.value
    delivery.tries = 0
    delivery.next_attempt_at = datetime.now(UTC)
    await wakeup.notify(session, wakeup.DELIVERIES)
    await session.flush()
    return delivery
