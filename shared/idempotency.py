"""``Idempotency-Key`` on every POST: a client may send a request again without fear.

The first request with a key (per caller: the token's subject) claims it; its answer is kept
with the key, and every later request with the same key and the same body gets that answer
again (status, body, ``Location``, ``ETag``, ``Content-Type``, ``Cache-Control``) with
``Idempotency-Replayed: true``, without running anything. The same key with another request
(another body, path or query) is refused with a 422 naming ``header.idempotency-key``. A
request arriving while the first one with its key is still running is answered 409 with
``Retry-After: 1``: it never waits on a lock, and there is never a second effect.

How "one effect" holds even if a process dies (docs/decisions/0023):

- the claim is its own committed row, with a random claim token, before the route runs;
- the route's transaction (``shared.http.unit_of_work``) marks the claim ``effect_committed``
  *in the same transaction as the change*, and only if the claim is still its own: a request
  whose claim was taken over finds the row changed, and its change is rolled back (409);
- after the route, its answer is recorded with the key; an answer of 500 or more whose change
  never committed releases the key instead, so that a retry runs again;
- a claim left pending longer than ``LEASE`` by a process that died before committing can be
  taken over by the next request with the key; one that committed and died before recording
  its answer is answered, once its lease is over, 409 with the time of the change: the effect
  happened once, and the client looks the result up.

Keys are kept ``ACCORD_IDEMPOTENCY_KEY_SECONDS`` (24 h by default) from their first use; an
expired key is free again, and ``purge_expired`` (run by every service every
``PURGE_INTERVAL``) deletes them.
"""

import asyncio
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from fastapi import Request
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    and_,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.problems import (
    Conflict,
    FieldError,
    Problem,
    Unprocessable,
)
from shared.tokens import TokenVerifier

log = structlog.get_logger(__name__)

HEADER = "idempotency-key"
FIELD = "header.idempotency-key"
REPLAYED_HEADER = "idempotency-replayed"
MAX_KEY_LENGTH = 255
# A claim older than this whose change never committed belongs to a request that died.
LEASE = timedelta(minutes=2)
PURGE_INTERVAL = 600.0
# The answer's headers that are part of it; the others (request id, date) are the replay's own.
KEPT_HEADERS = frozenset({b"content-type", b"location", b"etag", b"cache-control"})
# Where the claim travels from the dependency to the middleware and the unit of work.
STATE_KEY = "idempotency_claim"


