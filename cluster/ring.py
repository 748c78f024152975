"""Rendezvous hashing with bounded loads: which live node owns which shard (DESIGN §4).

Plain rendezvous hashing (the owner of shard s is the name with the highest
H(name, s)) is stable but uneven: over 256 shards and three names a node gets 7 %
more or less than its third on average, and over a quarter at worst. Here every
name takes floor(S / N) shards, and S mod N of them one more: (name, shard) pairs
are taken in order of falling H(name, s), and a pair whose shard is taken or whose
name has its share is skipped. So every node's share is exact give or take one;
adding a node moves about as many shards as plain rendezvous does (a few more of
them between old nodes), removing one moves its shards and a handful besides.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from uptrack.slots import stable_hash


def assignment(shards: int, names: Iterable[str]) -> dict[int, str]:
    """The owner of every shard among `names` (empty when there are none); the same
    on every node whatever the order of `names`."""
    return dict(_assignment(shards, tuple(sorted(set(names)))))


@functools.lru_cache(maxsize=64)
def _assignment(shards: int, names: tuple[str, ...]) -> tuple[tuple[int, str], ...]:
    if not names:
        return ()
    share, extra = divmod(shards, len(names))  # `extra` names may take one more
    pairs = sorted(
        ((stable_hash(name, str(shard)), name, shard) for shard in range(shards) for name in names),
        reverse=True,
    )
    owners: dict[int, str] = {}
    load = dict.fromkeys(names, 0)
    for _, name, shard in pairs:
        if shard in owners:
            continue
        if load[name] < share or (load[name] == share and extra > 0):
            extra -= load[name] == share
            owners[shard] = name
            load[name] += 1
    return tuple(sorted(owners.items()))
