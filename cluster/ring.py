"""Rendezvous hashing: which live node owns which shard (DESIGN §4)."""

from __future__ import annotations

from collections.abc import Iterable

from uptrack.slots import stable_hash


def owner(shard: int, names: Iterable[str]) -> str | None:
    """The name with the highest H(name, shard); None when there is no candidate.

    Adding or removing a name moves only the shards that name wins or held.
    """
    best: tuple[int, str] | None = None
    for name in names:
        score = (stable_hash(name, str(shard)), name)
        if best is None or score > best:
            best = score
    return None if best is None else best[1]


def assignment(shards: int, names: Iterable[str]) -> dict[int, str]:
    """The owner of every shard among `names` (empty when there are none)."""
    candidates = sorted(set(names))
    if not candidates:
        return {}
    return {shard: owner(shard, candidates) or "" for shard in range(shards)}
