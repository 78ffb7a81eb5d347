"""Title and body of an inbox entry, rendered from an event (no I/O).

``names`` maps ids to human names from the read model (plan titles, line texts), so that an
entry reads "ASEAN-UN Plan of Action 2016-2020" rather than a UUID; an unknown id falls back
to what the event itself carries.
"""

from collections.abc import Mapping
from typing import Any

Names = Mapping[str, str]


def render(event_type: str, data: Mapping[str, Any], names: Names) -> tuple[str, str]:
    kind = event_type.rsplit(".", 2)[-2:]
    renderer = _RENDERERS.get(".".join(kind), _generic)
    title, body = renderer(data, names)
    return title[:300], body[:4000]


def _plan(data: Mapping[str, Any], names: Names) -> str:
    return names.get(str(data.get("plan_id")), str(data.get("title") or data.get("plan_id")))


def _status_changed(data: Mapping[str, Any], names: Names) -> tuple[str, str]:
    old, new = (str(data[k]).replace("_", " ") for k in ("old_status", "new_status"))
    title = f"Action line {data['code']}: {old} -> {new}"
    body = f"{_plan(data, names)}: action line {data['code']}"
    if text := names.get(str(data.get("action_line_id"))):
        body += f" ({text})"
    body += f" is now {new} (was {old}), effective {data.get('effective_date')}."
    if data.get("note"):
        body += f" Note: {data['note']}"
    return title, body


def _line_created(data: Mapping[str, Any], names: Names) -> tuple[str, str]:
    return (
        f"New action line {data['code']}",
        f"{_plan(data, names)}: {data.get('text', '')}",
    )


def _line_updated(data: Mapping[str, Any], names: Names) -> tuple[str, str]:
    return (
        f"Action line {data['code']} updated",
        f"{_plan(data, names)}: {data.get('text', '')}",
    )


def _plan_lifecycle(verb: str) -> Any:
    def render_it(data: Mapping[str, Any], names: Names) -> tuple[str, str]:
        title = f"Plan {verb}: {data.get('title') or _plan(data, names)}"
        return title, f"The plan {data.get('code', '')} is now {data.get('new_status', verb)}."

    return render_it


def _plan_created(data: Mapping[str, Any], names: Names) -> tuple[str, str]:
    return f"New plan: {data['title']}", f"The plan {data['code']} was created as a draft."


def _rollup(data: Mapping[str, Any], names: Names) -> tuple[str, str]:
    before, after = data["before"], data["after"]
    scope = f"{data['scope_kind']} {names.get(str(data['scope_key']), data['scope_key'])}"
    return (
        f"Progress of {_plan(data, names)}: {after['completion_rate']:.1%} completed",
        f"{scope}: {after['completed']:g} of {after['counted']:g} completed "
        f"(was {before['completed']:g} of {before['counted']:g}).",
    )


def _meeting(verb: str) -> Any:
    def render_it(data: Mapping[str, Any], names: Names) -> tuple[str, str]:
        when = data.get("starts_at", "")
        return f"Meeting {verb}: {data['title']}", f"{data['series']}, starting {when}."

    return render_it


def _decision(data: Mapping[str, Any], names: Names) -> tuple[str, str]:
    return (
        f"Decision adopted: {data['title']}",
        f"At {data['meeting_title']} on {data['meeting_date']}: {data['body'].get('kind')}.",
    )


def _endpoint_disabling_soon(data: Mapping[str, Any], names: Names) -> tuple[str, str]:
    return (
        "A webhook endpoint will be disabled",
        f"Deliveries to {data['url']} have failed since {data['failing_since']}; "
        f"the endpoint will be disabled at {data['disable_at']} unless one succeeds.",
    )


def _endpoint_disabled(data: Mapping[str, Any], names: Names) -> tuple[str, str]:
    return (
        "A webhook endpoint was disabled",
        f"Deliveries to {data['url']} stopped ({data['reason']}). Re-enable it and recover "
        f"what it missed with POST /endpoints/{data['endpoint_id']}/recover.",
    )


def _generic(data: Mapping[str, Any], names: Names) -> tuple[str, str]:
    return "Update", ", ".join(f"{k}: {v}" for k, v in list(data.items())[:8])


_RENDERERS = {
    "action_line.status_changed": _status_changed,
    "action_line.created": _line_created,
    "action_line.updated": _line_updated,
    "plan.created": _plan_created,
    "plan.submitted": _plan_lifecycle("submitted"),
    "plan.approved": _plan_lifecycle("approved"),
    "plan.activated": _plan_lifecycle("activated"),
    "plan.completed": _plan_lifecycle("completed"),
    "plan.superseded": _plan_lifecycle("superseded"),
    "rollup.changed": _rollup,
    "meeting.scheduled": _meeting("scheduled"),
    "meeting.postponed": _meeting("postponed"),
    "meeting.started": _meeting("started"),
    "meeting.concluded": _meeting("concluded"),
    "meeting.cancelled": _meeting("cancelled"),
    "decision.adopted": _decision,
    "endpoint.disabling_soon": _endpoint_disabling_soon,
    "endpoint.disabled": _endpoint_disabled,
}
