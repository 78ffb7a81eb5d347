"""Operator commands of the keys that encrypt webhook secrets at rest:
``python -m services.notifications reencrypt-secrets`` rewrites every secret not yet under
the current key with it, and ``new-secret-key`` prints a fresh key entry.

Re-encrypting goes through every endpoint in id order, a batch per transaction, each row
locked while it is rewritten (``FOR NO KEY UPDATE``: deliveries being inserted for it do not
wait, see ``shared.db``): interrupted, it leaves every row under one key or the other
(both readable), and run again it takes up what is left. Secrets already under the current
key are decrypted too, as a check that the key given under that id is the right one. It is
done when every secret decrypts and none is under another key than the current one; only
then may the old keys be removed.
"""

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifications import orm
from services.notifications.config import NotificationsSettings
from services.notifications.webhooks.keyring import Keyring, SecretNotDecryptable, new_key_entry
from services.notifications.webhooks.secrets_at_rest import reseal
from shared.cli import Command
from shared.db import NO_KEY_UPDATE, make_engine, make_session_factory

BATCH = 100


@dataclass
class Reencrypted:
    rewritten: int = 0
    # (endpoint id, why) of secrets that could not be decrypted: left as they were.
    failed: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    # Secrets still under another key than the current one, by key id.
    remaining: dict[str, int] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return not self.failed and not self.remaining


async def reencrypt_all(
    sessions: async_sessionmaker[AsyncSession], keyring: Keyring, batch: int = BATCH
) -> Reencrypted:
    result = Reencrypted()
    after: uuid.UUID | None = None
    while True:
        async with sessions() as session, session.begin():
            query = select(orm.Endpoint)
            if after is not None:
                query = query.where(orm.Endpoint.id > after)
            endpoints: Sequence[orm.Endpoint] = (
                await session.scalars(
                    query.order_by(orm.Endpoint.id).limit(batch).with_for_update(**NO_KEY_UPDATE)
                )
            ).all()
            for endpoint in endpoints:
                try:
                    result.rewritten += reseal(endpoint, keyring)
                except SecretNotDecryptable as exc:
                    result.failed.append((endpoint.id, str(exc)))
        if len(endpoints) < batch:
            break
        after = endpoints[-1].id
    async with sessions() as session:
        result.remaining = await _secrets_by_key(session, exclude=keyring.current)
    return result


async def _secrets_by_key(session: AsyncSession, exclude: str) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for column in (orm.Endpoint.secret_key_id, orm.Endpoint.previous_secret_key_id):
        rows = await session.execute(
            select(column, func.count())
            .where(column.is_not(None), column != exclude)
            .group_by(column)
        )
        counts.update({str(key_id): count for key_id, count in rows})
    return dict(counts)


async def reencrypt_secrets() -> int:
    settings = NotificationsSettings()
    engine = make_engine(settings.database_url, 2, settings.database_connect_args())
    try:
        result = await reencrypt_all(make_session_factory(engine), settings.keyring)
    finally:
        await engine.dispose()
    for endpoint_id, reason in result.failed:
        print(f"endpoint {endpoint_id}: {reason}")
    print(
        f"{result.rewritten} endpoints re-encrypted with key {settings.keyring.current!r};"
        f" {len(result.failed)} could not be decrypted"
    )
    if result.remaining:
        left = ", ".join(f"{count} under {key_id!r}" for key_id, count in result.remaining.items())
        print(f"still under other keys: {left}: keep those keys until this command says done")
    if not result.done:
        return 1
    print("done: every secret is under the current key, the other keys may be removed")
    return 0


async def print_new_key() -> int:
    print(new_key_entry())
    return 0


COMMANDS = {
    "reencrypt-secrets": Command(
        "encrypt every webhook secret again with the current key (the first of"
        " NOTIFICATIONS_SECRET_KEYS); safe to interrupt and to run again; exit 0 once no"
        " secret is under another key, so that the old keys may be removed",
        reencrypt_secrets,
    ),
    "new-secret-key": Command(
        "print a new random key entry (id:base64-key) for NOTIFICATIONS_SECRET_KEYS",
        print_new_key,
    ),
}
