"""The Kafka topics of Accord and how they are created.

Every service publishes to one topic of its own; a consumer group parks what it cannot
process on the dead-letter topic of the topic it read it from. Topics are created
explicitly (the broker's auto-creation is off) with several partitions, keyed by aggregate
id so that one aggregate's events stay in order.
"""

import asyncio
import contextlib
import sys
from collections.abc import Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

PLANS_EVENTS = "accord.plans.events"
MEETINGS_EVENTS = "accord.meetings.events"
NOTIFICATIONS_EVENTS = "accord.notifications.events"
EVENT_TOPICS = (PLANS_EVENTS, MEETINGS_EVENTS, NOTIFICATIONS_EVENTS)
PARTITIONS = 6


def topic_of(event_type: str) -> str:
    """The topic an event type is published on: each service publishes its own events,
    ``org.accord.<service>.<...>``, on ``accord.<service>.events``."""
    service = event_type.removeprefix("org.accord.").split(".", 1)[0]
    topic = f"accord.{service}.events"
    if not event_type.startswith("org.accord.") or topic not in EVENT_TOPICS:
        raise ValueError(f"no topic publishes {event_type}")
    return topic


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlt"


ALL_TOPICS = EVENT_TOPICS + tuple(dead_letter_topic(t) for t in EVENT_TOPICS)


def _new_topic(name: str) -> NewTopic:
    # Event topics are the log read models are rebuilt from: they keep everything.
    configs = {"retention.ms": "-1"} if name in EVENT_TOPICS else {}
    return NewTopic(name, num_partitions=PARTITIONS, replication_factor=1, topic_configs=configs)


async def create_topics(
    bootstrap_servers: str, timeout: float = 60.0, kafka_options: Mapping[str, Any] | None = None
) -> list[str]:
    """Create every topic that does not exist yet; return the names created.
    ``kafka_options``: the client's security options (``CommonSettings.kafka_client_options``)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000, **(kafka_options or {})
    )
    await asyncio.wait_for(admin.start(), timeout)
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in ALL_TOPICS if t not in existing]
        if missing:
            # Another process may create them meanwhile.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([_new_topic(t) for t in missing])
        return missing
    finally:
        await admin.close()


def main() -> None:
    from shared.config import CommonSettings

    if sys.argv[1:] != ["create"]:
        sys.exit("usage: python -m shared.topics create")
    settings = CommonSettings()
    created = asyncio.run(
        create_topics(
            settings.kafka_bootstrap_servers, kafka_options=settings.kafka_client_options()
        )
    )
    print(f"topics created: {', '.join(created) or 'none (all present)'}")


if __name__ == "__main__":
    main()
