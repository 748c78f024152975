"""Behaviour every store implements the same way: page cursors, exact settings, state advance."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Mapping
from typing import Any

import msgspec
import structlog

from uptrack.errors import FieldError, InvalidInput
from uptrack.model import Monitor, MonitorState, Result, Transition
from uptrack.slots import shard_of
from uptrack.states import advance

log = structlog.get_logger()

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


# -- result details ------------------------------------------------------------
def encode_details(details: Mapping[str, Any] | None) -> str | None:
    """A result's details as JSON text that both databases keep as it is (SQLite
    text, PostgreSQL jsonb). A check's details must never fail a batch of results:
    what JSON cannot hold is made storable instead (NUL, which jsonb refuses, and
    lone surrogates become U+FFFD; other objects their text), NaN becomes null."""
    if details is None:
        return None
    try:
        text = msgspec.json.encode(details)
    except (TypeError, ValueError, OverflowError):  # UnicodeEncodeError is a ValueError
        text = msgspec.json.encode(_storable(details))
    if b"\\u0000" in text:
        text = msgspec.json.encode(_storable(details))
    return text.decode()


def decode_details(value: str | dict[str, Any] | None) -> dict[str, Any] | None:
    """Details as stored: JSON text (SQLite), already decoded (PostgreSQL), or None."""
    if value is None or isinstance(value, dict):
        return value
    return msgspec.json.decode(value, type=dict[str, Any])


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        return (
            value.encode("utf-8", "surrogatepass")
            .decode("utf-8", "replace")
            .replace("\x00", "\ufffd")
        )
    if isinstance(value, Mapping):
        return {_storable(str(k)): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_storable(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return _storable(str(value))


def advance_states(
    monitors: Mapping[str, Monitor],
    states: Mapping[str, MonitorState],
    fresh: Mapping[str, list[Result]],
    *,
    highest_epochs: Mapping[int, int] | None = None,
) -> tuple[list[MonitorState], list[Transition]]:
    """Advance each monitor's state by its newly stored results, in slot order.

    A result whose epoch is below the highest seen for its monitor's shard
    (`highest_epochs`, see `uptrack.store.fencing`) is a stale shard owner's: it
    moves no state. Returns the states that changed and the transitions that
    happened, in the order every store writes and reports them."""
    transitions: list[Transition] = []
    changed: list[MonitorState] = []
    fenced: list[Result] = []
    for monitor_id, results in fresh.items():
        before = state = states.get(monitor_id) or MonitorState(monitor_id=monitor_id)
        highest = (highest_epochs or {}).get(monitors[monitor_id].shard, 0)
        for r in sorted(results, key=lambda r: r.slot):
            # -- shard-epoch fencing (DESIGN §4); epoch 0 is a single node's --
            if r.epoch and r.epoch < highest:
                fenced.append(r)
                continue
            state, transition = advance(state, monitors[monitor_id], r)
            if transition is not None:
                transitions.append(transition)
        if state is not before:
            changed.append(state)
    if fenced:
        log.warning(
            "results.fenced",
            results=len(fenced),
            monitors=len({r.monitor_id for r in fenced}),
            shards=sorted({monitors[r.monitor_id].shard for r in fenced}),
            epochs=sorted({r.epoch for r in fenced}),
            nodes=sorted({r.node for r in fenced}),
        )
    return changed, transitions


SHARD_COUNTS = "SELECT shard, count(*) FROM monitors GROUP BY shard"


def balanced_id(counts: dict[int, int], shards: int) -> str:
    """A new monitor id whose shard, H(id) mod S as everywhere, is one of the least
    filled; `counts` (monitors per shard) is updated. Random ids alone leave shards
    (and so nodes) unevenly loaded; drawing ids until one lands in a least-filled
    shard keeps them even at a cost of about S hashes per monitor created."""
    low = min((counts.get(s, 0) for s in range(shards)), default=0)
    for tries in range(64 * shards):
        candidate = uuid.uuid4().hex
        shard = shard_of(candidate, shards)
        # after 4*S misses, a shard one above the least filled will do
        if counts.get(shard, 0) <= low + (tries >= 4 * shards):
            counts[shard] = counts.get(shard, 0) + 1
            return candidate
    return uuid.uuid4().hex  # not reached in practice (about e^-64)
