"""The API write path: status changes/s through the plans service as a share of its fair
peer, a bare FastAPI endpoint doing the same database work on raw asyncpg in one transaction
(``bare_api --database``: lock and update the line, journal row, outbox row), served with the
same uvicorn settings, under the same load tool (wrk with ``status_change.lua``: every
request changes another pre-created line with its known version, so none conflicts), the
same threads and connections. The two alternate for a few rounds after one warm-up each
(rounds.py). A bare endpoint without a database is measured once more, for information.

The peer's database is a fresh one with plans' schema holding a copy of the measured plan
and its lines, so that its outbox rows reach no relay and both sides change the same rows.
"""

import sys
from pathlib import Path
from typing import Any

import asyncpg

from deploy.local.processes import ServiceProcess, free_port
from shared.auth import Role
from shared.db import asyncpg_dsn
from tests.benchmarks.bench_plans import Bench
from tests.benchmarks.rounds import alternating
from tests.benchmarks.system import System
from tests.benchmarks.wrk_load import run_wrk, write_lines
from tests.support.stack import token

WARM_UP_LINES = 200
WARM_UP_SECONDS = 3
PEER_DATABASE = "accord_bench_api_peer"


async def _copy_plan(system: System, plan_id: str) -> str:
    """The plan and its lines copied into a fresh database with plans' schema; its DSN."""
    dsn = asyncpg_dsn(await system.database(PEER_DATABASE, "plans"))
    source, target = await system.connect("plans"), await asyncpg.connect(dsn)
    try:
        for table in ("plans", "action_lines"):
            column = "id" if table == "plans" else "plan_id"
            rows = await source.fetch(f"SELECT * FROM {table} WHERE {column} = $1::uuid", plan_id)
            await target.copy_records_to_table(table, records=rows, columns=list(rows[0].keys()))
    finally:
        await source.close()
        await target.close()
    return dsn


async def _lines_files(dsn: str, plan_id: str, runtime: Path, side: str) -> tuple[Path, Path]:
    """The lines as the database holds them now (wrk's script only knows the versions it
    started with): the warm-up's and the measured ones, in two files."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT id, version, status FROM action_lines WHERE plan_id = $1::uuid "
            "ORDER BY ordering_key, id",
            plan_id,
        )
    finally:
        await connection.close()
    lines = [dict(row) for row in rows]
    return (
        write_lines(runtime / f"api-{side}-warm-up.txt", lines[:WARM_UP_LINES]),
        write_lines(runtime / f"api-{side}-lines.txt", lines[WARM_UP_LINES:]),
    )


def _bare(system: System, name: str, *arguments: str) -> tuple[ServiceProcess, str]:
    port = free_port()
    process = ServiceProcess(
        name,
        system.runtime,
        [sys.executable, "-m", "tests.benchmarks.bare_api", "--port", str(port), *arguments],
        {},
        health_url=f"http://127.0.0.1:{port}/healthz",
    )
    process.start(wait_healthy=30)
    return process, f"http://127.0.0.1:{port}"


async def measure(
    system: System,
    *,
    seconds: float,
    threads: int,
    connections: int,
    lines: int = 2000,
    rounds: int = 3,
) -> dict[str, Any]:
    plan_id, _, _, _ = await Bench(system.http, system.url("plans")).plan_of(lines, 0)
    await system.wait_idle()
    ours_dsn = asyncpg_dsn(system.infra.database_url("plans"))
    peer_dsn = await _copy_plan(system, plan_id)
    options: dict[str, Any] = {
        "mode": "cycle",
        "threads": threads,
        "connections": connections,
        "bearer": token(Role.SECRETARIAT),
    }
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "peer": [], "bare": []}

    async def run(side: str, url: str, dsn: str, *, warm: bool = False) -> float:
        warm_up, measured = await _lines_files(dsn, plan_id, system.runtime, side)
        if warm:
            await run_wrk(url, warm_up, seconds=WARM_UP_SECONDS, **options)
            return 0.0
        figures = await run_wrk(url, measured, seconds=seconds, **options)
        runs[side].append(figures)
        if side == "ours":
            # The changes leave events behind: let the services take them in before the
            # next run, so that neither side shares the machine with that backlog.
            await system.wait_idle()
        return float(figures["requests_per_s"])

    peer, peer_url = _bare(system, "bare-api-database", "--database", peer_dsn)
    try:

        async def warm_up() -> None:
            await run("peer", peer_url, peer_dsn, warm=True)
            await run("ours", system.url("plans"), ours_dsn, warm=True)
            await system.wait_idle()

        measured = await alternating(
            rounds,
            lambda: run("ours", system.url("plans"), ours_dsn),
            lambda: run("peer", peer_url, peer_dsn),
            warm_up,
        )
    finally:
        peer.stop()
    bare, bare_url = _bare(system, "bare-api")
    try:
        await run("bare", bare_url, peer_dsn, warm=True)
        no_database = await run("bare", bare_url, peer_dsn)
    finally:
        bare.stop()
    return {
        "plan_lines": lines,
        "load_tool": f"wrk -t{threads} -c{connections} -d{seconds:g}s -s status_change.lua",
        "request_body_bytes": len('{"status":"on_hold","expected_version":1}'),
        "status_change": runs["ours"][-1],
        "bare_asyncpg": runs["peer"][-1],
        "bare_no_database": runs["bare"][-1],
        "rounds": measured,
        "no_database_per_s": no_database,
        "plan_id": plan_id,
    }
