"""The tcp kind, and the resolve-and-connect step every stream-based kind shares.

A probe step that finds a fault of the target raises `TargetFault`; the kind's
`check` turns it into an error Observation. Nothing else is caught on purpose:

    Exception
    └── TargetFault    .kind (one of uptrack.model.ERROR_KINDS), .message (for the user)
"""

from __future__ import annotations

import errno
import ipaddress
import re
import socket
from typing import Any

import msgspec
import trio

from checker.context import ProbeContext
from uptrack.model import Observation, Timings

Address = tuple[socket.AddressFamily, socket.SocketKind, int, Any]
"""One getaddrinfo entry without its canonical name: family, type, proto, sockaddr."""

_HOSTNAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")


class TargetFault(Exception):
    """A fault of the target, found by a probe step; reported, never propagated."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class Attempt:
    """The clock of one probe attempt: phase timings so far, and the phase it is in."""

    def __init__(self) -> None:
        self.started = trio.current_time()
        self.phase = "starting"
        self.ip: str | None = None
        self.http_status: int | None = None
        self._spent: dict[str, float] = {}

    def lap(self, timing: str, since: float) -> None:
        """Add the time from `since` until now to the phase timing `timing`."""
        self._spent[timing] = self._spent.get(timing, 0.0) + trio.current_time() - since

    def observe(self, error_kind: str | None = None, error: str | None = None) -> Observation:
        """What this attempt saw, ending now: ok unless an error kind is given."""
        spent = self._spent

        def ms(timing: str) -> float | None:
            seconds = spent.get(timing)
            return None if seconds is None else round(seconds * 1000, 3)

        return Observation(
            ok=error_kind is None,
            error_kind=error_kind,
            error=error,
            http_status=self.http_status,
            ip=self.ip,
            timings=Timings(
                dns=ms("dns"),
                connect=ms("connect"),
                tls=ms("tls"),
                ttfb=ms("ttfb"),
                total=round((trio.current_time() - self.started) * 1000, 3),
            ),
        )

    def timed_out(self, timeout: float) -> Observation:
        return self.observe(
            "timeout", f"timed out after {round(float(timeout), 2)} s while {self.phase}"
        )


def normalise_host(host: str) -> str:
    """A host name (IDNA-encoded, lower case) or IP literal (without brackets), checked."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        ascii_host = host.lower().encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{host!r} is not a valid host name") from None
    if len(ascii_host) > 253 or not _HOSTNAME.fullmatch(ascii_host):
        raise ValueError(
            f"{host!r} is not a valid host name (letters, digits, '-', '.'; or an IP address)"
        )
    return ascii_host


def format_address(host: str, port: int) -> str:
    """`host:port`, with an IPv6 literal in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def resolve(
    host: str, port: int, attempt: Attempt, limiter: trio.CapacityLimiter
) -> list[Address]:
    """The addresses of `host` in the resolver's order; an IP literal skips DNS.

    Lookups run in threads under the probes' own limiter: a slow resolver holds at
    most that many threads and never starves the rest of the node's thread pool."""
    literal = is_ip_literal(host)
    since = trio.current_time()
    try:
        if literal:  # numeric: no lookup, no thread
            infos = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
            )
        else:
            attempt.phase = f"resolving {host}"
            infos = await trio.to_thread.run_sync(
                lambda: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM),
                limiter=limiter,
                abandon_on_cancel=True,
            )
            attempt.lap("dns", since)
    except socket.gaierror as exc:
        raise TargetFault("dns", f"cannot resolve {host}: {exc.strerror}") from None
    if not infos:
        raise TargetFault("dns", f"{host} has no addresses")
    return [(family, kind, proto, sockaddr) for family, kind, proto, _, sockaddr in infos]


async def connect(addresses: list[Address], attempt: Attempt) -> trio.SocketStream:
    """A TCP stream to the first address that accepts, tried in order."""
    since = trio.current_time()
    fault = TargetFault("dns", "no addresses to connect to")
    for family, kind, proto, sockaddr in addresses:
        where = format_address(sockaddr[0], sockaddr[1])
        attempt.phase = f"connecting to {where}"
        sock = trio.socket.socket(family, kind, proto)
        stream: trio.SocketStream | None = None
        try:
            await sock.connect(sockaddr)
            stream = trio.SocketStream(sock)
        except OSError as exc:
            fault = _connect_fault(exc, where)
        finally:
            if stream is None:
                sock.close()
        if stream is not None:
            attempt.lap("connect", since)
            attempt.ip = sockaddr[0]
            return stream
    attempt.lap("connect", since)
    if len(addresses) > 1:
        fault = TargetFault(fault.kind, f"{fault.message} (all {len(addresses)} addresses failed)")
    raise fault


def _connect_fault(exc: OSError, where: str) -> TargetFault:
    if isinstance(exc, ConnectionRefusedError):
        return TargetFault("refused", f"connection refused by {where}")
    reason = (exc.strerror or str(exc) or type(exc).__name__).lower()
    if exc.errno == errno.ETIMEDOUT:
        return TargetFault("timeout", f"connecting to {where}: {reason}")
    return TargetFault("network", f"cannot connect to {where}: {reason}")


def split_target(target: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` -> (normalised host, port); ValueError for the user."""
    text = target.strip()
    if "://" in text:
        raise ValueError("write host:port without a scheme, e.g. db.example.com:5432")
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise ValueError("expected [IPv6 address]:port, e.g. [::1]:80")
        port_text = rest[1:]
        if not is_ip_literal(host) or ":" not in host:
            raise ValueError(f"{host!r} in brackets is not an IPv6 address; e.g. [::1]:80")
    else:
        host, colon, port_text = text.rpartition(":")
        if not colon or not host:
            raise ValueError("expected host:port, e.g. db.example.com:5432")
        if ":" in host:
            raise ValueError("write an IPv6 address in brackets, e.g. [::1]:80")
    if not port_text.isdecimal() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"port {port_text!r} is not a number from 1 to 65535")
    return normalise_host(host), int(port_text)


class TcpSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """The tcp kind has no settings yet: a target that accepts a connection is up."""


class TcpKind:
    """Up when a TCP connection to `host:port` opens within the timeout."""

    name = "tcp"
    settings_type = TcpSettings

    def parse_target(self, target: str) -> str:
        host, port = split_target(target)
        return format_address(host, port)

    def check_settings(self, settings: msgspec.Struct, *, timeout: float) -> list[tuple[str, str]]:
        return []

    async def check(
        self,
        target: str,
        settings: Any,
        timeout: float,
        ctx: ProbeContext,
    ) -> Observation:
        host, port = split_target(target)
        attempt = Attempt()
        with trio.move_on_after(timeout):
            try:
                stream = await connect(await resolve(host, port, attempt, ctx.dns_limiter), attempt)
            except TargetFault as fault:
                return attempt.observe(fault.kind, fault.message)
            await trio.aclose_forcefully(stream)
            return attempt.observe()
        return attempt.timed_out(timeout)


KIND = TcpKind()
