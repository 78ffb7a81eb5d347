"""Migration 0016 of notifications gives the meetings taken in before it what meeting digests
and co-chair routing need, from their kept `meeting.scheduled` events: time zone, plans under
review, and the meeting's co-chairs as holders of its `co-chairs` role."""

import asyncio
import json
import uuid
from datetime import date

import asyncpg
import pytest

from shared.db import asyncpg_dsn
from shared.migrations import upgrade
from tests.support.stack import REPO, Infrastructure

pytestmark = pytest.mark.integration

MIGRATIONS = REPO / "services" / "notifications" / "migrations"


async def test_meetings_taken_in_before_get_their_details_and_co_chairs(
    infra: Infrastructure,
) -> None:
    name = "accord_notifications_migration_0016"
    infra.postgres.drop_database(name)
    infra.postgres.create_database(name)
    url = infra.postgres.url(name)
    await asyncio.to_thread(upgrade, MIGRATIONS, url, "0015")
    meeting, plan = uuid.uuid4(), uuid.uuid4()
    scheduled = {
        "meeting_id": str(meeting),
        "timezone": "Asia/Jakarta",
        "plans_under_review": [str(plan)],
        "co_chairs": [
            {"name": "Tran Duc Binh", "title": "Ambassador", "delegation": "VNM"},
            {"name": "Khaled Khiari", "title": "ASG", "delegation": "UN"},
        ],
    }
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(
            "INSERT INTO received_events (event_id, event_type, data, occurred_at) VALUES"
            " ('e1', 'org.accord.meetings.meeting.scheduled', $1::jsonb, now())",
            json.dumps(scheduled),
        )
        await connection.execute(
            "INSERT INTO meetings (id, series, title, starts_at, status)"
            " VALUES ($1, 'CPR', 'CPR 2020', now(), 'scheduled')",
            meeting,
        )
    finally:
        await connection.close()

    await asyncio.to_thread(upgrade, MIGRATIONS, url)

    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        details = await connection.fetchrow("SELECT timezone, plans_under_review FROM meetings")
        chairs = await connection.fetch(
            "SELECT delegation_code, valid_from, meeting_id FROM role_assignments"
            " WHERE role = 'co-chairs' ORDER BY delegation_code"
        )
    finally:
        await connection.close()
    infra.postgres.drop_database(name)
    assert (details["timezone"], details["plans_under_review"]) == ("Asia/Jakarta", [plan])
    assert [tuple(c) for c in chairs] == [("UN", date.min, meeting), ("VNM", date.min, meeting)]
