"""Which webhooks each delegation must receive in the demo story, derived from the cast's
follows and the plan's data alone (never from the notifications service's own matching), and
the same short key for a webhook actually received, so that the two can be compared."""

from typing import Any

from deploy.demo import cast
from deploy.demo import plan_2016_2020 as plan


def line_key(code: str, status: str) -> str:
    return f"line {code} {status}"


def key_of(body: dict[str, Any]) -> str:
    """A short, readable key for a webhook body (``{"type", "data", ...}``)."""
    kind, data = str(body.get("type", "")), body.get("data") or {}
    if kind.endswith(".action_line.status_changed"):
        return line_key(str(data.get("code")), str(data.get("new_status")))
    if kind.startswith("org.accord.plans.plan."):
        return f"plan {data.get('code')} {data.get('new_status')}"
    if kind.endswith(".decision.adopted"):
        return f"decision {data.get('title')}"
    return kind


def _matches(follow: cast.Follow, line: plan.Line) -> bool:
    if "action_line.status_changed" not in follow.event_types:
        return False
    if follow.statuses and line.review_status not in follow.statuses:
        return False
    if follow.kind == "plan":
        return True
    if follow.kind == "tag":
        return follow.key in line.area.tags
    if follow.kind == "section":
        return line.under(follow.key)
    return False


_MEETINGS = {spec.series: spec for spec in (cast.CPR, cast.MINISTERIAL_MEETING)}


def expected_keys(delegation: str) -> set[str]:
    """Every webhook the delegation must receive, once each, by the end of the story."""
    keys: set[str] = set()
    for follow in cast.follows_of(delegation):
        if "webhook" in (follow.channels or ("webhook",)) and follow.cadence == "immediate":
            keys |= _follow_keys(follow)
    return keys


def _follow_keys(follow: cast.Follow) -> set[str]:
    if follow.kind == "meeting_series":
        return {f"decision {d.title}" for d in _MEETINGS[follow.key].decisions}
    keys = {line_key(x.code, x.review_status) for x in plan.LINES if _matches(follow, x)}
    if follow.kind == "plan" and "org.accord.plans.plan.*" in follow.event_types:
        # The plan was active before anyone subscribed; the successor supersedes it.
        keys.add(f"plan {plan.CODE} superseded")
    return keys


def expected_counts() -> dict[str, int]:
    return {code: len(expected_keys(code)) for code in cast.DELEGATIONS}


DAILY_DIGEST = "daily digest"


def _wants(contact: cast.Contact, types: list[str]) -> bool:
    """Whether a contact wants a notice of one of ``types`` (its wishes are type patterns,
    like ``org.accord.notifications.*``, or a type's suffix)."""
    if not contact.event_types:
        return True
    return any(
        t.startswith(p[:-1]) if p.endswith("*") else t == p or t.endswith("." + p)
        for p in contact.event_types
        for t in types
    )


def expected_email_keys(delegation: str, contact: cast.Contact) -> set[str]:
    """Every notice the contact must get by email, once each: what the delegation's
    immediate follows with the email channel tell, that the contact wants, and one daily
    digest if it follows something by email in a digest and wants digests (the story plays
    within one day: what is held after the first digest waits for the next)."""
    keys: set[str] = set()
    for follow in cast.follows_of(delegation):
        if "email" not in follow.channels:
            continue
        if follow.cadence == "daily_digest":
            if _wants(contact, ["org.accord.notifications.digest.ready"]):
                keys.add(DAILY_DIGEST)
        elif _wants(contact, [f"org.accord.x.{e}" for e in follow.event_types]):
            keys |= _follow_keys(follow)
    return keys
