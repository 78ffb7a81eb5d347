"""The token bucket behind the rate limits, on a clock of the test's own. The limits on the
running services: tests/integration/test_limits_against_stack.py."""

from shared.rate_limits import TokenBuckets


def test_a_burst_passes_then_the_bucket_refills_at_its_rate() -> None:
    buckets = TokenBuckets("requests_per_address", per_second=2, burst=3)
    assert [buckets.take("a", now=100.0) for _ in range(3)] == [0, 0, 0]
    assert buckets.take("a", now=100.0) == 0.5  # one request back in half a second
    assert buckets.take("b", now=100.0) == 0  # another key has its own bucket
    assert buckets.take("a", now=100.5) == 0
    assert buckets.take("a", now=100.5) == 0.5
    # Idle for long: full again, never more than the burst.
    assert [buckets.take("a", now=1000.0) for _ in range(4)] == [0, 0, 0, 0.5]


def test_a_refusal_says_when_to_come_back_and_names_the_limit() -> None:
    buckets = TokenBuckets("requests_per_subject", per_second=0.01, burst=1)
    assert buckets.refuse("s") is None
    refused = buckets.refuse("s")
    assert refused is not None
    assert (refused.status, refused.headers) == (429, {"Retry-After": "100"})
    assert refused.limit is not None and refused.limit.name == "requests_per_subject"


def test_a_rate_of_zero_turns_the_limit_off() -> None:
    buckets = TokenBuckets("requests_per_address", per_second=0, burst=1)
    assert not buckets.enabled
    assert [buckets.refuse("a") for _ in range(10)] == [None] * 10
