"""Real etcd processes for tests: one member or a cluster, on free loopback ports, in a temp dir.

    async with run_etcd(tmp_path) as member:         # EtcdMember: .client_url, .endpoints
        member.suspend(); member.resume()             # SIGSTOP / SIGCONT: an etcd that hangs
        member.kill(); await member.start()           # SIGKILL, then again on the same data
    async with run_etcd_cluster(tmp_path) as cluster: # EtcdCluster: .members, .endpoints
        (await cluster.leader()).kill()               # .leader() / .follower(): roles now

Members run Debian's `etcd` (3.4) with its default timing (heartbeat 100 ms, election
1 s, so a lease TTL below 2 s is raised to 2 s), auto-compaction off, and watch progress
notifications every `progress_notify` (etcd's default is 10 min). A missing `etcd`
binary is an error, never a skip.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import trio

START_TIMEOUT = 15.0
START_ATTEMPTS = 3  # a free port can be taken between choosing it and etcd binding it
PROGRESS_NOTIFY = "1s"


class EtcdFailed(RuntimeError):
    """etcd did not start (or is not installed)."""


def etcd_binary() -> str:
    path = shutil.which("etcd")
    if path is None:
        raise EtcdFailed(
            "etcd is not installed: the cluster tests run a real etcd 3.4 "
            "(Debian: apt-get install etcd-server etcd-client, or `make system-deps`)"
        )
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class EtcdMember:
    """One etcd process; its data dir outlives `kill()`, so `start()` brings it back as it was."""

    def __init__(
        self, name: str, base_dir: Path, *, progress_notify: str = PROGRESS_NOTIFY
    ) -> None:
        self.name = name
        self.data_dir = base_dir / name
        self.log_path = base_dir / f"{name}.log"
        self.client_port = free_port()
        self.peer_port = free_port()
        self.progress_notify = progress_notify
        self.initial_cluster = f"{name}={self.peer_url}"
        self.cluster_token = uuid.uuid4().hex
        self.process: subprocess.Popen[bytes] | None = None
        self.suspended = False

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def endpoints(self) -> list[str]:
        return [self.client_url]

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def launch(self) -> None:
        """Start the process (without waiting for it to serve)."""
        assert not self.running, f"{self.name} is running already"
        args = [
            etcd_binary(),
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={self.initial_cluster}",
            "--initial-cluster-state=new",
            f"--initial-cluster-token={self.cluster_token}",
            f"--experimental-watch-progress-notify-interval={self.progress_notify}",
            "--logger=zap",
            "--log-outputs=stderr",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self.suspended = False

    async def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        """Until `/health` says true (the member serves and sees a leader)."""
        async with httpx.AsyncClient(timeout=1.0, trust_env=False) as http:
            with trio.move_on_after(timeout):
                while True:
                    if not self.running:
                        raise EtcdFailed(f"{self.name} exited during start-up:\n{self.log_tail()}")
                    try:
                        reply = await http.get(f"{self.client_url}/health")
                        if reply.status_code == 200 and reply.json().get("health") == "true":
                            return
                    except httpx.TransportError:
                        pass
                    await trio.sleep(0.05)
        raise EtcdFailed(f"{self.name} not healthy within {timeout}s:\n{self.log_tail()}")

    async def start(self) -> None:
        """Launch and wait until healthy (a single member, or one rejoining its cluster)."""
        self.launch()
        await self.wait_healthy()

    def suspend(self) -> None:
        """SIGSTOP: the process keeps its sockets but answers nothing."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        self.suspended = True

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)
        self.suspended = False

    def kill(self) -> None:
        """SIGKILL, and reap the process (immediate: a killed process exits at once)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.kill()
        if self.suspended:
            os.kill(self.process.pid, signal.SIGCONT)
            self.suspended = False
        self.process.wait(timeout=5)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


class EtcdCluster:
    """Members that know each other; `endpoints` lists every member's client URL."""

    def __init__(self, base_dir: Path, size: int, *, progress_notify: str = PROGRESS_NOTIFY):
        self.members = [
            EtcdMember(f"m{i}", base_dir, progress_notify=progress_notify) for i in range(size)
        ]
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        token = uuid.uuid4().hex
        for member in self.members:
            member.initial_cluster, member.cluster_token = initial, token

    @property
    def endpoints(self) -> list[str]:
        return [m.client_url for m in self.members]

    async def start(self) -> None:
        for member in self.members:
            member.launch()
        for member in self.members:
            await member.wait_healthy()

    async def leader(self, timeout: float = 10.0) -> EtcdMember:
        """The member that running members agree leads (waiting through an election)."""
        async with httpx.AsyncClient(timeout=1.0, trust_env=False) as http:
            with trio.move_on_after(timeout):
                while True:
                    ids: dict[str, EtcdMember] = {}
                    leaders: set[str] = set()
                    for member in self.members:
                        if not member.running or member.suspended:
                            continue
                        try:
                            reply = await http.post(
                                f"{member.client_url}/v3/maintenance/status", json={}
                            )
                            status = reply.json()
                            ids[status["header"]["member_id"]] = member
                            leaders.add(status.get("leader", "0"))
                        except (httpx.HTTPError, KeyError, ValueError):
                            leaders.add("0")
                    if len(leaders) == 1 and (leader := leaders.pop()) in ids:
                        return ids[leader]
                    await trio.sleep(0.05)
        raise EtcdFailed(f"the members agreed on no leader within {timeout}s")

    async def follower(self) -> EtcdMember:
        leader = await self.leader()
        return next(m for m in self.members if m is not leader and m.running)

    def kill(self) -> None:
        for member in self.members:
            member.kill()


async def start_member(base_dir: Path, *, progress_notify: str = PROGRESS_NOTIFY) -> EtcdMember:
    """A healthy single member (new ports and data dir on each attempt)."""
    etcd_binary()
    failures: list[str] = []
    for attempt in range(START_ATTEMPTS):
        member = EtcdMember(f"etcd{attempt}", base_dir, progress_notify=progress_notify)
        try:
            await member.start()
        except EtcdFailed as exc:
            member.kill()
            failures.append(str(exc))
            continue
        return member
    raise EtcdFailed("\n\n".join(failures))


async def start_cluster(
    base_dir: Path, size: int = 3, *, progress_notify: str = PROGRESS_NOTIFY
) -> EtcdCluster:
    """A healthy cluster of `size` members (new ports and data dirs on each attempt)."""
    etcd_binary()
    failures: list[str] = []
    for attempt in range(START_ATTEMPTS):
        cluster = EtcdCluster(base_dir / f"cluster{attempt}", size, progress_notify=progress_notify)
        (base_dir / f"cluster{attempt}").mkdir(parents=True, exist_ok=True)
        try:
            await cluster.start()
        except EtcdFailed as exc:
            cluster.kill()
            failures.append(str(exc))
            continue
        return cluster
    raise EtcdFailed("\n\n".join(failures))


@asynccontextmanager
async def run_etcd(base_dir: Path) -> AsyncIterator[EtcdMember]:
    member = await start_member(base_dir)
    try:
        yield member
    finally:
        member.kill()


@asynccontextmanager
async def run_etcd_cluster(base_dir: Path, size: int = 3) -> AsyncIterator[EtcdCluster]:
    cluster = await start_cluster(base_dir, size)
    try:
        yield cluster
    finally:
        cluster.kill()
