"""Production mode refuses to start without secrets of its own: no signing secret, the
development default, the placeholders of .env.example, a short or patterned one, a
published database password, or (notifications) no key or a published one for the webhook
secrets at rest; each time it names the variable."""

import asyncio
import os
import sys

import pytest

from deploy.local.processes import free_port
from services.notifications.config import DEVELOPMENT_SECRET_KEYS
from services.notifications.webhooks.keyring import new_key_entry
from shared.config import DEVELOPMENT_JWT_SECRET
from tests.support.stack import REPO, SERVICE_NAMES

pytestmark = pytest.mark.integration

STRONG = "a-real-secret-from-the-vault-0123"
EXAMPLE_PASSWORD = "postgresql+asyncpg://accord:replace-me-with-a-database-password@db/x"
# A key of its own for the notifications service, unless a case is about the keys.
KEYS = new_key_entry()
# (service, ACCORD_JWT_SECRET, <SERVICE>_DATABASE_URL, NOTIFICATIONS_SECRET_KEYS, the variable
# the refusal must name)
CASES = [(name, None, None, KEYS, "ACCORD_JWT_SECRET") for name in SERVICE_NAMES] + [
    ("plans", DEVELOPMENT_JWT_SECRET, None, None, "ACCORD_JWT_SECRET"),
    ("meetings", "replace-me-with-a-long-random-secret", None, None, "ACCORD_JWT_SECRET"),
    ("notifications", "abc" * 20, None, KEYS, "ACCORD_JWT_SECRET"),
    ("plans", STRONG, EXAMPLE_PASSWORD, None, "PLANS_DATABASE_URL"),
    ("notifications", STRONG, None, None, "NOTIFICATIONS_SECRET_KEYS"),
    ("notifications", STRONG, None, DEVELOPMENT_SECRET_KEYS, "NOTIFICATIONS_SECRET_KEYS"),
]


async def _serve(
    name: str, secret: str | None, database_url: str | None, keys: str | None
) -> tuple[int, str]:
    """Start ``python -m services.<name> serve`` in production mode; its exit status and output."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCORD_", "NOTIFICATIONS_"))}
    env |= {"ACCORD_ENVIRONMENT": "production", f"{name.upper()}_HTTP_PORT": str(port)}
    if keys is not None:
        env["NOTIFICATIONS_SECRET_KEYS"] = keys
    if secret is not None:
        env["ACCORD_JWT_SECRET"] = secret
    if database_url is not None:
        env[f"{name.upper()}_DATABASE_URL"] = database_url
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
    output = asyncio.ensure_future(process.communicate())
    # It either exits or starts listening, however slow the machine: no time limit decides
    # (only a generous guard against a hang).
    for _ in range(3000):
        if output.done():
            assert process.returncode is not None
            return process.returncode, output.result()[0].decode(errors="replace")
        if await _listening(port):
            break
        await asyncio.sleep(0.1)
    process.kill()
    await output
    return -1, f"it started: port {port} answers"


async def _listening(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


async def test_production_refuses_to_start_without_secrets_of_its_own() -> None:
    """Every service with no ACCORD_JWT_SECRET; one each with the development default, the
    .env.example placeholder and a patterned secret; one with .env.example's database
    password; notifications without keys for its webhook secrets, and with the development
    key: each exits non-zero and says which variable to set, never the key."""
    results = await asyncio.gather(*(_serve(*case[:4]) for case in CASES))
    for (name, secret, url, keys, variable), (status, output) in zip(CASES, results, strict=True):
        case = f"{name} with secret {secret!r}, database URL {url!r} and keys {keys!r}"
        assert status not in (0, -1), f"{case}: exit status {status}\n{output[-2000:]}"
        assert variable in output, f"{case} does not name {variable}\n{output}"
        if keys is not None:
            assert keys.partition(":")[2] not in output, f"{case}: the key is in the output"
