"""The record of redrives: which parked message went back to its topic, when, by whom, and
where it landed. One row per original message (its topic, partition and offset), in the
database of the service that owns the topic (``accord.plans.events`` -> plans). The unique
key is what refuses a second redrive of the same message, whoever asks and however many
copies of it are parked (every group that could not process it parks its own copy, and one
redrive puts it back for all of them). Why here: docs/decisions/0021-redrives-recorded-by-
the-topic-owner.md.
"""

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)


def redrives_table(metadata: MetaData) -> Table:
    return Table(
        "redrives",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        # The original message: where a consumer group first read it.
        Column("topic", String(249), nullable=False),
        Column("partition", Integer, nullable=False),
        Column("offset", BigInteger, nullable=False),
        # The parked copy chosen: "<topic>.dlt/<partition>/<offset>" (a dead-letter topic) or
        # "<service>.dead_letters/<id>" (a row of a service's dead_letters table).
        Column("parked_as", String(300), nullable=False),
        Column("group_id", String(200), nullable=False),
        Column("reason", Text, nullable=False),
        # Its new coordinates on the original topic (the broker's acknowledgement).
        Column("new_partition", Integer),
        Column("new_offset", BigInteger),
        Column("redriven_by", String(200), nullable=False),
        Column("redriven_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        UniqueConstraint("topic", "partition", "offset"),
    )
