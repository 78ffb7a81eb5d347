"""Plans' events with plausible values, for tests that take one in or match one: name only
the fields the test is about."""

import uuid
from datetime import UTC, date, datetime
from typing import Any

from shared.contracts import plans


def status_changed(**fields: Any) -> plans.ActionLineStatusChanged:
    """Line 1.2.3 of a new plan went from ongoing to completed."""
    values: dict[str, Any] = {
        "plan_id": uuid.uuid4(),
        "action_line_id": uuid.uuid4(),
        "section_path": [],
        "code": "1.2.3",
        "tags": [],
        "leads": ["UN"],
        "old_status": "ongoing",
        "new_status": "completed",
        "version": 2,
        "effective_date": date(2020, 9, 15),
        "target_date": None,
        "actor": "secretariat",
        "source": plans.ChangeSource(kind="api"),
        "changed_at": datetime.now(UTC),
    }
    return plans.ActionLineStatusChanged(**(values | fields))


def line_created(**fields: Any) -> plans.ActionLineCreated:
    """Line 1.2.3, "Peacekeeping training", was added to a new plan."""
    values: dict[str, Any] = {
        "plan_id": uuid.uuid4(),
        "action_line_id": uuid.uuid4(),
        "section_path": [],
        "code": "1.2.3",
        "text": "Peacekeeping training",
        "leads": ["UN"],
        "tags": [],
        "target_date": None,
        "weight": 1.0,
        "status": "ongoing",
        "version": 1,
    }
    return plans.ActionLineCreated(**(values | fields))
