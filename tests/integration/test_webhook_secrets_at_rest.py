"""Webhook signing secrets are encrypted at rest, on the real PostgreSQL: the row holds no
plain text, webhooks still verify at the receiver, a rotation of the encryption key moves
every secret to the new key (interrupted or not) after which the old key can go, a ciphertext
moved to another row does not decrypt, a wrong key says so, and the migration encrypts the
secrets an older version left in plain text."""

import asyncio
import base64
import os
import secrets
import string
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from alembic import command
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifications import orm, wakeup
from services.notifications.config import NotificationsSettings
from services.notifications.webhooks import handlers as webhooks
from services.notifications.webhooks.dispatcher import Dispatcher
from services.notifications.webhooks.key_rotation import reencrypt_all
from services.notifications.webhooks.keyring import (
    Keyring,
    SecretNotDecryptable,
    parse_keys,
)
from services.notifications.webhooks.secrets_at_rest import active_secrets, current_secret
from shared.db import asyncpg_dsn, make_engine, make_session_factory
from shared.migrations import alembic_config, upgrade
from shared.topics import PLANS_EVENTS
from tests.integration.test_webhook_slots import Endpoint as SlotEndpoint
from tests.integration.test_webhook_slots import attempts_of, pending_deliveries
from tests.support.background import in_background
from tests.support.kafka import announced_plan, produce, status_changed_event
from tests.support.notifications import headers_of, new_delegation, register_endpoint, subscribe
from tests.support.receiver import Receiver
from tests.support.stack import REPO, SECRET_KEYS, Infrastructure, Services
from tests.support.waiting import eventually

# Endpoints per delegation: far above what a test makes.
CAP = 100

pytestmark = pytest.mark.integration

MIGRATIONS = REPO / "services" / "notifications" / "migrations"
PUBLIC_URL = "https://93.184.216.34/accord"  # a public address: no DNS lookup, never fetched
URLS = webhooks.UrlPolicy(allow_http=False, allow_loopback=False)


