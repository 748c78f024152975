"""http(s) URLs as the http kind reads them, and accepted-status specifications."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

import msgspec

from checker.kinds.tcp import format_address, normalise_host

# Everything but the reserved characters, '%' and the unreserved ones gets
# percent-encoded, so a URL stays as given where it is already valid.
URL_SAFE = "!#$%&'()*+,/:;=?@[]~"
_STATUS_SPEC = re.compile(r"(\d{3})(?:\s*-\s*(\d{3}))?", re.ASCII)


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


def split_error_reason(exc: ValueError) -> str:
    """The reason `urlsplit` gives, without the authority it may quote (and the
    password in it)."""
    reason = str(exc)
    if "netloc" in reason:
        return "the host or user info has characters that normalise to / ? # @ or :"
    return reason


def parse_url(text: str) -> Url:
    """An absolute http or https URL; ValueError says what is wrong and what is accepted."""
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise ValueError("a URL must not contain spaces or control characters; percent-encode them")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValueError(
            f"not a valid URL ({split_error_reason(exc)}); use http://host/path or https://host/path"
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
    path = quote(parts.path or "/", safe=URL_SAFE)
    query = quote(parts.query, safe=URL_SAFE)
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
