"""Uptrack nodes of a local cluster: `uptrack serve` as real processes (so SIGTERM,
SIGSTOP and SIGKILL are real), alone or as a set sharing one etcd and one PostgreSQL."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

from cluster.dev.procs import Process, ProcessFailed, free_port
from uptrack.model import MonitorSpec, Scope
from uptrack.store.base import ApplyPlan
from uptrack.store.postgres import PostgresStore
from uptrack.tokens import NewToken


class NodeProcess:
    """One `uptrack serve`, logging JSON to `<data_dir>-node.log` next to its data dir."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        extra: list[str] | None = None,
        detach: bool = False,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"{data_dir.name}-node.log"
        self.pid_file = data_dir.parent / f"{data_dir.name}.pid"
        self.detach = detach
        self.args = [
            sys.executable,
            "-m",
            "uptrack.cli",
            "serve",
            "--data-dir",
            str(data_dir),
            "--listen",
            f"127.0.0.1:{self.port}",
            "--log-format",
            "json",
            *(extra or []),
        ]
        self.proc: Process | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.running

    def find(self) -> None:
        """Adopt the process named by the pid file, if it still runs (a later command)."""
        self.proc = Process.from_pid_file(self.pid_file, marker=str(self.data_dir))

    def start(self, *, wait: bool = True, deadline: float = 60) -> NodeProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # settings come from the flags alone, not from a shell that has sourced a
        # cluster's environment (UPTRACK_DATABASE …)
        env = {k: v for k, v in os.environ.items() if not k.startswith("UPTRACK_")}
        self.proc = Process.spawn(
            self.args, log_path=self.log_path, env=env, pid_file=self.pid_file, detach=self.detach
        )
        if wait:
            self.wait_ready(deadline)
        return self

    def wait_ready(self, deadline: float = 60) -> None:
        """Until `/readyz` answers 200 (monitors loaded, every owned shard running)."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.proc is not None and not self.proc.running:
                code = self.proc.returncode
                raise ProcessFailed(f"node exited with {code}:\n{self.log()[-4000:]}")
            try:
                reply = httpx.get(self.url + "/readyz", timeout=1, trust_env=False)
                if reply.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"node not ready within {deadline} s:\n{self.log()[-4000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise ProcessFailed("no VmRSS")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        """Signal it (SIGTERM drains) and wait until it has exited; its exit status."""
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()


class LocalCluster:
    """Nodes named node1, node2 … sharing `etcd` and `database`, each in `base/<name>`."""

    def __init__(
        self,
        base: Path,
        *,
        etcd: list[str],
        database: str,
        ttl: int = 2,
        prefix: str = "/uptrack/",
        ports: dict[str, int] | None = None,
        detach: bool = False,
    ) -> None:
        self.base = base
        self.etcd = etcd
        self.database = database
        self.ttl = ttl
        self.prefix = prefix
        self.ports = ports or {}
        self.detach = detach
        self.nodes: dict[str, NodeProcess] = {}
        self._token: str | None = None

    def node(self, name: str) -> NodeProcess:
        """The node called `name` (made on first use, not started)."""
        if name not in self.nodes:
            data = self.base / name
            data.mkdir(parents=True, exist_ok=True)
            self.nodes[name] = NodeProcess(
                data,
                port=self.ports.get(name),
                detach=self.detach,
                extra=[
                    "--database",
                    self.database,
                    "--etcd",
                    ",".join(self.etcd),
                    "--node-name",
                    name,
                    "--lease-ttl",
                    str(self.ttl),
                    "--etcd-prefix",
                    self.prefix,
                ],
            )
        return self.nodes[name]

    def start(self, names: Iterable[str], *, deadline: float = 60) -> None:
        """Start the named nodes together and wait until each is ready."""
        started = [self.node(n).start(wait=False) for n in names]
        for node in started:
            node.wait_ready(deadline)

    def stop_all(self) -> None:
        for node in self.nodes.values():
            node.kill()

    def create_monitors(self, specs: list[MonitorSpec]) -> None:
        store = PostgresStore(self.database)
        try:
            store.migrate()
            store.apply_monitors(ApplyPlan(create=specs), now=time.time())
        finally:
            store.close()

    @property
    def token(self) -> str:
        """An admin API token (made on first use)."""
        if self._token is None:
            self._token = create_token(self.database, name="local-cluster")
        return self._token

    def view(self, name: str) -> dict[str, Any]:
        """`GET /api/v1/cluster` of one node."""
        node = self.nodes[name]
        reply = httpx.get(
            node.url + "/api/v1/cluster",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=5,
            trust_env=False,
        )
        reply.raise_for_status()
        data: dict[str, Any] = reply.json()
        return data


def create_token(database: str, *, name: str, scope: Scope = "admin") -> str:
    """A new API token in `database` (migrated first); returns its secret."""
    new = NewToken()
    store = PostgresStore(database)
    try:
        store.migrate()
        store.create_token(
            name=name,
            scope=scope,
            secret_sha256=new.sha256,
            prefix=new.prefix,
            now=time.time(),
            expires_at=None,
        )
    finally:
        store.close()
    return new.secret
