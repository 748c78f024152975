"""The http kind: HTTP/1.1 over trio streams and h11, one fresh connection per hop.

One check is one deadline. Each hop resolves (once per host), connects, negotiates
TLS for https, sends one request with `Connection: close` and reads the response
head; redirects are followed hop by hop and the final response is judged: status,
then the body (capped), then the keywords. Phase timings add up over the hops;
`ip` and `http_status` are those of the last hop.
"""

from __future__ import annotations

import re
import ssl
from typing import Any, Literal
from urllib.parse import quote, quote_from_bytes, urljoin, urlsplit

import h11
import msgspec
import trio

from checker.context import ProbeContext
from checker.kinds.tcp import (
    Address,
    Attempt,
    TargetFault,
    connect,
    format_address,
    normalise_host,
    resolve,
)
from uptrack.model import Observation

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

KIB = 1024
MIB = 1024 * KIB
MAX_HEADER_BYTES = 64 * KIB
"""A response head larger than this is `too_large` (h11's incomplete-event limit)."""

_RECEIVE_BYTES = 64 * KIB
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Everything but the reserved characters, '%' and the unreserved ones gets
# percent-encoded, so a URL stays as given where it is already valid.
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"
_STATUS_SPEC = re.compile(r"(\d{3})(?:\s*-\s*(\d{3}))?", re.ASCII)
_HEADER_NAME = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")
_PROBE_HEADERS = frozenset({"connection", "content-length", "transfer-encoding"})
_BODY_HEADERS = frozenset({"content-type", "content-encoding", "content-language"})
_ORIGIN_HEADERS = frozenset({"host", "authorization", "cookie", "proxy-authorization"})


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


class Url(msgspec.Struct, frozen=True):
    """An http(s) URL split the way a request needs it."""

    scheme: str
    host: str  # IDNA-encoded host name or IP literal without brackets
    port: int
    target: str  # path and query, percent-encoded

    @property
    def authority(self) -> str:
        """`host[:port]`, the Host header; the port only where it is not the default."""
        if self.port == (443 if self.scheme == "https" else 80):
            return f"[{self.host}]" if ":" in self.host else self.host
        return format_address(self.host, self.port)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.authority}{self.target}"


def parse_url(text: str) -> Url:
    """An absolute http or https URL; ValueError says what is wrong and what is accepted."""
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise ValueError("a URL must not contain spaces or control characters; percent-encode them")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValueError(
            f"not a valid URL ({exc}); use http://host/path or https://host/path"
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        if parts.netloc:
            raise ValueError(f"unsupported scheme {scheme!r}; use an http:// or https:// URL")
        raise ValueError("not an absolute URL; use http://host/path or https://host/path")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "credentials in the URL are not supported; set an Authorization header instead"
        )
    if not parts.hostname:
        raise ValueError("the URL has no host; use http://host/path or https://host/path")
    if port == 0:
        raise ValueError("port 0 is not a port; use a port from 1 to 65535")
    path = quote(parts.path or "/", safe=_URL_SAFE)
    query = quote(parts.query, safe=_URL_SAFE)
    return Url(
        scheme=scheme,
        host=normalise_host(parts.hostname),
        port=port or (443 if scheme == "https" else 80),
        target=f"{path}?{query}" if query else path,
    )


def parse_status_spec(spec: list[int | str]) -> list[tuple[int, int]]:
    """Inclusive (low, high) ranges from codes and "200-399" strings; ValueError if bad."""
    if not spec:
        raise ValueError('list at least one status code or range, e.g. ["200-399"]')
    ranges = []
    for item in spec:
        if isinstance(item, int) and not isinstance(item, bool):
            low = high = item
        else:
            match = _STATUS_SPEC.fullmatch(item.strip()) if isinstance(item, str) else None
            if match is None:
                raise ValueError(f"{item!r} is not a status code or a range like '200-399'")
            low = int(match[1])
            high = int(match[2] or match[1])
        if not 100 <= low <= high <= 599:
            raise ValueError(f"{item!r} is not within 100-599, low to high (e.g. 200, '200-399')")
        ranges.append((low, high))
    return ranges


def _size(n: int) -> str:
    if n % MIB == 0:
        return f"{n // MIB} MiB"
    if n % KIB == 0:
        return f"{n // KIB} KiB"
    return f"{n} bytes"


