"""etcd members of a local cluster: Debian's etcd (3.4) on loopback ports.

    member = await start_member(base_dir)             # one member, healthy
    cluster = await start_cluster(base_dir, 3)        # three members, healthy
    member.suspend(); member.resume()                 # SIGSTOP / SIGCONT: an etcd that hangs
    member.kill(); await member.start()               # SIGKILL, then again on the same data
    await cluster.leader(); await cluster.follower()  # the roles now

A member is configured as on an Ansible host: every setting sits in an environment
file (`<name>.env`, the shape of /etc/default/etcd) that the process is started with,
so an operator's edit (`ETCD_INITIAL_CLUSTER_STATE="existing"`) counts at the next
start. Default timing (heartbeat 100 ms, election 1 s: a lease TTL below 2 s is raised
to 2 s), auto-compaction off, watch progress notifications every `progress_notify`
(etcd's default is 10 min). A missing `etcd` binary is an error.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import uuid
from pathlib import Path

import httpx
import trio

from cluster.dev.procs import Process, ProcessFailed, free_port

START_TIMEOUT = 15.0
START_ATTEMPTS = 3  # a free port can be taken between choosing it and etcd binding it
PROGRESS_NOTIFY = "1s"


class EtcdFailed(ProcessFailed):
    """etcd did not start (or is not installed)."""


def etcd_binary() -> str:
    path = shutil.which("etcd")
    if path is None:
        raise EtcdFailed(
            "etcd is not installed: the local cluster runs a real etcd 3.4 "
            "(Debian: apt-get install etcd-server etcd-client, or `make system-deps`)"
        )
    return path


def read_env_file(path: Path) -> dict[str, str]:
    """KEY="value" lines, as systemd's EnvironmentFile= and `set -a; . FILE` read them."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            words = shlex.split(value)
            env[key.strip()] = words[0] if words else ""
    return env


class EtcdMember:
    """One etcd process; its data dir outlives `kill()`, so `start()` brings it back as it was."""

    def __init__(
        self,
        name: str,
        base_dir: Path,
        *,
        progress_notify: str = PROGRESS_NOTIFY,
        client_port: int | None = None,
        peer_port: int | None = None,
        detach: bool = False,
    ) -> None:
        self.name = name
        self.data_dir = base_dir / name
        self.log_path = base_dir / f"{name}.log"
        self.env_file = base_dir / f"{name}.env"
        self.pid_file = base_dir / f"{name}.pid"
        self.client_port = client_port or free_port()
        self.peer_port = peer_port or free_port()
        self.progress_notify = progress_notify
        self.initial_cluster = f"{name}={self.peer_url}"
        self.cluster_token = uuid.uuid4().hex
        self.detach = detach
        self.process: Process | None = None
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
        return self.process is not None and self.process.running

    def settings(self) -> dict[str, str]:
        """The member's settings under etcd's own variable names (see etcd --help)."""
        return {
            "ETCD_NAME": self.name,
            "ETCD_DATA_DIR": str(self.data_dir),
            "ETCD_LISTEN_CLIENT_URLS": self.client_url,
            "ETCD_ADVERTISE_CLIENT_URLS": self.client_url,
            "ETCD_LISTEN_PEER_URLS": self.peer_url,
            "ETCD_INITIAL_ADVERTISE_PEER_URLS": self.peer_url,
            "ETCD_INITIAL_CLUSTER": self.initial_cluster,
            "ETCD_INITIAL_CLUSTER_STATE": "new",
            "ETCD_INITIAL_CLUSTER_TOKEN": self.cluster_token,
            "ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL": self.progress_notify,
            "ETCD_LOGGER": "zap",
            "ETCD_LOG_OUTPUTS": "stderr",
        }

    def write_env_file(self) -> None:
        lines = [
            f"# etcd member {self.name} of a local Uptrack cluster (the shape of /etc/default/etcd)"
        ]
        lines += [f'{key}="{value}"' for key, value in self.settings().items()]
        self.env_file.write_text("\n".join(lines) + "\n")

    def find(self) -> None:
        """Adopt the process named by the pid file, if it still runs (a later command)."""
        self.process = Process.from_pid_file(self.pid_file, marker=str(self.data_dir))
        self.suspended = self.process is not None and self.process.suspended

    def launch(self) -> None:
        """Start the process (without waiting for it to serve) with its environment file,
        written first if there is none yet."""
        assert not self.running, f"{self.name} is running already"
        if not self.env_file.exists():
            self.write_env_file()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ETCD_", "ETCDCTL_"))}
        env.update(read_env_file(self.env_file))
        self.process = Process.spawn(
            [etcd_binary()],
            log_path=self.log_path,
            env=env,
            pid_file=self.pid_file,
            detach=self.detach,
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
        if self.process is None or not self.process.running:
            return
        self.process.kill()
        self.suspended = False

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: etcd leaves its data consistent; SIGKILL if it takes longer than `timeout`."""
        if self.process is not None:
            self.process.stop(signal.SIGTERM, timeout)
        self.suspended = False

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


class EtcdCluster:
    """Members that know each other; `endpoints` lists every member's client URL."""

    def __init__(
        self,
        base_dir: Path,
        size: int,
        *,
        progress_notify: str = PROGRESS_NOTIFY,
        names: list[str] | None = None,
        ports: list[tuple[int, int]] | None = None,
        detach: bool = False,
    ) -> None:
        names = names or [f"m{i}" for i in range(size)]
        self.members = [
            EtcdMember(
                name,
                base_dir,
                progress_notify=progress_notify,
                client_port=ports[i][0] if ports else None,
                peer_port=ports[i][1] if ports else None,
                detach=detach,
            )
            for i, name in enumerate(names)
        ]
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        token = uuid.uuid4().hex
        for member in self.members:
            member.initial_cluster, member.cluster_token = initial, token

    @property
    def endpoints(self) -> list[str]:
        return [m.client_url for m in self.members]

    def member(self, name: str) -> EtcdMember:
        for member in self.members:
            if member.name == name:
                return member
        raise KeyError(name)

    async def start(self) -> None:
        """Launch every member that is not running, then wait until all are healthy
        (members of a new cluster need each other to elect a leader)."""
        for member in self.members:
            if not member.running:
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
        (base_dir / f"cluster{attempt}").mkdir(parents=True, exist_ok=True)
        cluster = EtcdCluster(base_dir / f"cluster{attempt}", size, progress_notify=progress_notify)
        try:
            await cluster.start()
        except EtcdFailed as exc:
            cluster.kill()
            failures.append(str(exc))
            continue
        return cluster
    raise EtcdFailed("\n\n".join(failures))
