"""The result spool on a real directory: order, reopening, torn tails, the bound."""

from __future__ import annotations

import os
from pathlib import Path

from uptrack.model import Result, Timings
from uptrack.spool import FRAME, Spool


def batch(start: int, count: int = 3) -> list[Result]:
    return [
        Result(
            monitor_id="m" * 32,
            slot=slot * 1000,
            scheduled_at=float(slot),
            started_at=slot + 0.5,
            duration_ms=1.5,
            ok=slot % 2 == 0,
            error_kind=None if slot % 2 == 0 else "refused",
            error=None if slot % 2 == 0 else "connection refused ✗",
            http_status=None,
            ip="127.0.0.1",
            timings=Timings(connect=0.25),
            attempts=1,
            node="node-a",
            epoch=7,
        )
        for slot in range(start, start + count)
    ]


def drain(spool: Spool) -> list[list[Result]]:
    batches = []
    while (head := spool.head()) is not None:
        batches.append(head)
        spool.ack(head)
    return batches


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.spool"))


def test_batches_come_back_in_the_order_they_were_appended(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    for start in (1, 4, 7):
        spool.append(batch(start))

    assert spool.depth == 9
    assert spool.head() == spool.head() == batch(1)  # the same batch until acknowledged
    assert drain(spool) == [batch(1), batch(4), batch(7)]
    assert spool.depth == 0


def test_a_replay_takes_the_oldest_batches_of_a_segment_together_while_they_fit(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path, segment_results=9)
    spool.open()
    for start in (1, 4, 7, 10):  # the fourth batch starts a second segment
        spool.append(batch(start))

    assert spool.head(8) == batch(1) + batch(4)  # the third would not fit
    assert spool.head(100) == batch(1) + batch(4)  # the same until acknowledged
    spool.ack(spool.head())
    assert spool.depth == 6
    assert spool.head(100) == batch(7)  # not past the end of its segment
    spool.ack(spool.head())
    assert spool.head(1) == batch(10)  # the oldest batch, even when it is larger
    spool.ack(spool.head())
    assert (spool.depth, spool.head(100), segments(tmp_path)) == (0, None, [])


def test_a_reopened_spool_holds_what_was_appended_before(tmp_path: Path) -> None:
    first = Spool(tmp_path)
    first.open()
    first.append(batch(1))
    first.append(batch(4))
    first.close()

    again = Spool(tmp_path)

    assert again.open() == 6
    again.append(batch(7))
    assert drain(again) == [batch(1), batch(4), batch(7)]


def test_a_torn_last_frame_is_cut_off_and_the_frames_before_it_are_kept(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path)
    spool.open()
    spool.append(batch(1))
    spool.append(batch(4))
    spool.close()
    [path] = segments(tmp_path)
    whole = path.stat().st_size
    # a crash in the middle of writing the second frame
    os.truncate(path, whole - 5)

    reopened = Spool(tmp_path)

    assert reopened.open() == 3
    assert path.stat().st_size < whole - 5
    reopened.append(batch(10))
    assert drain(reopened) == [batch(1), batch(10)]


def test_a_last_frame_whose_checksum_fails_is_dropped(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    spool.append(batch(1))
    spool.append(batch(4))
    spool.close()
    [path] = segments(tmp_path)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # a page written half-way: the length is right, the bytes are not
    path.write_bytes(bytes(data))

    reopened = Spool(tmp_path)

    assert reopened.open() == 3
    assert drain(reopened) == [batch(1)]


def test_a_header_cut_short_is_dropped(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    spool.append(batch(1))
    spool.close()
    [path] = segments(tmp_path)
    whole = path.stat().st_size
    with open(path, "ab") as f:
        f.write(FRAME.pack(100, 3, 0)[:7])

    reopened = Spool(tmp_path)

    assert reopened.open() == 3
    assert path.stat().st_size == whole
    assert drain(reopened) == [batch(1)]


def test_the_spool_is_bounded_by_dropping_its_oldest_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_results=6, segment_results=3)
    spool.open()
    dropped = [spool.append(batch(start)) for start in (1, 4, 7, 10)]

    assert dropped == [0, 0, 3, 3]
    assert spool.depth == 6
    assert drain(spool) == [batch(7), batch(10)]


def test_replayed_segments_are_deleted(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_results=3)
    spool.open()
    for start in (1, 4, 7):
        spool.append(batch(start))
    assert len(segments(tmp_path)) == 3

    spool.ack(spool.head() or [])
    assert len(segments(tmp_path)) == 2
    drain(spool)

    assert segments(tmp_path) == []
    spool.append(batch(10))
    assert drain(spool) == [batch(10)]


def test_a_crash_before_acknowledging_replays_the_batch_again(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    spool.append(batch(1))
    spool.append(batch(4))
    spool.ack(spool.head() or [])  # stored, but the process dies before the segment is used up

    after_crash = Spool(tmp_path)

    assert after_crash.open() == 6
    assert drain(after_crash)[0] == batch(1)


def test_files_that_are_not_segments_are_left_alone(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    (tmp_path / "000000000001.spool").write_bytes(b"not a spool at all")

    spool = Spool(tmp_path)

    assert spool.open() == 0
    spool.append(batch(1))
    assert drain(spool) == [batch(1)]
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    assert (tmp_path / "000000000001.spool").read_bytes() == b"not a spool at all"
