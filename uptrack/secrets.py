"""Write-only settings: which values are secret, the mask the API shows, keeping them.

A kind declares its secrets (`KindSchema.secret_fields`, `secret_header_fields`,
`secret_url_fields`); a channel its `secret_fields`. The API never shows a secret
that is set, only `MASK`; a client that sends `MASK` back keeps the stored value,
so reading a monitor, editing it and sending it back loses nothing.

    shown = redact(monitor.settings, kind)          # {"bearer_token": "********", ...}
    given = restore(patch, monitor.settings, kind)  # MASK -> the stored secret
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import msgspec

from uptrack.errors import FieldError, InvalidInput
from uptrack.kinds import KindSchema

MASK = "********"
"""What the API shows in place of a secret that is set; sent back, it keeps the secret."""

MASK_REFUSED = f"send the secret itself; {MASK} only keeps a stored one"

SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "x-auth-token"}
)
"""Request headers whose values are secret; so is any name containing one of
`SENSITIVE_HEADER_WORDS`."""

SENSITIVE_HEADER_WORDS = ("token", "secret", "key", "password")

# A secret this short protects nothing, and blanking it would garble the message.
_MIN_SCRUBBED = 4


def is_sensitive_header(name: str) -> bool:
    """Whether the value of the request header `name` (any case) is a secret."""
    lowered = name.lower()
    return lowered in SENSITIVE_HEADERS or any(word in lowered for word in SENSITIVE_HEADER_WORDS)


class _Slot(msgspec.Struct, frozen=True):
    """Where one secret sits in a settings mapping: `container[key]`."""

    field: str  # as errors name it: "bearer_token", "headers.X-Api-Key", "proxy"
    path: str  # as the kind declares it
    form: Literal["value", "header", "url"]
    container: dict[str, Any]
    key: str


def _find(settings: Mapping[str, Any], path: str) -> tuple[dict[str, Any], str] | None:
    """The mapping holding the dotted `path` and its last key, if the path is there."""
    *parents, last = path.split(".")
    node: object = settings
    for name in parents:
        node = node.get(name) if isinstance(node, Mapping) else None
    if not isinstance(node, dict) or last not in node:
        return None
    return node, last


def _slots(settings: dict[str, Any], kind: KindSchema) -> Iterator[_Slot]:
    for path in kind.secret_fields:
        found = _find(settings, path)
        if found is not None:
            yield _Slot(path, path, "value", *found)
    for path in kind.secret_header_fields:
        found = _find(settings, path)
        headers = found[0][found[1]] if found is not None else None
        if isinstance(headers, dict):
            for name in headers:
                if isinstance(name, str) and is_sensitive_header(name):
                    yield _Slot(f"{path}.{name}", path, "header", headers, name)
    for path in kind.secret_url_fields:
        found = _find(settings, path)
        if found is not None:
            yield _Slot(path, path, "url", *found)


def _cut_password(url: str) -> tuple[str, str, str] | None:
    """`url` cut around the password of its user info: (before, password, after).

    Cut as `urllib.parse.urlsplit` reads a URL: the authority ends at the first
    `/`, `?` or `#`, the user info at its last `@`, the user name at the first `:`.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    ends = [at for at in (rest.find(c) for c in "/?#") if at >= 0]
    authority = rest[: min(ends, default=len(rest))]
    userinfo, at, _ = authority.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if not at or not colon:
        return None
    return f"{scheme}{sep}{user}{colon}", password, rest[len(userinfo) :]


def _stored_secret(stored: Mapping[str, Any], slot: _Slot) -> str | None:
    """The stored secret at the place of `slot` (a header matched in any case)."""
    found = _find(stored, slot.path)
    if found is None:
        return None
    value = found[0][found[1]]
    if slot.form == "header":
        if not isinstance(value, Mapping):
            return None
        lowered = slot.key.lower()
        matches = [v for name, v in value.items() if str(name).lower() == lowered]
        value = value.get(slot.key, matches[0] if matches else None)
    elif slot.form == "url":
        cut = _cut_password(value) if isinstance(value, str) else None
        value = cut[1] if cut is not None else None
    if not isinstance(value, str) or not value or value == MASK:
        return None
    return value


