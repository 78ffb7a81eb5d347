"""The body of a webhook, rendered from a received event: the same bytes on every attempt.

``data`` is the event's data exactly as its publisher wrote it (kept in the received event's
row), not this service's reading of it: a receiver gets every field, even one this service's
copy of the contract does not know yet.
"""

import json
from collections.abc import Mapping
from datetime import datetime


def webhook_body(
    *,
    event_id: str,
    event_type: str,
    occurred_at: datetime,
    delegation: str,
    data: Mapping[str, object],
    context: Mapping[str, object] | None = None,
    schema_version: int = 1,
) -> str:
    body: dict[str, object] = {
        "type": event_type,
        "timestamp": occurred_at.isoformat(),
        "event_id": event_id,
        "delegation": delegation,
        "data": data,
    }
    if schema_version > 1:
        # Said from a contract's second version on only: a first version's body stays the
        # bytes it always was, and a receiver sees when a type's data changed shape.
        body["dataschemaversion"] = schema_version
    if context is not None:
        # What the event is about, by name (intake/context.py); absent on events taken in
        # before it was recorded, so that their bodies stay the bytes they always were.
        body["context"] = context
    return json.dumps(
        body,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
