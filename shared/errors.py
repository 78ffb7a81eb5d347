"""What a command can refuse, in the domain's own words (no HTTP here).

Command functions raise these whatever called them, a route or a consumer. The API turns
them into RFC 9457 problems in one place (``shared.problems``); a consumer records or
publishes the refusal. Each service's domain errors derive from these four.
"""

from collections.abc import Sequence


class DomainError(Exception):
    """A rule of the domain was broken; the message says which, in words a user can read."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The command names something that does not exist. ``field`` is set when the name came
    from one of the command's fields (a reference to another object), not from the address of
    the object the command acts on."""

    def __init__(self, what: str, ident: object, *, field: str | None = None) -> None:
        super().__init__(f"{what} {ident} does not exist")
        self.field = field


class Conflict(DomainError):
    """The object is not in a state that allows this; ``allowed`` lists what it does allow."""

    def __init__(self, message: str, *, allowed: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.allowed = list(allowed) if allowed is not None else None


class CapReached(Conflict):
    """An owner already holds as many objects of a kind as the operator allows; ``cap`` names
    the cap, ``limit`` is its value. Removing one makes room."""

    def __init__(self, what: str, *, cap: str, limit: int) -> None:
        super().__init__(f"{what}: the cap of {limit} ({cap}) is reached; remove one first")
        self.cap = cap
        self.limit = limit


class Invalid(DomainError):
    """A value of the command breaks a rule; ``field`` is its dotted path in the command."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Stale(DomainError):
    """The caller changed a version that is no longer the current one."""

    def __init__(self, what: str, *, expected: int, current: int) -> None:
        super().__init__(f"version {expected} was expected but {what} is at version {current}")
        self.expected = expected
        self.current = current
