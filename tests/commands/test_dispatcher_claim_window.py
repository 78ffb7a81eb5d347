"""A claim looks at a window of due deliveries (as many as it may claim), then the caps per
endpoint and delegation trim it. When they do, due deliveries of other endpoints may wait
behind the window: the claim says more may be due now, and the next one takes them, rather
than the dispatcher waiting for its poll interval (the next-due look counts only times still
to come)."""

from datetime import timedelta

from sqlalchemy import delete

from services.notifications import orm
from services.notifications.wakeup import Pulse
from services.notifications.webhooks.dispatcher import Dispatcher
from shared.db import make_engine, make_session_factory
from tests.commands.test_notifications_commands import SETTINGS, now_in, waiting_deliveries


async def test_a_window_trimmed_by_an_endpoints_cap_is_followed_by_a_claim_behind_it(
    command_databases: dict[str, str],
) -> None:
    engine = make_engine(command_databases["notifications"], pool_size=4)
    sessions = make_session_factory(engine)
    settings = SETTINGS.model_copy(update={"max_in_flight_per_endpoint": 2})
    endpoints = []
    try:
        async with sessions() as session, session.begin():
            _, capped, crowd = await waiting_deliveries(session, 6)
            _, other, (behind,) = await waiting_deliveries(session, 1)
            endpoints = [capped.id, other.id]
            now = await now_in(session)
            # All due; the capped endpoint's first in the order of claims.
            for minutes, delivery in enumerate(reversed(crowd), start=2):
                delivery.next_attempt_at = now - timedelta(minutes=minutes)
            behind.next_attempt_at = now - timedelta(minutes=1)
        dispatcher = Dispatcher(sessions, settings, allow_loopback=False, pulse=Pulse())

        jobs, more_due, _ = await dispatcher._claim(4)

        assert [job.delivery_id for job in jobs] == [delivery.id for delivery in crowd[:2]]
        assert more_due, "the caps trimmed the window: more may be due behind it"

        jobs, more_due, _ = await dispatcher._claim(2)

        assert [job.delivery_id for job in jobs] == [behind.id]
        assert not more_due, "nothing else is due"
    finally:
        async with sessions() as session, session.begin():
            await session.execute(
                delete(orm.Delivery).where(orm.Delivery.endpoint_id.in_(endpoints))
            )
        await engine.dispose()
