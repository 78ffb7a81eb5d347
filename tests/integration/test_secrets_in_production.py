"""Production mode refuses to start without settings of its own: tokens by a shared secret
(HS256, whatever the secret: the development default, the old placeholder of .env.example, a
strong one), no JWKS document to check tokens against, a published database password, a broker
without authentication or a published Kafka password, or (notifications) no key or a published
one for the webhook secrets at rest; each time it names the variable."""

import asyncio
import os
import sys

import pytest

from deploy.local.processes import free_port
from services.notifications.config import DEVELOPMENT_SECRET_KEYS
from services.notifications.webhooks.keyring import new_key_entry
from shared.config import DEVELOPMENT_JWT_SECRET
from tests.support.production import SASL  # an authenticated broker, unless a case says not
from tests.support.stack import REPO, SERVICE_NAMES

pytestmark = pytest.mark.integration

STRONG = "a-real-secret-from-the-vault-0123"
EXAMPLE_PASSWORD = "postgresql+asyncpg://accord:replace-me-with-a-database-password@db/x"
# A JWKS document need not exist for the refusals below: they come before it is read.
KEYS = {"ACCORD_JWKS_URL": "/nonexistent/jwks.json"}
# A key of its own for the webhook secrets of notifications, unless a case is about the keys.
SECRET_KEYS = {"NOTIFICATIONS_SECRET_KEYS": new_key_entry()}
PLAINTEXT = {"ACCORD_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}
EXAMPLE_KAFKA_PASSWORD = {"ACCORD_KAFKA_PASSWORD": "replace-me-with-the-kafka-plans-password"}


def _hs256(secret: str) -> dict[str, str]:
    return {"ACCORD_JWT_ALGORITHM": "HS256", "ACCORD_JWT_SECRET": secret} | SASL | SECRET_KEYS


# (service, ACCORD_* settings, <SERVICE>_DATABASE_URL, the variable the refusal must name)
CASES: list[tuple[str, dict[str, str], str | None, str]] = [
    (name, SASL | SECRET_KEYS, None, "ACCORD_JWKS_URL") for name in SERVICE_NAMES
] + [
    ("plans", _hs256(DEVELOPMENT_JWT_SECRET), None, "ACCORD_JWT_ALGORITHM"),
    ("meetings", _hs256("replace-me-with-a-long-random-secret"), None, "ACCORD_JWT_ALGORITHM"),
    ("notifications", _hs256(STRONG), None, "ACCORD_JWT_ALGORITHM"),
    ("plans", KEYS | SASL, EXAMPLE_PASSWORD, "PLANS_DATABASE_URL"),
    ("meetings", KEYS | SASL | PLAINTEXT, None, "ACCORD_KAFKA_SECURITY_PROTOCOL"),
    ("plans", KEYS | SASL | EXAMPLE_KAFKA_PASSWORD, None, "ACCORD_KAFKA_PASSWORD"),
    ("notifications", KEYS | SASL, None, "NOTIFICATIONS_SECRET_KEYS"),
    (
        "notifications",
        KEYS | SASL | {"NOTIFICATIONS_SECRET_KEYS": DEVELOPMENT_SECRET_KEYS},
        None,
        "NOTIFICATIONS_SECRET_KEYS",
    ),
]


async def _serve(name: str, settings: dict[str, str], database_url: str | None) -> tuple[int, str]:
    """Start ``python -m services.<name> serve`` in production mode; its exit status and output."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCORD_", "NOTIFICATIONS_"))}
    env |= {"ACCORD_ENVIRONMENT": "production", f"{name.upper()}_HTTP_PORT": str(port)}
    env |= {"ACCORD_KAFKA_USERNAME": name, **settings}
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
    """Every service with no JWKS document; one each with HS256 and the development default,
    the old .env.example placeholder and a strong secret; one with .env.example's database
    password; one on a broker without authentication, one with .env.example's Kafka
    password; notifications without keys for its webhook secrets, and with the development
    key: each exits non-zero and says which variable to set, never the key."""
    results = await asyncio.gather(*(_serve(name, s, url) for name, s, url, _ in CASES))
    for (name, settings, url, variable), (status, output) in zip(CASES, results, strict=True):
        case = f"{name} with {settings!r} and database URL {url!r}"
        keys = settings.get("NOTIFICATIONS_SECRET_KEYS")
        assert status not in (0, -1), f"{case}: exit status {status}\n{output[-2000:]}"
        assert variable in output, f"{case} does not name {variable}\n{output}"
        if keys is not None:
            assert keys.partition(":")[2] not in output, f"{case}: the key is in the output"
