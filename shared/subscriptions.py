"""What a service consumes, declared per contract.

    subscriptions = Subscriptions()

    @subscriptions.on(plan_events.ActionLineStatusChanged)
    async def on_status_changed(
        session: AsyncSession, event: CloudEvent, data: plan_events.ActionLineStatusChanged
    ) -> None: ...

The consumer runner validates each message against its registered contract and hands the
handler that typed contract (with its envelope, for the id, time and subject). The topics a
service's consumer group reads follow from the contracts it subscribes to.
"""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy.ext.asyncio import AsyncSession

from shared.events import CloudEvent, EventContract
from shared.topics import topic_of

C = TypeVar("C", bound=EventContract)

TypedHandler = Callable[[AsyncSession, CloudEvent, C], Awaitable[None]]
# What the runner calls: any contract, already validated against the event's (type, version).
Handler = Callable[[AsyncSession, CloudEvent, EventContract], Awaitable[None]]
# Several consecutive events at once, in their order.
ManyHandler = Callable[[AsyncSession, Sequence[tuple[CloudEvent, Any]]], Awaitable[None]]


class Batched:
    """A handler that takes a run of events at once, for work far cheaper done for many events
    together than one by one (the rollups of a plan import: a few statements for hundreds of
    new lines instead of a few per line). In a partition's batch, the runner hands it every
    run of consecutive events it handles, in their order, within the batch's one transaction;
    called as a plain handler (a batch replayed one event at a time), it gets a run of one.
    A run has one consumer span, in its first event's trace: meant for events whose handling
    publishes nothing, whose traces therefore end there."""

    def __init__(self, handle_all: ManyHandler) -> None:
        self.handle_all = handle_all

    async def __call__(self, session: AsyncSession, event: CloudEvent, data: Any) -> None:
        await self.handle_all(session, [(event, data)])


class Subscriptions:
    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def on(self, contract: type[C]) -> Callable[[TypedHandler[C]], TypedHandler[C]]:
        """Register the decorated function as the handler of ``contract``'s events. To give one
        function several contracts, type its ``data`` as their common base (or union) and call
        ``subscriptions.on(contract)(handler)`` for each: the type checker then checks each
        registration, which a stack of decorators would not let it do."""

        def register(handler: TypedHandler[C]) -> TypedHandler[C]:
            if contract.event_type in self._handlers:
                raise RuntimeError(f"{contract.event_type} has two handlers")
            # Sound: the runner only passes a handler data validated against this contract.
            self._handlers[contract.event_type] = cast(Handler, handler)
            return handler

        return register

    @property
    def handlers(self) -> Mapping[str, Handler]:
        return dict(self._handlers)

    @property
    def topics(self) -> list[str]:
        return sorted({topic_of(event_type) for event_type in self._handlers})
