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


def history_corrected(**fields: Any) -> plans.ActionLineHistoryCorrected:
    """Line 1.2.3's completion, recorded as of 2020-09-15, re-dated to 2019-06-30."""
    values: dict[str, Any] = {
        "plan_id": uuid.uuid4(),
        "action_line_id": uuid.uuid4(),
        "section_path": [],
        "code": "1.2.3",
        "tags": [],
        "leads": ["UN"],
        "line_status": "completed",
        "version": 3,
        "journal_entry_id": 17,
        "entry_version": 2,
        "status": "completed",
        "old_effective_date": date(2020, 9, 15),
        "new_effective_date": date(2019, 6, 30),
        "completed_on": date(2019, 6, 30),
        "actor": "secretariat",
        "reason": "completed at the June 2019 workshop",
        "corrected_at": datetime.now(UTC),
    }
    return plans.ActionLineHistoryCorrected(**(values | fields))