def redact(settings: Mapping[str, Any], kind: KindSchema) -> dict[str, Any]:
    """The settings as the API may show them: every secret that is set is `MASK`."""
    shown: dict[str, Any] = copy.deepcopy(dict(settings))
    for slot in _slots(shown, kind):
        value = slot.container[slot.key]
        if slot.form == "url" and isinstance(value, str):
            cut = _cut_password(value)
            if cut is not None and cut[1]:
                slot.container[slot.key] = cut[0] + MASK + cut[2]
        elif value is not None and value != "":
            slot.container[slot.key] = MASK
    return shown


def restore(
    given: Mapping[str, Any], stored: Mapping[str, Any], kind: KindSchema
) -> dict[str, Any]:
    """`given` (settings from a client) with each `MASK` replaced by the stored secret.

    `stored` holds the settings saved before (empty for a new monitor). A mask with
    no stored secret in its place raises InvalidInput naming the field, as its value
    would otherwise be saved as the secret.
    """
    restored: dict[str, Any] = copy.deepcopy(dict(given))
    errors: list[FieldError] = []
    for slot in _slots(restored, kind):
        value = slot.container[slot.key]
        cut = _cut_password(value) if slot.form == "url" and isinstance(value, str) else None
        if (cut[1] if cut is not None else value) != MASK:
            continue
        kept = _stored_secret(stored, slot)
        if kept is None:
            errors.append(FieldError(slot.field, MASK_REFUSED))
        elif cut is not None:
            slot.container[slot.key] = cut[0] + kept + cut[2]
        else:
            slot.container[slot.key] = kept
    if errors:
        raise InvalidInput(errors)
    return restored


def secret_values(settings: Mapping[str, Any], kind: KindSchema) -> list[str]:
    """Every secret string in `settings` (a URL's password as written and decoded)."""
    values: list[str] = []
    for slot in _slots(dict(settings), kind):
        value = slot.container[slot.key]
        if not isinstance(value, str):
            continue
        if slot.form == "url":
            cut = _cut_password(value)
            if cut is None:
                continue
            values.extend((cut[1], unquote(cut[1])))
        else:
            values.append(value)
    return [v for v in values if v and v != MASK]


def scrub(message: str, secrets: Iterable[str]) -> str:
    """`message` with every occurrence of a secret replaced by `MASK`."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= _MIN_SCRUBBED:
            message = message.replace(secret, MASK)
    return message


def sent_in_clear(settings: Mapping[str, Any], kind: KindSchema) -> set[str]:
    """The secret fields `settings` carries as real values (not the mask)."""
    out: set[str] = set()
    for slot in _slots(dict(settings), kind):
        value = slot.container[slot.key]
        if slot.form == "url":
            cut = _cut_password(value) if isinstance(value, str) else None
            value = cut[1] if cut is not None else None
        if isinstance(value, str) and value and value != MASK:
            out.add(slot.field.lower() if slot.form == "header" else slot.field)
    return out


def origin(target: str) -> str:
    """Where a target sends its requests: scheme, host and port of a URL, else the
    target itself (`host:port`). Stored secrets never follow a monitor to a new one."""
    parts = urlsplit(target)
    if parts.scheme and parts.netloc:
        try:
            port = parts.port
        except ValueError:
            port = None
        return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port or ''}"
    return target.lower()


def check_move(
    given: Mapping[str, Any], stored: Mapping[str, Any], kind: KindSchema, *, moved: bool
) -> None:
    """A monitor moved to another origin keeps no stored secret: each must be sent
    again in the same request, or the change is refused naming the field (otherwise
    a token with write scope could send stored credentials to a host of its choice)."""
    if not moved:
        return
    missing = sorted(sent_in_clear(stored, kind) - sent_in_clear(given, kind))
    if missing:
        raise InvalidInput(
            [
                FieldError(field, "send this secret again to move the monitor to another host")
                for field in missing
            ]
        )
