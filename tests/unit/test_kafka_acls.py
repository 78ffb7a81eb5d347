"""The ACLs granted to each service's principal follow from what the service does: it writes
its own topic and the dead-letter topics of what it reads, and reads what it subscribes to.
A service that subscribes to a new topic without an ACL for it would be refused by the broker;
one left with an ACL it no longer needs would keep a right for nothing."""

import re
import uuid

import pytest

from deploy.local.kafka import ADMIN_USER
from services.meetings import consumers as meetings_consumers
from services.meetings import events as meetings_events
from services.notifications import consumers as notifications_consumers
from services.notifications import events as notifications_events
from services.plans import consumers as plans_consumers
from services.plans import events as plans_events
from shared.consumer import check_provenance
from shared.events import CloudEvent, InvalidEvent
from shared.kafka_acls import PRINCIPALS, ServicePrincipal, consumer_group
from shared.topics import OWNER_SOURCES, PLANS_EVENTS, dead_letter_topic
from tests.support.kafka import status_changed_event

SERVICES = {
    "plans": (plans_events.outbox, plans_consumers.subscriptions),
    "meetings": (meetings_events.outbox, meetings_consumers.subscriptions),
    "notifications": (notifications_events.outbox, notifications_consumers.subscriptions),
}
READ, WRITE = 3, 4


@pytest.mark.parametrize("principal", PRINCIPALS, ids=lambda p: p.name)
def test_each_service_may_write_its_topic_and_read_what_it_subscribes_to(
    principal: ServicePrincipal,
) -> None:
    outbox, subscriptions = SERVICES[principal.name]
    reads = subscriptions.topics
    assert principal.publishes == outbox.topic
    assert OWNER_SOURCES[outbox.topic] == outbox.source
    assert sorted(principal.consumes) == reads
    assert sorted(principal.acls()) == sorted(
        [
            (2, outbox.topic, WRITE),
            *((2, dead_letter_topic(topic), WRITE) for topic in reads),
            *((2, topic, READ) for topic in reads),
            (3, consumer_group(principal.name), READ),
        ]
    )


def test_every_service_has_a_principal_and_none_is_the_admin() -> None:
    assert sorted(p.name for p in PRINCIPALS) == sorted(SERVICES)
    assert ADMIN_USER not in SERVICES


def _event(**changes: str) -> CloudEvent:
    return status_changed_event(uuid.uuid4()).model_copy(update=changes)


def test_an_event_from_the_topics_owner_passes() -> None:
    check_provenance(PLANS_EVENTS, _event())


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"source": "/accord/meetings"}, "is not the owner of accord.plans.events"),
        ({"source": "/somewhere/else"}, "is not the owner of accord.plans.events"),
        (
            {"type": "org.accord.notifications.delivery.failed"},
            "is not an event of '/accord/plans'",
        ),
    ],
)
def test_an_event_its_topics_owner_did_not_emit_is_refused(
    changes: dict[str, str], reason: str
) -> None:
    with pytest.raises(InvalidEvent, match=re.escape(reason)):
        check_provenance(PLANS_EVENTS, _event(**changes))


def test_an_event_on_a_topic_without_a_known_owner_is_refused() -> None:
    with pytest.raises(InvalidEvent, match=re.escape("is not the owner of accord.unknown")):
        check_provenance("accord.unknown", _event())
