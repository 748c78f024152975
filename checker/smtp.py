"""The SMTP dialogue up to STARTTLS (RFC 3207), for the tls kind's `starttls: smtp`."""

from __future__ import annotations

import trio

from checker.kinds.tcp import Attempt, TargetFault, printable

MAX_LINE = 1024  # RFC 5321 allows 512 octets per reply line
MAX_REPLY = 64 * 1024


class _Replies:
    """Reads SMTP replies (possibly multi-line) from a stream, within bounds."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.buffer = b""

    async def line(self) -> bytes:
        while b"\n" not in self.buffer:
            if len(self.buffer) > MAX_LINE:
                raise TargetFault("protocol", f"an SMTP reply line is over {MAX_LINE} bytes")
            try:
                data = await self.stream.receive_some(MAX_LINE)
            except trio.BrokenResourceError:
                raise TargetFault("network", "connection broken during the SMTP dialogue") from None
            if not data:
                raise TargetFault("protocol", "the server closed the connection mid-SMTP")
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.rstrip(b"\r")

    async def reply(self, step: str) -> tuple[int, list[bytes]]:
        """(code, lines) of the next reply; `step` names it in errors."""
        lines: list[bytes] = []
        size = 0
        while True:
            line = await self.line()
            size += len(line)
            if size > MAX_REPLY:
                raise TargetFault("protocol", f"the SMTP {step} reply is over {MAX_REPLY} bytes")
            code = line[:3]
            if not code.isdigit() or line[3:4] not in (b" ", b"-", b""):
                raise TargetFault("protocol", f"not an SMTP {step} reply: {printable(line, 60)!r}")
            lines.append(line[4:])
            if line[3:4] != b"-":
                return int(code), lines


async def _expect(replies: _Replies, step: str, code: int) -> list[bytes]:
    got, lines = await replies.reply(step)
    if got != code:
        text = printable(lines[0] if lines else b"", 80)
        raise TargetFault("protocol", f"SMTP {step} answered {got} {text}".rstrip())
    return lines


async def starttls(stream: trio.abc.Stream, attempt: Attempt, helo_name: str) -> None:
    """Greeting, EHLO, STARTTLS: afterwards the stream is ready for the TLS handshake."""
    replies = _Replies(stream)
    attempt.phase = "waiting for the SMTP greeting"
    await _expect(replies, "greeting", 220)
    attempt.phase = "saying EHLO"
    await stream.send_all(f"EHLO {helo_name}\r\n".encode("ascii"))
    extensions = await _expect(replies, "EHLO", 250)
    if not any(line.upper().split(b" ")[0] == b"STARTTLS" for line in extensions[1:]):
        raise TargetFault("protocol", "the SMTP server does not offer STARTTLS")
    attempt.phase = "asking for STARTTLS"
    await stream.send_all(b"STARTTLS\r\n")
    await _expect(replies, "STARTTLS", 220)
    if replies.buffer:
        # Plain-text bytes sent ahead of the handshake would be read as if they came
        # over TLS (the STARTTLS injection flaw): refuse them.
        raise TargetFault("protocol", "the SMTP server sent data after its STARTTLS reply")
