"""One HTTP request to a vendor, and how its outcome becomes a NotifyError.

- 2xx: delivered;
- 408, 429 and 5xx, timeouts, refused or broken connections: temporary, with the
  receiver's `Retry-After` (seconds or an HTTP date) as `retry_after`;
- every other status (4xx, and 3xx: redirects are not followed), and a TLS
  certificate that does not verify: permanent.

Error messages name the vendor, the status and the start of the vendor's answer,
with every secret setting cut out.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import ssl
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx
import msgspec

from uptrack.alerts.context import NotifyContext
from uptrack.alerts.errors import NotifyError

MAX_ANSWER_BYTES = 64 * 1024
"""How much of a vendor's answer is read; enough for any error description."""

SNIPPET_CHARS = 200
"""How much of a vendor's answer goes into an error message."""

_TEMPORARY_STATUSES = frozenset({408, 429})


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    """A vendor's answer: status, headers (lower-case names) and the start of the body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return msgspec.json.decode(self.body)
        except msgspec.DecodeError:
            return None


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every (non-trivial) secret replaced by `***`."""
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a `Retry-After` value: delta-seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        current = now if now is not None else datetime.datetime.now(datetime.UTC).timestamp()
        seconds = when.timestamp() - current
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


async def request(
    ctx: NotifyContext,
    vendor: str,
    method: str,
    url: str | httpx.URL,
    *,
    secrets: Iterable[str] = (),
    headers: Mapping[str, str] | None = None,
    json: Any = None,
    content: bytes | None = None,
    data: Mapping[str, str] | None = None,
) -> Answer:
    """Send one request with the node's client and read the start of the answer.

    Raises NotifyError (temporary) when no answer arrives: timeouts, refused or
    broken connections. Statuses are left to `expect_success`.
    """
    body = content if content is not None else None
    if json is not None:
        body = msgspec.json.encode(json)
        headers = {"Content-Type": "application/json", **(headers or {})}
    try:
        async with ctx.http.stream(
            method, url, headers=headers, content=body, data=data
        ) as response:
            received = bytearray()
            async for chunk in response.aiter_raw():
                received += chunk
                if len(received) >= MAX_ANSWER_BYTES:
                    break
            return Answer(
                status=response.status_code,
                headers={k.lower(): v for k, v in response.headers.items()},
                body=bytes(received[:MAX_ANSWER_BYTES]),
            )
    except httpx.TimeoutException as exc:
        message = scrub(f"{vendor}: no answer in time ({_describe(exc)})", secrets)
        raise NotifyError(message, permanent=False) from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        message = scrub(f"{vendor}: the URL cannot be used ({_describe(exc)})", secrets)
        raise NotifyError(message, permanent=True) from exc
    except httpx.ConnectError as exc:
        untrusted = _untrusted_certificate(exc)
        if untrusted is not None:
            # A certificate that does not verify is a setting to fix, not an outage.
            message = scrub(f"{vendor}: TLS certificate not trusted ({untrusted})", secrets)
            raise NotifyError(message, permanent=True) from exc
        message = scrub(f"{vendor}: request failed ({_describe(exc)})", secrets)
        raise NotifyError(message, permanent=False) from exc
    except httpx.HTTPError as exc:
        message = scrub(f"{vendor}: request failed ({_describe(exc)})", secrets)
        raise NotifyError(message, permanent=False) from exc


def expect_success(
    vendor: str,
    answer: Answer,
    *,
    secrets: Iterable[str] = (),
    retry_after: Callable[[Answer], float | None] | None = None,
) -> None:
    """Return if the answer is a 2xx; otherwise raise NotifyError classified by status.

    `retry_after` reads a vendor's own wait hint from the body (Telegram's
    `parameters.retry_after`) when the `Retry-After` header is absent.
    """
    status = answer.status
    if 200 <= status < 300:
        return
    snippet = answer.body[:SNIPPET_CHARS].decode("utf-8", "replace").strip()
    message = scrub(f"{vendor} answered {status}" + (f": {snippet}" if snippet else ""), secrets)
    if status in _TEMPORARY_STATUSES or status >= 500:
        wait = parse_retry_after(answer.headers.get("retry-after"))
        if wait is None and retry_after is not None:
            wait = retry_after(answer)
        raise NotifyError(message, permanent=False, retry_after=wait, status=status)
    raise NotifyError(message, permanent=True, status=status)


async def post(
    ctx: NotifyContext,
    vendor: str,
    url: str | httpx.URL,
    *,
    secrets: Iterable[str] = (),
    headers: Mapping[str, str] | None = None,
    json: Any = None,
    content: bytes | None = None,
    data: Mapping[str, str] | None = None,
) -> Answer:
    """POST, and raise NotifyError unless the answer is a 2xx."""
    answer = await request(
        ctx,
        vendor,
        "POST",
        url,
        secrets=secrets,
        headers=headers,
        json=json,
        content=content,
        data=data,
    )
    expect_success(vendor, answer, secrets=secrets)
    return answer


def _untrusted_certificate(exc: BaseException) -> str | None:
    """The verification failure behind a connection error, if that is what it was."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen.verify_message or str(seen)
        seen = seen.__cause__ or seen.__context__
    return None


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
