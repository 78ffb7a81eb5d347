"""``shared.logging.bound``: what the consumer and the request middleware bind to every line
logged while they handle an event or a request, and restore afterwards."""

import asyncio

import pytest
from structlog.contextvars import bind_contextvars, get_contextvars, unbind_contextvars

from shared.logging import bound


@pytest.fixture(autouse=True)
def clean_context() -> None:
    unbind_contextvars("event_id", "event_type", "service")


def test_values_are_bound_inside_and_gone_after() -> None:
    with bound(event_id="e-1", event_type="t"):
        assert get_contextvars() == {"event_id": "e-1", "event_type": "t"}
    assert get_contextvars() == {}


def test_an_outer_value_of_the_same_key_comes_back_and_other_keys_are_untouched() -> None:
    bind_contextvars(service="plans", event_id="outer")
    with bound(event_id="inner"):
        assert get_contextvars() == {"service": "plans", "event_id": "inner"}
        with bound(event_id="innermost", event_type="t"):
            assert get_contextvars()["event_id"] == "innermost"
        assert get_contextvars() == {"service": "plans", "event_id": "inner"}
    assert get_contextvars() == {"service": "plans", "event_id": "outer"}


def test_the_context_is_restored_when_the_work_inside_raises() -> None:
    with pytest.raises(RuntimeError), bound(event_id="e-2"):
        raise RuntimeError("handler failed")
    assert get_contextvars() == {}


async def test_concurrent_tasks_each_see_their_own_values() -> None:
    seen: dict[str, object] = {}

    async def handle(event_id: str) -> None:
        with bound(event_id=event_id):
            await asyncio.sleep(0.01)  # the other task binds meanwhile
            seen[event_id] = get_contextvars()["event_id"]

    await asyncio.gather(handle("a"), handle("b"))
    assert seen == {"a": "a", "b": "b"}
    assert get_contextvars() == {}
