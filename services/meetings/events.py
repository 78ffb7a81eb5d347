"""The events the meetings service publishes: ``outbox`` stages them in the outbox of the
current transaction (the relay publishes what commits), and the functions below build each
public contract from the meeting's rows.

Every meetings event is keyed by its meeting id, so one meeting's events stay in order.
"""

import uuid
from datetime import datetime

from services.meetings import domain, orm
from shared.contracts import meetings as contracts
from shared.events import EventContract
from shared.outbox import Outbox
from shared.topics import MEETINGS_EVENTS

outbox = Outbox(table=orm.outbox, topic=MEETINGS_EVENTS, source=contracts.SOURCE, key="meeting_id")


def subject(meeting_id: uuid.UUID) -> str:
    """The CloudEvents subject of a meeting's events."""
    return f"meetings/{meeting_id}"


def scheduled(meeting: orm.Meeting) -> contracts.MeetingScheduled:
    return contracts.MeetingScheduled(
        meeting_id=meeting.id,
        series=meeting.series,
        title=meeting.title,
        level=meeting.level,
        format=meeting.format,
        starts_at=meeting.starts_at,
        ends_at=meeting.ends_at,
        timezone=meeting.timezone,
        place=meeting.place,
        co_chairs=[contracts.CoChair.model_validate(c) for c in meeting.co_chairs],
        participants=[p.delegation for p in meeting.participants],
        plans_under_review=[p.plan_id for p in meeting.plans],
    )


def postponed(meeting: orm.Meeting, postponement: orm.Postponement) -> contracts.MeetingPostponed:
    return contracts.MeetingPostponed(
        meeting_id=meeting.id,
        series=meeting.series,
        title=meeting.title,
        old_starts_at=postponement.old_starts_at,
        starts_at=postponement.new_starts_at,
        ends_at=postponement.new_ends_at,
        timezone=meeting.timezone,
        reason=postponement.reason,
    )


def lifecycle_changed(meeting: orm.Meeting, at: datetime) -> EventContract:
    common = {
        "meeting_id": meeting.id,
        "series": meeting.series,
        "title": meeting.title,
        "starts_at": meeting.starts_at,
        "timezone": meeting.timezone,
        "at": at,
    }
    status = domain.MeetingStatus(meeting.status)
    if status is domain.MeetingStatus.IN_PROGRESS:
        return contracts.MeetingStarted(**common)
    if status is domain.MeetingStatus.CONCLUDED:
        attendance = [
            contracts.Attendee(delegation=p.delegation, attendance=p.attendance)
            for p in meeting.participants
        ]
        return contracts.MeetingConcluded(
            **common, attendance=attendance, plans_under_review=[p.plan_id for p in meeting.plans]
        )
    return contracts.MeetingCancelled(**common, reason=meeting.cancellation_reason)


def decision_adopted(meeting: orm.Meeting, decision: orm.Decision) -> contracts.DecisionAdopted:
    return contracts.DecisionAdopted.model_validate(
        {
            "meeting_id": meeting.id,
            "series": meeting.series,
            "meeting_title": meeting.title,
            "meeting_date": domain.meeting_date(meeting.starts_at, meeting.timezone),
            "decision_id": decision.id,
            "title": decision.title,
            "body": decision.body,
            "adopted_at": decision.adopted_at,
        }
    )


def commitment_fulfilled(decision: orm.Decision) -> contracts.CommitmentFulfilled:
    assert decision.party is not None and decision.fulfilled_on is not None
    return contracts.CommitmentFulfilled(
        meeting_id=decision.meeting_id,
        decision_id=decision.id,
        party=decision.party,
        text=decision.body["text"],
        fulfilled_on=decision.fulfilled_on,
    )
