"""Production mode refuses to start without a real signing secret."""

import asyncio
import os
import sys

import pytest

from deploy.local.processes import free_port
from shared.config import DEVELOPMENT_JWT_SECRET
from tests.support.stack import REPO, SERVICE_NAMES

pytestmark = pytest.mark.integration

CASES = [(name, None) for name in SERVICE_NAMES] + [("plans", DEVELOPMENT_JWT_SECRET)]


async def _serve(name: str, secret: str | None) -> tuple[int, str]:
    """Start ``python -m services.<name> serve`` in production mode; its exit status and output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    env |= {"ACCORD_ENVIRONMENT": "production", f"{name.upper()}_HTTP_PORT": str(free_port())}
    if secret is not None:
        env["ACCORD_JWT_SECRET"] = secret
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"services.{name}",
        "serve",
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), 60)
    except TimeoutError:
        process.kill()
        await process.wait()
        return -1, "still running after 60 s: it started"
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


async def test_production_refuses_to_start_without_a_real_signing_secret() -> None:
    """Every service with no ACCORD_JWT_SECRET, and one with the development default, in
    production mode: each exits non-zero and says which variable to set."""
    results = await asyncio.gather(*(_serve(name, secret) for name, secret in CASES))
    for (name, secret), (status, output) in zip(CASES, results, strict=True):
        case = f"{name} with {'the development secret' if secret else 'no secret'}"
        assert status not in (0, -1), f"{case}: exit status {status}\n{output[-2000:]}"
        assert "ACCORD_JWT_SECRET" in output, f"{case} does not name ACCORD_JWT_SECRET\n{output}"
