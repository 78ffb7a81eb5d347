"""How the services connect to PostgreSQL, on the suite's real server. Like the local stack's
(deploy/local/postgres.py) it asks for a password on TCP as a real server does: without it,
or with a wrong one, a connection is refused; the URLs the stack hands out carry the right
one. And the TLS setting reaches asyncpg: ``require`` against this plain server is refused,
by the engine and by the migrations alike."""

import asyncio

import asyncpg
import pytest
from sqlalchemy import text

from shared.db import asyncpg_dsn, make_engine
from shared.migrations import upgrade
from tests.support.stack import REPO, Infrastructure

pytestmark = pytest.mark.integration


async def test_a_tcp_connection_needs_the_password(infra: Infrastructure) -> None:
    port = infra.postgres.port
    for password in (None, "", "not-the-password"):
        with pytest.raises(
            (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)
        ) as refused:
            await asyncpg.connect(
                host="127.0.0.1", port=port, user="postgres", database="postgres",
                password=password, timeout=10,
            )  # fmt: skip
        assert "password" in str(refused.value)

    connection = await asyncpg.connect(asyncpg_dsn(infra.database_url("plans")), timeout=10)
    try:
        assert await connection.fetchval("SELECT current_user") == "postgres"
        method = await connection.fetchval(
            "SELECT auth_method FROM pg_hba_file_rules WHERE type = 'host' LIMIT 1"
        )
        assert method == "scram-sha-256"
    finally:
        await connection.close()


async def test_the_tls_setting_reaches_the_connections(infra: Infrastructure) -> None:
    url = infra.database_url("plans")
    for mode, answers in (("disable", True), ("prefer", True), ("require", False)):
        engine = make_engine(url, pool_size=1, connect_args={"ssl": mode})
        try:
            async with engine.connect() as connection:
                assert (await connection.scalar(text("SELECT 1"))) == 1
            assert answers, f"ssl={mode} connected to a server without TLS"
        except ConnectionError as exc:
            assert not answers, f"ssl={mode}: {exc}"
            assert "SSL" in str(exc) or "TLS" in str(exc)
        finally:
            await engine.dispose()

    with pytest.raises(ConnectionError):
        await asyncio.to_thread(
            upgrade, REPO / "services" / "plans" / "migrations", url, "head", {"ssl": "require"}
        )
