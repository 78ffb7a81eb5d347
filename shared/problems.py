"""RFC 9457 problem details: every error any service returns has this shape.

Two kinds of error reach this module: the domain's refusals (``shared.errors``), raised by
command functions that know nothing of HTTP, and the HTTP layer's own problems (``Problem``:
a missing token, a bad header, a forged cursor). One table of exception handlers, installed by
``install_problem_handlers`` (``create_app`` does it for every service), turns both, and
FastAPI's own validation and HTTP errors, into ``application/problem+json`` responses; the
mapping from domain errors to statuses is ``problem_for`` below and nowhere else. Nothing a
client sends may produce a 500: an unexpected exception is logged with its request id and
answered with a generic 500 problem that leaks no detail. The database being away is not
unexpected: it is answered 503 with ``Retry-After``, and logged once when it goes and once
when it is back (``shared.db.DatabaseOutage``), not once per request; a transaction that
PostgreSQL failed to break a deadlock is answered 503 too, to be tried again at once.
"""

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared import errors
from shared.db import DatabaseOutage, is_database_unavailable, is_lost_race
from shared.schemas import FieldFault

log = structlog.get_logger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://accord.example/problems/"
NOSNIFF = ("X-Content-Type-Options", "nosniff")
# How long a client is asked to wait while the database is away.
DATABASE_RETRY_AFTER = 5


class FieldError(BaseModel):
    field: str = Field(description="Where the fault is: 'body.status', 'query.limit', ...")
    message: str


class LimitReached(BaseModel):
    """A rate limit or a cap: its name (``requests_per_address``, ``webhook_endpoints_per_
    delegation``, ...) and its configured value."""

    name: str = Field(examples=["webhook_endpoints_per_delegation"])
    limit: float = Field(examples=[20])


class ProblemDetail(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(examples=[TYPE_BASE + "conflict"])
    title: str = Field(examples=["Conflict"])
    status: int = Field(examples=[409])
    detail: str | None = Field(default=None, examples=["version 3 expected, 4 found"])
    instance: str | None = None
    errors: list[FieldError] | None = None
    allowed: list[str] | None = Field(default=None, description="Allowed next states, for 409s")
    limit: LimitReached | None = Field(
        default=None, description="The rate limit or cap that was reached, for 429s and 409s"
    )


class Problem(Exception):
    status: int = 500
    slug: str = "internal-error"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        allowed: Sequence[str] | None = None,
        headers: dict[str, str] | None = None,
        limit: LimitReached | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.allowed = list(allowed) if allowed is not None else None
        self.headers = headers
        self.limit = limit


class BadRequest(Problem):
    status, slug = 400, "bad-request"


class Unauthorized(Problem):
    status, slug = 401, "unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="accord"'})


class Forbidden(Problem):
    status, slug = 403, "forbidden"


class NotFound(Problem):
    status, slug = 404, "not-found"


class Conflict(Problem):
    status, slug = 409, "conflict"


class PreconditionFailed(Problem):
    status, slug = 412, "precondition-failed"


class PreconditionRequired(Problem):
    status, slug = 428, "precondition-required"


class Unprocessable(Problem):
    status, slug = 422, "validation-error"


class TooManyRequests(Problem):
    """A rate limit was reached: try again after ``Retry-After`` seconds."""

    status, slug = 429, "too-many-requests"

    def __init__(self, detail: str, *, limit: LimitReached, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, limit=limit)


class ServiceUnavailable(Problem):
    status, slug = 503, "service-unavailable"

    def __init__(self, detail: str, *, slug: str, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})
        self.slug = slug


def problem_response(
    status: int,
    *,
    slug: str,
    detail: str | None,
    request: Request | None = None,
    errors: list[FieldError] | None = None,
    allowed: list[str] | None = None,
    headers: dict[str, str] | None = None,
    limit: LimitReached | None = None,
) -> JSONResponse:
    body = ProblemDetail(
        type=TYPE_BASE + slug,
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=request.url.path if request is not None else None,
        errors=errors,
        allowed=allowed,
        limit=limit,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={NOSNIFF[0]: NOSNIFF[1], **(headers or {})},
    )


def etag(version: int) -> str:
    return f'"{version}"'


