"""Heartbeat pings: `/ping/<token>`, and `/start`, `/fail`, `/<exit code>` after it.

Open without an API token (the ping token is the credential) and accepted by
every node: the ping is written to the store, where the shard owner's check reads
it. Known and unknown tokens take the same path: the token is hashed (SHA-256),
rate-limited by its hash, and looked up by one indexed statement, so the answer
time says nothing about how close a guess is. Answers are `OK` (200), 404 for an
unknown token, 429 past the rate limit.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from api.context import PING_BURST, PING_RATE, context_of
from api.problems import ApiError
from api.ratelimit import retry_after
from uptrack.heartbeats import MAX_BODY, PingKind, token_sha256

MAX_EXIT_CODE = 255
SIGNALS = "start, fail or an exit code from 0 to 255"


def parse_signal(signal: str | None) -> tuple[PingKind, int | None]:
    """What the path after the token says: nothing (success), `start`, `fail`, or an
    exit code (0 is a success, anything else a failure); else 404."""
    if signal is None:
        return "success", None
    if signal == "start":
        return "start", None
    if signal == "fail":
        return "fail", None
    if signal.isascii() and signal.isdigit() and len(signal) <= 3:
        code = int(signal)
        if code <= MAX_EXIT_CODE:
            return ("success" if code == 0 else "fail"), code
    raise ApiError(404, "not-found", f"/ping/<token>/{signal[:40]} is not a ping: use {SIGNALS}")


async def read_body(request: Request) -> str:
    """The first MAX_BODY bytes of the body as text (a job's output: invalid UTF-8 is
    replaced, not refused). The rest is read and dropped, within the API's body limit."""
    kept = bytearray()
    async for chunk in request.stream():
        if len(kept) < MAX_BODY:
            kept += chunk[: MAX_BODY - len(kept)]
    return kept.decode("utf-8", "replace")


async def ping(request: Request) -> Response:
    ctx = context_of(request)
    kind, exit_code = parse_signal(request.path_params.get("signal"))
    digest = token_sha256(request.path_params["token"])
    now = ctx.now()
    wait = ctx.ping_limits.take(digest, now)
    if wait:
        raise ApiError(
            429,
            "too-many-requests",
            f"more than {PING_BURST} pings at once or {PING_RATE:g} a second for this ping URL",
            headers={"Retry-After": retry_after(wait)},
        )
    body = await read_body(request)
    found = await ctx.store.call(ctx.store.record_ping, digest, kind, exit_code, body, now)
    if not found:
        raise ApiError(404, "not-found", "no heartbeat monitor has this ping URL")
    return PlainTextResponse("OK\n")
