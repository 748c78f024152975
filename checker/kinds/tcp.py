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
from typing import Any, Literal

import msgspec
import trio

from checker.context import ProbeContext
from uptrack.assertions import (
    FactSchema,
    check_assertions,
    failure_message,
    judge,
    outcomes_details,
    roots_of,
)
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
        self.details: dict[str, Any] = {}  # Observation.details, kept if not empty
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
            details=dict(self.details) or None,
        )

    def judge(self, assertions: list[str], facts: dict[str, Any]) -> None:
        """Evaluate the monitor's assertions; record each outcome, raise on a failure."""
        outcomes = judge(assertions, facts)
        self.details["assertions"] = outcomes_details(outcomes)
        message = failure_message(outcomes)
        if message is not None:
            raise TargetFault("assertion", message)

    def elapsed_ms(self) -> float:
        """Milliseconds since the attempt started (the `response_time` fact)."""
        return round((trio.current_time() - self.started) * 1000, 3)

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


IpVersion = Literal[4, 6, "any"]
"""Which addresses of a name a probe may use."""

_FAMILIES = {4: socket.AF_INET, 6: socket.AF_INET6, "any": socket.AF_UNSPEC}
_NO_ADDRESS_OF_FAMILY = {
    getattr(socket, name)
    for name in ("EAI_ADDRFAMILY", "EAI_NODATA", "EAI_FAMILY")
    if hasattr(socket, name)
}


async def resolve(
    host: str,
    port: int,
    attempt: Attempt,
    limiter: trio.CapacityLimiter,
    ip_version: IpVersion = "any",
) -> list[Address]:
    """The addresses of `host` in the resolver's order; an IP literal skips DNS.

    Lookups run in threads under the probes' own limiter: a slow resolver holds at
    most that many threads and never starves the rest of the node's thread pool."""
    family = _FAMILIES[ip_version]
    literal = is_ip_literal(host)
    since = trio.current_time()
    try:
        if literal:  # numeric: no lookup, no thread
            infos = socket.getaddrinfo(
                host, port, family, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
            )
        else:
            attempt.phase = f"resolving {host}"
            infos = await trio.to_thread.run_sync(
                lambda: socket.getaddrinfo(host, port, family, type=socket.SOCK_STREAM),
                limiter=limiter,
                abandon_on_cancel=True,
            )
            attempt.lap("dns", since)
    except socket.gaierror as exc:
        if ip_version == "any":
            raise TargetFault("dns", f"cannot resolve {host}: {exc.strerror}") from None
        if exc.errno in _NO_ADDRESS_OF_FAMILY:
            raise TargetFault("dns", f"{host} has no IPv{ip_version} address") from None
        raise TargetFault(
            "dns", f"cannot resolve {host} to an IPv{ip_version} address: {exc.strerror}"
        ) from None
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


_ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\"}
_HEX = re.compile(r"[0-9a-fA-F]{2}")
MAX_READ_BYTES = 1024 * 1024
FACTS: FactSchema = {"response_time": None, "response": None, "ip": None}


def decode_escapes(text: str) -> bytes:
    """`text` as UTF-8 with the escapes \\r \\n \\t \\0 \\\\ \\xHH decoded.

    ValueError names the position of a bad escape."""
    out = bytearray()
    at = 0
    while at < len(text):
        char = text[at]
        if char != "\\":
            out += char.encode()
            at += 1
            continue
        escape = text[at + 1 : at + 2]
        if escape in _ESCAPES:
            out += _ESCAPES[escape]
            at += 2
        elif escape == "x" and _HEX.fullmatch(text, at + 2, at + 4):
            out.append(int(text[at + 2 : at + 4], 16))
            at += 4
        else:
            raise ValueError(
                f"unknown escape {text[at : at + 2]!r} at position {at + 1} "
                "(use \\r, \\n, \\t, \\0, \\\\ or \\xHH)"
            )
    return bytes(out)


def printable(data: bytes, limit: int = 200) -> str:
    """`data` for a message or a result: escaped where not printable, capped."""
    text = data[:limit].decode("utf-8", errors="backslashreplace")
    shown = "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )
    return shown + ("…" if len(data) > limit else "")


class TcpSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Settings of a tcp monitor: by default a port that accepts a connection is up."""

    send: str | None = None  # sent once connected; escapes like \\r\\n allowed
    expect: str | None = None  # must appear in what the server sends (escapes allowed)
    max_read_bytes: int = 4096  # read at most this much while looking for `expect`
    ip_version: IpVersion = "any"
    assertions: list[str] = []


async def _read_response(
    stream: trio.abc.Stream, expect: bytes | None, limit: int, attempt: Attempt
) -> bytes:
    """What the server sends: until `expect` shows up, the stream ends or `limit` bytes
    arrive; without `expect`, its first burst."""
    attempt.phase = "reading the response"
    since = trio.current_time()
    received = b""
    while len(received) < limit:
        try:
            data = await stream.receive_some(limit - len(received))
        except trio.BrokenResourceError as exc:
            cause = exc.__cause__
            reason = (getattr(cause, "strerror", None) or "connection broken").lower()
            raise TargetFault("network", f"{reason} while reading the response") from None
        if not received:
            attempt.lap("ttfb", since)
        received += data
        if not data or expect is None or expect in received:
            break
    if expect is not None and expect not in received:
        how = "before the server closed the connection" if not data else f"in {len(received)} bytes"
        raise TargetFault(
            "keyword",
            f"expected {printable(expect, 40)!r} not found {how}: {printable(received, 80)!r}",
        )
    return received


async def _converse(
    stream: trio.SocketStream, settings: TcpSettings, attempt: Attempt
) -> bytes | None:
    if settings.send is not None:
        attempt.phase = "sending"
        try:
            await stream.send_all(decode_escapes(settings.send))
        except trio.BrokenResourceError as exc:
            cause = exc.__cause__
            reason = (getattr(cause, "strerror", None) or "connection broken").lower()
            raise TargetFault("network", f"{reason} while sending") from None
    wants_response = "response" in roots_of(settings.assertions)
    if settings.expect is None and not wants_response:
        return None
    expect = None if settings.expect is None else decode_escapes(settings.expect)
    response = await _read_response(stream, expect, settings.max_read_bytes, attempt)
    attempt.details["response"] = printable(response)
    return response


class TcpKind:
    """Up when a TCP connection to `host:port` opens within the timeout (and, when
    asked, the server answers what `send` asks with what `expect` says)."""

    name = "tcp"
    settings_type = TcpSettings
    secret_fields: tuple[str, ...] = ()
    secret_header_fields: tuple[str, ...] = ()
    secret_url_fields: tuple[str, ...] = ()

    def parse_target(self, target: str) -> str:
        host, port = split_target(target)
        return format_address(host, port)

    def check_settings(self, settings: msgspec.Struct, *, timeout: float) -> list[tuple[str, str]]:
        if not isinstance(settings, TcpSettings):
            raise TypeError(f"expected TcpSettings, got {type(settings).__name__}")
        problems: list[tuple[str, str]] = []
        for field in ("send", "expect"):
            value = getattr(settings, field)
            if value == "":
                problems.append((field, "must not be empty (leave it out instead)"))
            elif value is not None:
                try:
                    decode_escapes(value)
                except ValueError as exc:
                    problems.append((field, str(exc)))
        if not 1 <= settings.max_read_bytes <= MAX_READ_BYTES:
            problems.append(
                ("max_read_bytes", f"{settings.max_read_bytes} is not within 1-{MAX_READ_BYTES}")
            )
        problems.extend(check_assertions(settings.assertions, FACTS))
        return problems

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
                addresses = await resolve(host, port, attempt, ctx.dns_limiter, settings.ip_version)
                stream = await connect(addresses, attempt)
                try:
                    response = await _converse(stream, settings, attempt)
                finally:
                    await trio.aclose_forcefully(stream)
                if settings.assertions:
                    attempt.judge(
                        settings.assertions,
                        {
                            "response_time": attempt.elapsed_ms(),
                            "response": None
                            if response is None
                            else response.decode("utf-8", errors="replace"),
                            "ip": attempt.ip,
                        },
                    )
            except TargetFault as fault:
                return attempt.observe(fault.kind, fault.message)
            return attempt.observe()
        return attempt.timed_out(timeout)


KIND = TcpKind()
