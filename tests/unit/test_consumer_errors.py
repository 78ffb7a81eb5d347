"""Which database errors the consumer waits out rather than blaming the message for, and when
its liveness says it is stalled."""

import time

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from shared.consumer import SESSION_TIMEOUT, ConsumerState
from shared.db import is_database_unavailable, is_lost_race


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "kind"),
    [
        ("57P01", "unavailable"),  # admin shutdown
        ("57P03", "unavailable"),  # the database system is shutting down / starting up
        ("08006", "unavailable"),  # connection failure
        ("40P01", "lost race"),  # deadlock detected: the other transaction went on, try again
        ("40001", "lost race"),  # serialization failure
        ("55P03", "lost race"),  # lock not available
        ("23505", None),  # unique violation: the statement's fault
        ("22P02", None),  # invalid text representation
    ],
)
def test_server_trouble_and_lost_races_are_waited_out_and_statement_errors_are_not(
    sqlstate: str, kind: str | None
) -> None:
    error = DBAPIError("SELECT 1", None, _DriverError(sqlstate))
    assert is_database_unavailable(error) is (kind == "unavailable")
    assert is_lost_race(error) is (kind == "lost race")


def test_a_bare_driver_error_raised_while_connecting_is_classified_by_its_sqlstate() -> None:
    assert is_database_unavailable(_DriverError("57P03"))  # asyncpg's CannotConnectNowError


def test_a_lost_connection_is_transient_and_an_integrity_error_is_not() -> None:
    assert is_database_unavailable(ConnectionResetError())
    error = IntegrityError("INSERT", None, _DriverError("23505"))
    assert not is_database_unavailable(error)
    assert not is_lost_race(error)


def _state(*, lag: int | None, broker_answering: bool, waiting_for_database: bool) -> ConsumerState:
    state = ConsumerState(
        group_id="g",
        stall_seconds=5,
        lag=lag,
        broker_answering=broker_answering,
        waiting_for_database=waiting_for_database,
    )
    state.last_progress_at = time.monotonic() - 60  # no progress for a minute
    state.broker_answered_at = time.monotonic()  # the broker answered a probe just now
    return state


def test_a_consumer_with_lag_and_no_progress_is_stalled_only_when_broker_and_database_answer() -> (
    None
):
    """A restart helps a consumer stuck in its own process, not one whose broker or database
    is away: that one is not ready (``/readyz``), not dead (``/healthz``)."""
    assert _state(lag=10, broker_answering=True, waiting_for_database=False).stalled
    assert not _state(lag=10, broker_answering=False, waiting_for_database=False).stalled
    assert not _state(lag=10, broker_answering=True, waiting_for_database=True).stalled
    assert not _state(lag=0, broker_answering=True, waiting_for_database=False).stalled
    assert not _state(lag=None, broker_answering=True, waiting_for_database=False).stalled


def test_a_broker_not_asked_since_the_stall_limit_ran_out_does_not_make_a_stall() -> None:
    """The last probe succeeded, but before progress stopped plus the stall limit: the broker
    may have died since, which only the next probe tells. Not stalled until it answers again
    (the fault suite saw a 2 s stall limit call a consumer dead in the seconds between a
    broker's death and the probe that noticed it)."""
    state = _state(lag=10, broker_answering=True, waiting_for_database=False)
    state.broker_answered_at = state.last_progress_at + state.stall_seconds - 1
    assert not state.stalled
    state.broker_answered_at = state.last_progress_at + state.stall_seconds + 1
    assert state.stalled


def test_a_waiting_consumer_is_stuck_on_broker_lag_or_on_lag_unknown_too_long() -> None:
    """What the watchdog recreates a consumer for: lag measured from the broker's end offsets
    with no progress for the stall limit, or a lag it cannot measure (no partitions, no
    position) for the stall limit plus a session timeout (a join may wait out a dead member's
    session). Never while a batch is being applied or the database is away."""
    state = _state(lag=None, broker_answering=True, waiting_for_database=False)
    assert state.stuck_reason(broker_lag=10) is not None
    assert state.stuck_reason(broker_lag=0) is None
    state.applying = True
    assert state.stuck_reason(broker_lag=10) is None
    state.applying, state.waiting_for_database = False, True
    assert state.stuck_reason(broker_lag=10) is None
    state.waiting_for_database = False
    state.lag_unknown_since = state.broker_answered_at - state.stall_seconds - SESSION_TIMEOUT + 1
    assert state.stuck_reason(broker_lag=None) is None
    state.lag_unknown_since -= 2
    assert state.stuck_reason(broker_lag=None) is not None
