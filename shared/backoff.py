"""The pause between attempts of the loops that retry forever (the relay, the consumer, topic
creation): doubling up to a ceiling, with full jitter so that many clients coming back after
one outage do not retry in step, and back to the start after a success."""

import asyncio
import random


class Backoff:
    def __init__(self, first: float, ceiling: float) -> None:
        self._first = first
        self._ceiling = ceiling
        self._next = first

    def reset(self) -> None:
        self._next = self._first

    def next_delay(self) -> float:
        """The pause to take now: uniformly between half the current step and the step."""
        step = self._next
        self._next = min(step * 2, self._ceiling)
        return random.uniform(step / 2, step)

    async def sleep(self) -> float:
        delay = self.next_delay()
        await asyncio.sleep(delay)
        return delay
