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


async def _connects_without_password(infra: Infrastructure) -> bool:
    try:
        connection = await asyncpg.connect(
            host="127.0.0.1", port=infra.postgres.port, user="postgres", database="postgres",
            timeout=10,
        )  # fmt: skip
    except asyncpg.InvalidPasswordError:
        return False
    await connection.close()
    return True


async def test_a_running_server_that_trusts_tcp_is_brought_in_line_by_start(
    infra: Infrastructure,
) -> None:
    """A developer's server started by an older version (trust on TCP) asks for the password
    after the next ``deploy/stack up``, without a restart."""
    postgres = infra.postgres
    hba = postgres.data_dir / "pg_hba.conf"
    await asyncio.to_thread(
        hba.write_text, "local all all trust\nhost all all 127.0.0.1/32 trust\n"
    )
    await asyncio.to_thread(postgres.query, "SELECT pg_reload_conf()")
    assert await _connects_without_password(infra)  # the older version's server

    await asyncio.to_thread(postgres.start)  # what `up` does with a server that runs

    assert not await _connects_without_password(infra)


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
