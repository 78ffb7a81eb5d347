"""The Kafka client's repeated error lines are summarised, not written one by one."""

import logging
from collections.abc import Iterator

import pytest

from shared.logging import RepeatFilter


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.levelname} {record.getMessage()}")


@pytest.fixture
def clock() -> _Clock:
    return _Clock()


@pytest.fixture
def captured(clock: _Clock) -> Iterator[tuple[_Lines, RepeatFilter]]:
    lines = _Lines()
    repeats = RepeatFilter(window=30, clock=clock)
    lines.addFilter(repeats)
    loggers = [logging.getLogger(n) for n in ("aiokafka.conn", "kafka", "accord.other")]
    for logger in loggers:
        logger.addHandler(lines)
        logger.propagate = False
    try:
        yield lines, repeats
    finally:
        for logger in loggers:
            logger.removeHandler(lines)
            logger.propagate = True


def test_a_burst_of_the_same_client_error_is_one_line_and_then_a_summary_with_the_count(
    captured: tuple[_Lines, RepeatFilter], clock: _Clock
) -> None:
    lines, repeats = captured
    client = logging.getLogger("aiokafka.conn")
    for attempt in range(500):
        client.error("Unable connect to %r: %s", "node 1", f"refused ({attempt})")
    assert lines.lines == ["aiokafka.conn ERROR Unable connect to 'node 1': refused (0)"]

    repeats.flush()  # within the window: nothing to say yet
    assert len(lines.lines) == 1
    clock.now += 30
    repeats.flush()
    assert lines.lines[1:] == [
        "aiokafka.conn ERROR 499 more like this in the last 30 s, not shown:"
        " Unable connect to %r: %s"
    ]
    repeats.flush()
    assert len(lines.lines) == 2, "a summary is said once"


def test_the_next_window_lets_one_line_through_again_after_the_summary(
    captured: tuple[_Lines, RepeatFilter], clock: _Clock
) -> None:
    lines, _ = captured
    client = logging.getLogger("kafka")
    for _ in range(3):
        client.warning("Heartbeat failed")
    clock.now += 31
    client.warning("Heartbeat failed")
    assert lines.lines == [
        "kafka WARNING Heartbeat failed",
        "kafka WARNING 2 more like this in the last 30 s, not shown: Heartbeat failed",
        "kafka WARNING Heartbeat failed",
    ]


def test_other_loggers_and_other_templates_are_not_held_back(
    captured: tuple[_Lines, RepeatFilter],
) -> None:
    lines, _ = captured
    for _ in range(3):
        logging.getLogger("accord.other").warning("the same line")
    client = logging.getLogger("aiokafka.conn")
    client.error("one kind")
    client.error("another kind")
    assert lines.lines == [
        *["accord.other WARNING the same line"] * 3,
        "aiokafka.conn ERROR one kind",
        "aiokafka.conn ERROR another kind",
    ]