def key_entry(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def keyring_of(*entries: str) -> Keyring:
    return parse_keys(",".join(entries), "the test's keys")


def plaintext_forms(secret: str) -> list[bytes]:
    """How a secret could show in a row: as given, and its raw key bytes."""
    return [secret.encode(), base64.b64decode(secret.removeprefix("whsec_"))]


def holds_any(row: dict[str, Any], secret: str) -> list[str]:
    """The columns of ``row`` in which ``secret`` shows in any form."""
    found = []
    for column, value in row.items():
        data = value if isinstance(value, bytes) else str(value).encode()
        if any(form in data for form in plaintext_forms(secret)):
            found.append(column)
    return found


async def endpoint_row(database_url: str, endpoint_id: uuid.UUID | str) -> dict[str, Any]:
    """The endpoint's row as PostgreSQL holds it, read past the service's code."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        row = await connection.fetchrow(
            "SELECT * FROM endpoints WHERE id = $1", uuid.UUID(str(endpoint_id))
        )
    finally:
        await connection.close()
    assert row is not None
    return dict(row)


# --- through the running service -------------------------------------------------------------


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as running:
        yield running


async def test_the_row_holds_no_plaintext_and_webhooks_still_verify(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    base = services.url("notifications")
    code = await new_delegation(http, base, secretariat_headers)
    path = f"/hooks/{code}"
    endpoint = await register_endpoint(http, base, code, receiver.url(path))
    receiver.route(path, endpoint["secret"])
    plan_id = await announced_plan(services.infra.kafka_as("plans"))
    await subscribe(http, base, code, "plan", str(plan_id))

    async def a_webhook_verifies(with_secret: str, count: int) -> None:
        receiver.route(path, with_secret)
        event = status_changed_event(plan_id, version=count + 1)
        key = str(plan_id).encode()
        await produce(services.infra.kafka_as("plans"), PLANS_EVENTS, [(key, event.to_bytes())])
        await eventually(
            lambda: asyncio.sleep(0, len(receiver.accepted(path)) >= count),
            what=f"{count} verified webhooks",
        )

    await a_webhook_verifies(endpoint["secret"], 1)
    rotated = await http.post(
        f"{base}/endpoints/{endpoint['id']}/rotate-secret", headers=headers_of(code)
    )
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    # Only the new secret is known to the receiver now: the signature made with it verifies.
    await a_webhook_verifies(new_secret, 2)

    row = await endpoint_row(services.infra.database_url("notifications"), endpoint["id"])
    assert not holds_any(row, endpoint["secret"]) and not holds_any(row, new_secret)
    assert "secret" not in row and "previous_secret" not in row
    key_id = SECRET_KEYS.partition(":")[0]
    assert (row["secret_key_id"], row["previous_secret_key_id"]) == (key_id, key_id)
    keyring = keyring_of(SECRET_KEYS)
    stored = orm.Endpoint(**{k: v for k, v in row.items() if k != "number"})
    assert active_secrets(stored, keyring, row["previous_secret_until"] - timedelta(seconds=1)) == (
        new_secret,
        endpoint["secret"],
    )


# --- on a database of the test's own ---------------------------------------------------------


@pytest.fixture
async def database(infra: Infrastructure) -> AsyncIterator[str]:
    """The URL of a fresh, migrated notifications database for this test alone."""
    name = f"secrets_{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(infra.postgres.create_database, name)
    url = infra.postgres.url(name)
    await asyncio.to_thread(upgrade, MIGRATIONS, url)
    yield url
    await asyncio.to_thread(infra.postgres.drop_database, name)


@pytest.fixture
async def sessions(database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(database, pool_size=4)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()


async def endpoints_under(
    sessions: async_sessionmaker[AsyncSession], keyring: Keyring, count: int, rotated: int
) -> dict[uuid.UUID, tuple[str, ...]]:
    """``count`` endpoints registered with ``keyring``, the first ``rotated`` of them with a
    rotated secret (two secrets): their ids and their active secrets, newest first."""
    code = "T" + "".join(secrets.choice(string.ascii_uppercase) for _ in range(7))
    made: dict[uuid.UUID, tuple[str, ...]] = {}
    async with sessions() as session, session.begin():
        session.add(orm.Delegation(code=code, name="Test mission", timezone="UTC"))
        await session.flush()
        for number in range(count):
            command = webhooks.RegisterEndpoint(delegation=code, url=PUBLIC_URL)
            endpoint, secret = await webhooks.register_endpoint(
                session, command, urls=URLS, keyring=keyring, cap=CAP
            )
            made[endpoint.id] = (secret,)
            if number < rotated:
                newer, _ = await webhooks.rotate_secret(
                    session,
                    webhooks.RotateSecret(endpoint.id, None),
                    overlap=timedelta(hours=1),
                    keyring=keyring,
                )
                made[endpoint.id] = (newer, secret)
    return made


async def secrets_opened_with(
    sessions: async_sessionmaker[AsyncSession], keyring: Keyring
) -> dict[uuid.UUID, tuple[str, ...]]:
    async with sessions() as session:
        endpoints = (await session.scalars(select(orm.Endpoint))).all()
        now = min(e.previous_secret_until or e.created_at + timedelta(days=1) for e in endpoints)
        return {e.id: active_secrets(e, keyring, now - timedelta(seconds=1)) for e in endpoints}


async def key_ids(database: str) -> set[str]:
    connection = await asyncpg.connect(asyncpg_dsn(database))
    try:
        rows = await connection.fetch(
            "SELECT secret_key_id AS k FROM endpoints UNION"
            " SELECT previous_secret_key_id FROM endpoints WHERE previous_secret_key_id IS NOT NULL"
        )
    finally:
        await connection.close()
    return {row["k"] for row in rows}


class Interrupted(Exception):
    pass


class InterruptedAfter:
    """A session factory that fails once ``transactions`` sessions were handed out, like a
    re-encryption killed between two batches."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], transactions: int) -> None:
        self._sessions, self._left = sessions, transactions

    def __call__(self) -> AsyncSession:
        if self._left == 0:
            raise Interrupted
        self._left -= 1
        return self._sessions()


async def test_reencryption_moves_every_secret_to_the_new_key_then_the_old_one_can_go(
    database: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    old_entry, new_entry = key_entry("old"), key_entry("new")
    made = await endpoints_under(sessions, keyring_of(old_entry), count=5, rotated=2)
    both = keyring_of(new_entry, old_entry)  # the new key current, the old one still read

    with pytest.raises(Interrupted):
        await reencrypt_all(InterruptedAfter(sessions, 1), both, batch=2)  # type: ignore[arg-type]
    assert await key_ids(database) == {"old", "new"}  # half done: a batch committed
    assert await secrets_opened_with(sessions, both) == made  # and everything still reads

    finished = await reencrypt_all(sessions, both, batch=2)
    assert finished.done and finished.rewritten == 3
    assert await key_ids(database) == {"new"}
    again = await reencrypt_all(sessions, both, batch=2)
    assert again.done and again.rewritten == 0  # idempotent

    new_only = keyring_of(new_entry)  # the old key removed
    assert await secrets_opened_with(sessions, new_only) == made
    with pytest.raises(SecretNotDecryptable, match="not among the keys given"):
        await secrets_opened_with(sessions, keyring_of(old_entry))


def run_reencrypt(database: str, keys: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCORD_", "NOTIFICATIONS_"))}
    env |= {"NOTIFICATIONS_DATABASE_URL": database, "NOTIFICATIONS_SECRET_KEYS": keys}
    return subprocess.run(
        [sys.executable, "-m", "services.notifications", "reencrypt-secrets"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_a_ciphertext_moved_to_another_row_does_not_decrypt(
    database: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    old_entry = key_entry("old")
    keyring = keyring_of(old_entry)
    first, second = list(await endpoints_under(sessions, keyring, count=2, rotated=0))
    connection = await asyncpg.connect(asyncpg_dsn(database))
    try:
        await connection.execute(
            "UPDATE endpoints SET secret_ciphertext ="
            " (SELECT secret_ciphertext FROM endpoints WHERE id = $2) WHERE id = $1",
            first,
            second,
        )
    finally:
        await connection.close()
    async with sessions() as session:
        moved = await session.get(orm.Endpoint, first)
        assert moved is not None
        with pytest.raises(SecretNotDecryptable, match="belongs to another row"):
            current_secret(moved, keyring)

    # The re-encryption command names the row, leaves it as it is, rewrites the others.
    result = await asyncio.to_thread(run_reencrypt, database, f"{key_entry('new')},{old_entry}")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"endpoint {first}: " in result.stdout and "another row" in result.stdout
    assert "1 endpoints re-encrypted" in result.stdout and "1 under 'old'" in result.stdout


async def test_a_wrong_key_gives_a_clear_error(
    database: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    [endpoint] = await endpoints_under(sessions, keyring_of(key_entry("k1")), count=1, rotated=0)
    wrong = key_entry("k1")  # another key under the same id
    result = await asyncio.to_thread(run_reencrypt, database, f"{key_entry('k2')},{wrong}")
    assert result.returncode == 1
    assert f"endpoint {endpoint}: " in result.stdout
    assert "does not decrypt with key 'k1'" in result.stdout
    assert wrong.partition(":")[2] not in result.stdout + result.stderr

    done = await asyncio.to_thread(run_reencrypt, database, key_entry("k1"))
    assert done.returncode == 1 and "not decrypt" in done.stdout


async def test_the_migration_encrypts_the_secrets_left_in_plain_text(
    infra: Infrastructure, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"secrets_{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(infra.postgres.create_database, name)
    url = infra.postgres.url(name)
    await asyncio.to_thread(upgrade, MIGRATIONS, url, "0008")
    endpoint_id, secret, previous = uuid.uuid4(), "whsec_" + "A" * 44, "whsec_" + "B" * 44
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        # A delegation of the reference data the migrations seed.
        code = await connection.fetchval("SELECT min(code) FROM delegations")
        await connection.execute(
            "INSERT INTO endpoints (id, delegation_code, url, secret, previous_secret,"
            " event_types, enabled) VALUES ($1, $2, $3, $4, $5, '{}', true)",
            endpoint_id,
            code,
            PUBLIC_URL,
            secret,
            previous,
        )
    finally:
        await connection.close()
    keys = key_entry("first")
    monkeypatch.setenv("NOTIFICATIONS_SECRET_KEYS", keys)

    await asyncio.to_thread(upgrade, MIGRATIONS, url)

    row = await endpoint_row(url, endpoint_id)
    assert "secret" not in row and not holds_any(row, secret) and not holds_any(row, previous)
    assert (row["secret_key_id"], row["previous_secret_key_id"]) == ("first", "first")
    stored = orm.Endpoint(id=endpoint_id, **{k: v for k, v in row.items() if "secret" in k})
    assert current_secret(stored, keyring_of(keys)) == secret

    # And back: the downgrade decrypts them again.
    await asyncio.to_thread(command.downgrade, alembic_config(MIGRATIONS, url), "0008")
    row = await endpoint_row(url, endpoint_id)
    assert (row["secret"], row["previous_secret"]) == (secret, previous)
    await asyncio.to_thread(infra.postgres.drop_database, name)


async def test_a_secret_the_dispatcher_cannot_decrypt_fails_the_attempt_until_its_key_is_back(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The dispatcher given another key under the secret's key id sends nothing, records a
    failed attempt that says why and keeps going; given the right key, the delivery goes on
    its schedule, with its webhook-id, and verifies."""
    entry = key_entry("k1")
    code = "T" + "".join(secrets.choice(string.ascii_uppercase) for _ in range(7))
    with Receiver().running() as receiver:
        async with sessions() as session, session.begin():
            session.add(orm.Delegation(code=code, name="Test mission", timezone="UTC"))
            await session.flush()
            endpoint, secret = await webhooks.register_endpoint(
                session,
                webhooks.RegisterEndpoint(delegation=code, url=receiver.url("/hook")),
                urls=webhooks.UrlPolicy(allow_http=True, allow_loopback=True),
                keyring=keyring_of(entry),
                cap=CAP,
            )
        receiver.route("/hook", secret)
        [webhook_id] = await pending_deliveries(sessions, SlotEndpoint(endpoint.id, code), 1)

        def dispatcher(keys: str) -> Dispatcher:
            settings = NotificationsSettings(
                secret_keys=keys,
                retry_schedule=[0] + [1.0] * 30,
                poll_interval=0.2,
                allow_http_webhooks=True,
            )
            return Dispatcher(sessions, settings, allow_loopback=True, pulse=wakeup.Pulse())

        async with in_background(dispatcher(key_entry("k1")).run()):  # another key under k1
            [first, *_] = await eventually(
                lambda: attempts_of(sessions, SlotEndpoint(endpoint.id, code)), what="an attempt"
            )
        assert first.status_code is None
        assert (
            first.error
            == "the endpoint's signing secret cannot be decrypted (see the service's log)"
        )
        assert receiver.at("/hook") == []

        async with in_background(dispatcher(entry).run()):
            await eventually(
                lambda: asyncio.sleep(0, len(receiver.accepted("/hook")) == 1), what="a webhook"
            )
        assert [r.webhook_id for r in receiver.at("/hook")] == [webhook_id]
