"""Each webhook attempt is counted under one bounded outcome."""

import pytest

from services.notifications.metrics import ATTEMPT_OUTCOMES, attempt_outcome
from services.notifications.webhooks.domain import AttemptResult


@pytest.mark.parametrize(
    ("status_code", "outcome"),
    [
        (200, "succeeded"),
        (204, "succeeded"),
        (410, "gone"),
        (503, "unavailable"),
        (429, "unavailable"),
        (500, "error_status"),
        (400, "error_status"),
        (None, "no_answer"),
    ],
)
def test_an_attempt_has_one_outcome(status_code: int | None, outcome: str) -> None:
    assert attempt_outcome(AttemptResult(status_code=status_code)) == outcome
    assert outcome in ATTEMPT_OUTCOMES
