"""The operator's command reads its selections as operators type them; a wrong one is bad
usage (exit status 2) before anything is asked of the broker."""

from datetime import UTC, datetime

import pytest

from shared.ops import cli
from shared.ops.parked import ParkedMessage, Selection, parse_where


def _parked(offset: int, reason: str, group: str) -> ParkedMessage:
    return ParkedMessage(
        "accord.plans.events.dlt",
        2,
        offset,
        datetime.now(UTC),
        b"key",
        (
            ("traceparent", b"00-abc"),
            ("dlt.reason", reason.encode()),
            ("dlt.group", group.encode()),
            ("dlt.topic", b"accord.plans.events"),
            ("dlt.partition", b"5"),
            ("dlt.offset", b"41"),
        ),
        b"{}",
    )


def test_a_parked_message_tells_where_it_came_from_and_keeps_only_its_own_headers() -> None:
    message = _parked(7, "handler failed 5 times: KeyError", "accord-notifications")

    assert message.where == "accord.plans.events.dlt/2/7"
    assert message.original is not None
    assert (message.original.topic, message.original.partition, message.original.offset) == (
        "accord.plans.events",
        5,
        41,
    )
    assert message.original_headers == [("traceparent", b"00-abc")]


def test_a_selection_narrows_by_offsets_reason_and_group() -> None:
    message = _parked(7, "handler failed 5 times: KeyError", "accord-notifications")

    assert Selection().matches(message)
    assert Selection(first_offset=5, last_offset=7).matches(message)
    assert not Selection(first_offset=8, last_offset=9).matches(message)
    assert Selection(reason="KeyError").matches(message)
    assert not Selection(reason="malformed").matches(message)
    assert not Selection(group="accord-plans").matches(message)


def test_coordinates_are_read_as_printed() -> None:
    assert parse_where("accord.plans.events.dlt/3/12") == ("accord.plans.events.dlt", 3, 12)
    with pytest.raises(ValueError, match="not <topic>/<partition>/<offset>"):
        parse_where("accord.plans.events.dlt/3")
    assert cli._offsets("12") == (12, 12)
    assert cli._offsets("12-20") == (12, 20)


@pytest.mark.parametrize(
    "argv",
    [
        ["dlt", "list", "accord.plans.events.dlt", "--offset", "20-12", "--partition", "1"],
        ["dlt", "show", "accord.plans.events.dlt/x/1"],
        ["groups", "--timeout", "0"],
        ["outbox", "--service", "nobody"],
    ],
)
def test_bad_arguments_are_bad_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.run(argv)
    assert exit_.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_offsets_without_a_partition_are_refused_before_the_broker_is_asked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens there: reaching the broker would be exit status 1, not 2.
    monkeypatch.setenv("ACCORD_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")

    status = cli.run(["dlt", "redrive", "accord.plans.events.dlt", "--offset", "3", "--yes"])

    assert status == 2
    assert "--offset needs --partition" in capsys.readouterr().err
