"""A rolling upgrade as ansible/upgrade.yml does it, on the local dev cluster: missed slots.

Starts `uptrack dev cluster` (3 etcd members, PostgreSQL, 3 nodes; cluster/dev) in a
temporary directory, stores 1,000 TCP monitors at 5 s against a local nginx, and then,
for each node in turn, does what upgrade.yml does with `serial: 1`: check that a peer
is up and owns shards, `uptrack node drain NAME`, wait for the process to exit (the
service stopped), start it again, and wait until GET /api/v1/cluster shows it
registered, not draining and owning shards; then the next node. The results table
tells which due slots were not checked meanwhile.

    python bench/upgrade.py [--monitors 1000] [--ttl 5] [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cluster import SlotReport  # noqa: E402
from bench.nodeproc import nginx  # noqa: E402
from cluster.dev.stack import DevCluster  # noqa: E402
from uptrack.model import MonitorSpec  # noqa: E402

INTERVAL = 5
UPTRACK = str(Path(sys.executable).parent / "uptrack")


def node_entry(cluster: DevCluster, name: str, via: str) -> dict[str, Any] | None:
    """`name` as node `via` shows it in GET /api/v1/cluster (None when not registered)."""
    try:
        view = cluster.nodes.view(via)
    except Exception:  # noqa: BLE001 - a node that is not up yet simply does not answer
        return None
    return next((n for n in view["nodes"] if n["name"] == name), None)


def owns_shards(cluster: DevCluster, name: str) -> bool:
    """The await_shards.yml condition, asked of the node itself."""
    entry = node_entry(cluster, name, name)
    return entry is not None and not entry["draining"] and entry["shards"] > 0


def wait(condition: Any, deadline: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < deadline:
        if condition():
            return time.monotonic() - start
        time.sleep(0.1)
    raise TimeoutError(f"not within {deadline} s: {what}")


def upgrade_one(cluster: DevCluster, name: str, env: dict[str, str]) -> tuple[float, float]:
    """drain.yml, the role (stop, start), await_shards.yml: (drain s, back-to-owning s)."""
    peers = [n for n in cluster.nodes.nodes if n != name]
    if not any(owns_shards(cluster, p) for p in peers):
        raise RuntimeError(f"no healthy peer owns shards: draining {name} would stop checks")
    began = time.monotonic()
    subprocess.run([UPTRACK, "node", "drain", name], env=env, check=True, capture_output=True)
    node = cluster.nodes.nodes[name]
    assert node.proc is not None
    node.proc.wait(30)  # systemctl stop: the drained node has exited already
    drained = time.monotonic() - began
    began = time.monotonic()
    cluster.start([name])
    wait(lambda: owns_shards(cluster, name), 60, f"{name} owns shards again")
    return drained, time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--monitors", type=int, default=1000)
    parser.add_argument("--ttl", type=int, default=5, help="lease TTL (the default of a node)")
    parser.add_argument("--rounds", type=int, default=1, help="rolling upgrades in a row")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="uptrack-upgrade-"))
    base.chmod(0o755)  # PostgreSQL's user must enter it when this runs as root
    cluster = DevCluster.open(base / "dev", nodes=3, lease_ttl=args.ttl)
    try:
        with nginx() as target:
            took = cluster.up()
            run(args, cluster, target.rsplit(":", 1)[1], took)
    finally:
        cluster.down()
        shutil.rmtree(base, ignore_errors=True)


def run(args: argparse.Namespace, cluster: DevCluster, port: str, took: float) -> None:
    cluster.nodes.create_monitors(
        [
            MonitorSpec(
                name=f"m{i:05d}",
                kind="tcp",
                target=f"127.0.0.1:{port}",
                interval=INTERVAL,
                timeout=2.0,
                retries=0,
            )
            for i in range(args.monitors)
        ]
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPTRACK_")}
    env.update(cluster.env())
    time.sleep(2 * INTERVAL)  # every node has loaded the monitors and checks them
    t0 = time.time()
    steps: list[tuple[str, float, float]] = []
    for _ in range(args.rounds):
        for name in cluster.nodes.nodes:
            drained, back = upgrade_one(cluster, name, env)
            steps.append((name, drained, back))
    rolled = time.time() - t0
    time.sleep(INTERVAL + 1)  # the slots due before the end have been checked or missed
    report = SlotReport(cluster.database, t0, time.time() - INTERVAL)

    print(f"dev cluster up      {took:.1f} s to a whole shard map (3 etcd, PostgreSQL, 3 nodes)")
    print(
        f"cluster             3 nodes, {args.monitors} tcp monitors at {INTERVAL} s, "
        f"TTL {args.ttl} s"
    )
    for name, drained, back in steps:
        print(f"  {name}             drain {drained:.2f} s, start to owning shards {back:.2f} s")
    print(f"rolling upgrade     {rolled:.1f} s for {len(steps)} nodes ({args.rounds} round(s))")
    print(f"missed slots        {report.missed} of {report.expected} due")
    print(f"max result gap      {report.max_gap():.2f} s (interval {INTERVAL} s)")


if __name__ == "__main__":
    main()
