"""Which database errors the consumer waits out rather than blaming the message for, and when
its liveness says it is stalled."""

import time

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from shared.consumer import ConsumerState, _is_transient_database_error


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "transient"),
    [
        ("57P01", True),  # admin shutdown
        ("57P03", True),  # the database system is shutting down / starting up
        ("08006", True),  # connection failure
        ("40P01", True),  # deadlock detected: the other transaction went on, try again
        ("40001", True),  # serialization failure
        ("55P03", True),  # lock not available
        ("23505", False),  # unique violation: the statement's fault
        ("22P02", False),  # invalid text representation
    ],
)
def test_server_trouble_is_waited_out_and_statement_errors_are_not(
    sqlstate: str, transient: bool
) -> None:
    error = DBAPIError("SELECT 1", None, _DriverError(sqlstate))
    assert _is_transient_database_error(error) is transient


def test_a_lost_connection_is_transient_and_an_integrity_error_is_not() -> None:
    assert _is_transient_database_error(ConnectionResetError())
    assert not _is_transient_database_error(IntegrityError("INSERT", None, _DriverError("23505")))


def _state(*, lag: int | None, broker_answering: bool, waiting_for_database: bool) -> ConsumerState:
    state = ConsumerState(
        group_id="g",
        stall_seconds=5,
        lag=lag,
        broker_answering=broker_answering,
        waiting_for_database=waiting_for_database,
    )
    state.last_progress_at = time.monotonic() - 60  # no progress for a minute
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
