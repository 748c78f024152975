"""The heartbeat kind: a push monitor, down when its pings stop or report a failure.

Nothing is probed. A cron job pings the monitor's URL (`/ping/<token>`, recorded
by any node's API, see `uptrack.heartbeats`); each check reads the ping record
through `ProbeContext.heartbeats` and judges it at the check's time, in this order:

- the last completed run reported a failure (`/fail`, a non-zero exit code): down;
- a run that signalled `/start` and has not completed yet is judged by how long it
  has been running: down past `max_runtime` (default: `period` + `grace`);
- no success ping for longer than `period` (default: the interval) + `grace`: down.

Pings from before the monitor began to wait for them (created, resumed, given a
new token) do not count. Until its first ping a monitor is up while the first
ping is not late yet.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import msgspec
import trio

from checker.context import ProbeContext
from uptrack import heartbeats
from uptrack.errors import StoreError
from uptrack.heartbeats import HeartbeatState, token_sha256
from uptrack.model import Observation, Timings
from uptrack.monitors import MIN_INTERVAL, parse_duration

MAX_PERIOD = 365 * 86400.0
MAX_GRACE = 30 * 86400.0
MAX_LABEL = 200
MAX_BODY_SHOWN = 1000  # characters of a failed run's output kept in a result
TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


class HeartbeatSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Settings of a heartbeat monitor; durations are seconds or strings like "5m"."""

    token: str | None = None  # the secret of the ping URL; made by the server when left out
    period: float | str | None = None  # time between two runs; default: the interval
    grace: float | str | None = None  # lateness allowed; default: period/10 within 1m..1h
    max_runtime: float | str | None = None  # longest a run may take after /start


def default_grace(period: float) -> float:
    """A tenth of the period, but at least a minute (cron jitter, a slow start) and
    at most an hour."""
    return min(max(period / 10, 60.0), 3600.0)


def span(seconds: float) -> str:
    """A duration for people: `45s`, `7m 12s`, `5m`, `2h 30m`, `1d 4h`."""
    if seconds < 60:
        return f"{round(seconds, 1):g}s"
    rest = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts[:2])


def _duration(value: float | str | None, default: float) -> float:
    return default if value is None else parse_duration(value)


def _iso(unix: float | None) -> str | None:
    if unix is None:
        return None
    return (
        datetime.fromtimestamp(unix, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def judge(settings: HeartbeatSettings, state: HeartbeatState, now: float) -> Observation:
    """The verdict on a ping record at `now` (Unix seconds)."""
    period = _duration(settings.period, float(state.interval))
    grace = _duration(settings.grace, default_grace(period))

    def counted(at: float | None) -> float | None:
        return at if at is not None and at >= state.since else None

    success, fail = counted(state.last_ping_at), counted(state.last_fail_at)
    start = counted(state.last_start_at)
    quiet = now - (success if success is not None else state.since)
    details: dict[str, Any] = {
        "pings": state.pings,
        "last_ping_at": _iso(success),
        "last_start_at": _iso(start),
        "last_fail_at": _iso(fail),
        "last_exit_code": state.last_exit_code,
        "quiet_for": round(quiet, 3),
        "period": period,
        "grace": grace,
    }
    if fail is not None and (success is None or fail > success):
        code = state.last_exit_code
        details["last_body"] = (state.last_body or "")[:MAX_BODY_SHOWN]
        exit_code = f" (exit code {code})" if code is not None else ""
        return _down(f"last ping reported failure{exit_code}", details)
    done = max((t for t in (success, fail) if t is not None), default=None)
    if start is not None and (done is None or start > done):
        # a run is on: it is judged by how long it takes, not by when it began
        took = now - start
        if settings.max_runtime is not None:
            limit = parse_duration(settings.max_runtime)
            within = f"max_runtime ({span(limit)})"
        else:
            limit = period + grace
            within = f"the period and grace ({span(period)} + {span(grace)})"
        if took > limit:
            return _down(f"started {span(took)} ago and has not finished within {within}", details)
        return Observation(ok=True, details=details)
    if quiet > period + grace:
        return _down(
            f"no ping for {span(quiet)} (expected every {span(period)} + {span(grace)} grace)",
            details,
        )
    return Observation(ok=True, details=details)


def _down(message: str, details: dict[str, Any]) -> Observation:
    return Observation(ok=False, error_kind="heartbeat", error=message, details=details)


def _internal(message: str) -> Observation:
    return Observation(ok=False, error_kind="internal", error=message)


class HeartbeatKind:
    """Up while the monitor's pings arrive in time and report success."""

    name = heartbeats.KIND
    settings_type = HeartbeatSettings
    secret_fields: tuple[str, ...] = ()
    secret_header_fields: tuple[str, ...] = ()
    secret_url_fields: tuple[str, ...] = ()

    def parse_target(self, target: str) -> str:
        """Nothing is probed: the target is an optional label (what pings, from where)."""
        label = target.strip()
        if len(label) > MAX_LABEL:
            raise ValueError(f"is {len(label)} characters; at most {MAX_LABEL}")
        if any(ord(c) < 32 for c in label):
            raise ValueError("must not contain control characters")
        return label

    def check_settings(self, settings: msgspec.Struct, *, timeout: float) -> list[tuple[str, str]]:
        if not isinstance(settings, HeartbeatSettings):
            raise TypeError(f"expected HeartbeatSettings, got {type(settings).__name__}")
        problems: list[tuple[str, str]] = []
        if settings.token is not None and not TOKEN.match(settings.token):
            problems.append(
                (
                    "token",
                    "must be 16 to 128 letters, digits, '-' or '_' (leave it out and the "
                    "server makes a random one)",
                )
            )
        for field, low, high in (
            ("period", float(MIN_INTERVAL), MAX_PERIOD),
            ("grace", 0.0, MAX_GRACE),
            ("max_runtime", 1.0, MAX_GRACE),
        ):
            value = getattr(settings, field)
            if value is None:
                continue
            try:
                seconds = parse_duration(value)
            except ValueError as exc:
                problems.append((field, str(exc)))
                continue
            if not low <= seconds <= high:
                problems.append(
                    (
                        field,
                        f"{span(seconds)} is outside the accepted range {span(low)}..{span(high)}",
                    )
                )
        return problems

    async def check(
        self, target: str, settings: Any, timeout: float, ctx: ProbeContext
    ) -> Observation:
        if ctx.heartbeats is None:
            return _internal("this node cannot read heartbeat pings (no store is wired)")
        if settings.token is None:
            return _internal("the monitor has no ping token; save it again to get one")
        started = trio.current_time()
        with trio.move_on_after(timeout):
            try:
                state = await ctx.heartbeats(token_sha256(settings.token))
            except StoreError as exc:
                return _internal(f"cannot read the ping record: {exc}")
            if state is None:
                return _internal("no ping record for this monitor's token (just edited?)")
            observation = judge(settings, state, ctx.now())
            elapsed = (trio.current_time() - started) * 1000
            return msgspec.structs.replace(observation, timings=Timings(total=round(elapsed, 3)))
        return Observation(
            ok=False,
            error_kind="timeout",
            error=f"reading the ping record took longer than {timeout:g} s",
            timings=Timings(total=timeout * 1000),
        )


KIND = HeartbeatKind()
