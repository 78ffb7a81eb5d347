"""The data of the pipeline's raw peer (pipeline_raw): the pipeline's plan shape, seeded
straight into fresh databases with the services' schemas, and payload templates made from
real events (same bytes as the services write, ids swapped per event)."""

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import insert

from services.meetings import orm as meetings_orm
from services.notifications import orm as notifications_orm
from services.notifications.webhooks.keyring import new_key_entry, parse_keys
from services.plans import orm as plans_orm
from shared.contracts import plans as plan_events
from shared.db import make_engine
from shared.events import envelope

TARGET_DATE = date(2025, 12, 31)
DELEGATION = "RAWBENCH"
# Placeholders in the payload templates, replaced per event.
EVENT_ID = "00000000-0000-4000-8000-00000000e1e1"
LINE_ID = "00000000-0000-4000-8000-00000000a1a1"


@dataclass(frozen=True)
class Line:
    id: uuid.UUID
    code: str
    tags: list[str]
    scopes: list[str]


@dataclass
class Seeded:
    plan_id: uuid.UUID
    lines: list[Line]
    endpoint_id: uuid.UUID
    status_changed: str  # payload templates
    rollup_changed: str


def _lines(size: int) -> list[Line]:
    """The pipeline's plan shape (bench_plans.flat_plan_csv): tags tag-N and all, lead UN."""
    lines = []
    for i in range(size):
        tags = [f"tag-{i % 7}", "all"]
        scopes = ["plan", *(f"tag:{t}" for t in tags), "lead:UN"]
        lines.append(Line(uuid.uuid4(), str(i), tags, scopes))
    return lines


def _templates(plan_id: uuid.UUID) -> tuple[str, str]:
    """A real status_changed and rollup.changed (version 2) envelope each, ids made
    placeholders."""
    line = uuid.UUID(LINE_ID)
    changed = plan_events.ActionLineStatusChanged(
        plan_id=plan_id,
        action_line_id=line,
        section_path=[],
        code="1234",
        tags=["tag-1", "all"],
        leads=["UN"],
        old_status="not_started",
        new_status="ongoing",
        version=2,
        effective_date=date.today(),
        target_date=TARGET_DATE,
        actor="bench-secretariat",
        source=plan_events.ChangeSource(kind="api"),
        changed_at=datetime.now(UTC),
    )
    figures = plan_events.RollupFigures(
        total=4000,
        counted=4000,
        by_status={"not_started": 3999, "ongoing": 1, "completed": 0, "on_hold": 0},
        completed=0,
        addressed=1,
        completion_rate=0.0,
        completed_ahead_of_schedule=0,
    )
    # The four scopes a line of the benchmark's plan moves: the plan, two tags, a lead.
    scopes = [("plan", str(plan_id)), ("tag", "tag-1"), ("tag", "all"), ("lead", "UN")]
    rollup = plan_events.RollupsChanged(
        plan_id=plan_id,
        rule_version=1,
        changes=[
            plan_events.ScopeChange(scope_kind=kind, scope_key=key, before=figures, after=figures)
            for kind, key in scopes
        ],
        cause_event_id=EVENT_ID,
    )
    texts = []
    rollups = f"plans/{plan_id}/rollups"
    for payload, subject in ((changed, f"action-lines/{line}"), (rollup, rollups)):
        event = envelope(payload, source=plan_events.SOURCE, subject=subject)
        texts.append(event.to_bytes().decode().replace(event.id, EVENT_ID))
    return texts[0], texts[1]


def _sealed_secret(endpoint_id: uuid.UUID) -> dict[str, object]:
    """The secret columns of an endpoint row: encrypted at rest, as the service stores them
    (the raw loop signs nothing, so any key does)."""
    sealed = parse_keys(new_key_entry(), "the raw loop's key").seal(
        endpoint_id, "whsec_" + "A" * 32
    )
    return {"secret_key_id": sealed.key_id, "secret_ciphertext": sealed.ciphertext}


