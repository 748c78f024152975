"""The monitor methods both stores share: the same steps in one transaction each;
the stores supply the write transaction (`_write`) and the steps in their SQL
(`_create`, `_update`, `_delete`, `_shard_counts`)."""

from __future__ import annotations

import abc
from contextlib import AbstractContextManager
from typing import Any

from uptrack.model import Monitor, MonitorSpec
from uptrack.store.base import ApplyPlan


class MonitorMethods(abc.ABC):
    @abc.abstractmethod
    def _write(self) -> AbstractContextManager[Any]: ...

    @abc.abstractmethod
    def _create(
        self, db: Any, spec: MonitorSpec, now: float, counts: dict[int, int] | None = None
    ) -> Monitor: ...

    @abc.abstractmethod
    def _update(self, db: Any, monitor_id: str, spec: MonitorSpec, now: float) -> Monitor: ...

    @abc.abstractmethod
    def _delete(self, db: Any, monitor_id: str) -> None: ...

    @abc.abstractmethod
    def _shard_counts(self, db: Any) -> dict[int, int]: ...

    def create_monitor(self, spec: MonitorSpec, *, now: float) -> Monitor:
        with self._write() as db:
            return self._create(db, spec, now)

    def update_monitor(self, monitor_id: str, spec: MonitorSpec, *, now: float) -> Monitor:
        with self._write() as db:
            return self._update(db, monitor_id, spec, now)

    def delete_monitor(self, monitor_id: str) -> None:
        with self._write() as db:
            self._delete(db, monitor_id)

    def apply_monitors(self, plan: ApplyPlan, *, now: float) -> None:
        # Deletes free names for creates, updates may rename before a create reuses one.
        with self._write() as db:
            for monitor_id in plan.delete:
                self._delete(db, monitor_id)
            for monitor_id, spec in plan.update:
                self._update(db, monitor_id, spec, now)
            counts = self._shard_counts(db)
            for spec in plan.create:
                self._create(db, spec, now, counts)
