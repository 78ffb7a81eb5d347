"""Consumer groups and their lag, as the broker sees them: each group's committed offset per
partition against the partition's end offset, and which member holds the partition. This is
the lag of the whole group across its replicas, not what one process measures of its own
partitions (``/healthz``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from aiokafka import TopicPartition
from aiokafka.coordinator.protocol import (
    ConsumerProtocolMemberAssignment,
    ConsumerProtocolMemberMetadata,
)

from shared.ops import sources


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    # None: the group never committed on this partition (it reads it from the start).
    committed: int | None
    end: int
    lag: int
    # The member holding the partition now ("member-id@host"), if any.
    member: str | None


@dataclass(frozen=True)
class GroupLag:
    group: str
    state: str
    members: list[str]
    partitions: list[PartitionLag] = field(default_factory=list)

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "lag": self.lag}


async def consumer_groups(timeout: float, only: str | None = None) -> list[GroupLag]:
    async with sources.admin(timeout) as admin:
        listed = sorted(group for group, _protocol in await admin.list_consumer_groups())
        names = [g for g in listed if only is None or g == only]
        if only is not None and not names:
            raise LookupError(f"the broker knows no consumer group {only!r}")
        described: dict[str, dict[str, Any]] = {}
        # One group per request: aiokafka 0.14 fails to decode the broker's answer about
        # several groups at once ("Buffer underrun decoding string", then the connection is
        # closed), which made the listing of every group fail.
        for name in names:
            for response in await admin.describe_consumer_groups([name]):
                for group in response.to_object()["groups"]:
                    described[group["group"]] = group
        committed = {name: await admin.list_consumer_group_offsets(name) for name in names}
    assigned: dict[str, dict[TopicPartition, str]] = {}
    members: dict[str, list[str]] = {}
    subscribed: dict[str, set[str]] = {}
    for name in names:
        group = described.get(name, {})
        assigned[name] = {}
        members[name] = []
        subscribed[name] = set()
        for member in group.get("members", []):
            # The member id (the client id and a unique suffix): replicas on one host differ.
            who = f"{member['member_id']}@{member['client_host'].lstrip('/')}"
            members[name].append(who)
            if member["member_metadata"] and group.get("protocol_type") == "consumer":
                metadata = ConsumerProtocolMemberMetadata.decode(member["member_metadata"])
                subscribed[name].update(metadata.subscription)
            raw = member["member_assignment"]
            if raw:
                for tp in ConsumerProtocolMemberAssignment.decode(raw).partitions():
                    assigned[name][tp] = who
    async with sources.reader(timeout) as reader:
        existing = await sources.partitions_of_topics(reader)
        # Every partition of every topic a group reads (subscribed, assigned or committed):
        # a partition it never committed on still has its whole content to read.
        wanted = {
            name: sorted(
                {
                    TopicPartition(topic, partition)
                    for topic in {tp.topic for tp in (*committed[name], *assigned[name])}
                    | subscribed[name]
                    for partition in existing.get(topic, ())
                },
                key=lambda tp: (tp.topic, tp.partition),
            )
            for name in names
        }
        partitions = sorted({tp for tps in wanted.values() for tp in tps})
        ends = await reader.end_offsets(partitions) if partitions else {}
        starts = await reader.beginning_offsets(partitions) if partitions else {}
    result = []
    for name in names:
        rows = []
        for tp in wanted[name]:
            meta = committed[name].get(tp)
            offset = meta.offset if meta is not None and meta.offset >= 0 else None
            # Never committed: everything still on the partition is to be read.
            lag = ends[tp] - (offset if offset is not None else starts[tp])
            rows.append(
                PartitionLag(
                    tp.topic, tp.partition, offset, ends[tp], max(0, lag), assigned[name].get(tp)
                )
            )
        state = described.get(name, {}).get("state", "unknown")
        result.append(GroupLag(name, state, sorted(members[name]), rows))
    return result
