import json
import re
import uuid
from datetime import UTC, datetime

import pytest

from shared.contracts import plans as plan_events
from shared.events import CloudEvent, InvalidEvent, envelope, parse_data


def _plan_created() -> plan_events.PlanCreated:
    return plan_events.PlanCreated(
        plan_id=uuid.uuid4(),
        code="P",
        title="T",
        partners=["ASEAN"],
        period_start="2021-01-01",
        period_end="2025-12-31",
        status="draft",
    )


def test_an_envelope_round_trips_through_bytes_as_a_cloudevent() -> None:
    payload = _plan_created()
    event = envelope(payload, source=plan_events.SOURCE, subject=f"plans/{payload.plan_id}")

    raw = json.loads(event.to_bytes())
    assert raw["specversion"] == "1.0"
    assert raw["type"] == "org.accord.plans.plan.created"
    assert raw["dataschemaversion"] == 1
    assert raw["datacontenttype"] == "application/json"
    assert parse_data(CloudEvent.from_bytes(event.to_bytes())) == payload


def test_each_envelope_gets_a_fresh_id() -> None:
    payload = _plan_created()
    ids = {envelope(payload, source="/s", subject="x").id for _ in range(3)}
    assert len(ids) == 3


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "empty message"),
        (b"{", "malformed envelope"),
        (
            b'{"specversion": "0.3", "id": "1", "source": "/s", "type": "t",'
            b' "time": "2020-01-01T00:00:00Z", "dataschemaversion": 1, "data": {}}',
            "specversion",
        ),
        (
            b'{"specversion": "1.0", "source": "/s", "type": "t", "time": "2020-01-01T00:00:00Z",'
            b' "dataschemaversion": 1, "data": {}}',
            "id: Field required",
        ),
    ],
)
def test_a_malformed_envelope_is_refused_with_a_reason(raw: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidEvent) as refused:
        CloudEvent.from_bytes(raw)
    assert reason in str(refused.value)


def _event(type_: str, version: int, data: dict) -> CloudEvent:
    return CloudEvent(
        id="1",
        source="/s",
        type=type_,
        time=datetime.now(UTC),
        dataschemaversion=version,
        data=data,
    )


def test_an_unknown_type_an_unknown_version_and_invalid_data_are_told_apart() -> None:
    with pytest.raises(InvalidEvent, match=re.escape("unknown event type org.example.nothing")):
        parse_data(_event("org.example.nothing", 1, {}))
    with pytest.raises(
        InvalidEvent, match=r"unknown version 7 of org.accord.plans.plan.created \(known: \[1\]\)"
    ):
        parse_data(_event("org.accord.plans.plan.created", 7, {}))
    with pytest.raises(
        InvalidEvent,
        match=re.escape("invalid org.accord.plans.plan.created v1: plan_id: Field required"),
    ):
        parse_data(_event("org.accord.plans.plan.created", 1, {"code": "P"}))


def test_both_versions_of_rollup_changed_are_read_each_by_its_own_contract() -> None:
    figures = {
        "total": 2,
        "counted": 2,
        "by_status": {"completed": 1},
        "completed": 1,
        "addressed": 1,
        "completion_rate": 0.5,
        "completed_ahead_of_schedule": 0,
    }
    plan = str(uuid.uuid4())
    scope = {"scope_kind": "plan", "scope_key": plan, "before": figures, "after": figures}
    common = {"plan_id": plan, "rule_version": 1, "cause_event_id": "e"}
    old = parse_data(_event("org.accord.plans.rollup.changed", 1, {**common, **scope}))
    assert isinstance(old, plan_events.RollupChanged)
    new = parse_data(_event("org.accord.plans.rollup.changed", 2, {**common, "changes": [scope]}))
    assert new == old.as_newest()
    # A version-2 event lists at least one scope: an empty one is refused with its reason.
    with pytest.raises(InvalidEvent, match=r"v2: changes: List should have at least 1 item"):
        parse_data(_event("org.accord.plans.rollup.changed", 2, {**common, "changes": []}))
