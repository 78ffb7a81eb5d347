"""Client-side helpers for the meetings service, and a stand-in for the plans service's
events (produced straight to Kafka) so that briefings can be tested on their own."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from shared.contracts import plans as plan_events
from shared.db import asyncpg_dsn
from shared.events import EventContract, envelope
from shared.kafka_access import KafkaAccess
from shared.topics import PLANS_EVENTS
from tests.support.kafka import produce
from tests.support.waiting import eventually

# The delegations the suite's meetings invite: registered once per suite (``known_to_meetings``),
# since meetings refuses a participant no registered delegation has.
PARTICIPANTS = {
    "VNM": "Viet Nam",
    "UN": "United Nations",
    "MMR": "Myanmar",
    "TLS": "Timor-Leste",
    "SGP": "Singapore",
}


async def known_to_meetings(
    http: httpx.AsyncClient,
    notifications: str,
    headers: dict[str, str],
    meetings_database_url: str,
    codes: dict[str, str],
) -> None:
    """Register these delegations (if they are not yet) and wait until meetings has taken in
    their delegation.registered events, as a client scheduling a meeting with a brand-new
    delegation must."""
    for code, name in codes.items():
        response = await http.post(
            f"{notifications}/delegations",
            json={"code": code, "name": name, "timezone": "Asia/Jakarta"},
            headers=headers,
        )
        assert response.status_code in (201, 409), response.text
    connection = await asyncpg.connect(asyncpg_dsn(meetings_database_url))
    try:

        async def all_known() -> bool:
            rows = await connection.fetch(
                "SELECT code FROM known_delegations WHERE code = any($1::text[])", list(codes)
            )
            return len(rows) == len(codes)

        await eventually(all_known, what="meetings to know the delegations")
    finally:
        await connection.close()


def meeting_body(series: str, starts_at: str, **fields: Any) -> dict[str, Any]:
    """A valid meeting: ``starts_at`` like "2020-09-15T09:00:00+07:00", three hours long."""
    start = datetime.fromisoformat(starts_at)
    return {
        "series": series,
        "title": f"{series}, {start.date()}",
        "level": "Permanent Representatives",
        "format": "virtual",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=3)).isoformat(),
        "timezone": "Asia/Jakarta",
        "place": "Videoconference",
        "participants": ["VNM", "UN", "MMR"],
        "co_chairs": [
            {"name": "Nguyen Hai Bang", "title": "Ambassador of Viet Nam", "delegation": "VNM"},
            {
                "name": "Khaled Khiari",
                "title": "UN Assistant Secretary-General",
                "delegation": "UN",
            },
        ],
        **fields,
    }


async def schedule(
    http: httpx.AsyncClient, base: str, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    return _json(await http.post(f"{base}/meetings", json=body, headers=headers), 201)


async def act(
    http: httpx.AsyncClient,
    base: str,
    headers: dict[str, str],
    meeting_id: str,
    action: str,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """start, conclude, cancel or postpone a meeting."""
    url = f"{base}/meetings/{meeting_id}/{action}"
    return _json(await http.post(url, json=body, headers=headers), 200)


async def decide(
    http: httpx.AsyncClient,
    base: str,
    headers: dict[str, str],
    meeting_id: str,
    title: str,
    body: dict[str, Any],
) -> dict[str, Any]:
    url = f"{base}/meetings/{meeting_id}/decisions"
    return _json(await http.post(url, json={"title": title, "body": body}, headers=headers), 201)


async def briefing(
    http: httpx.AsyncClient, base: str, headers: dict[str, str], meeting_id: str
) -> dict[str, Any]:
    url = f"{base}/meetings/{meeting_id}/briefing"
    return _json(await http.get(url, headers=headers), 200)


def _json(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


@dataclass
class PlanFeed:
    """Plans' events for one plan, as the plans service would publish them (keyed by plan)."""

    kafka: KafkaAccess
    plan_id: uuid.UUID = field(default_factory=uuid.uuid4)
    versions: dict[uuid.UUID, int] = field(default_factory=dict)
    statuses: dict[uuid.UUID, str] = field(default_factory=dict)
    codes: dict[uuid.UUID, str] = field(default_factory=dict)
    paths: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    pending: list[EventContract] = field(default_factory=list)

    def plan(self, code: str = "POA") -> "PlanFeed":
        self.pending.append(
            plan_events.PlanCreated(
                plan_id=self.plan_id,
                code=f"{code}-{self.plan_id.hex[:6]}",
                title="ASEAN-UN Plan of Action 2016-2020",
                partners=["ASEAN", "UN"],
                period_start=date(2016, 1, 1),
                period_end=date(2020, 12, 31),
                status="active",
            )
        )
        return self

    def pillar(self, code: str, title: str) -> uuid.UUID:
        section_id = uuid.uuid4()
        self.pending.append(
            plan_events.SectionCreated(
                plan_id=self.plan_id,
                section_id=section_id,
                parent_id=None,
                path=[section_id],
                code=code,
                title=title,
                ordering_key=code,
            )
        )
        return section_id

    def line(self, code: str, pillar: uuid.UUID) -> uuid.UUID:
        line_id = uuid.uuid4()
        self.versions[line_id], self.statuses[line_id] = 1, "not_started"
        self.codes[line_id], self.paths[line_id] = code, [pillar, uuid.uuid4()]
        self.pending.append(
            plan_events.ActionLineCreated(
                plan_id=self.plan_id,
                action_line_id=line_id,
                section_path=self.paths[line_id],
                code=code,
                text=f"Action line {code}",
                leads=["UN"],
                tags=[],
                target_date=None,
                weight=1,
                status="not_started",
                version=1,
            )
        )
        return line_id

    def status(self, line_id: uuid.UUID, new: str, effective: str) -> None:
        self.versions[line_id] += 1
        old, self.statuses[line_id] = self.statuses[line_id], new
        self.pending.append(
            plan_events.ActionLineStatusChanged(
                plan_id=self.plan_id,
                action_line_id=line_id,
                section_path=self.paths[line_id],
                code=self.codes[line_id],
                tags=[],
                leads=["UN"],
                old_status=old,  # type: ignore[arg-type]
                new_status=new,  # type: ignore[arg-type]
                version=self.versions[line_id],
                effective_date=date.fromisoformat(effective),
                target_date=None,
                actor="test",
                source=plan_events.ChangeSource(kind="api"),
                changed_at=datetime.now(UTC),
            )
        )

    def add(self, payload: EventContract) -> None:
        self.pending.append(payload)

    async def publish(self) -> None:
        key = str(self.plan_id).encode()
        messages = [
            (
                key,
                envelope(p, source=plan_events.SOURCE, subject=f"plans/{self.plan_id}").to_bytes(),
            )
            for p in self.pending
        ]
        self.pending.clear()
        await produce(self.kafka, PLANS_EVENTS, messages)
