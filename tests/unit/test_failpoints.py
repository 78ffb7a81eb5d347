import signal
import subprocess
import sys

import pytest
from pydantic import ValidationError

from shared import failpoints
from shared.config import CommonSettings


def test_a_spec_names_failpoints_with_an_optional_count() -> None:
    assert failpoints.parse("outbox.after_ack:3, dispatcher.after_response") == {
        "outbox.after_ack": 3,
        "dispatcher.after_response": 1,
    }
    assert failpoints.parse("") == {}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("outbox.after_acks", "unknown failpoint"),
        ("outbox.after_ack:0", "at least 1"),
        ("outbox.after_ack:x", "not a count"),
    ],
)
def test_a_typo_is_refused_rather_than_testing_nothing(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        failpoints.parse(spec)
    with pytest.raises(ValidationError, match=message):
        CommonSettings(failpoints=spec)


def test_production_refuses_failpoints() -> None:
    with pytest.raises(ValidationError, match="refused in production"):
        CommonSettings(
            environment="production",
            jwt_secret="a-real-secret-from-the-vault-0123",
            failpoints="outbox.after_ack",
        )


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", f"from shared import failpoints\n{code}\nprint('survived')"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_armed_failpoint_kills_the_process_the_nth_time_it_is_reached() -> None:
    died = _run(
        "failpoints.arm('outbox.after_ack:3')\nfor _ in range(3): failpoints.reach('outbox.after_ack')"
    )
    assert died.returncode == -signal.SIGKILL
    assert "survived" not in died.stdout
    lived = _run(
        "failpoints.arm('outbox.after_ack:3')\nfor _ in range(2): failpoints.reach('outbox.after_ack')"
    )
    assert lived.returncode == 0, lived.stderr
    assert "survived" in lived.stdout


def test_a_failpoint_not_armed_does_nothing() -> None:
    result = _run(
        "failpoints.arm('dispatcher.after_response')\nfailpoints.reach('outbox.after_ack')"
    )
    assert result.returncode == 0, result.stderr
