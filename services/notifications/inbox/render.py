"""Title and body of an inbox entry, rendered from an event's contract (no I/O).

``names`` maps ids to human names from the read model (plan titles, line texts), so that an
entry reads "ASEAN-UN Plan of Action 2016-2020" rather than a UUID; an unknown id falls back
to what the event itself carries. Times read as they do in the event's JSON.
"""

import uuid
from collections.abc import Mapping

from pydantic_core import to_jsonable_python

from services.notifications.intake.context import NoticeContext
from shared import rounding
from shared.contracts import meetings, notifications, plans
from shared.events import EventContract

Names = Mapping[str, str]

_PLAN_VERBS: dict[type[plans.PlanLifecycleChanged], str] = {
    plans.PlanSubmitted: "submitted",
    plans.PlanApproved: "approved",
    plans.PlanActivated: "activated",
    plans.PlanCompleted: "completed",
    plans.PlanSuperseded: "superseded",
}
_MEETING_VERBS: dict[type[EventContract], str] = {
    meetings.MeetingScheduled: "scheduled",
    meetings.MeetingPostponed: "postponed",
    meetings.MeetingStarted: "started",
    meetings.MeetingConcluded: "concluded",
    meetings.MeetingCancelled: "cancelled",
}


def render(
    event: EventContract, names: Names, about: NoticeContext | None = None
) -> tuple[str, str]:
    """``about`` (when the intake has it) adds who made a change and the figures after it."""
    title, body = _render(event, names, about or NoticeContext())
    return title[:300], body[:4000]


def _render(event: EventContract, names: Names, about: NoticeContext) -> tuple[str, str]:
    match event:
        case plans.ActionLineStatusChanged():
            title, body = _status_changed(event, names)
            return title, body + _who(about) + _figures(about)
        case meetings.DecisionAdopted(body=meetings.Commitment() as commitment):
            due = f" by {commitment.due_date}" if commitment.due_date else ""
            return (
                f"Commitment by {commitment.party}: {commitment.text}"[:300],
                f"At {event.meeting_title} on {event.meeting_date}, {commitment.party} committed "
                f"to: {commitment.text}{due}.",
            )
        case plans.ActionLineCreated():
            return f"New action line {event.code}", f"{_plan(event.plan_id, names)}: {event.text}"
        case plans.ActionLineUpdated():
            title = f"Action line {event.code} updated"
            return title, f"{_plan(event.plan_id, names)}: {event.text}"
        case plans.ActionLineHistoryCorrected():
            title = f"Action line {event.code}: history corrected"
            status = event.status.replace("_", " ")
            return title, (
                f"{_plan(event.plan_id, names)}: the change of action line {event.code} to "
                f"{status} took effect on {event.new_effective_date}, not "
                f"{event.old_effective_date}. Reason: {event.reason}"
            )
        case plans.PlanCreated():
            return f"New plan: {event.title}", f"The plan {event.code} was created as a draft."
        case plans.PlanLifecycleChanged() if type(event) in _PLAN_VERBS:
            title = f"Plan {_PLAN_VERBS[type(event)]}: {event.title or _plan(event.plan_id, names)}"
            return title, f"The plan {event.code} is now {event.new_status}."
        case plans.RollupsChanged():
            return _rollups(event, names)
        case (
            meetings.MeetingScheduled()
            | meetings.MeetingPostponed()
            | meetings.MeetingLifecycleChanged()
        ) if type(event) in _MEETING_VERBS:
            title = f"Meeting {_MEETING_VERBS[type(event)]}: {event.title}"
            return title, f"{event.series}, starting {_json(event.starts_at)}."
        case meetings.DecisionAdopted():
            return (
                f"Decision adopted: {event.title}",
                f"At {event.meeting_title} on {event.meeting_date}: {event.body.kind}.",
            )
        case notifications.EndpointDisablingSoon():
            return (
                "A webhook endpoint will be disabled",
                f"Deliveries to {event.url} have failed since {_json(event.failing_since)}; "
                f"the endpoint will be disabled at {_json(event.disable_at)} unless one succeeds.",
            )
        case notifications.EndpointDisabled():
            return (
                "A webhook endpoint was disabled",
                f"Deliveries to {event.url} stopped ({event.reason}). Re-enable it and recover "
                f"what it missed with POST /endpoints/{event.endpoint_id}/recover.",
            )
    data = event.model_dump(mode="json")
    return "Update", ", ".join(f"{k}: {v}" for k, v in list(data.items())[:8])


def _plan(plan_id: uuid.UUID, names: Names) -> str:
    return names.get(str(plan_id), str(plan_id))


def _status_changed(event: plans.ActionLineStatusChanged, names: Names) -> tuple[str, str]:
    old, new = (s.replace("_", " ") for s in (event.old_status, event.new_status))
    title = f"Action line {event.code}: {old} -> {new}"
    body = f"{_plan(event.plan_id, names)}: action line {event.code}"
    if text := names.get(str(event.action_line_id)):
        body += f" ({text})"
    body += f" is now {new} (was {old}), effective {event.effective_date}."
    if event.note:
        body += f" Note: {event.note}"
    return title, body


def _who(about: NoticeContext) -> str:
    changed_by = about.changed_by
    if changed_by is None:
        return ""
    if changed_by.meeting is not None:
        return f" Decided at {changed_by.meeting.title}."
    if changed_by.kind == "meeting_decision":
        return " Decided at a meeting."
    return f" Changed by {changed_by.actor}." if changed_by.actor else ""


def _figures(about: NoticeContext) -> str:
    figures = about.plan_figures
    if figures is None or figures.lines == 0:
        return ""
    return f" The plan now has {figures.completed} of {figures.lines} lines completed."


def _rollups(event: plans.RollupsChanged, names: Names) -> tuple[str, str]:
    """Titled by the plan's figures when they moved (else by the first scope's), with a
    sentence for every scope that changed."""
    lead = next((c for c in event.changes if c.scope_kind == "plan"), event.changes[0])
    title = (
        f"Progress of {_plan(event.plan_id, names)}: "
        f"{rounding.percent(lead.after.completed, lead.after.counted):.1f}% completed"
    )
    body = " ".join(
        f"{c.scope_kind} {names.get(c.scope_key, c.scope_key)}: {c.after.completed:g} of "
        f"{c.after.counted:g} completed (was {c.before.completed:g} of {c.before.counted:g})."
        for c in event.changes
    )
    return title, body


def _json(value: object) -> object:
    """A value as the event's JSON spells it (a time as ``2020-09-15T02:00:00Z``)."""
    return to_jsonable_python(value)
