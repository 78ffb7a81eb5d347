"""The dispatcher's claim must look for an earlier pending delivery of the same endpoint and
subject with one index probe per candidate, whatever the planner believes about the table.

Found by the dispatcher benchmark: its third round sent 30 deliveries a second instead of 160.
Each claim took 2 to 3 s: in the generic plan of the cached statement, PostgreSQL made the
ordering check (then a NOT EXISTS) an anti-join that read every pending row of the endpoint for each candidate, so a
claim grew with the square of the backlog. Here the table is analysed while empty, then given
a backlog, as after an outage of a new system; the claim's plan is read in both of
PostgreSQL's plan modes. (Reproducing the benchmark's own statistics took its whole run; the
empty table's made the old check fail in both cases alike.)

The same benchmark then showed the claim and the next-due look reading the whole backlog when
the endpoint had no slot left: both counted the attempts in flight once per due delivery (50 and
57 ms per statement with 2,000 due); the last two tests count the buffers they touch."""

import re
import uuid
from typing import Any

import pytest
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications.webhooks import dispatcher
from shared.prepared import Prepared
from tests.commands.test_notifications_commands import waiting_deliveries

BACKLOG = 2000
PARAMETERS = {
    "limit": 32,
    "lease": 45.0,
    "owner": "x",
    "per_endpoint": 8,
    "per_delegation": 16,
    "finished": [1, 2],
}


async def _with_backlog_unknown_to_the_planner(session: AsyncSession) -> uuid.UUID:
    """The endpoint with the backlog."""
    await session.execute(text("ANALYZE deliveries"))
    _, endpoint, (delivery,) = await waiting_deliveries(session, 1)
    # Each delivery of its own event and subject (a line's status change each), all due.
    await session.execute(
        text(
            """
            WITH events AS (
                INSERT INTO received_events (event_id, event_type, data, occurred_at, subject)
                SELECT 'backlog-' || n, 'org.accord.plans.action_line.status_changed', '{}',
                    now(), 'action-lines/' || n
                FROM generate_series(1, :backlog) n
                RETURNING id, subject
            )
            INSERT INTO deliveries (webhook_id, event_row_id, endpoint_id, delegation_code,
                subject, status, tries, attempts_total, next_attempt_at)
            SELECT 'msg_backlog_' || id, id, :endpoint, :code, subject, 'pending', 0, 0, now()
            FROM events
            """
        ),
        {"backlog": BACKLOG, "endpoint": endpoint.id, "code": delivery.delegation_code},
    )
    return endpoint.id


def _positional(sql: str) -> tuple[str, list[str]]:
    """``sql`` with its ``:name`` parameters as ``$n`` (for PREPARE), and the names in order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return re.sub(r"(?<!:):(\w+)", number, sql), names


def _literal(value: object) -> str:
    if isinstance(value, list):  # an array, as PostgreSQL writes one
        return "'{" + ",".join(map(str, value)) + "}'"
    return f"'{value}'" if isinstance(value, str) else str(value)


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", ()):
        found += _nodes(child)
    return found


async def _plan(
    session: AsyncSession,
    statement: TextClause,
    mode: str,
    options: str = "",
    values: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The statement's plan in ``mode``, as EXPLAIN gives it with ``options`` (ANALYZE runs it
    in the test's transaction), with ``PARAMETERS`` but for ``values``."""
    parameters = {**PARAMETERS, **(values or {})}
    sql, names = _positional(statement.text)
    name = f"probe_{mode}_{abs(hash(sql))}"
    await session.execute(text(f"SET LOCAL plan_cache_mode = {mode}"))
    await session.execute(text(f"PREPARE {name} AS {sql}"))
    # EXECUTE takes literals only (no bind parameters in a utility statement).
    arguments = ", ".join(_literal(parameters[n]) for n in names)
    executed = f"{name}({arguments})" if arguments else name
    explained = await session.scalar(text(f"EXPLAIN ({options}FORMAT JSON) EXECUTE {executed}"))
    await session.execute(text(f"DEALLOCATE {name}"))
    return _nodes(explained[0]["Plan"])


def _text_of(prepared: Prepared) -> TextClause:
    statement = prepared.statement
    assert isinstance(statement, TextClause)
    return statement


def _claim() -> TextClause:
    return _text_of(dispatcher._CLAIM)


@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
async def test_the_ordering_check_probes_the_index_per_candidate(
    notifications_db: AsyncSession, mode: str
) -> None:
    await _with_backlog_unknown_to_the_planner(notifications_db)

    nodes = await _plan(notifications_db, _claim(), mode)

    # ``p`` is the earlier pending delivery the check looks for.
    checks = [n for n in nodes if n.get("Relation Name") == "deliveries" and n.get("Alias") == "p"]
    assert checks, "the ordering check is not in the plan"
    for check in checks:
        condition = check.get("Index Cond", "")
        assert "endpoint_id = d.endpoint_id" in condition, check
        assert "subject = (d.subject)::text" in condition, check


async def _at_its_cap(session: AsyncSession) -> None:
    """The backlog's endpoint with every slot taken by attempts in flight, statistics fresh
    (as autovacuum keeps them on a running system)."""
    endpoint = await _with_backlog_unknown_to_the_planner(session)
    await session.execute(
        text(
            """
            UPDATE deliveries SET leased_by = 'other', next_attempt_at = now() + interval '1 hour'
            WHERE id IN (
                SELECT id FROM deliveries WHERE endpoint_id = :endpoint ORDER BY id LIMIT :cap
            )
            """
        ),
        {"endpoint": endpoint, "cap": PARAMETERS["per_endpoint"]},
    )
    await session.execute(text("ANALYZE deliveries"))


def _buffers(root: dict[str, Any]) -> int:
    return int(root["Shared Hit Blocks"]) + int(root["Shared Read Blocks"])


async def test_a_claim_at_an_endpoint_with_no_slot_left_reads_its_backlog_once(
    notifications_db: AsyncSession,
) -> None:
    await _at_its_cap(notifications_db)

    root, *_ = await _plan(notifications_db, _claim(), "auto", "ANALYZE, BUFFERS, ")

    assert root["Actual Rows"] == 0, "a delivery claimed beyond the endpoint's cap"
    # The due deliveries once (index and heap), not the attempts in flight once per delivery.
    assert _buffers(root) < 3 * BACKLOG, root


async def test_the_next_due_look_reads_no_backlog(notifications_db: AsyncSession) -> None:
    await _at_its_cap(notifications_db)

    root, *_ = await _plan(
        notifications_db, _text_of(dispatcher._NEXT_DUE), "auto", "ANALYZE, BUFFERS, "
    )

    assert _buffers(root) < 100, root


async def test_the_wake_up_check_after_a_record_reads_no_backlog(
    notifications_db: AsyncSession,
) -> None:
    """Recording an attempt at the capped endpoint: is anything held back behind it, was the
    endpoint or its delegation at its cap. Index probes and the attempts in flight, not the
    endpoint's backlog of due deliveries."""
    await _at_its_cap(notifications_db)
    recorded = await notifications_db.scalar(
        text(
            "UPDATE deliveries SET status = 'succeeded', leased_by = NULL "
            "WHERE id = (SELECT min(id) FROM deliveries WHERE leased_by = 'other') RETURNING id"
        )
    )

    root, *_ = await _plan(
        notifications_db,
        _text_of(dispatcher._RELEASES),
        "auto",
        "ANALYZE, BUFFERS, ",
        {"recorded": [recorded]},
    )

    assert _buffers(root) < 100, root
