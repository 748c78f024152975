"""Behaviour every store implements the same way: page cursors, exact settings, uptime sums."""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Iterable
from typing import Any

import msgspec

from uptrack.errors import FieldError, InvalidInput
from uptrack.model import Uptime

_SLOT_CURSOR = re.compile(r"^-?[0-9]{1,19}$")
_BAD_CURSOR = "is not a cursor from a previous page"


def check_limit(limit: int) -> None:
    if limit < 1:
        raise InvalidInput([FieldError("limit", f"{limit} is below the minimum of 1")])


def name_cursor(name: str) -> str:
    """The cursor of the page that follows the monitor named `name`."""
    return base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def parse_name_cursor(cursor: str) -> str:
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        name = raw.decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidInput([FieldError("cursor", _BAD_CURSOR)]) from None
    if not name or name_cursor(name) != cursor:
        raise InvalidInput([FieldError("cursor", _BAD_CURSOR)])
    return name


def slot_cursor(slot: int) -> str:
    """The cursor of the page of results older than `slot`."""
    return str(slot)


def parse_slot_cursor(cursor: str) -> int:
    if not _SLOT_CURSOR.match(cursor):
        raise InvalidInput([FieldError("cursor", _BAD_CURSOR)])
    return int(cursor)


def encode_settings(settings: dict[str, Any]) -> str:
    """Settings as JSON text, refusing anything JSON would not give back exactly
    (NaN, infinities, tuples, bytes, non-string keys): a stored monitor must read
    back as it was written, never silently changed."""
    try:
        text = msgspec.json.encode(settings)
        same = msgspec.json.decode(text) == settings
    except (TypeError, ValueError, OverflowError, msgspec.MsgspecError) as e:
        raise InvalidInput([FieldError("settings", f"cannot be stored: {e}")]) from None
    if not same:
        raise InvalidInput(
            [
                FieldError(
                    "settings",
                    "holds a value JSON cannot keep exactly (NaN, infinity, a tuple, "
                    "bytes or a non-string key); use strings, numbers, booleans, null, "
                    "lists and objects",
                )
            ]
        )
    return text.decode()


def decode_settings(text: str) -> dict[str, Any]:
    return msgspec.json.decode(text, type=dict[str, Any])


def summarize_uptime(rows: Iterable[tuple[bool, float]], *, since: float, until: float) -> Uptime:
    """Uptime of (ok, duration_ms) results: counts, mean duration and nearest-rank p95
    over every result of the window, good or failed."""
    durations = []
    good = 0
    for ok, duration_ms in rows:
        good += ok
        durations.append(duration_ms)
    checks = len(durations)
    if checks == 0:
        return Uptime(
            window_start=since,
            window_end=until,
            checks=0,
            good=0,
            failed=0,
            fraction=None,
            mean_ms=None,
            p95_ms=None,
        )
    durations.sort()
    return Uptime(
        window_start=since,
        window_end=until,
        checks=checks,
        good=good,
        failed=checks - good,
        fraction=good / checks,
        mean_ms=math.fsum(durations) / checks,
        p95_ms=durations[math.ceil(0.95 * checks) - 1],
    )
