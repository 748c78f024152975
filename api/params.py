"""Query parameters: parsed once, with 400 answers that name the parameter."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request

from api.problems import ApiError, field_errors
from uptrack.errors import FieldError, InvalidInput

MAX_CURSOR = 500  # characters; cursors are opaque but never long


def _bad(name: str, message: str) -> ApiError:
    return field_errors([FieldError(name, message)], 400, f"the query parameter {name} is invalid")


def int_param(request: Request, name: str, *, low: int, high: int, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.strip().lstrip("-").isdigit():
        raise _bad(name, f"{raw!r} is not a whole number; use {low} to {high}")
    value = int(raw)
    if not low <= value <= high:
        raise _bad(name, f"{value} is outside the accepted range {low} to {high}")
    return value


def cursor_param(request: Request, name: str = "cursor") -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > MAX_CURSOR:
        raise _bad(name, "is not a cursor from a previous page")
    return raw


def choice_param(
    request: Request, name: str, choices: Mapping[str, object], *, default: str
) -> str:
    raw = request.query_params.get(name, default)
    if raw not in choices:
        accepted = ", ".join(choices)
        raise _bad(name, f"{raw!r} is not accepted; use one of {accepted}")
    return raw


def query_error(exc: InvalidInput) -> ApiError:
    """A store's refusal of a query value (a forged cursor) as a 400, not a 422."""
    return field_errors(exc.errors, 400, "a query parameter is invalid")
