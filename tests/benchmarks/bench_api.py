"""The API write path: status changes/s through the plans service as a share of its fair
peer, a bare FastAPI endpoint doing the same database work on raw asyncpg in one transaction
(``bare_api --database``: lock and update the line, journal row, outbox row), served with the
same uvicorn settings, under the same load tool (wrk with ``status_change.lua``: every
request changes another pre-created line with its known version, so none conflicts), the
same threads and connections. The two alternate for a few rounds after one warm-up each
(rounds.py). A bare endpoint without a database is measured once more, for information.

Both sides write to a database of their own with plans' schema, holding a copy of the
measured plan and its lines, and neither side's outbox rows reach a relay: the figure is the
write path's, not what its events cause downstream. Ours is plans' ``api`` role alone in its
process, as the chart deploys it (one deployment per role); a process running every role
also relays and projects the events its requests stage, on the same cores, which the peer
never does. That figure, the service as one process in the running system, is measured once
more, for information.
"""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
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
from tests.support.stack import RATE_LIMITS_OFF, Infrastructure, Services, token

WARM_UP_LINES = 200
WARM_UP_SECONDS = 3
OURS_DATABASE = "accord_bench_api_ours"
PEER_DATABASE = "accord_bench_api_peer"


async def _copy_plan(system: System, plan_id: str, database: str) -> str:
    """The plan and its lines copied into a fresh database with plans' schema; its URL."""
    url = await system.database(database, "plans")
    source, target = await system.connect("plans"), await asyncpg.connect(asyncpg_dsn(url))
    try:
        for table in ("plans", "action_lines"):
            column = "id" if table == "plans" else "plan_id"
            rows = await source.fetch(f"SELECT * FROM {table} WHERE {column} = $1::uuid", plan_id)
            await target.copy_records_to_table(table, records=rows, columns=list(rows[0].keys()))
    finally:
        await source.close()
        await target.close()
    return url


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


@contextmanager
def _api_role(system: System, database_url: str) -> Iterator[str]:
    """Plans' ``api`` role alone, on ``database_url``, with the running system's settings
    (its keys, its broker); its base URL. Its runtime folder is its own: the log of the
    system's plans process stays apart."""
    runtime = system.runtime / "api-role"
    runtime.mkdir(exist_ok=True)
    infra = system.infra
    alone = Services(
        Infrastructure(runtime, infra.postgres, infra.kafka, infra.mailpit),
        overrides={
            **RATE_LIMITS_OFF,
            "ACCORD_JWKS_URL": str(infra.jwks_path),
            "PLANS_DATABASE_URL": database_url,
            "ACCORD_ROLES": "api",
            "ACCORD_INSTANCE_ID": "plans-api-role",
        },
    )
    alone.start("plans")
    try:
        yield alone.url("plans")
    finally:
        alone.stop_all()


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
    ours_database = await _copy_plan(system, plan_id, OURS_DATABASE)
    ours_dsn = asyncpg_dsn(ours_database)
    peer_dsn = asyncpg_dsn(await _copy_plan(system, plan_id, PEER_DATABASE))
    options: dict[str, Any] = {
        "mode": "cycle",
        "threads": threads,
        "connections": connections,
        "bearer": token(Role.SECRETARIAT),
    }
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "peer": [], "system": [], "bare": []}

    async def run(side: str, url: str, dsn: str, *, warm: bool = False) -> float:
        warm_up, measured = await _lines_files(dsn, plan_id, system.runtime, side)
        figures = await run_wrk(
            url,
            warm_up if warm else measured,
            seconds=WARM_UP_SECONDS if warm else seconds,
            **options,
        )
        if side == "system":
            # These changes leave events behind: let the services take them in before the
            # next measurement, so that it does not share the machine with that backlog.
            await system.wait_idle()
        if warm:
            return 0.0
        runs[side].append(figures)
        return float(figures["requests_per_s"])

    with _api_role(system, ours_database) as ours_url:
        peer, peer_url = _bare(system, "bare-api-database", "--database", peer_dsn)
        try:

            async def warm_up() -> None:
                await run("peer", peer_url, peer_dsn, warm=True)
                await run("ours", ours_url, ours_dsn, warm=True)

            measured = await alternating(
                rounds,
                lambda: run("ours", ours_url, ours_dsn),
                lambda: run("peer", peer_url, peer_dsn),
                warm_up,
            )
        finally:
            peer.stop()
    # For information: the same requests to the system's plans process, which runs every role.
    system_dsn = asyncpg_dsn(system.infra.database_url("plans"))
    await run("system", system.url("plans"), system_dsn, warm=True)
    whole_system = await run("system", system.url("plans"), system_dsn)
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
        "all_roles": runs["system"][-1],
        "rounds": measured,
        "no_database_per_s": no_database,
        "all_roles_per_s": whole_system,
        "plan_id": plan_id,
    }
