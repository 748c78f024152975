"""What the API may know of the running node: readiness and identity, read-only."""

from __future__ import annotations

from typing import Protocol

import msgspec

from uptrack.clusterview import ClusterView


class Readiness(msgspec.Struct, frozen=True):
    ready: bool
    checks: dict[str, str]  # component -> "ok" or what is wrong


class NodeView(Protocol):
    """A read-only view of the node for the API (the API never drives the node)."""

    @property
    def name(self) -> str: ...

    def readiness(self) -> Readiness: ...

    def cluster(self) -> ClusterView:
        """The cluster as this node sees it (a one-node view on the embedded default)."""
        ...
