"""Deliveries sent by the dispatcher of the process that made them, without a wake-up.

Where a webhook's latency went when changes come one by one (20 changes/s, p50): 10.4 ms in
notifications' take-in transaction, then 6.8 ms from its commit to the attempt, which was the
``DELIVERIES`` notification, the dispatcher waking, and its claim's own transaction (BEGIN,
the claim, the look for the next due time, COMMIT). Where a dispatcher runs in the process
that takes the event in (every role in one process, as the local stack and the suite run
them), the take-in runs that dispatcher's claim in its own transaction, and the dispatcher
starts what it claimed once the transaction commits. It is the dispatcher's statement, with
its caps, its order per endpoint and subject, and its lease: who may send what does not
change. A rollback undoes the claim and gives its slots back; a process that dies after the
commit leaves leases that run out like any claim's.

The take-in still notifies ``DELIVERIES`` when no dispatcher runs here (the dispatcher role in
processes of its own), when it has no free slot, and whenever the claim did not take every
delivery just made (held back behind an earlier one of its subject, an endpoint at its cap or
disabled, older due deliveries taken first): then another claim has to look.
"""

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from services.notifications.webhooks.dispatcher import Dispatcher

# The dispatchers running in this process (one, but tests may run several).
_here: list["Dispatcher"] = []


@contextlib.contextmanager
def running_here(dispatcher: "Dispatcher") -> Iterator[None]:
    _here.append(dispatcher)
    try:
        yield
    finally:
        _here.remove(dispatcher)


async def claim_here(session: AsyncSession, webhook_ids: list[str]) -> bool:
    """Claim due deliveries for this process's dispatcher in ``session``'s transaction, as
    many as were just made there (``webhook_ids``); whether every one of those was claimed."""
    if not _here:
        return False
    claimed = await _here[-1].claim_in(session, len(webhook_ids))
    return claimed.issuperset(webhook_ids)
