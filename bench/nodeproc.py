"""Real processes for benchmarks and integration tests: nginx targets, and the Uptrack
nodes of `uptrack dev cluster` (cluster/dev/nodes.py), which the tests run too."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cluster.dev.nodes import NodeProcess
from cluster.dev.procs import free_port, wait_http

__all__ = ["NodeProcess", "find_nginx", "free_port", "nginx", "wait_http"]


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
