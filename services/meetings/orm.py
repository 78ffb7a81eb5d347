"""Tables of the meetings service's own database."""

from sqlalchemy.orm import DeclarativeBase

from shared.consumer import processed_events_table
from shared.db import new_metadata
from shared.outbox import outbox_table


class Base(DeclarativeBase):
    metadata = new_metadata()


outbox = outbox_table(Base.metadata)
processed_events = processed_events_table(Base.metadata)
