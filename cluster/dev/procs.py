"""Processes of a local cluster: started here (Popen) or found again by a pid file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx


class ProcessFailed(RuntimeError):
    """A process of the local cluster did not start, or not in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel just had free on `host` (it may be taken again before use)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct free ports."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port(host)
        if port not in ports:
            ports.append(port)
    return ports


def wait_http(url: str, *, deadline: float, status: int = 200) -> None:
    """Poll `url` until it answers `status`, or raise after `deadline` seconds."""
    end = time.monotonic() + deadline
    last: object = None
    while time.monotonic() < end:
        try:
            reply = httpx.get(url, timeout=1, trust_env=False)
            if reply.status_code == status:
                return
            last = reply.status_code
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer {status} within {deadline} s (last: {last!r})")


def _state(pid: int) -> str | None:
    """The kernel's state letter of `pid` (R, S, T, Z …), None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _mentions(pid: int, marker: str) -> bool:
    """Whether the command line or the environment of `pid` contains `marker`."""
    for part in ("cmdline", "environ"):
        try:
            if marker.encode() in Path(f"/proc/{pid}/{part}").read_bytes():
                return True
        except OSError:
            pass
    return False


class Process:
    """One process: `popen` when this interpreter started it, else only its pid (read back
    from a pid file by a later command such as `uptrack dev cluster down`)."""

    def __init__(self, pid: int, popen: subprocess.Popen[bytes] | None = None) -> None:
        self.pid = pid
        self.popen = popen

    @classmethod
    def spawn(
        cls,
        args: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        pid_file: Path | None = None,
        detach: bool = False,
    ) -> Process:
        """Start `args` with stdout and stderr appended to `log_path`. `detach` puts it in a
        session of its own, so it outlives this command and a Ctrl-C in its terminal."""
        with log_path.open("ab") as log:
            popen = subprocess.Popen(
                list(args),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=None if env is None else dict(env),
                start_new_session=detach,
            )
        if pid_file is not None:
            pid_file.write_text(f"{popen.pid}\n")
        return cls(popen.pid, popen)

    @classmethod
    def from_pid_file(cls, pid_file: Path, *, marker: str) -> Process | None:
        """The live process named in `pid_file` whose command line or environment
        contains `marker` (a pid reused by another program is not ours), else None."""
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        process = cls(pid)
        if not process.running or not _mentions(pid, marker):
            return None
        return process

    @property
    def running(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return _state(self.pid) not in (None, "Z", "X")

    @property
    def suspended(self) -> bool:
        """Stopped by SIGSTOP (it keeps its sockets, answers nothing)."""
        return _state(self.pid) in ("T", "t")

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def poll(self) -> int | None:
        """As Popen.poll: the exit status once it has ended (None for a pid-file process)."""
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.running:
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int | None:
        """Until the process has ended; its exit status when it is our child."""
        if self.popen is not None:
            return self.popen.wait(timeout=timeout)
        end = time.monotonic() + timeout
        while self.running:
            if time.monotonic() > end:
                raise TimeoutError(f"process {self.pid} still runs after {timeout} s")
            time.sleep(0.02)
        return None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        """Signal it, wait for it to end, and SIGKILL it if it has not within `timeout`."""
        self.send_signal(sig)
        if self.suspended:
            os.kill(self.pid, signal.SIGCONT)  # a stopped process would never handle it
        try:
            return self.wait(timeout)
        except (TimeoutError, subprocess.TimeoutExpired):
            self.kill()
            return self.returncode

    def kill(self) -> None:
        """SIGKILL, and reap (immediate: even a suspended process dies at once)."""
        if not self.running:
            if self.popen is not None:
                self.popen.wait(timeout=5)
            return
        os.kill(self.pid, signal.SIGKILL)
        self.wait(timeout=5)
