"""Unix time read off trio's clock, so schedules follow `MockClock` in tests."""

from __future__ import annotations

import time

import trio


class Clock:
    """Unix seconds as `offset + trio.current_time()`.

    The offset is taken once, inside the trio run, so that sleeping until a Unix
    time and reading the Unix time agree exactly, whatever clock trio runs on.
    """

    def __init__(self, offset: float | None = None) -> None:
        self.offset = time.time() - trio.current_time() if offset is None else offset

    def now(self) -> float:
        return self.offset + trio.current_time()

    def deadline_for(self, unix: float) -> float:
        """The trio deadline at which the Unix clock reads `unix`."""
        return unix - self.offset
