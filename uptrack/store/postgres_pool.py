"""Connections to PostgreSQL: the pool, its settings, and which errors mean "not now"."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

from uptrack.errors import StoreError, StoreUnavailable
from uptrack.store import postgres_rows as rows

Pool = ConnectionPool[psycopg.Connection[tuple[Any, ...]]]

# Connection settings unless the URL sets them: fail fast when the server is away,
# and notice a dead peer within about 25 s instead of the kernel's two hours.
_CONNECT_DEFAULTS = {
    "connect_timeout": "5",
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
    "application_name": "uptrack",
}


def redacted(url: str) -> str:
    """`url` without its password, for logs and error messages."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://…"
    params.pop("password", None)
    return make_conninfo("", **{k: str(v) for k, v in params.items() if v is not None})


def open_pool(url: str, *, size: int, timeout: float) -> Pool:
    """A pool of up to `size` connections to `url`, opening in the background: a
    store made while the database is down works once it is back, and until then
    every call raises StoreUnavailable after `timeout` seconds."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        raise StoreError(f"database URL {redacted(url)!r} is not a valid PostgreSQL URL") from None
    defaults = {k: v for k, v in _CONNECT_DEFAULTS.items() if k not in params}
    # The pool warns on every failed reconnect; StoreUnavailable says it once per
    # call, where the caller decides what it means.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    pool: Pool = ConnectionPool(
        make_conninfo(url, **defaults),
        min_size=1,
        max_size=size,
        open=False,
        timeout=timeout,
        configure=_configure,
        check=ConnectionPool.check_connection,
        # Give up reconnecting in the background quickly: the next call starts a
        # fresh attempt, so a database that comes back is used at once instead of
        # after the pool's growing backoff.
        reconnect_timeout=timeout,
        name="uptrack",
    )
    pool.open(wait=False)
    return pool


def _configure(db: psycopg.Connection[tuple[Any, ...]]) -> None:
    """Prepare a new pooled connection: the staging tables batches are copied into."""
    db.execute(rows.CREATE_STAGING)
    db.execute(rows.CREATE_STATE_STAGING)
    db.commit()


@contextmanager
def translated() -> Iterator[None]:
    """Errors that mean "not now" (the server is away, restarting, or a lock or
    deadlock timed out) become StoreUnavailable; the rest stay what they are."""
    try:
        yield
    except (psycopg.OperationalError, psycopg.InterfaceError) as e:
        raise StoreUnavailable(f"PostgreSQL: {str(e).strip() or type(e).__name__}") from e
