"""The runnable blocks of docs/runbook.md: parsed from the Markdown, with what they expect."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbook.md"
FENCE = "```"


@dataclass
class Block:
    """One ```sh runnable block: its code, options and the lines it says it prints."""

    line: int  # of the opening fence, 1-based
    section: str
    code: str
    id: str = ""
    exit: int = 0
    timeout: float = 30.0
    each_member: bool = False
    expected: list[str] = field(default_factory=list)

    def where(self) -> str:
        return f"docs/runbook.md:{self.line} ({self.section}{', id=' + self.id if self.id else ''})"


def _options(info: str, line: int) -> dict[str, str]:
    words = info.split()
    options = {}
    for word in words[2:]:
        key, sep, value = word.partition("=")
        if not sep or key not in ("id", "exit", "timeout", "each"):
            raise ValueError(f"docs/runbook.md:{line}: unknown option {word!r} of a runnable block")
        options[key] = value
    if options.get("each", "member") != "member":
        raise ValueError(f"docs/runbook.md:{line}: each= takes only 'member'")
    return options


def parse(text: str) -> list[Block]:
    """Every runnable block in document order; a ```text expected block right after one
    (blank lines between) gives its expected lines."""
    blocks: list[Block] = []
    lines = text.splitlines()
    section = ""
    i = 0
    last_closed_runnable: Block | None = None
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section = line[3:].strip()
        if not line.startswith(FENCE):
            if line.strip():
                last_closed_runnable = None
            i += 1
            continue
        info = line[len(FENCE) :].strip()
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith(FENCE))
        body = lines[i + 1 : end]
        words = info.split()
        if words[:2] == ["sh", "runnable"]:
            options = _options(info, i + 1)
            block = Block(
                line=i + 1,
                section=section,
                code="\n".join(body) + "\n",
                id=options.get("id", ""),
                exit=int(options.get("exit", "0")),
                timeout=float(options.get("timeout", "30")),
                each_member="each" in options,
            )
            blocks.append(block)
            last_closed_runnable = block
        elif words == ["text", "expected"]:
            if last_closed_runnable is None:
                raise ValueError(f"docs/runbook.md:{i + 1}: an expected block follows no command")
            last_closed_runnable.expected = [b for b in body if b.strip()]
            last_closed_runnable = None
        else:
            last_closed_runnable = None
        i = end + 1
    return blocks


def _pattern(expected: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in _squeeze(expected).split("…")]
    return re.compile("^" + ".*".join(parts) + "$")


def _squeeze(text: str) -> str:
    return " ".join(text.split())


def first_missing(expected: list[str], output: str) -> str | None:
    """The first expected line that does not match an output line after the lines the
    earlier ones matched (None when all do). `…` is any text; runs of spaces match
    runs of spaces."""
    lines = [_squeeze(line) for line in output.splitlines()]
    at = 0
    for want in expected:
        pattern = _pattern(want)
        while at < len(lines) and not pattern.match(lines[at]):
            at += 1
        if at == len(lines):
            return want
        at += 1
    return None


def metric_names(text: str) -> set[str]:
    """The metrics the runbook's table documents (first column, labels dropped)."""
    return set(re.findall(r"^\| `(uptrack_[a-z_]+)[`{]", text, re.MULTILINE))
