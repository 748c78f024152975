"""The http kind: HTTP/1.1 over trio streams and h11, one fresh connection per hop.

One check is one deadline. Each hop resolves (once per host), connects, negotiates
TLS for https, sends one request with `Connection: close` and reads the response
head; redirects are followed hop by hop and the final response is judged: status,
then the body (capped), then the keywords. Phase timings add up over the hops;
`ip` and `http_status` are those of the last hop.
"""

from __future__ import annotations

import base64
import re
import ssl
import time
from typing import Any, Literal, Protocol
from urllib.parse import quote_from_bytes, urljoin

import h11
import msgspec
import trio

from checker import http1, http2
from checker.certs import CERT_FIELDS, PeerCertificate, peer_certificate, session_details
from checker.context import ProbeContext, TlsSetupError
from checker.http1 import KIB, MIB
from checker.kinds.tcp import (
    Address,
    Attempt,
    IpVersion,
    TargetFault,
    connect,
    resolve,
)
from checker.proxy import Proxy, open_tunnel, parse_proxy
from checker.urls import URL_SAFE, Url, parse_status_spec, parse_url
from uptrack.assertions import FactSchema, Unavailable, check_assertions, roots_of
from uptrack.assertions import parse as parse_assertion
from uptrack.model import Observation

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_HEADER_NAME = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
# RFC 9110 field values: no leading or trailing whitespace (h11 and h2 refuse it).
_HEADER_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\t\x20-\x7e]*[\x21-\x7e])?)?")
_PROBE_HEADERS = frozenset({"connection", "content-length", "transfer-encoding"})
_BODY_HEADERS = frozenset({"content-type", "content-encoding", "content-language"})
_ORIGIN_HEADERS = frozenset({"host", "authorization", "cookie", "proxy-authorization"})
_TOKEN = re.compile(r"[\x21-\x7e]+")
ALPN_H2 = ("h2", "http/1.1")
FACTS: FactSchema = {
    "status": None,
    "response_time": None,
    "header": "any",
    "json": "any",
    "body": None,
    "cert": CERT_FIELDS,
    "http_version": None,
    "ip": None,
}


