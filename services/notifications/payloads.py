"""The body of a webhook, rendered from a received event: the same bytes on every attempt."""

import json
from typing import Any


def webhook_body(
    *, event_id: str, event_type: str, occurred_at: Any, delegation: str, data: Any
) -> str:
    return json.dumps(
        {
            "type": event_type,
            "timestamp": occurred_at.isoformat(),
            "event_id": event_id,
            "delegation": delegation,
            "data": data,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
