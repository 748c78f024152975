"""Heartbeat (push) monitors: their ping token, the ping record the store keeps, its lookup.

A heartbeat monitor probes nothing: a cron job calls its ping URL
(`/ping/<token>`, DESIGN §7) and the monitor is down when no ping arrives in time.
Any node's API records a ping in the store (`Store.record_ping`); the shard owner's
scheduler runs the `heartbeat` kind, which reads the record back through a
`HeartbeatLookup` the node hands the checker. The token is the monitor's address,
shown in its document as `ping_url` (as healthchecks.io shows its ping URLs); the
store finds it by its SHA-256 under a unique index, so a lookup costs the same
whatever the token, and no comparison ever runs over the token's characters.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from typing import Literal

import msgspec

from uptrack.model import Monitor, MonitorSpec

KIND = "heartbeat"
TOKEN_SETTING = "token"
TOKEN_BYTES = 24  # secrets.token_urlsafe(24): 32 characters, 192 random bits

PingKind = Literal["success", "start", "fail"]


class HeartbeatState(msgspec.Struct, frozen=True, kw_only=True):
    """What the store knows of one heartbeat monitor: its schedule and its last pings.

    `since` is when the monitor began to expect pings: created, turned into a
    heartbeat, resumed, or given a new token. Pings older than that do not count."""

    monitor_id: str
    interval: int  # the monitor's interval: the ping period unless its settings say
    since: float
    last_ping_at: float | None = None  # last success
    last_start_at: float | None = None
    last_fail_at: float | None = None
    last_exit_code: int | None = None  # of the last success or failure that carried one
    last_body: str | None = None  # of the last ping of any kind, at most MAX_BODY
    pings: int = 0


MAX_BODY = 10 * 1024  # bytes of a ping's body kept (as text)

HeartbeatLookup = Callable[[str], Awaitable[HeartbeatState | None]]
"""The read-only view the checker gets: the record of the monitor whose token has
this SHA-256 (hex), or None."""


def token_sha256(token: str) -> str:
    """How the store finds a ping token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_of(monitor: Monitor | MonitorSpec) -> str | None:
    """The ping token of a heartbeat monitor; None for any other kind."""
    if monitor.kind != KIND:
        return None
    token = monitor.settings.get(TOKEN_SETTING)
    return token if isinstance(token, str) else None


def with_token(spec: MonitorSpec, previous: Monitor | None) -> MonitorSpec:
    """`spec` with a ping token, as the store saves a heartbeat monitor.

    A token given is kept; a monitor saved without one keeps the token it had (so
    a monitors file need not carry it); `token: null` or a new heartbeat monitor
    gets a fresh random one. Other kinds are returned as they are."""
    if spec.kind != KIND or isinstance(spec.settings.get(TOKEN_SETTING), str):
        return spec
    token: object = None
    if TOKEN_SETTING not in spec.settings and previous is not None:
        token = token_of(previous)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(TOKEN_BYTES)
    return msgspec.structs.replace(spec, settings={**spec.settings, TOKEN_SETTING: token})


def restarts(monitor: Monitor, previous: Monitor | None) -> bool:
    """Whether saving `monitor` over `previous` starts its wait for pings afresh:
    it became a heartbeat monitor, got a new token, or was resumed."""
    if previous is None or token_of(previous) is None:
        return True
    return token_of(previous) != token_of(monitor) or (previous.paused and not monitor.paused)
