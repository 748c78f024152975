"""A real PostgreSQL server for tests and benchmarks: `initdb` into a temp dir, own port.

    with PostgresServer.running() as server:     # fsync off, 127.0.0.1:<free port>
        dsn = server.create_database()           # postgresql://postgres@127.0.0.1:…/t_1
        server.stop("immediate")                 # a crash, as `pg_ctl stop -m immediate`
        server.start()                           # same data, same port

The server is the one `uptrack dev cluster` runs (cluster/dev/postgres.py).
"""

from __future__ import annotations

from cluster.dev.postgres import SERVER_USER, SUPERUSER, PostgresServer, find_bin_dir

__all__ = ["SERVER_USER", "SUPERUSER", "PostgresServer", "find_bin_dir"]
