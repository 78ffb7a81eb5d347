"""What every service's ORM starts from.

Each service declares ``class Base(ServiceBase, DeclarativeBase)`` with a metadata of its own
(``shared.db.new_metadata``) and takes the two messaging tables every service database has
from ``messaging_tables``: the outbox its relay publishes from and the processed events its
consumer deduplicates with.
"""

from typing import Any, ClassVar

from sqlalchemy import MetaData, Table

from shared.consumer import processed_events_table
from shared.outbox import outbox_table


class ServiceBase:
    # Fetch server-side defaults (timestamps) with RETURNING at flush, so objects stay readable
    # after the commit without another round trip.
    __mapper_args__: ClassVar[dict[str, Any]] = {"eager_defaults": True}


def messaging_tables(metadata: MetaData) -> tuple[Table, Table]:
    """The outbox and processed_events tables, in that order."""
    return outbox_table(metadata), processed_events_table(metadata)
