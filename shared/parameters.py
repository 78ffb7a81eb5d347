"""Path and query parameters the database could not store are refused before any route runs.

PostgreSQL text holds neither NUL characters nor lone surrogates. In a body they are refused
by the request models (``shared.schemas.RequestModel``); in a path or query parameter a plain
``str`` would reach a ``WHERE`` clause and fail there with a 500. This dependency, installed
on every route by ``create_app``, answers 422 naming each parameter at fault
(``query.tag``, ``path.code``) instead.

It reads the raw bytes, not Starlette's decoded values: Starlette decodes percent-escapes
that are not UTF-8 (``%ED%A0%80``, a UTF-8-encoded surrogate; ``%FF``) to U+FFFD without a
word, which would hide from the caller that what was received is not what was sent.
"""

import re
from urllib.parse import unquote, unquote_to_bytes

from fastapi import Request
from starlette.routing import Route

from shared.problems import FieldError, Unprocessable

# Anything that is not text PostgreSQL can store: NUL, and the surrogates that bytes which
# are not UTF-8 become under ``surrogateescape`` (and lone surrogates themselves).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_MESSAGE = "must not contain NUL characters or bytes that are not UTF-8 text"


def unstorable(text: str) -> bool:
    return _UNSTORABLE.search(text) is not None


def _decoded(raw: bytes) -> str:
    """Percent-decoded text in which bytes that are not UTF-8 stay visible as surrogates."""
    return unquote_to_bytes(raw).decode("utf-8", errors="surrogateescape")


def _query_faults(query_string: bytes) -> list[FieldError]:
    faults = []
    for pair in query_string.split(b"&"):
        raw_name, _, raw_value = pair.replace(b"+", b" ").partition(b"=")
        name, value = _decoded(raw_name), _decoded(raw_value)
        if unstorable(name):
            faults.append(FieldError(field="query", message=_MESSAGE + " (in a parameter name)"))
        elif unstorable(value):
            faults.append(FieldError(field=f"query.{name}", message=_MESSAGE))
    return faults


def _path_faults(request: Request) -> list[FieldError]:
    route = request.scope.get("route")
    raw_path = request.scope.get("raw_path")
    if not isinstance(route, Route) or not isinstance(raw_path, bytes):
        return []
    # Match the route's own pattern against the raw path decoded our way, so that each
    # parameter is seen as it was sent. (The pattern matches decoded text: escapes that are
    # not UTF-8 decode to one surrogate per byte, still inside one segment.)
    path = unquote(raw_path.split(b"?", 1)[0].decode("latin-1"), errors="surrogateescape")
    match = route.path_regex.match(path)
    if match is None:
        return []
    return [
        FieldError(field=f"path.{name}", message=_MESSAGE)
        for name, value in match.groupdict().items()
        if unstorable(value)
    ]


async def refuse_unstorable_parameters(request: Request) -> None:
    faults = _path_faults(request) + _query_faults(request.scope.get("query_string", b""))
    if faults:
        fields = ", ".join(f.field for f in faults)
        raise Unprocessable(f"parameters that are not storable text: {fields}", errors=faults)
