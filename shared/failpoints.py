"""Failpoints: named places on the delivery path where a test can make this process die on the
spot, to prove that the step after them is recovered (docs/reliability.md, "What the fault
suite checks"). The window between a broker's ack and the outbox's "published" mark, say, lasts
microseconds: a SIGKILL sent from outside almost never lands in it, a failpoint always does.

Off unless ``ACCORD_FAILPOINTS`` names some: ``outbox.after_ack:5`` kills the process the 5th
time it gets there (``outbox.after_ack`` alone: the first time); several are separated by
commas. The kill is a SIGKILL to itself: no cleanup, no graceful close, as in a power cut.
Production refuses the setting (``shared.config``).
"""

import os
import signal

import structlog

log = structlog.get_logger(__name__)

# The relay has every ack of a batch from the broker and has not yet marked the rows published.
OUTBOX_AFTER_ACK = "outbox.after_ack"
# A consumer committed a batch's effects to its database and has not yet committed the offsets.
CONSUMER_AFTER_DB_COMMIT = "consumer.after_db_commit"
# The dispatcher has a receiver's answer and has not yet recorded the attempt.
DISPATCHER_AFTER_RESPONSE = "dispatcher.after_response"

# The SMTP server accepted an email and its delivery is not recorded as sent yet.
EMAIL_AFTER_ACCEPTED = "email.after_accepted"

KNOWN = frozenset(
    {OUTBOX_AFTER_ACK, CONSUMER_AFTER_DB_COMMIT, DISPATCHER_AFTER_RESPONSE, EMAIL_AFTER_ACCEPTED}
)

# failpoint -> how many more times it may be reached before the process dies.
_armed: dict[str, int] = {}


def parse(spec: str) -> dict[str, int]:
    """``"a:3,b"`` -> ``{"a": 3, "b": 1}``; unknown names and counts below 1 are refused, so a
    typo cannot leave a fault test silently testing nothing."""
    armed: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, count = item.partition(":")
        if name not in KNOWN:
            raise ValueError(f"unknown failpoint {name!r}; known: {', '.join(sorted(KNOWN))}")
        try:
            times = int(count) if count else 1
        except ValueError:
            raise ValueError(f"failpoint {name!r}: {count!r} is not a count") from None
        if times < 1:
            raise ValueError(f"failpoint {name!r}: the count must be at least 1")
        armed[name] = times
    return armed


def arm(spec: str) -> None:
    _armed.clear()
    _armed.update(parse(spec))
    if _armed:
        log.warning("failpoints_armed", failpoints=_armed)


def reach(name: str) -> None:
    """Called at the failpoint ``name``: nothing happens unless it is armed."""
    remaining = _armed.get(name)
    if remaining is None:
        return
    if remaining > 1:
        _armed[name] = remaining - 1
        return
    log.warning("failpoint_reached", failpoint=name)
    os.kill(os.getpid(), signal.SIGKILL)
