"""The tls kind: a TLS handshake whose certificate must verify and not expire soon.

One check connects (optionally after SMTP STARTTLS), completes the handshake with
a verifying context and records the session and the chain. A certificate that
fails verification is looked at once more without verification (a second
connection, within what is left of the deadline) so the error can say when it
expired or which names it is for.
"""

from __future__ import annotations

import math
import ssl
import time
from typing import Any, Literal

import msgspec
import trio

from checker.certs import CERT_FIELDS, DAY, PeerCertificate, peer_certificate, session_details
from checker.context import ProbeContext, TlsSetupError
from checker.kinds.tcp import (
    Address,
    Attempt,
    IpVersion,
    TargetFault,
    connect,
    format_address,
    normalise_host,
    resolve,
    split_target,
)
from checker.smtp import starttls
from uptrack.assertions import FactSchema, check_assertions
from uptrack.model import Observation

DEFAULT_PORT = 443
MAX_MIN_DAYS = 3650
FACTS: FactSchema = {
    "cert": CERT_FIELDS,
    "tls": frozenset({"version", "cipher", "alpn"}),
    "response_time": None,
    "ip": None,
}

# OpenSSL's X509_V_ERR_* codes the messages single out.
_NOT_YET_VALID = 9
_EXPIRED = 10
_SELF_SIGNED = 18
_SELF_SIGNED_IN_CHAIN = 19
_UNKNOWN_ISSUER = frozenset({2, 20, 21})
_NAME_MISMATCH = frozenset({62, 64})


class TlsSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Settings of a tls monitor; `TlsKind.check_settings` checks their ranges."""

    min_days: int = 14  # fail when the certificate expires within this many days
    server_name: str | None = None  # SNI and the name verified; default: the target host
    starttls: Literal["smtp"] | None = None
    verify: bool = True  # verify the chain and the name (expiry is checked regardless)
    ca_file: str | None = None  # trust this CA bundle instead of the system store
    ip_version: IpVersion = "any"
    assertions: list[str] = []


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def _not_after(cert: PeerCertificate | None) -> str:
    if cert is None or cert.not_after is None:
        return ""
    return f" (not after {cert.facts()['not_after']})"


def expiry_fault(cert: PeerCertificate, min_days: int) -> TargetFault | None:
    """The fault of a certificate that has expired or expires within `min_days`."""
    days = cert.days_left
    if days is None:
        return TargetFault("tls", "the server sent no certificate")
    if cert.seconds_left is not None and cert.seconds_left < 0:
        ago = math.floor(-cert.seconds_left / DAY)  # whole days since it expired
        when = f"{_days(ago)} ago" if ago else "less than a day ago"
        return TargetFault("tls", f"certificate expired {when}{_not_after(cert)}")
    if days < min_days:
        return TargetFault(
            "tls",
            f"certificate expires in {_days(days)}{_not_after(cert)}, within min_days ({min_days})",
        )
    return None


def verify_fault(
    exc: ssl.SSLCertVerificationError, name: str, cert: PeerCertificate | None
) -> TargetFault:
    """A failed verification in words: expired, hostname mismatch, self-signed, unknown CA."""
    code = exc.verify_code
    if code == _EXPIRED and cert is not None:
        fault = expiry_fault(cert, 0)
        if fault is not None:
            return fault
    if code == _EXPIRED:
        return TargetFault("tls", "certificate expired")
    if code == _NOT_YET_VALID:
        return TargetFault("tls", "certificate is not valid yet")
    if code in _NAME_MISMATCH:
        names = f" (it is for {', '.join(cert.sans)})" if cert is not None and cert.sans else ""
        return TargetFault("tls", f"hostname mismatch: the certificate is not for {name}{names}")
    if code in (_SELF_SIGNED, _SELF_SIGNED_IN_CHAIN):
        where = "" if code == _SELF_SIGNED else " in the chain"
        return TargetFault("tls", f"self-signed certificate{where} (unknown CA)")
    if code in _UNKNOWN_ISSUER:
        issuer = f" {cert.issuer}" if cert is not None and cert.issuer else ""
        return TargetFault("tls", f"certificate issued by an unknown CA{issuer}")
    reason = (exc.verify_message or exc.reason or "unknown reason").rstrip(".")
    return TargetFault("tls", f"certificate verification failed: {reason}")


def handshake_fault(exc: BaseException | None) -> TargetFault:
    """A failed handshake that is not a verification failure."""
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return TargetFault("tls", "the server closed the connection during the TLS handshake")
    if isinstance(exc, ssl.SSLError):
        reason = (exc.reason or str(exc)).replace("_", " ").lower()
        return TargetFault("tls", f"TLS handshake failed: {reason}")
    if isinstance(exc, OSError):
        reason = (exc.strerror or str(exc)).lower()
        return TargetFault("network", f"{reason} during the TLS handshake")
    return TargetFault("tls", "TLS handshake failed")


class _Plan(msgspec.Struct, frozen=True):
    """One handshake to make: where, how, and under which name."""

    addresses: list[Address]
    settings: TlsSettings
    name: str


async def _handshake(
    plan: _Plan, ssl_ctx: ssl.SSLContext, attempt: Attempt
) -> trio.SSLStream[trio.SocketStream]:
    """Connect, STARTTLS if asked, and complete the handshake; the caller closes the stream."""
    tcp = await connect(plan.addresses, attempt)
    done = False
    try:
        if plan.settings.starttls == "smtp":
            try:
                local = tcp.socket.getsockname()[0]
                await starttls(tcp, attempt, f"[{'IPv6:' if ':' in local else ''}{local}]")
            except trio.BrokenResourceError:
                raise TargetFault("network", f"connection broken while {attempt.phase}") from None
        attempt.phase = "negotiating TLS"
        since = trio.current_time()
        tls = trio.SSLStream(tcp, ssl_ctx, server_hostname=plan.name)
        await tls.do_handshake()
        attempt.lap("tls", since)
        done = True
        return tls
    finally:
        if not done:
            await trio.aclose_forcefully(tcp)


async def _look_unverified(
    plan: _Plan, ctx: ProbeContext, deadline: float
) -> PeerCertificate | None:
    """The certificate seen without verifying it, if a second handshake manages by
    `deadline`; None otherwise (the first failure is reported either way)."""
    addresses = plan.addresses[:1]
    ssl_ctx = ctx.ssl_context(verify=False)
    with trio.move_on_at(deadline):
        try:
            tls = await _handshake(_Plan(addresses, plan.settings, plan.name), ssl_ctx, Attempt())
        except (TargetFault, trio.BrokenResourceError):
            return None
        try:
            return peer_certificate(tls, verified=False, now=time.time())
        finally:
            await trio.aclose_forcefully(tls)
    return None


async def _probe(
    host: str,
    port: int,
    settings: TlsSettings,
    ctx: ProbeContext,
    attempt: Attempt,
    deadline: float,
) -> Observation:
    addresses = await resolve(host, port, attempt, ctx.dns_limiter, settings.ip_version)
    try:
        ssl_ctx = ctx.ssl_context(verify=settings.verify, ca_file=settings.ca_file)
    except TlsSetupError as exc:
        raise TargetFault("tls", str(exc)) from None
    name = host if settings.server_name is None else normalise_host(settings.server_name)
    plan = _Plan(addresses, settings, name)
    try:
        tls = await _handshake(plan, ssl_ctx, attempt)
    except trio.BrokenResourceError as exc:
        cause = exc.__cause__
        if not isinstance(cause, ssl.SSLCertVerificationError):
            raise handshake_fault(cause) from None
        # Half of what is left: the verification failure is reported in time regardless.
        connected = [a for a in addresses if a[3][0] == attempt.ip] or addresses
        look = _Plan(connected, settings, plan.name)
        halfway = trio.current_time() + (deadline - trio.current_time()) / 2
        cert = await _look_unverified(look, ctx, halfway)
        if cert is not None:
            attempt.details["tls"] = {"days_left": cert.days_left, "chain": cert.chain}
        raise verify_fault(cause, plan.name, cert) from None
    try:
        cert = peer_certificate(tls, verified=settings.verify, now=time.time())
        attempt.details["tls"] = session_details(tls, cert)
        fault = expiry_fault(cert, settings.min_days)
        if fault is not None:
            raise fault
        if settings.assertions:
            cipher = tls.cipher()
            attempt.judge(
                settings.assertions,
                {
                    "cert": cert.facts(),
                    "tls": {
                        "version": tls.version(),
                        "cipher": cipher[0] if cipher else None,
                        "alpn": tls.selected_alpn_protocol(),
                    },
                    "response_time": attempt.elapsed_ms(),
                    "ip": attempt.ip,
                },
            )
        return attempt.observe()
    finally:
        await trio.aclose_forcefully(tls)


def split_tls_target(target: str) -> tuple[str, int]:
    """`host[:port]` (port 443 if left out) -> (normalised host, port)."""
    text = target.strip()
    if not text.startswith("[") and ":" not in text and "/" not in text:
        text = f"{text}:{DEFAULT_PORT}"
    return split_target(text)


class TlsKind:
    """Up when the TLS certificate verifies and expires no sooner than `min_days`."""

    name = "tls"
    settings_type = TlsSettings
    secret_fields: tuple[str, ...] = ()
    secret_header_fields: tuple[str, ...] = ()
    secret_url_fields: tuple[str, ...] = ()

    def parse_target(self, target: str) -> str:
        host, port = split_tls_target(target)
        return format_address(host, port)

    def check_settings(self, settings: msgspec.Struct, *, timeout: float) -> list[tuple[str, str]]:
        if not isinstance(settings, TlsSettings):
            raise TypeError(f"expected TlsSettings, got {type(settings).__name__}")
        problems: list[tuple[str, str]] = []
        if not 0 <= settings.min_days <= MAX_MIN_DAYS:
            problems.append(("min_days", f"{settings.min_days} is not within 0-{MAX_MIN_DAYS}"))
        if settings.server_name is not None:
            try:
                normalise_host(settings.server_name)
            except ValueError as exc:
                problems.append(("server_name", str(exc)))
        if settings.ca_file is not None and not settings.ca_file.startswith("/"):
            problems.append(("ca_file", "must be an absolute path, e.g. /etc/uptrack/ca.pem"))
        problems.extend(check_assertions(settings.assertions, FACTS))
        return problems

    async def check(
        self, target: str, settings: Any, timeout: float, ctx: ProbeContext
    ) -> Observation:
        host, port = split_tls_target(target)
        attempt = Attempt()
        deadline = trio.current_time() + timeout
        with trio.move_on_at(deadline):
            try:
                return await _probe(host, port, settings, ctx, attempt, deadline)
            except TargetFault as fault:
                return attempt.observe(fault.kind, fault.message)
        return attempt.timed_out(timeout)


KIND = TlsKind()
