"""docs/runbook.md is executed: every runnable block, in order, against a local cluster
started by `uptrack dev cluster up` (3 etcd members, PostgreSQL, 3 nodes, 2 s lease).

The procedures that change the cluster are checked for their effect, not only their
exit status: after a drain the node has left and the others own its shards; after a
force-release the owner claims the shard again, under a new epoch, within 2×TTL;
after a member replacement etcd has three healthy members; after a snapshot restore
the nodes agree with etcd again. Failures the runbook repairs (a dead etcd member, a
change made after the snapshot) are made by the test before the blocks that repair them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import trio

from cluster.dev.stack import DevCluster
from cluster.etcd import EtcdClient
from cluster.records import Keys
from cluster.ring import assignment
from tests.cluster.runbook import RUNBOOK, Block, first_missing, metric_names, parse

pytestmark = pytest.mark.slow

UPTRACK = str(Path(sys.executable).parent / "uptrack")
NODE, SHARD, MEMBER = "node2", 17, "etcd3"
NAMES = ("node1", "node2", "node3")
TTL = 2


def uptrack(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [UPTRACK, *args], env=env, capture_output=True, text=True, timeout=90, check=False
    )
    assert done.returncode == 0, f"uptrack {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def dev_dir() -> Iterator[Path]:
    """A dev cluster for the module, in a directory PostgreSQL's user may enter."""
    base = Path(tempfile.mkdtemp(prefix="uptrack-runbook-"))
    base.chmod(0o755)
    root = base / "dev"
    try:
        uptrack("dev", "cluster", "up", "--nodes", "3", "--lease-ttl", str(TTL), "--dir", str(root))
        (base / "backups").mkdir()
        yield root
    finally:
        if (root / "cluster.json").exists():
            subprocess.run(
                [UPTRACK, "dev", "cluster", "down", "--dir", str(root)], timeout=90, check=False
            )
        shutil.rmtree(base, ignore_errors=True)


def block_env(root: Path) -> dict[str, str]:
    cluster = DevCluster.load(root)
    assert cluster is not None
    member = cluster.etcd.member(MEMBER)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UPTRACK_", "ETCD"))}
    env.update(cluster.env())
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        NODE=NODE,
        SHARD=f"{SHARD:04d}",
        MEMBER=MEMBER,
        MEMBER_PEER_URL=member.peer_url,
        ETCD_ENV_FILE=str(member.env_file),
        BACKUP_DIR=str(root.parent / "backups"),
    )
    return env


async def run_block(block: Block, env: dict[str, str]) -> str:
    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block.code],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=block.timeout,
            check=False,
        )

    try:
        done = await trio.to_thread.run_sync(run)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{block.where()} ran longer than {block.timeout} s") from exc
    report = f"{block.where()}:\n{block.code}--- exit {done.returncode}, output:\n{done.stdout}"
    assert done.returncode == block.exit, report
    missing = first_missing(block.expected, done.stdout)
    assert missing is None, f"expected line not printed: {missing!r}\n{report}"
    return done.stdout


async def until(condition: Callable[[], Awaitable[bool]], deadline: float, what: str) -> float:
    start = trio.current_time()
    with trio.move_on_after(deadline):
        while True:
            if await condition():
                return trio.current_time() - start
            await trio.sleep(0.05)
    raise AssertionError(f"not within {deadline} s: {what}")


