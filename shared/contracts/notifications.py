"""Events published by the notifications service on ``accord.notifications.events``.

All are keyed by the delegation code, so one delegation's events keep their order.
"""

import uuid
from datetime import datetime
from typing import Literal

from shared.events import EventContract, contract

SOURCE = "/accord/notifications"


@contract
class DelegationRegistered(EventContract):
    """A delegation was registered: its code is now one that meetings accept as a
    participant (meetings keeps a read model of these)."""

    event_type = "org.accord.notifications.delegation.registered"

    delegation: str
    name: str
    timezone: str


@contract
class EndpointDisablingSoon(EventContract):
    """A webhook endpoint has been failing for a while and will be disabled at ``disable_at``
    unless a delivery succeeds first. Emitted once per failing streak, before any disabling."""

    event_type = "org.accord.notifications.endpoint.disabling_soon"

    delegation: str
    endpoint_id: uuid.UUID
    url: str
    failing_since: datetime
    disable_at: datetime


@contract
class EndpointDisabled(EventContract):
    """A webhook endpoint was disabled: it answered 410 Gone (``gone``) or kept failing for the
    configured window (``failing``). Nothing is sent to it until it is re-enabled."""

    event_type = "org.accord.notifications.endpoint.disabled"

    delegation: str
    endpoint_id: uuid.UUID
    url: str
    reason: Literal["gone", "failing"]
    disabled_at: datetime
