"""Real processes for benchmarks and integration tests: nginx targets and Uptrack nodes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def find_nginx() -> str:
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.path.exists(candidate):
            return candidate
    raise RuntimeError("nginx is not installed: run `make system-deps` (Debian package nginx)")


@contextlib.contextmanager
def nginx(body: str = "ok\n") -> Iterator[str]:
    """A local nginx answering 200 with `body` on every path; yields its base URL."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="uptrack-nginx-") as prefix:
        conf = Path(prefix) / "nginx.conf"
        conf.write_text(
            f"""
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {prefix};
    proxy_temp_path {prefix};
    fastcgi_temp_path {prefix};
    uwsgi_temp_path {prefix};
    scgi_temp_path {prefix};
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{ return 200 "{body.encode("unicode_escape").decode()}"; }}
    }}
}}
"""
        )
        proc = subprocess.Popen([find_nginx(), "-c", str(conf), "-p", prefix])
        try:
            wait_http(f"http://127.0.0.1:{port}/", deadline=10)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def wait_http(url: str, *, deadline: float, status: int = 200) -> None:
    """Poll `url` until it answers `status`, or raise after `deadline` seconds."""
    end = time.monotonic() + deadline
    last: object = None
    while time.monotonic() < end:
        try:
            r = httpx.get(url, timeout=1)
            if r.status_code == status:
                return
            last = r.status_code
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer {status} within {deadline} s (last: {last!r})")


class NodeProcess:
    """`uptrack serve` as a real subprocess (so SIGTERM and SIGKILL are real)."""

    def __init__(self, data_dir: Path, *, port: int | None = None, extra: list[str] | None = None):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"{data_dir.name}-node.log"
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
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, wait: bool = True, deadline: float = 60) -> NodeProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(self.args, stdout=log, stderr=log)
        log.close()
        if wait:
            self.wait_ready(deadline)
        return self

    def wait_ready(self, deadline: float = 60) -> None:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"node exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"node not ready within {deadline} s:\n{self.log()}")

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
        raise RuntimeError("no VmRSS")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