class BasicAuth(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """HTTP basic authentication (RFC 7617) sent to the first origin."""

    username: str
    password: str


class HttpSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Settings of an http monitor; `HttpKind.check_settings` checks their ranges."""

    method: Method = "GET"
    headers: dict[str, str] = {}
    body: str | None = None
    # Codes (200) or inclusive ranges ("200-399").
    accepted_status: list[int | str] = msgspec.field(default_factory=lambda: ["200-399"])
    keyword: str | None = None  # must appear in the body
    keyword_absent: str | None = None  # must not appear in the body
    follow_redirects: bool = True
    max_redirects: int = 10
    verify_tls: bool = True
    max_body_bytes: int = MIB
    assertions: list[str] = []  # conditions on status, headers, JSON, timing, certificate
    basic_auth: BasicAuth | None = None
    bearer_token: str | None = None
    ca_file: str | None = None  # trust this CA bundle instead of the system store
    client_cert: str | None = None  # PEM certificate (chain) for mutual TLS
    client_key: str | None = None  # its key, unless client_cert holds it too
    http2: bool = True  # offer HTTP/2 over TLS (ALPN); HTTP/1.1 otherwise
    ip_version: IpVersion = "any"
    proxy: str | None = None  # http://[user:password@]host:port


def _quoted(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


class Response(Protocol):
    """A response head, HTTP/1.1 or HTTP/2, whose body is read on demand."""

    status: int
    headers: list[tuple[bytes, bytes]]
    http_version: str

    async def read_body(self, limit: int, *, keep: bool) -> bytes: ...


class _Request(msgspec.Struct, frozen=True):
    """What is sent on every hop; a redirect may change it (see `_redirect`)."""

    method: str
    headers: list[tuple[str, str]]  # without Host unless the user set it
    body: bytes | None


def _first_request(settings: HttpSettings, ctx: ProbeContext) -> _Request:
    given = {name.lower() for name in settings.headers}
    defaults = [
        ("User-Agent", ctx.user_agent),
        ("Accept", "*/*"),
        # The probe does not decompress: keywords must be searched in plain text.
        ("Accept-Encoding", "identity"),
    ]
    headers = [(name, value) for name, value in defaults if name.lower() not in given]
    headers.extend(settings.headers.items())
    if settings.basic_auth is not None:
        pair = f"{settings.basic_auth.username}:{settings.basic_auth.password}".encode()
        headers.append(("Authorization", "Basic " + base64.b64encode(pair).decode("ascii")))
    elif settings.bearer_token is not None:
        headers.append(("Authorization", f"Bearer {settings.bearer_token}"))
    body = None if settings.body is None else settings.body.encode()
    return _Request(method=settings.method, headers=headers, body=body)


def _tls_fault(exc: BaseException | None) -> TargetFault:
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = (exc.verify_message or exc.reason or "unknown reason").rstrip(".")
        reason = reason[:1].lower() + reason[1:]
        return TargetFault("tls", f"certificate verification failed: {reason}")
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return TargetFault("tls", "the server closed the connection during the TLS handshake")
    if isinstance(exc, ssl.SSLError):
        reason = (exc.reason or str(exc)).replace("_", " ").lower()
        return TargetFault("tls", f"TLS handshake failed: {reason}")
    if isinstance(exc, OSError):
        reason = (exc.strerror or str(exc)).lower()
        return TargetFault("network", f"{reason} during the TLS handshake")
    return TargetFault("tls", "TLS handshake failed")


def _judge_text(body: bytes, settings: HttpSettings) -> None:
    text = body.decode("utf-8", errors="replace")
    if settings.keyword is not None and settings.keyword not in text:
        raise TargetFault("keyword", f"keyword {_quoted(settings.keyword)} not found in the body")
    if settings.keyword_absent is not None and settings.keyword_absent in text:
        raise TargetFault(
            "keyword", f"keyword_absent {_quoted(settings.keyword_absent)} found in the body"
        )


def _redirect(url: Url, request: _Request, status: int, location: bytes) -> tuple[Url, _Request]:
    """The next hop: a Location resolved against `url`, and the request to send there."""
    try:
        to = parse_url(urljoin(str(url), quote_from_bytes(location, safe=URL_SAFE)))
    except ValueError as exc:
        raise TargetFault("protocol", f"redirect {status} to an unusable Location: {exc}") from None
    method, headers, body = request.method, request.headers, request.body
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, body = "GET", None
        headers = [(n, v) for n, v in headers if n.lower() not in _BODY_HEADERS]
    if (to.scheme, to.host, to.port) != (url.scheme, url.host, url.port):
        # Credentials and a forced Host were meant for the first origin only.
        headers = [(n, v) for n, v in headers if n.lower() not in _ORIGIN_HEADERS]
    return to, _Request(method=method, headers=headers, body=body)


def _location(response: Response) -> bytes | None:
    if response.status not in _REDIRECT_STATUSES:
        return None
    return next((value for name, value in response.headers if name == b"location"), None)


def _stream_fault(exc: trio.BrokenResourceError, phase: str) -> TargetFault:
    cause = exc.__cause__
    if isinstance(cause, ssl.SSLError):
        reason = (cause.reason or str(cause)).replace("_", " ").lower()
        return TargetFault("tls", f"TLS error while {phase}: {reason}")
    if isinstance(cause, OSError):
        reason = (cause.strerror or str(cause) or type(cause).__name__).lower()
        return TargetFault("network", f"{reason} while {phase}")
    return TargetFault("network", f"connection broken while {phase}")


class _Connection(msgspec.Struct):
    """An open connection to an origin (maybe tunnelled): TLS facts if it is https."""

    stream: trio.abc.Stream
    alpn: str | None = None
    cert: PeerCertificate | None = None


class _Route(msgspec.Struct, frozen=True):
    """How a check reaches origins: directly or through a proxy, and its TLS settings."""

    settings: HttpSettings
    proxy: Proxy | None
    resolved: dict[tuple[str, int], list[Address]]


async def _handshake(
    tcp: trio.abc.Stream, url: Url, route: _Route, ctx: ProbeContext, attempt: Attempt
) -> _Connection:
    settings = route.settings
    try:
        ssl_ctx = ctx.ssl_context(
            verify=settings.verify_tls,
            ca_file=settings.ca_file,
            client_cert=settings.client_cert,
            client_key=settings.client_key,
            alpn=ALPN_H2 if settings.http2 else (),
        )
    except TlsSetupError as exc:
        raise TargetFault("tls", str(exc)) from None
    attempt.phase = "negotiating TLS"
    since = trio.current_time()
    tls = trio.SSLStream(tcp, ssl_ctx, server_hostname=url.host, https_compatible=True)
    try:
        await tls.do_handshake()
    except trio.BrokenResourceError as exc:
        raise _tls_fault(exc.__cause__) from None
    attempt.lap("tls", since)
    cert = peer_certificate(tls, verified=settings.verify_tls, now=time.time())
    attempt.details["tls"] = session_details(tls, cert)
    return _Connection(tls, tls.selected_alpn_protocol(), cert)


async def _open(url: Url, route: _Route, ctx: ProbeContext, attempt: Attempt) -> _Connection:
    """A connection to the origin of `url`: TCP, through the proxy if any, then TLS."""
    proxy = route.proxy
    host, port = (proxy.host, proxy.port) if proxy is not None else (url.host, url.port)
    addresses = route.resolved.get((host, port))
    if addresses is None:
        addresses = route.resolved[host, port] = await resolve(
            host, port, attempt, ctx.dns_limiter, route.settings.ip_version
        )
    tcp = await connect(addresses, attempt)
    opened = False
    try:
        if url.scheme == "http":
            opened = True
            return _Connection(tcp)
        if proxy is not None:
            await open_tunnel(tcp, proxy, url.host, url.port, attempt)
        connection = await _handshake(tcp, url, route, ctx, attempt)
        opened = True
        return connection
    finally:
        if not opened:
            await trio.aclose_forcefully(tcp)


def _wire_request(
    url: Url, request: _Request, proxy: Proxy | None
) -> tuple[str, list[tuple[str, str]]]:
    """The request target and headers as sent: absolute-form to a proxy for http."""
    headers = request.headers
    if not any(name.lower() == "host" for name, _ in headers):
        headers = [("Host", url.authority), *headers]
    if proxy is None or url.scheme == "https":
        return url.target, headers
    if proxy.authorization is not None:
        headers = [*headers, ("Proxy-Authorization", proxy.authorization)]
    return str(url), headers


def _header_facts(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    facts: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        facts[name] = f"{facts[name]}, {value}" if name in facts else value
    return facts


def _json_fact(body: bytes) -> Any:
    try:
        return msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError) as exc:
        return Unavailable(f"the body is not JSON ({str(exc)[:80]})")


def _facts(
    response: Response, body: bytes, cert: PeerCertificate | None, attempt: Attempt, roots: set[str]
) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "status": response.status,
        "response_time": attempt.elapsed_ms(),
        "header": _header_facts(response.headers),
        "http_version": response.http_version,
        "ip": attempt.ip,
        "cert": cert.facts() if cert is not None else Unavailable("the response came over http"),
    }
    if "body" in roots:
        facts["body"] = body.decode("utf-8", errors="replace")
    if "json" in roots:
        facts["json"] = _json_fact(body)
    return facts


async def _send(
    connection: _Connection, url: Url, request: _Request, route: _Route, attempt: Attempt
) -> Response:
    target, headers = _wire_request(url, request, route.proxy)
    if connection.alpn == "h2":
        return await http2.exchange(
            connection.stream,
            url.scheme,
            url.authority,
            url.target,
            request.method,
            request.headers,
            request.body,
            attempt,
        )
    return await http1.exchange(
        connection.stream, request.method, target, headers, request.body, attempt
    )


async def _hop(
    url: Url,
    request: _Request,
    route: _Route,
    accepted: list[tuple[int, int]],
    ctx: ProbeContext,
    attempt: Attempt,
) -> Observation | tuple[Url, _Request]:
    """One request on a fresh connection: the final Observation, or the next hop."""
    settings = route.settings
    attempt.http_status = None
    connection = await _open(url, route, ctx, attempt)
    try:
        response = await _send(connection, url, request, route, attempt)
        status = response.status
        location = _location(response) if settings.follow_redirects else None
        if location is not None:
            return _redirect(url, request, status, location)
        if not any(low <= status <= high for low, high in accepted):
            spec = ", ".join(str(item) for item in settings.accepted_status)
            raise TargetFault("status", f"status {status} not in {spec}")
        attempt.phase = "reading the body"
        roots = roots_of(settings.assertions)
        keywords = settings.keyword is not None or settings.keyword_absent is not None
        keep = keywords or bool(roots & {"body", "json"})
        body = await response.read_body(settings.max_body_bytes, keep=keep)
        if keywords:
            _judge_text(body, settings)
        if settings.assertions:
            facts = _facts(response, body, connection.cert, attempt, roots)
            attempt.judge(settings.assertions, facts)
        return attempt.observe()
    except trio.BrokenResourceError as exc:
        raise _stream_fault(exc, attempt.phase) from None
    except h11.RemoteProtocolError as exc:
        raise http1.protocol_fault(exc, attempt.phase) from None
    finally:
        await trio.aclose_forcefully(connection.stream)


async def _probe(
    url: Url, settings: HttpSettings, ctx: ProbeContext, attempt: Attempt
) -> Observation:
    accepted = parse_status_spec(settings.accepted_status)
    request = _first_request(settings, ctx)
    proxy = parse_proxy(settings.proxy) if settings.proxy is not None else None
    route = _Route(settings, proxy, {})
    for _ in range(settings.max_redirects + 1):
        outcome = await _hop(url, request, route, accepted, ctx, attempt)
        if isinstance(outcome, Observation):
            return outcome
        url, request = outcome
    raise TargetFault("protocol", f"more than {settings.max_redirects} redirects")


def _settings_problems(settings: HttpSettings) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    try:
        parse_status_spec(settings.accepted_status)
    except ValueError as exc:
        problems.append(("accepted_status", str(exc)))
    if not 0 <= settings.max_redirects <= 30:
        problems.append(("max_redirects", f"{settings.max_redirects} is not within 0-30"))
    if not KIB <= settings.max_body_bytes <= 64 * MIB:
        problems.append(
            (
                "max_body_bytes",
                f"{settings.max_body_bytes} is not within 1 KiB-64 MiB (1024-67108864)",
            )
        )
    for name, value in settings.headers.items():
        if ":" in name:
            # Not quoted: "Authorization: Bearer …" pasted as a name holds a secret.
            problems.append(("headers", "a header name has no ':'; give the value apart"))
        elif not _HEADER_NAME.fullmatch(name):
            problems.append(("headers", f"{name!r} is not a valid header name"))
        elif name.lower() in _PROBE_HEADERS:
            problems.append(("headers", f"{name} is set by the probe and cannot be given"))
        elif not _HEADER_VALUE.fullmatch(value):
            problems.append(
                (
                    "headers",
                    f"the value of {name} must be printable ASCII, "
                    "without spaces at its start or end",
                )
            )
    for field in ("keyword", "keyword_absent"):
        word = getattr(settings, field)
        if word == "":
            problems.append((field, "must not be empty (leave it out to not check the body)"))
        elif word is not None and settings.method == "HEAD":
            problems.append((field, "a HEAD response has no body to search; use GET"))
    problems.extend(_assertion_problems(settings))
    problems.extend(_auth_problems(settings))
    problems.extend(_tls_problems(settings))
    if settings.proxy is not None:
        try:
            parse_proxy(settings.proxy)
        except ValueError as exc:
            problems.append(("proxy", str(exc)))
    return problems


def _assertion_problems(settings: HttpSettings) -> list[tuple[str, str]]:
    problems = check_assertions(settings.assertions, FACTS)
    if not problems and settings.method == "HEAD":
        for index, text in enumerate(settings.assertions):
            root = parse_assertion(text).root
            if root in ("body", "json"):
                problems.append(
                    (f"assertions[{index}]", f"a HEAD response has no body for {root}; use GET")
                )
    return problems


def _auth_problems(settings: HttpSettings) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    given = {name.lower() for name in settings.headers}
    for field in ("basic_auth", "bearer_token"):
        if getattr(settings, field) is not None and "authorization" in given:
            problems.append((field, "conflicts with the Authorization header; give one of them"))
    if settings.basic_auth is not None and settings.bearer_token is not None:
        problems.append(("bearer_token", "give basic_auth or bearer_token, not both"))
    auth = settings.basic_auth
    if auth is not None:
        if ":" in auth.username:
            problems.append(("basic_auth.username", "must not contain ':'"))
        for field, value in (("username", auth.username), ("password", auth.password)):
            if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
                problems.append((f"basic_auth.{field}", "must not contain control characters"))
    token = settings.bearer_token
    if token is not None and not _TOKEN.fullmatch(token):
        problems.append(("bearer_token", "must be printable ASCII without spaces"))
    return problems


def _tls_problems(settings: HttpSettings) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for field in ("ca_file", "client_cert", "client_key"):
        path = getattr(settings, field)
        if path is not None and not path.startswith("/"):
            problems.append((field, f"must be an absolute path, e.g. /etc/uptrack/{field}.pem"))
    if settings.client_key is not None and settings.client_cert is None:
        problems.append(("client_key", "needs client_cert (the certificate of the key)"))
    return problems


class HttpKind:
    """Up when an http(s) URL answers an accepted status (and the keywords hold)."""

    name = "http"
    settings_type = HttpSettings
    secret_fields: tuple[str, ...] = ("basic_auth.password", "bearer_token")
    secret_header_fields: tuple[str, ...] = ("headers",)
    secret_url_fields: tuple[str, ...] = ("proxy",)

    def parse_target(self, target: str) -> str:
        return str(parse_url(target.strip()))

    def check_settings(self, settings: msgspec.Struct, *, timeout: float) -> list[tuple[str, str]]:
        if not isinstance(settings, HttpSettings):
            raise TypeError(f"expected HttpSettings, got {type(settings).__name__}")
        return _settings_problems(settings)

    async def check(
        self,
        target: str,
        settings: Any,
        timeout: float,
        ctx: ProbeContext,
    ) -> Observation:
        url = parse_url(target)
        attempt = Attempt()
        with trio.move_on_after(timeout):
            try:
                return await _probe(url, settings, ctx, attempt)
            except TargetFault as fault:
                return attempt.observe(fault.kind, fault.message)
        return attempt.timed_out(timeout)


KIND = HttpKind()
