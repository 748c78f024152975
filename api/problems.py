"""Errors as RFC 9457 problem documents: the error type, its handlers, the 500 guard.

Exception                       -> 500 (logged; no internals in the answer)
├── ApiError                    -> its own status (400, 401, 403, 413, ...)
├── starlette HTTPException     -> 404 unknown route, 405 wrong method
└── UptrackError
    ├── InvalidInput            -> 422 with every FieldError
    ├── NotFound                -> 404
    ├── Conflict                -> 409
    └── StoreUnavailable        -> 503 with Retry-After
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import msgspec
import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, ExceptionHandler, Message, Receive, Scope, Send

from uptrack.errors import Conflict, FieldError, InvalidInput, NotFound, StoreUnavailable

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:uptrack:problem:"

# RFC 9110 reason phrases where older Pythons' http.HTTPStatus still has RFC 7231's.
_TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}

log = structlog.get_logger()


def title_of(status: int) -> str:
    return _TITLES.get(status) or HTTPStatus(status).phrase


class FieldProblem(msgspec.Struct, frozen=True):
    """One bad field (or query parameter) and what was wrong with it."""

    field: str
    message: str


class Problem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldProblem] | None = None


class ApiError(Exception):
    """An error the API answers with a problem document of its own status."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.errors = list(errors)
        self.headers = dict(headers or {})


def problem_response(
    status: int,
    slug: str,
    detail: str,
    *,
    instance: str | None = None,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
    extra: msgspec.Struct | None = None,
) -> Response:
    """A problem+json response; `extra` adds extension members (RFC 9457 §3.2)."""
    problem = Problem(
        type=TYPE_PREFIX + slug,
        title=title_of(status),
        status=status,
        detail=detail,
        instance=instance,
        errors=[FieldProblem(e.field, e.message) for e in errors] if errors else None,
    )
    body: dict[str, Any] = msgspec.to_builtins(problem)
    if extra is not None:
        body.update(msgspec.to_builtins(extra))
    return Response(
        msgspec.json.encode(body), status_code=status, headers=headers, media_type=PROBLEM_JSON
    )


def field_errors(errors: Sequence[FieldError], status: int, detail: str) -> ApiError:
    """An ApiError listing every bad field (slug `invalid-input`)."""
    return ApiError(status, "invalid-input", detail, errors=errors)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return problem_response(
        exc.status,
        exc.slug,
        exc.detail,
        instance=request.url.path,
        errors=exc.errors,
        headers=exc.headers,
    )


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if status == 404:
        detail = f"there is nothing at {request.url.path}"
    elif status == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        detail = f"{request.method} is not allowed here (allowed: {allowed})"
    else:
        detail = exc.detail
    slug = title_of(status).lower().replace(" ", "-")
    return problem_response(status, slug, detail, instance=request.url.path, headers=exc.headers)


async def _invalid_input(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidInput)
    count = len(exc.errors)
    detail = f"{count} field{'s' if count != 1 else ''} failed validation"
    return problem_response(
        422, "invalid-input", detail, instance=request.url.path, errors=exc.errors
    )


async def _not_found(request: Request, exc: Exception) -> Response:
    return problem_response(404, "not-found", str(exc) or "not found", instance=request.url.path)


async def _conflict(request: Request, exc: Exception) -> Response:
    return problem_response(409, "conflict", str(exc) or "conflict", instance=request.url.path)


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("api.store_unavailable", path=request.url.path, error=str(exc))
    return problem_response(
        503,
        "store-unavailable",
        "the database cannot be reached right now; try again shortly",
        instance=request.url.path,
        headers={"Retry-After": "5"},
    )


EXCEPTION_HANDLERS: dict[Any, ExceptionHandler] = {
    ApiError: _api_error,
    HTTPException: _http_exception,
    InvalidInput: _invalid_input,
    NotFound: _not_found,
    Conflict: _conflict,
    StoreUnavailable: _store_unavailable,
}


class InternalErrors:
    """ASGI middleware: any unexpected exception becomes a logged 500 problem.

    Starlette's own ServerErrorMiddleware re-raises after answering, which makes the
    server log the same failure twice; this one answers and stops there.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            path = str(scope.get("path", ""))
            log.exception("api.error", path=path, method=scope.get("method"))
            if started:
                raise
            response = problem_response(
                500, "internal", "the server failed to answer this request", instance=path
            )
            await response(scope, receive, send)