def _quoted(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


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
    body = None if settings.body is None else settings.body.encode()
    return _Request(method=settings.method, headers=headers, body=body)


def _encode(conn: h11.Connection, url: Url, request: _Request) -> bytes:
    headers = request.headers
    if not any(name.lower() == "host" for name, _ in headers):
        headers = [("Host", url.authority), *headers]
    headers = [*headers, ("Connection", "close")]
    events: list[h11.Event] = []
    if request.body is not None:
        headers.append(("Content-Length", str(len(request.body))))
        events.append(h11.Data(data=request.body))
    head = h11.Request(method=request.method, target=url.target, headers=headers)
    return b"".join(conn.send(event) or b"" for event in (head, *events, h11.EndOfMessage()))


async def _next_event(stream: trio.abc.Stream, conn: h11.Connection) -> Any:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        data = await stream.receive_some(_RECEIVE_BYTES)
        if not data and conn.their_state is h11.SEND_RESPONSE:
            # h11 would report this as an invalid state transition; say what happened.
            if conn.trailing_data[0]:
                raise TargetFault("protocol", "the server closed the connection mid-headers")
            raise TargetFault("protocol", "the server closed the connection without a response")
        conn.receive_data(bytes(data))


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


async def _open(
    url: Url, addresses: list[Address], verify: bool, ctx: ProbeContext, attempt: Attempt
) -> trio.abc.Stream:
    tcp = await connect(addresses, attempt)
    if url.scheme == "http":
        return tcp
    attempt.phase = "negotiating TLS"
    since = trio.current_time()
    tls = trio.SSLStream(
        tcp, ctx.ssl_context(verify=verify), server_hostname=url.host, https_compatible=True
    )
    handshaken = False
    try:
        await tls.do_handshake()
        handshaken = True
    except trio.BrokenResourceError as exc:
        raise _tls_fault(exc.__cause__) from None
    finally:
        if not handshaken:
            await trio.aclose_forcefully(tcp)
    attempt.lap("tls", since)
    return tls


async def _exchange(
    stream: trio.abc.Stream, url: Url, request: _Request, attempt: Attempt
) -> tuple[h11.Connection, h11.Response]:
    """Send the request and read the response head (skipping 1xx)."""
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEADER_BYTES)
    attempt.phase = "sending the request"
    since = trio.current_time()
    await stream.send_all(_encode(conn, url, request))
    attempt.phase = "reading headers"
    event = await _next_event(stream, conn)
    while isinstance(event, h11.InformationalResponse):
        event = await _next_event(stream, conn)
    if not isinstance(event, h11.Response):
        raise TargetFault("protocol", f"unexpected {type(event).__name__} instead of a response")
    attempt.lap("ttfb", since)
    attempt.http_status = event.status_code
    return conn, event


async def _read_body(
    stream: trio.abc.Stream, conn: h11.Connection, limit: int, *, keep: bool
) -> bytes:
    """Read the body to its end; keep it only if asked (the size is always capped)."""
    size = 0
    chunks: list[bytes] = []
    while True:
        event = await _next_event(stream, conn)
        if isinstance(event, h11.Data):
            size += len(event.data)
            if size > limit:
                raise TargetFault("too_large", f"body larger than {_size(limit)}")
            if keep:
                chunks.append(event.data)
        elif isinstance(event, h11.EndOfMessage):
            return b"".join(chunks)
        else:
            raise TargetFault("protocol", f"unexpected {type(event).__name__} in the body")


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
        to = parse_url(urljoin(str(url), quote_from_bytes(location, safe=_URL_SAFE)))
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


def _location(response: h11.Response) -> bytes | None:
    if response.status_code not in _REDIRECT_STATUSES:
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


def _protocol_fault(exc: h11.RemoteProtocolError, phase: str) -> TargetFault:
    if exc.error_status_hint == 431:
        return TargetFault("too_large", f"response head larger than {_size(MAX_HEADER_BYTES)}")
    reason = str(exc)
    if len(reason) > 120:  # h11 quotes what it could not parse: keep stored errors short
        reason = reason[:120] + "…"
    return TargetFault("protocol", f"{reason} while {phase}")


async def _hop(
    url: Url,
    request: _Request,
    settings: HttpSettings,
    accepted: list[tuple[int, int]],
    ctx: ProbeContext,
    attempt: Attempt,
    resolved: dict[tuple[str, int], list[Address]],
) -> Observation | tuple[Url, _Request]:
    """One request on a fresh connection: the final Observation, or the next hop."""
    attempt.http_status = None
    addresses = resolved.get((url.host, url.port))
    if addresses is None:
        addresses = resolved[url.host, url.port] = await resolve(
            url.host, url.port, attempt, ctx.dns_limiter
        )
    stream = await _open(url, addresses, settings.verify_tls, ctx, attempt)
    try:
        conn, response = await _exchange(stream, url, request, attempt)
        status = response.status_code
        location = _location(response) if settings.follow_redirects else None
        if location is not None:
            return _redirect(url, request, status, location)
        if not any(low <= status <= high for low, high in accepted):
            spec = ", ".join(str(item) for item in settings.accepted_status)
            raise TargetFault("status", f"status {status} not in {spec}")
        attempt.phase = "reading the body"
        keep = settings.keyword is not None or settings.keyword_absent is not None
        body = await _read_body(stream, conn, settings.max_body_bytes, keep=keep)
        if keep:
            _judge_text(body, settings)
        return attempt.observe()
    except trio.BrokenResourceError as exc:
        raise _stream_fault(exc, attempt.phase) from None
    except h11.RemoteProtocolError as exc:
        raise _protocol_fault(exc, attempt.phase) from None
    finally:
        await trio.aclose_forcefully(stream)


async def _probe(
    url: Url, settings: HttpSettings, ctx: ProbeContext, attempt: Attempt
) -> Observation:
    accepted = parse_status_spec(settings.accepted_status)
    request = _first_request(settings, ctx)
    resolved: dict[tuple[str, int], list[Address]] = {}
    for _ in range(settings.max_redirects + 1):
        outcome = await _hop(url, request, settings, accepted, ctx, attempt, resolved)
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
        if not _HEADER_NAME.fullmatch(name):
            problems.append(("headers", f"{name!r} is not a valid header name"))
        elif name.lower() in _PROBE_HEADERS:
            problems.append(("headers", f"{name} is set by the probe and cannot be given"))
        elif not _HEADER_VALUE.fullmatch(value):
            problems.append(("headers", f"the value of {name} must be printable ASCII"))
    for field in ("keyword", "keyword_absent"):
        word = getattr(settings, field)
        if word == "":
            problems.append((field, "must not be empty (leave it out to not check the body)"))
        elif word is not None and settings.method == "HEAD":
            problems.append((field, "a HEAD response has no body to search; use GET"))
    return problems


class HttpKind:
    """Up when an http(s) URL answers an accepted status (and the keywords hold)."""

    name = "http"
    settings_type = HttpSettings

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