def idempotency_table(metadata: MetaData) -> Table:
    return Table(
        "idempotency_keys",
        metadata,
        Column("subject", String(200), nullable=False),
        Column("key", String(MAX_KEY_LENGTH), nullable=False),
        Column("fingerprint", String(64), nullable=False),
        Column("claim", String(32), nullable=False),
        Column("claimed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("effect_committed", Boolean, nullable=False, server_default="false"),
        Column("status_code", Integer, nullable=True),
        Column("response_headers", JSONB, nullable=True),
        Column("response_body", LargeBinary, nullable=True),
        Column("expires_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("subject", "key", name="pk_idempotency_keys"),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )


@dataclass(frozen=True)
class Claim:
    table: Table
    subject: str
    key: str
    token: str


@dataclass(frozen=True)
class Stored:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class Replay(Exception):
    """Raised by the dependency to answer with the first request's answer."""

    def __init__(self, stored: Stored) -> None:
        super().__init__("replay")
        self.stored = stored


class StillRunning(Conflict):
    def __init__(self) -> None:
        super().__init__(
            "a request with this Idempotency-Key is still being processed; send it again later",
            errors=[FieldError(field=FIELD, message="in use by a request still running")],
            headers={"Retry-After": "1"},
        )


class AnswerWithheld(Conflict):
    def __init__(self, committed_at: datetime) -> None:
        super().__init__(
            f"the request with this Idempotency-Key took effect (at {committed_at.isoformat()}); "
            "its answer held a secret, which is shown once and not kept: look the result up "
            "instead of sending it again",
            errors=[FieldError(field=FIELD, message="took effect; answer held a secret")],
        )


def _holds_a_secret(headers: list[tuple[str, str]]) -> bool:
    """An answer marked ``Cache-Control: no-store`` carries a secret (a webhook signing
    secret): it is never written to the keys' table, which is not encrypted."""
    return any(
        name.lower() == "cache-control" and "no-store" in value.lower() for name, value in headers
    )


class AnswerLost(Conflict):
    def __init__(self, committed_at: datetime) -> None:
        super().__init__(
            f"the request with this Idempotency-Key took effect (at {committed_at.isoformat()}) "
            "but its answer was not recorded; look the result up instead of sending it again",
            errors=[FieldError(field=FIELD, message="took effect; answer not recorded")],
        )


def _problem_for_other_request() -> Problem:
    message = "this Idempotency-Key was used for another request (method, path, query or body)"
    return Unprocessable(message, errors=[FieldError(field=FIELD, message=message)])


def _key(request: Request) -> str | None:
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    # RFC draft: a Structured Field string ("..."); a bare token is accepted too.
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not 0 < len(key) <= MAX_KEY_LENGTH or not all(0x21 <= ord(c) <= 0x7E for c in key):
        message = f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} visible ASCII characters"
        raise Unprocessable(message, errors=[FieldError(field=FIELD, message=message)])
    return key


async def _subject(request: Request) -> str | None:
    """Keys are the caller's own: its subject with its role and delegation, so that a token
    of another role issued to the same subject never replays an answer it may not see. Without
    a valid token there is nothing to scope them by: the route's own authentication refuses
    the request anyway."""
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        verifier: TokenVerifier = request.app.state.token_verifier
        principal = await verifier.verify(token.strip())
    except Problem:
        return None
    # The route's own authentication takes it from here instead of checking the token again.
    request.state.verified_token = (token.strip(), principal)
    subject = f"{principal.role.value}:{principal.delegation or ''}:{principal.subject}"
    # The column's width: a longer subject (tokens are ours, so only in theory) by its digest.
    return subject if len(subject) <= 200 else hashlib.sha256(subject.encode()).hexdigest()


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """What makes two requests "the same": method, path, query and body; a JSON body by its
    content (key order and spacing do not matter)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError, RecursionError):
        canonical = body
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


async def claim_key(request: Request) -> None:
    """A dependency of every route (``create_app``): acts on a POST with ``Idempotency-Key``.
    Claims the key, or answers with what its first use answered (``Replay``), or refuses."""
    if request.method != "POST":
        return
    key = _key(request)
    subject = await _subject(request) if key is not None else None
    if key is None or subject is None:
        return
    table: Table = request.app.state.idempotency_table
    retention = timedelta(seconds=request.app.state.idempotency_key_seconds)
    print_ = fingerprint(request.method, request.url.path, request.url.query, await request.body())
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    result: Claim | Stored | Problem | None = None
    while result is None:
        async with sessions() as session, session.begin():
            result = await claim(session, table, subject, key, print_, retention)
    if isinstance(result, Claim):
        setattr(request.state, STATE_KEY, result)
        return
    if isinstance(result, Stored):
        raise Replay(result)
    raise result


async def claim(
    session: AsyncSession,
    table: Table,
    subject: str,
    key: str,
    print_: str,
    retention: timedelta,
) -> Claim | Stored | Problem | None:
    """Claim ``key`` for a new request, or say what to answer instead; None when the key's
    row went away meanwhile (a failed request released it): try again."""
    token = secrets.token_hex(16)
    now = datetime.now(UTC)
    fresh = {
        "subject": subject,
        "key": key,
        "fingerprint": print_,
        "claim": token,
        "claimed_at": now,
        "effect_committed": False,
        "status_code": None,
        "response_headers": None,
        "response_body": None,
        "expires_at": now + retention,
    }
    inserting = insert(table).values(fresh)
    # An expired key is free again, whatever it held.
    statement = inserting.on_conflict_do_update(
        constraint="pk_idempotency_keys",
        set_={name: inserting.excluded[name] for name in fresh if name not in ("subject", "key")},
        where=table.c.expires_at <= now,
    ).returning(table.c.claim)
    if (await session.execute(statement)).scalar_one_or_none() == token:
        return Claim(table, subject, key, token)
    row = (
        await session.execute(
            select(table).where(table.c.subject == subject, table.c.key == key).with_for_update()
        )
    ).one_or_none()
    if row is None:
        return None
    if row.fingerprint != print_:
        return _problem_for_other_request()
    if row.status_code is not None:
        headers = [(name, value) for name, value in row.response_headers]
        if row.response_body is None and _holds_a_secret(headers):
            return AnswerWithheld(row.claimed_at)
        return Stored(row.status_code, headers, row.response_body)
    if row.claimed_at > now - LEASE:
        # Running, even when its change has committed: it records its answer in a
        # transaction of its own afterwards, and a retry in between must come back for it.
        return StillRunning()
    if row.effect_committed:
        return AnswerLost(row.claimed_at)
    # Its request died before its change committed: take the key over.
    await session.execute(
        update(table)
        .where(table.c.subject == subject, table.c.key == key)
        .values(claim=token, claimed_at=now)
    )
    return Claim(table, subject, key, token)


async def mark_effect(session: AsyncSession, claim_: Claim) -> None:
    """In the change's own transaction: the change is this claim's, once only. A request
    whose claim was taken over (it outlived its lease) must not commit a second effect."""
    marked = await session.execute(
        update(claim_.table)
        .where(
            claim_.table.c.subject == claim_.subject,
            claim_.table.c.key == claim_.key,
            claim_.table.c.claim == claim_.token,
        )
        .values(effect_committed=True)
    )
    if marked.rowcount != 1:  # type: ignore[attr-defined]
        raise StillRunning()


async def record(
    sessions: async_sessionmaker[AsyncSession], claim_: Claim, answer: Stored | None
) -> None:
    """Keep the answer of a request whose change committed with the key (without its body
    if it holds a secret); release the key of one whose change never committed, whatever it
    answered (a 429, a 412, a 422 that says to retry, a 500), so that a retry runs again: it
    had no effect to repeat."""
    table = claim_.table
    mine = and_(
        table.c.subject == claim_.subject, table.c.key == claim_.key, table.c.claim == claim_.token
    )
    async with sessions() as session, session.begin():
        await session.execute(delete(table).where(mine, table.c.effect_committed.is_(False)))
        if answer is not None:
            await session.execute(
                update(table)
                .where(mine)
                .values(
                    status_code=answer.status,
                    response_headers=[list(pair) for pair in answer.headers],
                    response_body=None if _holds_a_secret(answer.headers) else answer.body,
                )
            )


class IdempotencyMiddleware:
    """Records the answer of a request that claimed a key (the claim is made by the
    ``claim_key`` dependency, after the body was read with the route's own size limit)
    before the answer's last part is sent: a client that retries as soon as it has the
    answer finds it recorded."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        status = 0
        headers: list[tuple[str, str]] = []
        body = bytearray()
        finished = False

        async def capture(message: Message) -> None:
            nonlocal status, finished
            if message["type"] == "http.response.start":
                status = message["status"]
                headers.extend(
                    (name.decode("latin-1"), value.decode("latin-1"))
                    for name, value in message.get("headers", [])
                    if name.lower() in KEPT_HEADERS
                )
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    finished = True
                    await self._finish(scope, Stored(status, headers, bytes(body)))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        except BaseException:
            if not finished:
                await self._finish(scope, None)
            raise
        if not finished:
            await self._finish(scope, Stored(status, headers, bytes(body)) if status else None)

    async def _finish(self, scope: Scope, answer: Stored | None) -> None:
        claim_: Claim | None = scope.get("state", {}).get(STATE_KEY)
        if claim_ is None:
            return
        try:
            await record(scope["app"].state.sessions, claim_, answer)
        except Exception as exc:
            # The change stands; the key stays pending (a retry is told the answer was lost).
            log.warning("idempotency_answer_not_recorded", error=f"{type(exc).__name__}: {exc}")


async def purge_expired(session: AsyncSession, table: Table) -> int:
    result = await session.execute(delete(table).where(table.c.expires_at <= func.now()))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def purge_forever(sessions: async_sessionmaker[AsyncSession], table: Table) -> None:
    while True:
        try:
            async with sessions() as session, session.begin():
                purged = await purge_expired(session, table)
            if purged:
                log.info("idempotency_keys_purged", count=purged)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("idempotency_purge_failed", error=f"{type(exc).__name__}: {exc}")
        await asyncio.sleep(PURGE_INTERVAL)


def replay_response(stored: Stored) -> Response:
    response = Response(content=stored.body, status_code=stored.status)
    for name, value in stored.headers:
        response.headers.append(name, value)
    response.headers[REPLAYED_HEADER] = "true"
    return response


async def on_replay(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Replay)
    return replay_response(exc.stored)


def document_idempotency(openapi: dict[str, Any]) -> dict[str, Any]:
    """Every POST takes the header: say so in the OpenAPI document."""
    parameter = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Send the request again with the same key to get the first answer "
        "again instead of a second effect (kept 24 h, per caller). The same key with another "
        "body is a 422; while the first request runs, a 409 with `Retry-After`. A replayed "
        "answer carries `Idempotency-Replayed: true`.",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    }
    for operations in openapi.get("paths", {}).values():
        operation = operations.get("post")
        if operation is not None:
            operation.setdefault("parameters", []).append(parameter)
    return openapi
