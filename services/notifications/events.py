"""The events this service publishes, on ``accord.notifications.events``: its outbox, and the
contracts built from its rows.

Staging an event only adds a row to the outbox in the caller's transaction; the relay
publishes it once that transaction has committed. Every event is keyed by its delegation, so
one delegation's events keep their order.
"""

from datetime import datetime
from typing import Literal

from services.notifications import orm
from shared.contracts import notifications as contracts
from shared.outbox import Outbox
from shared.topics import NOTIFICATIONS_EVENTS

outbox = Outbox(
    table=orm.outbox, topic=NOTIFICATIONS_EVENTS, source=contracts.SOURCE, key="delegation"
)


def subject(delegation: str) -> str:
    return f"delegations/{delegation}"


def delegation_registered(delegation: orm.Delegation) -> contracts.DelegationRegistered:
    return contracts.DelegationRegistered(
        delegation=delegation.code, name=delegation.name, timezone=delegation.timezone
    )


def endpoint_disabling_soon(
    endpoint: orm.Endpoint, disable_at: datetime
) -> contracts.EndpointDisablingSoon:
    assert endpoint.failing_since is not None
    return contracts.EndpointDisablingSoon(
        delegation=endpoint.delegation_code,
        endpoint_id=endpoint.id,
        url=endpoint.url,
        failing_since=endpoint.failing_since,
        disable_at=disable_at,
    )


def endpoint_disabled(endpoint: orm.Endpoint) -> contracts.EndpointDisabled:
    assert endpoint.disabled_at is not None
    reason: Literal["gone", "failing"] = "gone" if endpoint.disabled_reason == "gone" else "failing"
    return contracts.EndpointDisabled(
        delegation=endpoint.delegation_code,
        endpoint_id=endpoint.id,
        url=endpoint.url,
        reason=reason,
        disabled_at=endpoint.disabled_at,
    )