async def seed(urls: dict[str, str], size: int, sink_url: str) -> Seeded:
    plan_id, lines, endpoint_id = uuid.uuid4(), _lines(size), uuid.uuid4()
    per_scope = Counter(scope for line in lines for scope in line.scopes)
    rows: dict[str, list[tuple[Any, list[dict[str, Any]]]]] = {
        "plans": [
            (
                plans_orm.Plan,
                [
                    {
                        "id": plan_id,
                        "code": f"RAW-{plan_id.hex[:6]}",
                        "title": "The raw loop's plan",
                        "partners": ["ASEAN", "UN"],
                        "period_start": date(2021, 1, 1),
                        "period_end": date(2025, 12, 31),
                        "status": "draft",
                    }
                ],
            ),
            (
                plans_orm.ActionLine,
                [
                    {
                        "id": x.id,
                        "plan_id": plan_id,
                        "code": x.code,
                        "ordering_key": x.code,
                        "text": f"Action line {x.code}",
                        "leads": ["UN"],
                        "tags": x.tags,
                        "target_date": TARGET_DATE,
                        "status": "not_started",
                    }
                    for x in lines
                ],
            ),
            (
                plans_orm.RollupLine,
                [
                    {
                        "action_line_id": x.id,
                        "plan_id": plan_id,
                        "scopes": x.scopes,
                        "status": "not_started",
                        "weight": 1.0,
                        "target_date": TARGET_DATE,
                        "version": 1,
                    }
                    for x in lines
                ],
            ),
            (
                plans_orm.RollupBucket,
                [
                    {"plan_id": plan_id, "scope": s, "status": "not_started", "ahead": False}
                    | {"count": n, "weight": float(n)}
                    for s, n in per_scope.items()
                ],
            ),
            (
                plans_orm.RollupOpenTarget,
                [
                    {"plan_id": plan_id, "scope": s, "target_date": TARGET_DATE}
                    | {"count": n, "weight": float(n)}
                    for s, n in per_scope.items()
                ],
            ),
        ],
        "meetings": [
            (
                meetings_orm.KnownActionLine,
                [
                    {"action_line_id": x.id, "plan_id": plan_id, "code": x.code}
                    | {"section_path": [], "initial_status": "not_started"}
                    | {"status": "not_started", "version": 1}
                    for x in lines
                ],
            )
        ],
        "notifications": [
            (
                notifications_orm.Delegation,
                [{"code": DELEGATION, "name": "Raw bench", "timezone": "UTC", "stream_seq": 0}],
            ),
            (
                notifications_orm.Subscription,
                [
                    {
                        "id": uuid.uuid4(),
                        "delegation_code": DELEGATION,
                        "target_kind": "plan",
                        "target_key": str(plan_id),
                        "event_types": ["action_line.status_changed"],
                        "statuses": [],
                        "channels": ["webhook", "inbox", "stream"],
                        "cadence": "immediate",
                    }
                ],
            ),
            (
                notifications_orm.Endpoint,
                [
                    {"id": endpoint_id, "delegation_code": DELEGATION, "url": sink_url}
                    | _sealed_secret(endpoint_id)
                    | {"event_types": []}
                ],
            ),
            (
                notifications_orm.PlanNode,
                [
                    {"id": plan_id, "kind": "plan", "plan_id": plan_id, "code": "RAW"}
                    | {"name": "The raw loop's plan", "section_path": [], "tags": []}
                ]
                + [
                    {"id": x.id, "kind": "action_line", "plan_id": plan_id, "code": x.code}
                    | {"name": f"Action line {x.code}", "section_path": [], "tags": x.tags}
                    | {"status": "not_started"}
                    for x in lines
                ],
            ),
        ],
    }
    for service, tables in rows.items():
        engine = make_engine(urls[service], pool_size=1)
        try:
            async with engine.begin() as connection:
                for model, values in tables:
                    await connection.execute(insert(model.__table__), values)
        finally:
            await engine.dispose()
    status_changed, rollup_changed = _templates(plan_id)
    return Seeded(plan_id, lines, endpoint_id, status_changed, rollup_changed)
