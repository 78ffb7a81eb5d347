"""Which database errors the consumer waits out rather than blaming the message for."""

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from shared.consumer import _is_transient_database_error


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
