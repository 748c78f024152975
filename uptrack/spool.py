"""The result spool: results the store could not take, kept on local disk in order.

While the database is unreachable the writer appends each batch to the spool and
fsyncs it, so a node killed during an outage still delivers those results after it
restarts. Once the database answers, the spool is replayed oldest first; a replay
interrupted by a crash repeats a few batches, which the store drops as duplicates.

On disk: a directory of segment files `<number>.spool`, each a header line and then
frames. A frame is a 12-byte header (payload length, result count, CRC-32 of the
payload; little-endian) and a msgpack payload (one list of results). A torn frame at
the end, left by a crash in the middle of a write, fails its length or checksum and
is cut off when the spool is opened. The spool is bounded: past `max_results` the
oldest whole segments are dropped (and counted).

The methods block on file I/O (the writer calls them from worker threads) and are
thread-safe: one thread may append while another replays.
"""

from __future__ import annotations

import collections
import os
import struct
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path

import msgspec
import structlog

from uptrack.model import Result

log = structlog.get_logger()

MAGIC = b"uptrack spool 1\n"
FRAME = struct.Struct("<III")
SUFFIX = ".spool"
MAX_RESULTS = 1_000_000


class _Segment:
    """One segment file: `size` bytes of whole frames, read up to `offset`."""

    def __init__(self, path: Path, number: int, size: int, results: int) -> None:
        self.path = path
        self.number = number
        self.size = size
        self.offset = len(MAGIC)
        self.results = results  # not yet acknowledged