class Rehearsal:
    """What the test does around the runbook's blocks: breaks what a procedure repairs,
    and checks what a procedure changed."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        cluster = DevCluster.load(root)
        assert cluster is not None
        self.root = root
        self.env = env
        self.cluster = cluster
        self.keys = Keys()
        self.before_epoch = 0
        self.failed_member_id = ""
        self.restarted_id = ""

    async def owners(self) -> tuple[dict[int, str], dict[str, str]]:
        _, owners, names = await self.cluster.shard_map()
        return owners, names

    async def whole_over(self, names: tuple[str, ...]) -> bool:
        owners, registered = await self.owners()
        if sorted(registered.values()) != sorted(names):
            return False
        want = assignment(256, names)
        return all(registered.get(owners.get(s, "")) == want[s] for s in range(256))

    async def shard_key(self) -> tuple[str, int]:
        async with EtcdClient(self.cluster.etcd.endpoints) as etcd:
            kv = await etcd.get(self.keys.shard(SHARD))
        return ("", 0) if kv is None else (kv.value.decode(), kv.create_revision)

    async def members(self) -> dict[str, str]:
        """name -> member id, from any member that answers."""
        async with httpx.AsyncClient(timeout=2, trust_env=False) as http:
            for url in self.cluster.etcd.endpoints:
                try:
                    reply = await http.post(f"{url}/v3/cluster/member/list", json={})
                except httpx.HTTPError:
                    continue
                return {m.get("name", ""): m["ID"] for m in reply.json()["members"]}
        raise AssertionError("no etcd member answers")

    async def healthy(self, url: str) -> bool:
        async with httpx.AsyncClient(timeout=2, trust_env=False) as http:
            try:
                reply = await http.get(f"{url}/health")
            except httpx.HTTPError:
                return False
            return reply.status_code == 200 and reply.json().get("health") == "true"

    async def views_agree(self) -> bool:
        """Every node's GET /api/v1/cluster shows etcd's shard map and runs its own shards."""
        owners, registered = await self.owners()
        if sorted(registered.values()) != sorted(NAMES):
            return False
        token = self.cluster.layout.token
        async with httpx.AsyncClient(timeout=2, trust_env=False) as http:
            for name, port in self.cluster.layout.nodes.items():
                reply = await http.get(
                    f"http://127.0.0.1:{port}/api/v1/cluster",
                    headers={"Authorization": f"Bearer {token}"},
                )
                view = reply.json()
                mine = {s for s, owner in owners.items() if owner == view["node"]}
                shown = {int(s): owner for s, owner in view["shards"].items()}
                if view["degraded"] or shown != owners or set(view["running"]) != mine:
                    return False
                if registered.get(view["node"]) != name:
                    return False
        return True

    # -- before a block --------------------------------------------------------------
    async def before(self, block: Block) -> None:
        if block.id == "force-release":
            owner, self.before_epoch = await self.shard_key()
            assert owner.startswith(f"{NODE}-"), owner
        elif block.id == "member-failed":
            self.failed_member_id = (await self.members())[MEMBER]
            self.cluster.stop([MEMBER], kill=True)  # its host is gone
        elif block.id == "restore-stop":
            # the snapshot is older than the cluster: node3 restarted since it was taken
            await trio.to_thread.run_sync(lambda: uptrack("node", "drain", "node3", env=self.env))
            start = ("dev", "cluster", "start", "node3", "--dir", str(self.root))
            await trio.to_thread.run_sync(lambda: uptrack(*start))
            await until(lambda: self.whole_over(NAMES), 10, "node3 back")
            _, registered = await self.owners()
            self.restarted_id = next(i for i, n in registered.items() if n == "node3")

    # -- after a block ---------------------------------------------------------------
    async def after(self, block: Block) -> None:
        if block.id == "drain":
            rest = tuple(n for n in NAMES if n != NODE)
            await until(lambda: self.whole_over(rest), TTL, f"{rest} own every shard")
        elif block.id == "node-back":
            await until(lambda: self.whole_over(NAMES), 10, "node2 back with its share")
        elif block.id == "force-release":

            async def reclaimed() -> bool:
                owner, epoch = await self.shard_key()
                return owner.startswith(f"{NODE}-") and epoch > self.before_epoch

            took = await until(reclaimed, 2 * TTL, f"{NODE} claims shard {SHARD} again")
            assert took <= 2 * TTL
        elif block.id == "member-start":
            members = await self.members()
            assert sorted(members) == ["etcd1", "etcd2", "etcd3"], members
            assert members[MEMBER] != self.failed_member_id  # a new member, not the old one
            for url in self.cluster.etcd.endpoints:
                await until(lambda url=url: self.healthy(url), 10, f"{url} healthy")
        elif block.id == "snapshot-save":
            assert list((self.root.parent / "backups").glob("etcd-*.db"))
        elif block.id == "restore-check":
            await until(self.views_agree, 30, "every node agrees with the restored etcd")
            _, registered = await self.owners()
            assert self.restarted_id in registered  # not the record in the snapshot


async def test_every_runnable_block_of_the_runbook_runs_and_does_what_it_says(
    dev_dir: Path,
) -> None:
    blocks = parse(RUNBOOK.read_text())
    ids = {b.id for b in blocks}
    checked = {
        "drain",
        "node-start",
        "node-back",
        "force-release",
        "member-failed",
        "member-start",
        "snapshot-save",
        "restore-stop",
        "restore",
        "restore-start",
        "restore-check",
    }
    assert checked <= ids, f"the runbook lost blocks the test checks: {checked - ids}"
    env = block_env(dev_dir)
    rehearsal = Rehearsal(dev_dir, env)
    ran = 0
    for block in blocks:
        await rehearsal.before(block)
        if block.each_member:
            for member in rehearsal.cluster.etcd.members:
                await run_block(block, {**env, "ETCD_ENV_FILE": str(member.env_file)})
        else:
            await run_block(block, env)
        ran += 1
        await rehearsal.after(block)
    assert ran >= 20


async def test_the_runbook_documents_every_metric_a_node_serves_and_no_other(
    dev_dir: Path,
) -> None:
    cluster = DevCluster.load(dev_dir)
    assert cluster is not None
    async with httpx.AsyncClient(timeout=5, trust_env=False) as http:
        text = (await http.get(cluster.env()["UPTRACK_API"] + "/metrics")).text
    served = {
        line.split()[2]
        for line in text.splitlines()
        if line.startswith("# TYPE uptrack_") and not line.split()[2].endswith("_created")
    }
    assert metric_names(RUNBOOK.read_text()) == served
