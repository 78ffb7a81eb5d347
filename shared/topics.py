"""The Kafka topics of Accord and how they are created.

Every service publishes to one topic of its own; a consumer group parks what it cannot
process on the dead-letter topic of the topic it read it from. Topics are created
explicitly (the broker's auto-creation is off) with several partitions, keyed by aggregate
id so that one aggregate's events stay in order. ``python -m shared.topics create`` runs as
the broker's admin: it creates the topics and, on an authenticated broker, the services'
ACLs (``shared/kafka_acls.py``).

Each topic is created with its partitions and its replication stated: ``PARTITIONS``
partitions, each kept on ``replication_for(brokers)`` brokers (three in a cluster of three
or more), and an ``acks=all`` write acknowledged only once ``min_in_sync_for`` of them hold
it (decision 37). The partitions bound a consumer group's parallelism: each partition is
read by one member of the group at a time, so a group uses at most ``PARTITIONS`` members.
"""

import argparse
import asyncio
import contextlib
import time
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import InvalidReplicationFactorError, TopicAlreadyExistsError

from shared.contracts import meetings, notifications, plans
from shared.kafka_access import KafkaAccess

PLANS_EVENTS = "accord.plans.events"
MEETINGS_EVENTS = "accord.meetings.events"
NOTIFICATIONS_EVENTS = "accord.notifications.events"
EVENT_TOPICS = (PLANS_EVENTS, MEETINGS_EVENTS, NOTIFICATIONS_EVENTS)
PARTITIONS = 6
# Copies of each partition in a cluster, and how many of them must hold an acks=all write:
# one broker may be lost (or restarted) without losing an acknowledged event or stopping
# the writes.
MAX_REPLICATION = 3
MIN_IN_SYNC = 2


def replication_for(brokers: int) -> int:
    """How many copies of each partition a cluster of ``brokers`` keeps."""
    return min(MAX_REPLICATION, brokers)


def min_in_sync_for(replication: int) -> int:
    """How many copies must hold a write before it is acknowledged (1 for a single copy)."""
    return min(MIN_IN_SYNC, replication)


# The CloudEvents ``source`` of the one service that writes each topic: consumers refuse an
# event on a topic whose owner did not emit it.
OWNER_SOURCES = {
    PLANS_EVENTS: plans.SOURCE,
    MEETINGS_EVENTS: meetings.SOURCE,
    NOTIFICATIONS_EVENTS: notifications.SOURCE,
}


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


def _new_topic(name: str, replication: int) -> NewTopic:
    configs = {"min.insync.replicas": str(min_in_sync_for(replication))}
    if name in EVENT_TOPICS:
        # Event topics are the log read models are rebuilt from: they keep everything.
        configs["retention.ms"] = "-1"
    return NewTopic(
        name, num_partitions=PARTITIONS, replication_factor=replication, topic_configs=configs
    )


async def create_topics(
    kafka: KafkaAccess, replication: int | None = None, timeout: float = 60.0
) -> list[str]:
    """Create every topic that does not exist yet, each partition on ``replication`` brokers
    (None: ``replication_for`` the brokers the cluster has now); return the names created.
    A cluster whose brokers are still registering refuses a replication it cannot place
    yet: asked again until ``timeout``."""
    admin = AIOKafkaAdminClient(**kafka.client_options(), request_timeout_ms=10_000)
    await asyncio.wait_for(admin.start(), timeout)
    deadline = time.monotonic() + timeout
    try:
        if replication is None:
            replication = replication_for(len((await admin.describe_cluster())["brokers"]))
        while True:
            existing = set(await admin.list_topics())
            missing = [t for t in ALL_TOPICS if t not in existing]
            if not missing:
                return missing
            try:
                # Another process may create them meanwhile.
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics([_new_topic(t, replication) for t in missing])
                return missing
            except InvalidReplicationFactorError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await admin.close()


@dataclass(frozen=True)
class PartitionReplicas:
    """Where a partition's copies are: its leader (-1 when none), every replica and the
    ones in sync with the leader, by broker node id."""

    topic: str
    partition: int
    leader: int
    replicas: tuple[int, ...]
    in_sync: tuple[int, ...]


async def partition_replicas(
    kafka: KafkaAccess, topics: tuple[str, ...] = ALL_TOPICS
) -> list[PartitionReplicas]:
    """The replicas of every partition of ``topics``, as the cluster's metadata says."""
    admin = AIOKafkaAdminClient(**kafka.client_options(), request_timeout_ms=10_000)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return [
        PartitionReplicas(
            topic=topic["topic"],
            partition=part["partition"],
            leader=part["leader"],
            replicas=tuple(part["replicas"]),
            in_sync=tuple(part["isr"]),
        )
        for topic in described
        for part in topic["partitions"]
    ]


async def set_up(kafka: KafkaAccess, replication: int | None = None) -> None:
    from shared.kafka_acls import grant_service_acls

    created = await create_topics(kafka, replication)
    print(f"topics created: {', '.join(created) or 'none (all present)'}")
    if kafka.authenticated:
        granted = await grant_service_acls(kafka)
        print(f"ACLs granted to the services: {granted}")


def main() -> None:
    from shared.config import CommonSettings

    parser = argparse.ArgumentParser(
        prog="python -m shared.topics",
        description="Create Accord's topics and the services' ACLs, as the broker's admin.",
    )
    parser.add_argument("command", choices=["create"])
    parser.add_argument(
        "--replication",
        type=int,
        choices=range(1, 8),
        metavar="N",
        help="brokers that keep a copy of each partition (default: min(3, brokers in the"
        " cluster now))",
    )
    args = parser.parse_args()
    asyncio.run(set_up(CommonSettings().kafka_access(), args.replication))


if __name__ == "__main__":
    main()
