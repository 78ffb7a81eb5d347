"""Alembic, once per service: each service migrates only its own database.

A service's ``migrations/env.py`` calls ``run_migrations(metadata)``; ``upgrade`` is what
``python -m services.<name> migrate`` runs. Configuration is built in code (no alembic.ini)
so the database URL comes from the service's settings like everything else.
"""

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def alembic_config(migrations_dir: Path, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(
    migrations_dir: Path,
    database_url: str,
    revision: str = "head",
    connect_args: Mapping[str, Any] | None = None,
) -> None:
    """``connect_args``: asyncpg's (TLS, see ``ServiceSettings.database_connect_args``)."""
    config = alembic_config(migrations_dir, database_url)
    config.attributes["connect_args"] = dict(connect_args or {})
    command.upgrade(config, revision)


def run_migrations(metadata: MetaData) -> None:
    """Body of every service's env.py (online mode only: we always have the database)."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None

    def migrate(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        connect_args = context.config.attributes.get("connect_args", {})
        engine = create_async_engine(url, poolclass=pool.NullPool, connect_args=connect_args)
        async with engine.connect() as connection:
            await connection.run_sync(migrate)
        await engine.dispose()

    asyncio.run(run())


def create_messaging_tables() -> None:
    """The outbox (with its NOTIFY trigger) and the consumer's dedupe table, as of their
    first version. Called from every service's first migration; a later change to these
    tables gets a helper of its own, so that old migrations keep creating what they did."""
    import sqlalchemy as sa
    from alembic import op

    from shared.outbox import NOTIFY_TRIGGER_DDL

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("event_id", name="uq_outbox_event_id"),
    )
    op.create_index(
        "ix_outbox_unpublished", "outbox", ["id"], postgresql_where=sa.text("published_at IS NULL")
    )
    for statement in NOTIFY_TRIGGER_DDL:
        op.execute(statement)
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("event_id", name="pk_processed_events"),
    )


def drop_messaging_tables() -> None:
    from alembic import op

    op.drop_table("processed_events")
    op.drop_table("outbox")
    op.execute("DROP FUNCTION IF EXISTS accord_outbox_notify()")


def create_dead_letters_table() -> None:
    """The consumer's dead_letters table (shared/dead_letters.py), as of its first version;
    called from one migration of every service."""
    import sqlalchemy as sa
    from alembic import op
    from sqlalchemy.dialects import postgresql

    op.create_table(
        "dead_letters",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("topic", sa.String(length=249), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("publish_error", sa.Text(), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=True),
        sa.Column("headers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("value_prefix", sa.LargeBinary(), nullable=False),
        sa.Column("value_size", sa.Integer(), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letters"),
        sa.UniqueConstraint(
            "group_id", "topic", "partition", "offset", name="uq_dead_letters_group_id"
        ),
    )


def drop_dead_letters_table() -> None:
    from alembic import op

    op.drop_table("dead_letters")


def create_redrives_table() -> None:
    """The operator's record of redrives (shared/ops/redrives.py), as of its first version;
    called from one migration of every service."""
    import sqlalchemy as sa
    from alembic import op

    op.create_table(
        "redrives",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("topic", sa.String(length=249), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("parked_as", sa.String(length=300), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("new_partition", sa.Integer(), nullable=True),
        sa.Column("new_offset", sa.BigInteger(), nullable=True),
        sa.Column("redriven_by", sa.String(length=200), nullable=False),
        sa.Column(
            "redriven_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_redrives"),
        sa.UniqueConstraint("topic", "partition", "offset", name="uq_redrives_topic"),
    )


def drop_redrives_table() -> None:
    from alembic import op

    op.drop_table("redrives")


def create_idempotency_table() -> None:
    """The Idempotency-Key table (shared/idempotency.py), as of its first version; called
    from one migration of every service."""
    import sqlalchemy as sa
    from alembic import op
    from sqlalchemy.dialects import postgresql

    op.create_table(
        "idempotency_keys",
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("claim", sa.String(length=32), nullable=False),
        sa.Column(
            "claimed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "effect_committed", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_headers", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject", "key", name="pk_idempotency_keys"),
    )
    # The purge deletes by expiry.
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])


def drop_idempotency_table() -> None:
    from alembic import op

    op.drop_table("idempotency_keys")
