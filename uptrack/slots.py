"""Deterministic check slots and shard placement (DESIGN §3): every node computes the same.

A monitor with interval I and id m is due at t(k) = k*I + phase(m), phase(m) = H(m) mod I,
in whole milliseconds. A slot is identified by its due time in Unix milliseconds,
k*I*1000 + phase_ms: for a fixed interval that is the index k in other units, and it
stays unique and ordered when a monitor's interval is edited, where k would restart
at another scale and collide with or sort before the slots already recorded.
"""

from __future__ import annotations

import hashlib

DEFAULT_SHARDS = 256


def stable_hash(*parts: str) -> int:
    """A 64-bit hash that is the same on every node, process and release."""
    h = hashlib.blake2b(digest_size=8)
    for part in parts:
        h.update(part.encode())
        h.update(b"\x00")
    return int.from_bytes(h.digest(), "big")


def shard_of(monitor_id: str, shards: int = DEFAULT_SHARDS) -> int:
    return stable_hash(monitor_id) % shards


def phase_of(monitor_id: str, interval: int) -> int:
    """Offset of the monitor's slots within its interval, in milliseconds."""
    return stable_hash(monitor_id) % (interval * 1000)


def slot_time(slot: int) -> float:
    """Unix time (seconds) at which `slot` is due."""
    return slot / 1000


def latest_slot(now: float, interval: int, phase_ms: int) -> int:
    """The most recent slot due at or before Unix time `now`."""
    period = interval * 1000
    k = (round(now * 1000) - phase_ms) // period
    return k * period + phase_ms


def slot_after(slot: int, interval: int, phase_ms: int) -> int:
    """The first slot of this schedule due strictly after `slot` (which may be of an
    earlier schedule of the same monitor, before its interval was edited)."""
    period = interval * 1000
    return ((slot - phase_ms) // period + 1) * period + phase_ms


def next_slot(now: float, interval: int, phase_ms: int) -> int:
    """The first slot due strictly after Unix time `now`."""
    return latest_slot(now, interval, phase_ms) + interval * 1000