class Spool:
    """An append-only, fsynced queue of result batches in `directory`."""

    def __init__(
        self,
        directory: Path,
        *,
        max_results: int = MAX_RESULTS,
        segment_results: int | None = None,
    ) -> None:
        self.directory = directory
        self.max_results = max_results
        self.segment_results = segment_results or max(1000, max_results // 10)
        self._segments: collections.deque[_Segment] = collections.deque()
        self._tail_fd: int | None = None
        self._head: tuple[list[Result], int, int] | None = None  # batch, count, next offset
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(list[Result])
        self._next_number = 1
        self._lock = threading.Lock()
        self.depth = 0  # results spooled and not yet acknowledged
        self.opened = False

    # -- opening -------------------------------------------------------------------
    def open(self) -> int:
        """Read what a previous run left (cutting off a torn last frame); returns the
        number of results waiting."""
        with self._lock:
            return self._open()

    def _open(self) -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        numbered = []
        for path in self.directory.iterdir():
            if path.suffix == SUFFIX and path.stem.isdigit():
                numbered.append((int(path.stem), path))
        for number, path in sorted(numbered):
            self._next_number = number + 1
            segment = self._scan(path, number)
            if segment is None:
                continue  # not a spool segment: left as it is
            if segment.results == 0:
                path.unlink(missing_ok=True)
                continue
            self._segments.append(segment)
            self.depth += segment.results
        self.opened = True
        if self.depth:
            log.info("spool.opened", results=self.depth, segments=len(self._segments))
        return self.depth

    def _scan(self, path: Path, number: int) -> _Segment | None:
        data = path.read_bytes()
        if not data.startswith(MAGIC):
            log.error("spool.foreign_file", path=str(path))
            return None
        at, results = len(MAGIC), 0
        while at < len(data):
            frame = _frame_at(data, at)
            if frame is None:
                # A crash while appending leaves a torn frame; nothing after it is ours.
                log.warning("spool.torn_frame", path=str(path), offset=at, cut=len(data) - at)
                with open(path, "r+b") as f:
                    f.truncate(at)
                    os.fsync(f.fileno())
                break
            length, count = frame
            at += FRAME.size + length
            results += count
        return _Segment(path, number, at, results)

    # -- appending -----------------------------------------------------------------
    def append(self, results: Sequence[Result]) -> int:
        """Append one batch and fsync it; returns how many older results were dropped
        to stay within `max_results`."""
        with self._lock:
            return self._append(results)

    def _append(self, results: Sequence[Result]) -> int:
        if not results:
            return 0
        payload = self._encoder.encode(list(results))
        frame = FRAME.pack(len(payload), len(results), zlib.crc32(payload)) + payload
        tail = self._writable_tail()
        assert self._tail_fd is not None
        _write_all(self._tail_fd, frame)
        os.fsync(self._tail_fd)
        tail.size += len(frame)
        tail.results += len(results)
        self.depth += len(results)
        return self._enforce_bound()

    def _writable_tail(self) -> _Segment:
        tail = self._segments[-1] if self._segments else None
        if tail is not None and self._tail_fd is not None and tail.results < self.segment_results:
            return tail
        if self._tail_fd is not None:
            os.close(self._tail_fd)
            self._tail_fd = None
        number = self._next_number
        self._next_number += 1
        path = self.directory / f"{number:012d}{SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        _write_all(fd, MAGIC)
        os.fsync(fd)
        _fsync_dir(self.directory)
        self._tail_fd = fd
        segment = _Segment(path, number, len(MAGIC), 0)
        self._segments.append(segment)
        return segment

    def _enforce_bound(self) -> int:
        dropped = 0
        while self.depth > self.max_results and len(self._segments) > 1:
            oldest = self._segments.popleft()
            self._head = None
            oldest.path.unlink(missing_ok=True)
            self.depth -= oldest.results
            dropped += oldest.results
        if dropped:
            log.warning("spool.full", dropped=dropped, results=self.depth)
        return dropped

    # -- replaying -----------------------------------------------------------------
    def head(self, max_results: int = 0) -> list[Result] | None:
        """The oldest batch not yet acknowledged (the same one until `ack`), joined by
        the batches after it in its segment while they fit in `max_results`: a replay
        after an outage writes a few large batches, not one small one per flush."""
        with self._lock:
            return self._read_head(max_results)

    def _read_head(self, max_results: int) -> list[Result] | None:
        while self._head is None:
            if not self._segments:
                return None
            segment = self._segments[0]
            if segment.offset >= segment.size:
                self._retire_head()
                continue
            with open(segment.path, "rb") as f:
                f.seek(segment.offset)
                data = f.read(FRAME.size)
                if len(data) < FRAME.size:
                    # the file lost its end under us: nothing more to read from it
                    log.error("spool.short_segment", path=str(segment.path))
                    self.depth -= segment.results
                    self._retire_head()
                    continue
                length, count, _ = FRAME.unpack(data)
                data += f.read(length)
            frame = _frame_at(data, 0)
            next_offset = segment.offset + FRAME.size + length
            try:
                if frame is None:
                    raise msgspec.DecodeError("checksum mismatch")
                batch = self._decoder.decode(data[FRAME.size :])
            except msgspec.MsgspecError as exc:
                # Not ours to fix: skip the frame rather than block every later one.
                log.error("spool.bad_frame", path=str(segment.path), error=str(exc))
                self._consume(segment, count, next_offset)
                continue
            more, more_count, next_offset = self._following(
                segment, next_offset, max_results - count
            )
            self._head = (batch + more, count + more_count, next_offset)
        return self._head[0]

    def _following(self, segment: _Segment, at: int, room: int) -> tuple[list[Result], int, int]:
        """The whole batches of `segment` from offset `at` that fit in `room` results:
        their results, how many, and the offset after them. A frame that does not
        read back stops it; the next `head` starts at it and skips it."""
        results: list[Result] = []
        count = 0
        if at >= segment.size or room <= 0:
            return results, count, at
        with open(segment.path, "rb") as f:
            f.seek(at)
            while at < segment.size:
                header = f.read(FRAME.size)
                if len(header) < FRAME.size:
                    break
                length, frame_count, _ = FRAME.unpack(header)
                if count + frame_count > room:
                    break
                data = header + f.read(length)
                if _frame_at(data, 0) is None:
                    break
                try:
                    results += self._decoder.decode(data[FRAME.size :])
                except msgspec.MsgspecError:
                    break
                count += frame_count
                at += len(data)
        return results, count, at

    def ack(self, batch: list[Result]) -> None:
        """`batch`, from `head`, is stored: forget it (unless the bound dropped it
        meanwhile)."""
        with self._lock:
            if self._head is None or self._head[0] is not batch:
                return
            _, count, next_offset = self._head
            self._head = None
            self._consume(self._segments[0], count, next_offset)

    def _consume(self, segment: _Segment, count: int, next_offset: int) -> None:
        segment.offset = next_offset
        segment.results -= count
        self.depth -= count
        if segment.offset >= segment.size:
            self._retire_head()

    def _retire_head(self) -> None:
        segment = self._segments.popleft()
        if not self._segments and self._tail_fd is not None:
            os.close(self._tail_fd)
            self._tail_fd = None
        segment.path.unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            if self._tail_fd is not None:
                os.close(self._tail_fd)
                self._tail_fd = None


def _frame_at(data: bytes, at: int) -> tuple[int, int] | None:
    """(payload length, result count) of the whole, intact frame at `at`, else None."""
    if len(data) - at < FRAME.size:
        return None
    length, count, crc = FRAME.unpack_from(data, at)
    payload = data[at + FRAME.size : at + FRAME.size + length]
    if len(payload) != length or zlib.crc32(payload) != crc:
        return None
    return length, count


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
