"""Request bodies: the size limit (413 before parsing) and JSON object decoding."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import ApiError, field_errors, problem_response
from uptrack.errors import FieldError

MAX_BODY_BYTES = 1024 * 1024


def _too_large(limit: int) -> str:
    return f"the request body is larger than the limit of {limit} bytes"


class BodyTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, "too-large", _too_large(limit))


class BodyLimit:
    """ASGI middleware: refuse bodies over `max_bytes`.

    A declared Content-Length over the limit is answered at once, before the app
    runs; a body without one (chunked) is counted as it streams in, and reading
    past the limit raises BodyTooLarge inside the endpoint that reads it.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            if declared.isdigit():
                response = problem_response(
                    413, "too-large", _too_large(self.max_bytes), instance=scope["path"]
                )
            else:
                response = problem_response(
                    400, "bad-request", "Content-Length is not a number", instance=scope["path"]
                )
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counting_receive, send)


async def read_json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object: 400 if it is not JSON, 422 if it is not an object."""
    chunks = [chunk async for chunk in request.stream()]
    body = b"".join(chunks)
    if not body.strip():
        raise ApiError(400, "invalid-json", "the request body is empty; send a JSON object")
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise ApiError(400, "invalid-json", f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        got = _json_type(value)
        raise field_errors(
            [FieldError("(body)", f"expected a JSON object, got {got}")],
            422,
            "the request body must be a JSON object",
        )
    return value


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array"
