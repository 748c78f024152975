"""Running the deployment tools for real: ansible-playbook, ansible-lint, etcd, ruby."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
ANSIBLE = PROJECT / "ansible"
PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
# The tools come with the test extras, in the venv that runs pytest.
VENV_BIN = Path(sys.executable).parent

_RECAP = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)


def tool(name: str) -> str:
    """The venv's copy of a Python tool, else the system's; fail, naming the fix."""
    for candidate in (VENV_BIN / name, shutil.which(name)):
        if candidate and os.access(candidate, os.X_OK):
            return str(candidate)
    raise AssertionError(f"{name} is not installed: run `make test` (it installs .[test])")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str

    def recap(self) -> dict[str, dict[str, int]]:
        """PLAY RECAP counters per host (ok, changed, unreachable, failed)."""
        return {
            m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
            for m in _RECAP.finditer(self.output)
        }


def run(cmd: Sequence[str], *, env: Mapping[str, str], timeout: float = 300) -> Run:
    done = subprocess.run(
        list(cmd),
        cwd=PROJECT,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(done.returncode, done.stdout)


def ok(result: Run) -> Run:
    assert result.returncode == 0, result.output[-6000:]
    return result


def playbook(
    env: Mapping[str, str],
    path: Path,
    *,
    inventory: str | Path,
    extra_vars: Mapping[str, object] | None = None,
    args: Sequence[str] = (),
    timeout: float = 300,
) -> Run:
    cmd = [tool("ansible-playbook"), "-i", str(inventory), str(path), *args]
    if extra_vars:
        cmd += ["-e", json.dumps(dict(extra_vars))]  # JSON keeps booleans and numbers
    return run(cmd, env=env, timeout=timeout)
