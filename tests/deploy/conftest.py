"""Fixtures of the deployment tests: an Ansible environment and a wheel of Uptrack."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.commands import ANSIBLE, PROJECT, VENV_BIN


@pytest.fixture(scope="session")
def ansible_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for ansible-* commands: this venv first, nothing written to $HOME."""
    home = tmp_path_factory.mktemp("ansible-home")
    env = dict(os.environ)
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        ANSIBLE_CONFIG=str(ANSIBLE / "ansible.cfg"),
        ANSIBLE_ROLES_PATH=str(ANSIBLE / "roles"),
        ANSIBLE_HOME=str(home),
        ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        NO_COLOR="1",
        XDG_CACHE_HOME=str(home / "cache"),
    )
    return env


@pytest.fixture(scope="session")
def uptrack_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of the project as it is in the work tree, built like an operator
    would (`pip wheel --no-deps`), from a copy so no stale build/ leaks in."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        src = PROJECT / os.fsdecode(name)
        if src.is_file():
            dst = source / os.fsdecode(name)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    out = root / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = out.glob("uptrack-*.whl")
    return wheel
