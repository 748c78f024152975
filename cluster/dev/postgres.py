"""PostgreSQL of a local cluster: `initdb` into a directory of its own, on its own port.

    with PostgresServer.running() as server:     # a temp dir, fsync off, 127.0.0.1:<free port>
        dsn = server.create_database()           # postgresql://postgres@127.0.0.1:…/t_1
        server.stop("immediate")                 # a crash, as `pg_ctl stop -m immediate`
        server.start()                           # same data, same port

The binaries come from Debian's `postgresql` package (`make system-deps`); without
them this raises. PostgreSQL refuses to run as root, so under root the server runs as
an unprivileged user (`uptrack-test`, created when missing), which must be able to
enter the directory.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

from cluster.dev.procs import ProcessFailed, free_port

SERVER_USER = "uptrack-test"
SUPERUSER = "postgres"


def find_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl."""
    found = [
        Path(p).parent
        for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")
        if os.access(Path(p).parent / "pg_ctl", os.X_OK)
    ]
    if not found:
        raise ProcessFailed(
            "PostgreSQL server binaries are missing (no /usr/lib/postgresql/*/bin/initdb): "
            "run `make system-deps` (Debian package postgresql)"
        )
    return max(found, key=lambda p: int(p.parent.name.split(".")[0]))


def _server_user() -> str | None:
    """The user to run the server as, or None to run it as ourselves (not root)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVER_USER,
            ],
            check=True,
            capture_output=True,
        )
    return SERVER_USER


class PostgresServer:
    """One PostgreSQL cluster in `base`, listening on 127.0.0.1:`port`."""

    def __init__(self, base: Path, *, port: int | None = None) -> None:
        self.bin = find_bin_dir()
        self.base = base
        self.data = base / "data"
        self.sockets = base / "sockets"
        self.log_file = base / "server.log"
        self.port = port or free_port()
        self.user = _server_user()
        self._names = itertools.count(1)

    @classmethod
    @contextlib.contextmanager
    def running(cls) -> Iterator[PostgresServer]:
        # Not under pytest's tmp_path: its parents are private to root, and the
        # server's user must reach its directory.
        base = Path(tempfile.mkdtemp(prefix="uptrack-pg-"))
        server = cls(base)
        try:
            server.init()
            server.start()
            yield server
        finally:
            with contextlib.suppress(Exception):
                server.stop("immediate")
            shutil.rmtree(base, ignore_errors=True)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise ProcessFailed(
                f"{' '.join(args[:2])} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
                f"\n{self.log()}"
            )
        return done

    @property
    def initialized(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def init(self) -> None:
        self.sockets.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            for path in (self.base, self.sockets):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            reach = subprocess.run(
                ["runuser", "-u", self.user, "--", "test", "-w", str(self.base)], check=False
            )
            if reach.returncode != 0:
                raise ProcessFailed(
                    f"PostgreSQL refuses to run as root and runs as {self.user}, who cannot "
                    f"enter {self.base}: choose a directory every user may enter (such as one "
                    "under /tmp), or let others search its parents (chmod o+x)"
                )
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"port = {self.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.sockets}'\n"
                "fsync = off\n"
                "full_page_writes = off\n"
                "max_connections = 300\n"
                "shared_buffers = 256MB\n"
                "max_wal_size = 4GB\n"
                "log_min_messages = warning\n"
            )

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs (from its postmaster.pid)."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return pid

    def start(self) -> None:
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log_file), "-w", "-t", "60", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        """`pg_ctl stop -m <mode>`: `immediate` is a crash (no shutdown checkpoint)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.dsn(), autocommit=True)

    def create_database(self, name: str | None = None) -> str:
        """A new, empty database (named `name`, or t_1, t_2 …); returns its DSN."""
        name = name or f"t_{next(self._names)}"
        with self.admin() as db:
            db.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.dsn(name)

    def ensure_database(self, name: str) -> str:
        """The DSN of database `name`, created when missing."""
        with self.admin() as db:
            found = db.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        return self.dsn(name) if found else self.create_database(name)

    def drop_database(self, dsn: str) -> None:
        name = dsn.rsplit("/", 1)[1]
        with self.admin() as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def wait_ready(self, deadline: float = 30.0) -> None:
        end = time.monotonic() + deadline
        while True:
            try:
                with self.admin() as db:
                    db.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)
