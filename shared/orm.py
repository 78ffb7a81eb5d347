"""What every service's ORM starts from.

Each service declares ``class Base(ServiceBase, DeclarativeBase)`` with a metadata of its own
(``shared.db.new_metadata``) and takes the messaging tables every service database has from
``messaging_tables``: the outbox its relay publishes from, the processed events its consumer
deduplicates with, and the dead letters it records when even the dead-letter topic refuses a
message; and the redrives an operator made of parked messages (``shared/ops/redrives.py``),
kept by the service that owns the topic.
"""

from typing import Any, ClassVar

from sqlalchemy import MetaData, Table

from shared.consumer import processed_events_table
from shared.dead_letters import dead_letters_table
from shared.ops.redrives import redrives_table
from shared.outbox import outbox_table


class ServiceBase:
    # Fetch server-side defaults (timestamps) with RETURNING at flush, so objects stay readable
    # after the commit without another round trip.
    __mapper_args__: ClassVar[dict[str, Any]] = {"eager_defaults": True}


def messaging_tables(metadata: MetaData) -> tuple[Table, Table, Table]:
    """The outbox, processed_events and dead_letters tables, in that order. The redrives table
    is declared too (only the operator's command uses it)."""
    redrives_table(metadata)
    return outbox_table(metadata), processed_events_table(metadata), dead_letters_table(metadata)
