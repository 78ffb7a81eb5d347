"""The cap on live streams a delegation may hold open at once, in each process.

A stream holds a database session now and then and a place in the wake-up pulse for as long
as it is open; without a cap one delegation could open thousands. Beyond the cap the answer
is 429 with ``Retry-After`` (a stream closing makes room, unlike the stored objects' caps,
which answer 409). The count is per process: behind several replicas a delegation may hold
up to the cap in each (see docs/decisions/0017-rate-limits-per-process.md).
"""

from collections import Counter
from collections.abc import Callable

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from shared.problems import LimitReached, TooManyRequests

CAP_NAME = "open_streams_per_delegation"
# How long a refused client is asked to wait before trying again.
RETRY_AFTER = 10


class StreamSlots:
    def __init__(self, per_delegation: int) -> None:
        self.per_delegation = per_delegation
        self._open: Counter[str] = Counter()

    def open(self, delegation: str) -> int:
        return self._open[delegation]

    def hold(self, delegation: str) -> Callable[[], None]:
        """Take a slot for ``delegation`` (429 if none is free); returns its release, which
        may be called more than once."""
        if self._open[delegation] >= self.per_delegation:
            raise TooManyRequests(
                f"{delegation} has {self.per_delegation} live streams open, the cap ({CAP_NAME})",
                limit=LimitReached(name=CAP_NAME, limit=self.per_delegation),
                retry_after=RETRY_AFTER,
            )
        self._open[delegation] += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._open[delegation] -= 1
                if self._open[delegation] <= 0:
                    del self._open[delegation]

        return release


class HeldStream(StreamingResponse):
    """A streaming response that gives its slot back however it ends: finished, the client
    gone, or never started (the response object is always called once it is returned)."""

    def __init__(self, *args: object, release: Callable[[], None], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()
