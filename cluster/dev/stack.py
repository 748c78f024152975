"""The dev cluster: three etcd members, a PostgreSQL and N nodes on loopback, kept in
a directory so that later commands (`status`, `start`, `stop`, `down`) find them.

    <dir>/cluster.json           names and ports of everything, the admin token
    <dir>/env                    `. <dir>/env`: ETCDCTL_*, UPTRACK_* for etcdctl and uptrack
    <dir>/etcd/etcd1.env         the member's settings (the shape of /etc/default/etcd)
    <dir>/etcd/etcd1/            its data; etcd1.log, etcd1.pid
    <dir>/postgres/              data/, server.log (PostgreSQL keeps its own postmaster.pid)
    <dir>/nodes/node1/           the node's data dir; node1-node.log, node1.pid

Processes are detached (a session of their own): `up` returns while they run.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import msgspec
import trio

from cluster.dev.etcd import EtcdCluster, EtcdMember
from cluster.dev.nodes import LocalCluster, NodeProcess, create_token
from cluster.dev.postgres import PostgresServer
from cluster.dev.procs import ProcessFailed, free_ports
from cluster.etcd import EtcdClient, EtcdError
from cluster.records import Keys, decode_node
from cluster.ring import assignment

DEFAULT_DIR = ".uptrack-dev"
ETCD_MEMBERS = ("etcd1", "etcd2", "etcd3")
DATABASE_NAME = "uptrack"
POSTGRES = "postgres"
LAYOUT_FILE = "cluster.json"


class Layout(msgspec.Struct, kw_only=True):
    """What `up` chose once and every later command reads back."""

    etcd: dict[str, list[int]]  # member name -> [client port, peer port]
    postgres_port: int
    nodes: dict[str, int]  # node name -> API port
    lease_ttl: int
    token: str = ""


class ProcessRow(msgspec.Struct, frozen=True):
    name: str
    kind: str
    url: str
    pid: int | None

    @property
    def running(self) -> bool:
        return self.pid is not None


class DevCluster:
    def __init__(self, root: Path, layout: Layout) -> None:
        self.root = root.resolve()
        self.layout = layout
        (self.root / "etcd").mkdir(parents=True, exist_ok=True)
        (self.root / "nodes").mkdir(parents=True, exist_ok=True)
        self.etcd = EtcdCluster(
            self.root / "etcd",
            len(layout.etcd),
            names=list(layout.etcd),
            ports=[(c, p) for c, p in layout.etcd.values()],
            detach=True,
        )
        for member in self.etcd.members:
            member.find()
        self.postgres = PostgresServer(self.root / POSTGRES, port=layout.postgres_port)
        self.nodes = LocalCluster(
            self.root / "nodes",
            etcd=self.etcd.endpoints,
            database=self.database,
            ttl=layout.lease_ttl,
            ports=layout.nodes,
            detach=True,
        )
        for name in layout.nodes:
            self.nodes.node(name).find()

    # -- the directory -------------------------------------------------------------
    @classmethod
    def load(cls, root: Path) -> DevCluster | None:
        try:
            data = (root / LAYOUT_FILE).read_bytes()
        except FileNotFoundError:
            return None
        return cls(root, msgspec.json.decode(data, type=Layout))

    @classmethod
    def open(cls, root: Path, *, nodes: int, lease_ttl: int) -> DevCluster:
        """The cluster kept in `root`, made (ports chosen) when there is none, grown
        to at least `nodes` nodes."""
        found = cls.load(root)
        layout = found.layout if found is not None else None
        if layout is None:
            ports = free_ports(2 * len(ETCD_MEMBERS) + 1 + nodes)
            layout = Layout(
                etcd={m: ports[2 * i : 2 * i + 2] for i, m in enumerate(ETCD_MEMBERS)},
                postgres_port=ports[2 * len(ETCD_MEMBERS)],
                nodes={f"node{i + 1}": ports[-nodes + i] for i in range(nodes)},
                lease_ttl=lease_ttl,
            )
        missing = [f"node{i + 1}" for i in range(nodes) if f"node{i + 1}" not in layout.nodes]
        for name, port in zip(missing, free_ports(len(missing)), strict=True):
            layout.nodes[name] = port
        root.mkdir(parents=True, exist_ok=True)
        cluster = cls(root, layout)
        cluster.save()
        return cluster

    def save(self) -> None:
        path = self.root / LAYOUT_FILE
        path.write_bytes(msgspec.json.format(msgspec.json.encode(self.layout)) + b"\n")
        path.chmod(0o600)  # it holds an admin token

    @property
    def database(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.layout.postgres_port}/{DATABASE_NAME}"

    def env(self) -> dict[str, str]:
        """Settings for etcdctl and uptrack against this cluster."""
        first = next(iter(self.nodes.nodes.values()))
        return {
            "ETCDCTL_API": "3",
            "ETCDCTL_ENDPOINTS": ",".join(self.etcd.endpoints),
            "UPTRACK_ETCD": ",".join(self.etcd.endpoints),
            "UPTRACK_DATABASE": self.database,
            "UPTRACK_API": first.url,
            "UPTRACK_TOKEN": self.layout.token,
            "UPTRACK_DEV_DIR": str(self.root),
        }

    def write_env(self) -> Path:
        path = self.root / "env"
        lines = [f"# . {path}: etcdctl and uptrack talk to the dev cluster in {self.root}"]
        lines += [f"export {key}={value}" for key, value in self.env().items()]
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        return path

    # -- what runs -------------------------------------------------------------------
    def rows(self) -> list[ProcessRow]:
        rows = [
            ProcessRow(
                m.name, "etcd", m.client_url, m.process.pid if m.running and m.process else None
            )
            for m in self.etcd.members
        ]
        rows.append(ProcessRow(POSTGRES, "postgresql", self.database, self.postgres.pid))
        rows += [
            ProcessRow(name, "uptrack", n.url, n.proc.pid if n.running and n.proc else None)
            for name, n in self.nodes.nodes.items()
        ]
        return rows

    def _resolve(self, names: list[str]) -> tuple[list[EtcdMember], bool, list[NodeProcess]]:
        known = [m.name for m in self.etcd.members] + [POSTGRES, *self.nodes.nodes]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ProcessFailed(
                f"no {', '.join(unknown)} in this cluster (it has {', '.join(known)})"
            )
        members = [m for m in self.etcd.members if m.name in names]
        nodes = [n for name, n in self.nodes.nodes.items() if name in names]
        return members, POSTGRES in names, nodes

    # -- up, start, stop, down ---------------------------------------------------------
    def up(self, *, deadline: float = 60) -> float:
        """Start whatever is not running and wait until every shard is owned as
        rendezvous hashing wants; returns how long that took."""
        began = time.monotonic()
        for member in self.etcd.members:
            if not member.running:
                member.launch()
        self._start_postgres()
        trio.run(self.etcd.start)
        self._start_nodes(list(self.nodes.nodes.values()), deadline)
        trio.run(self.wait_whole, deadline)
        self.write_env()
        return time.monotonic() - began

    def _start_postgres(self) -> None:
        if not self.postgres.initialized:
            self.postgres.init()
        if self.postgres.pid is None:
            self.postgres.start()
        self.postgres.ensure_database(DATABASE_NAME)
        if not self.layout.token:
            self.layout.token = create_token(self.database, name="dev-cluster")
            self.save()

    def _start_nodes(self, nodes: list[NodeProcess], deadline: float) -> None:
        for node in nodes:
            if not node.running:
                node.start(wait=False)
        for node in nodes:
            node.wait_ready(deadline)

    def start(self, names: list[str], *, deadline: float = 60) -> None:
        """Start the named processes (those not running) and wait until each serves."""
        members, postgres, nodes = self._resolve(names)
        for member in members:
            if not member.running:
                member.launch()
        if postgres:
            self._start_postgres()
        for member in members:
            trio.run(member.wait_healthy)
        self._start_nodes(nodes, deadline)

    def stop(self, names: list[str], *, kill: bool = False, timeout: float = 30) -> None:
        """Stop the named processes: SIGTERM (a node drains) or, with `kill`, SIGKILL."""
        members, postgres, nodes = self._resolve(names)
        sig = signal.SIGKILL if kill else signal.SIGTERM
        for node in nodes:
            if node.proc is not None and node.running:
                node.proc.send_signal(sig)
        for node in nodes:
            if node.proc is not None:
                node.proc.stop(sig, timeout)
        for member in members:
            if member.process is not None:
                member.process.stop(sig, timeout)
        if postgres and self.postgres.pid is not None:
            self.postgres.stop("immediate" if kill else "fast")

    def down(self, *, keep: bool = False) -> None:
        """Stop everything (nodes first, so they drain while etcd is still there); remove
        the directory unless `keep`."""
        self.stop([*self.nodes.nodes, *(m.name for m in self.etcd.members), POSTGRES])
        if not keep:
            shutil.rmtree(self.root)

    # -- the shard map ---------------------------------------------------------------
    async def shard_map(self) -> tuple[int, dict[int, str], dict[str, str]]:
        """(shard count, shard -> owner node id, node id -> name of non-draining nodes)."""
        keys = Keys()
        async with EtcdClient(self.etcd.endpoints, timeout=2.0) as etcd:
            listed = await etcd.range(keys.prefix, prefix=True)
        count, owners, names = 0, {}, {}
        for kv in listed.kvs:
            shard = keys.shard_of_key(kv.key)
            if shard is not None:
                owners[shard] = kv.value.decode(errors="replace")
            elif kv.key == keys.meta_shards:
                count = int(kv.value)
            elif kv.key.startswith(keys.nodes):
                info = decode_node(kv.value)
                if info is not None and not info.draining:
                    names[info.id] = info.name
        return count, owners, names

    async def whole(self) -> bool:
        """Every shard is owned by the registered node rendezvous hashing names."""
        try:
            count, owners, names = await self.shard_map()
        except EtcdError:
            return False
        if not count or not names:
            return False
        want = assignment(count, names.values())
        return all(names.get(owners.get(s, "")) == want[s] for s in range(count))

    async def wait_whole(self, deadline: float = 60) -> None:
        with trio.move_on_after(deadline):
            while True:
                if await self.whole():
                    return
                await trio.sleep(0.05)
        raise TimeoutError(f"the shard map was not whole within {deadline} s")


def default_dir() -> Path:
    return Path(os.environ.get("UPTRACK_DEV_DIR") or DEFAULT_DIR)
