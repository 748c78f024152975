"""The interface of a check kind: its schema (validation) and its probe."""

from __future__ import annotations

from typing import Any, Protocol

from checker.context import ProbeContext
from uptrack.kinds import KindSchema
from uptrack.model import Observation


class Kind(KindSchema, Protocol):
    """A check kind: its schema (see `uptrack.kinds.KindSchema`) and its probe."""

    async def check(
        self, target: str, settings: Any, timeout: float, ctx: ProbeContext
    ) -> Observation:
        """Probe `target` once within `timeout` seconds. Target faults are reported in
        the Observation (ok=False, error_kind, error), never raised."""
        ...
