"""Email's rules without a server: what an SMTP answer means for the delivery, the Message-ID
every attempt carries, and times rendered in the delegation's zone."""

from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage

import jinja2
import pytest

from services.notifications.email.domain import (
    SmtpResult,
    after_send,
    message_id,
    new_message_key,
)
from services.notifications.email.render import local_time, render
from services.notifications.webhooks.domain import DeliveryStatus

NOW = datetime(2020, 9, 15, 2, 0, tzinfo=UTC)
SCHEDULE = [0, 5, 300]


@pytest.mark.parametrize(
    "result, tries, status, delay",
    [
        (SmtpResult(), 1, DeliveryStatus.SUCCEEDED, None),
        # The mailbox does not exist: final, at the first try.
        (SmtpResult(550, "no such user", about_message=True), 1, DeliveryStatus.FAILED, None),
        (SmtpResult(554, "rejected", about_message=True), 1, DeliveryStatus.FAILED, None),
        # Greylisting, a full mailbox: later.
        (SmtpResult(451, "try later", about_message=True), 1, DeliveryStatus.PENDING, 5),
        (SmtpResult(452, "full", about_message=True), 2, DeliveryStatus.PENDING, 300),
        # No server, or a refused login: the operator's to fix, so retried, not failed.
        (SmtpResult(None, "connection refused"), 1, DeliveryStatus.PENDING, 5),
        (SmtpResult(535, "bad credentials"), 1, DeliveryStatus.PENDING, 5),
        # The schedule's end.
        (SmtpResult(451, "try later", about_message=True), 3, DeliveryStatus.FAILED, None),
    ],
)
def test_what_an_smtp_answer_means(
    result: SmtpResult, tries: int, status: DeliveryStatus, delay: float | None
) -> None:
    decision = after_send(result, tries, SCHEDULE, NOW)
    assert decision.status is status
    expected = None if delay is None else NOW + timedelta(seconds=delay)
    assert decision.next_attempt_at == expected


def test_every_delivery_has_a_message_id_of_its_own_that_every_attempt_repeats() -> None:
    keys = {new_message_key() for _ in range(1000)}
    assert len(keys) == 1000
    key = keys.pop()
    assert message_id(key, "accord.example") == message_id(key, "accord.example")
    assert message_id(key, "accord.example") == f"<{key}@accord.example>"


@pytest.mark.parametrize(
    "zone, reads",
    [
        ("Asia/Ho_Chi_Minh", "Tuesday 15 September 2020, 09:00 (Asia/Ho_Chi_Minh, UTC+07:00)"),
        ("America/New_York", "Monday 14 September 2020, 22:00 (America/New_York, UTC-04:00)"),
        ("Asia/Yangon", "Tuesday 15 September 2020, 08:30 (Asia/Yangon, UTC+06:30)"),
    ],
)
def test_a_time_reads_in_the_delegations_zone_with_its_offset(zone: str, reads: str) -> None:
    assert local_time(NOW, zone) == reads


def test_the_html_part_escapes_what_the_text_part_keeps() -> None:
    rendered = render(
        "notice",
        "Line 1.2: ongoing -> completed",
        {
            "contact_name": "Lan <Nguyen>",
            "role_label": "ambassador",
            "language": "vi",
            "delegation_name": "Viet Nam",
            "zone": "Asia/Ho_Chi_Minh",
            "title": "Line 1.2: ongoing -> completed",
            "body": "Done <b>early</b>.",
            "effective_date": date(2020, 9, 15),
            "meeting_title": None,
            "meeting_date": None,
            "occurred_at": NOW,
            "received_at": NOW,
        },
    )
    assert "Dear Lan <Nguyen>," in rendered.text
    assert "Done <b>early</b>." in rendered.text
    assert "Effective:  15 September 2020" in rendered.text
    assert "Lan &lt;Nguyen&gt;" in rendered.html
    assert "Done &lt;b&gt;early&lt;/b&gt;." in rendered.html
    assert '<html lang="vi">' in rendered.html


def test_a_value_missing_from_a_template_is_an_error_not_an_empty_line() -> None:
    with pytest.raises(jinja2.UndefinedError, match="contact_name"):
        render("notice", "subject", {})


def test_a_title_with_line_breaks_makes_a_subject_of_one_line_that_a_message_can_carry() -> None:
    """A commitment's text or a meeting's title may hold line breaks; a header cannot (found by
    a review: the message could never be built, and its delivery, claimed again for ever,
    held back every later email of that contact on the same subject)."""
    values = {
        "contact_name": "Lan",
        "role_label": "ambassador",
        "language": "vi",
        "delegation_name": "Viet Nam",
        "zone": "Asia/Ho_Chi_Minh",
        "title": "t",
        "body": "b",
        "effective_date": None,
        "meeting_title": None,
        "meeting_date": None,
        "occurred_at": NOW,
        "received_at": NOW,
    }
    rendered = render("notice", "Commitment by VNM: Draft the plan\nby June\r\n", values)
    assert rendered.subject == "Commitment by VNM: Draft the plan by June"
    message = EmailMessage()
    message["Subject"] = rendered.subject  # raised ValueError with the line break
