"""The API write path: status changes/s through the plans service as a share of a bare FastAPI
endpoint (``bare_api``) served with the same uvicorn settings, under the same load tool
(wrk with ``status_change.lua``: every request changes another pre-created line with its
known version, so none conflicts), the same threads and connections, one after the other.

The bare endpoint runs first: the services are idle then, whereas the status changes leave
a backlog of events behind them that would share the machine with whatever ran next.
"""

import sys
from typing import Any

from deploy.local.processes import ServiceProcess, free_port
from shared.auth import Role
from tests.benchmarks.bench_plans import Bench
from tests.benchmarks.measure import ratio
from tests.benchmarks.system import System
from tests.benchmarks.wrk_load import run_wrk, write_lines
from tests.support.stack import token

WARM_UP_LINES = 200
WARM_UP_SECONDS = 3


async def measure(
    system: System, *, seconds: float, threads: int, connections: int, lines: int = 2000
) -> dict[str, Any]:
    plan_id, plan_lines, _ = await Bench(system.http, system.url("plans")).plan_of(lines, lines)
    await system.wait_idle()
    # Separate lines for the warm-up: wrk's script only knows the versions it started with.
    warm_up = write_lines(system.runtime / "api-warm-up.txt", plan_lines[:WARM_UP_LINES])
    measured = write_lines(system.runtime / "api-lines.txt", plan_lines[WARM_UP_LINES:])
    options: dict[str, Any] = {
        "mode": "cycle",
        "threads": threads,
        "connections": connections,
        "bearer": token(Role.SECRETARIAT),
    }
    port = free_port()
    bare = ServiceProcess(
        "bare-api",
        system.runtime,
        [sys.executable, "-m", "tests.benchmarks.bare_api", "--port", str(port)],
        {},
        health_url=f"http://127.0.0.1:{port}/healthz",
    )
    bare.start(wait_healthy=30)
    try:
        await run_wrk(f"http://127.0.0.1:{port}", warm_up, seconds=WARM_UP_SECONDS, **options)
        peer = await run_wrk(f"http://127.0.0.1:{port}", measured, seconds=seconds, **options)
    finally:
        bare.stop()
    await run_wrk(system.url("plans"), warm_up, seconds=WARM_UP_SECONDS, **options)
    ours = await run_wrk(system.url("plans"), measured, seconds=seconds, **options)
    await system.wait_idle()
    return {
        "plan_lines": lines,
        "load_tool": f"wrk -t{threads} -c{connections} -d{seconds:g}s -s status_change.lua",
        "request_body_bytes": len('{"status":"on_hold","expected_version":1}'),
        "status_change": ours,
        "bare_fastapi": peer,
        "ratio": ratio(ours["requests_per_s"], peer["requests_per_s"]),
        "plan_id": plan_id,
    }