def problem_for(exc: errors.DomainError, request: Request | None = None) -> Problem:
    """The one mapping from a domain refusal to its problem.

    A command's fields are the request body's fields, so an invalid field is ``body.<field>``.
    A stale version is 412 when the caller sent ``If-Match`` (RFC 9110: its precondition
    failed) and 409 when it sent the version in the body; both carry the current ETag.
    """
    if isinstance(exc, errors.Invalid):
        return Unprocessable(exc.message, errors=[_body_field(exc.field, exc.message)])
    if isinstance(exc, errors.NotFound):
        if exc.field is not None:
            return Unprocessable(exc.message, errors=[_body_field(exc.field, exc.message)])
        return NotFound(exc.message)
    if isinstance(exc, errors.Stale):
        precondition = request is not None and "if-match" in request.headers
        stale = PreconditionFailed if precondition else Conflict
        return stale(exc.message, headers={"ETag": etag(exc.current)})
    if isinstance(exc, errors.CapReached):
        return Conflict(exc.message, limit=LimitReached(name=exc.cap, limit=exc.limit))
    if isinstance(exc, errors.Conflict):
        return Conflict(exc.message, allowed=exc.allowed)
    return Conflict(exc.message)


def _body_field(field: str, message: str) -> FieldError:
    return FieldError(field=f"body.{field}", message=message)


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


def _at_fault(error: Any) -> tuple[Any, ...]:
    """Where a validation error is: a model validator's rule across fields (``FieldFault``)
    is located on the model, so the field it names is added."""
    fault = error.get("ctx", {}).get("error")
    if isinstance(fault, FieldFault):
        return (*error["loc"], *fault.field.split("."))
    return tuple(error["loc"])


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(
        exc.status,
        slug=exc.slug,
        detail=exc.detail,
        request=request,
        errors=exc.errors,
        allowed=exc.allowed,
        headers=exc.headers,
        limit=exc.limit,
    )


async def _on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.DomainError)
    return await _on_problem(request, problem_for(exc, request))


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [FieldError(field=_location(_at_fault(e)), message=e["msg"]) for e in exc.errors()]
    fields = ", ".join(sorted({e.field for e in errors}))
    return problem_response(
        422,
        slug="validation-error",
        detail=f"the request is not valid: {fields}",
        request=request,
        errors=errors,
    )


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem_response(
        exc.status_code,
        slug=HTTPStatus(exc.status_code).phrase.lower().replace(" ", "-"),
        detail=str(exc.detail),
        request=request,
        headers=dict(exc.headers) if exc.headers else None,
    )


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled_error", path=request.url.path)
    return problem_response(
        500, slug="internal-error", detail="an unexpected error occurred", request=request
    )


async def _on_database_error(request: Request, exc: Exception) -> JSONResponse:
    if is_lost_race(exc):
        log.info("request_lost_a_race", path=request.url.path, error=type(exc).__name__)
        return problem_response(
            503,
            slug="try-again",
            detail="the change collided with a concurrent one; send it again",
            request=request,
            headers={"Retry-After": "1"},
        )
    if not is_database_unavailable(exc):
        return await _on_unexpected(request, exc)
    outage: DatabaseOutage = request.app.state.database_outage
    outage.went_down(exc)
    return problem_response(
        503,
        slug="database-unavailable",
        detail="the service's database is unavailable; try again later",
        request=request,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
    )


# What reaches a route when its database is away: SQLAlchemy's errors, and asyncpg's own
# while connecting (a refused connection is a bare ConnectionRefusedError).
DATABASE_ERRORS = (DBAPIError, asyncpg.PostgresError, ConnectionError, TimeoutError)


def install_problem_handlers(app: FastAPI) -> None:
    app.state.database_outage = DatabaseOutage()
    for error in DATABASE_ERRORS:
        app.add_exception_handler(error, _on_database_error)
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(errors.DomainError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)


Responses = dict[int | str, dict[str, Any]]


def documented(status: int, description: str) -> Responses:
    """An error a route declares in its OpenAPI ``responses``; combine several with ``|``."""
    return {status: {"model": ProblemDetail, "description": description}}


# Responses every route may give, for the OpenAPI documents.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ProblemDetail, "content": {PROBLEM_MEDIA_TYPE: {}}, "description": text}
    for status, text in {
        400: "The body could not be read as the declared content type",
        401: "Missing, expired or invalid bearer token",
        403: "The token's role may not do this",
        413: "The body is over the size limit",
        429: "A rate limit was reached (`limit` names it): try again after `Retry-After` seconds",
        422: "The request is not valid; `errors` names each field at fault",
        503: "The database is unavailable (or the change collided with a concurrent one): "
        "try again after `Retry-After` seconds",
    }.items()
}


def document_problems(openapi: dict[str, Any]) -> dict[str, Any]:
    """Every error response of every operation is a problem document: say so in the OpenAPI
    document, whatever each route declared (a route's ``{"model": ProblemDetail}`` alone would
    be documented as ``application/json``)."""
    schema = {"$ref": "#/components/schemas/ProblemDetail"}
    for operations in openapi.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if str(status)[0] in "45":
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": schema}}
    return openapi
