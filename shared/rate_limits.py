"""Rate limits on the HTTP APIs: a token bucket per source address and per token subject, in
the memory of each process (see docs/decisions/0017-rate-limits-per-process.md).

A bucket holds up to ``burst`` requests and refills at ``per_second``; a request takes one,
and a request finding it empty is answered 429 with ``Retry-After``, the whole seconds until
one is back. The address limit is checked by a middleware (``shared.middleware``) before
anything else, on every path but the health and metrics ones (a probe must never be
throttled); the subject limit once the token is checked (``shared.auth``), so that nobody can
spend another's budget by sending tokens they could not sign.
"""

import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from shared.problems import LimitReached, TooManyRequests

# Buckets kept per limit; beyond this the one unused longest is forgotten (it starts full
# again), so that many addresses cannot grow a process's memory without bound.
MAX_BUCKETS = 100_000


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """One limit (``name``) applied separately to each key (an address, a subject)."""

    def __init__(self, name: str, per_second: float, burst: int) -> None:
        self.name = name
        self.per_second = per_second
        self.burst = burst
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.per_second > 0

    def take(self, key: str, now: float | None = None) -> float:
        """Take one request for ``key``: 0 if allowed, else the seconds until one is."""
        if not self.enabled:
            return 0.0
        now = time.monotonic() if now is None else now
        bucket = self._buckets.pop(key, None) or _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.per_second)
        bucket.at = now
        # Put back last: the order of the dict is the order of last use.
        self._buckets[key] = bucket
        if len(self._buckets) > MAX_BUCKETS:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.per_second

    def refuse(self, key: str) -> TooManyRequests | None:
        """The 429 for ``key`` if it is over the limit (its request counted otherwise)."""
        wait = self.take(key)
        if wait == 0:
            return None
        return TooManyRequests(
            f"too many requests: {self.name} allows {self.per_second:g} a second"
            f" (bursts of {self.burst})",
            limit=LimitReached(name=self.name, limit=self.per_second),
            retry_after=max(1, math.ceil(wait)),
        )
