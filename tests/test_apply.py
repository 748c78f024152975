"""`uptrack apply` and `uptrack monitors list`, through the real CLI and SQLite."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from uptrack.alerts.records import ChannelSpec
from uptrack.cli import main
from uptrack.store.sqlite import SqliteStore

GOOD = """\
monitors:
  - name: Website
    kind: http
    target: https://example.com/
    interval: 60
    keyword: Welcome
  - name: Database
    kind: tcp
    target: db.internal:5432
    interval: 30s
"""


def write(tmp_path: Path, text: str, name: str = "monitors.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def stored(data: Path) -> dict[str, object]:
    store = SqliteStore(data / "uptrack.db")
    try:
        return {m.name: m for m in store.all_monitors()}
    finally:
        store.close()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_apply_creates_the_monitors_of_the_file(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["apply", str(write(tmp_path, GOOD)), "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert "create Website" in out
    assert "create Database" in out
    monitors = stored(data)
    assert set(monitors) == {"Website", "Database"}
    website = monitors["Website"]
    assert website.settings == {"keyword": "Welcome"}  # type: ignore[attr-defined]
    assert monitors["Database"].interval == 30  # type: ignore[attr-defined]


def test_applying_the_same_file_twice_changes_nothing(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write(tmp_path, GOOD)
    main(["apply", str(file), "--data-dir", str(data)])
    before = stored(data)
    capsys.readouterr()
    assert main(["apply", str(file), "--data-dir", str(data)]) == 0
    assert "changed 0 monitor(s), 2 unchanged" in capsys.readouterr().out
    assert stored(data) == before


def test_apply_updates_changed_monitors_and_deletes_those_not_in_the_file(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["apply", str(write(tmp_path, GOOD)), "--data-dir", str(data)])
    before = stored(data)
    edited = GOOD.replace("interval: 60", "interval: 120").split("  - name: Database")[0]
    capsys.readouterr()
    assert main(["apply", str(write(tmp_path, edited)), "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert "update Website (interval)" in out
    assert "delete Database" in out
    after = stored(data)
    assert set(after) == {"Website"}
    assert after["Website"].interval == 120  # type: ignore[attr-defined]
    assert after["Website"].id == before["Website"].id  # type: ignore[attr-defined]


def test_a_dry_run_shows_the_changes_and_makes_none(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["apply", str(write(tmp_path, GOOD)), "--data-dir", str(data), "--dry-run"]) == 0
    assert "would change 2 monitor(s)" in capsys.readouterr().out
    assert stored(data) == {}


def test_an_invalid_file_changes_nothing_and_names_every_bad_field_with_its_line(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["apply", str(write(tmp_path, GOOD)), "--data-dir", str(data)])
    before = stored(data)
    bad = """\
    monitors:
      - name: Website
        kind: http
        target: ftp://example.com/
        interval: 2
      - name: Other
        kind: carrier-pigeon
        target: x
        interval: 60
      - name: Website
        kind: tcp
        target: a:1
        interval: 60
        timeout: 90
    """
    capsys.readouterr()
    assert main(["apply", str(write(tmp_path, bad)), "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err
    assert "line 4: monitors[0].target:" in err
    assert "line 5: monitors[0].interval: 2 is below the minimum of 5 seconds" in err
    assert "line 7: monitors[1].kind: 'carrier-pigeon' is not a known kind" in err
    assert "line 14: monitors[2].timeout: 90 s must be below the interval (60 s)" in err
    assert stored(data) == before


def test_a_monitor_routed_to_a_channel_that_does_not_exist_is_refused_with_its_line(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    routed = GOOD + "    channels: [oncall, slack-ops]\n"
    assert main(["apply", str(write(tmp_path, routed)), "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err
    assert "line 11: monitors[1].channels[0]: no channel is named 'oncall'; no channel" in err
    assert "monitors[1].channels[1]: no channel is named 'slack-ops'" in err
    assert stored(data) == {}

    store = SqliteStore(data / "uptrack.db")
    try:
        store.create_channel(
            ChannelSpec(name="oncall", kind="webhook", settings={"url": "http://127.0.0.1:9/"}),
            now=0,
        )
    finally:
        store.close()
    assert main(["apply", str(write(tmp_path, routed)), "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err
    assert "channels[0]" not in err
    assert (
        "monitors[1].channels[1]: no channel is named 'slack-ops'; the stored channels are 'oncall'"
        in err
    )

    routed = GOOD + "    channels: [oncall]\n"
    assert main(["apply", str(write(tmp_path, routed)), "--data-dir", str(data)]) == 0
    assert stored(data)["Database"].channels == ["oncall"]  # type: ignore[attr-defined]


def test_a_duplicate_name_in_the_file_is_refused_with_both_lines(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dup = GOOD + "  - name: Website\n    kind: tcp\n    target: a:1\n    interval: 60\n"
    assert main(["apply", str(write(tmp_path, dup)), "--data-dir", str(data)]) == 2
    assert "'Website' is used already by the monitor on line 2" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("monitors: [\n", "is not valid YAML"),
        ("", "is empty"),
        ("- a\n", "expected a mapping with a `monitors` list"),
        ("monitor: []\n", "monitor: is not a top-level key"),
        ("monitors: 3\n", "monitors: must be a list"),
        ("monitors:\n  - 3\n", "monitors[0]: must be a mapping"),
    ],
)
def test_a_malformed_file_gets_a_clear_error(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    assert main(["apply", str(write(tmp_path, text)), "--data-dir", str(data)]) == 2
    assert message in capsys.readouterr().err


def test_an_empty_monitors_list_deletes_every_monitor(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["apply", str(write(tmp_path, GOOD)), "--data-dir", str(data)])
    assert main(["apply", str(write(tmp_path, "monitors: []\n")), "--data-dir", str(data)]) == 0
    assert stored(data) == {}


def test_monitors_list_prints_each_monitor_with_status_and_uptime(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["apply", str(write(tmp_path, GOOD)), "--data-dir", str(data)])
    capsys.readouterr()
    assert main(["monitors", "list", "--data-dir", str(data)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "NAME",
        "KIND",
        "TARGET",
        "STATUS",
        "LAST",
        "CHECK",
        "UPTIME",
        "24H",
    ]
    assert lines[1].split() == ["Database", "tcp", "db.internal:5432", "pending", "never", "-"]
    assert lines[2].split()[:4] == ["Website", "http", "https://example.com/", "pending"]


def test_store_options_come_from_the_environment_too(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPTRACK_DATA_DIR", str(data))
    assert main(["apply", str(write(tmp_path, GOOD))]) == 0
    assert set(stored(data)) == {"Website", "Database"}


def test_a_heartbeat_monitor_in_a_file_keeps_the_token_the_server_gave_it(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write(
        tmp_path,
        """\
        monitors:
          - {name: Backup, kind: heartbeat, interval: 1h, grace: 10m}
        """,
    )
    assert main(["apply", str(file), "--data-dir", str(data)]) == 0
    before = stored(data)
    token = before["Backup"].settings["token"]  # type: ignore[attr-defined]
    capsys.readouterr()

    assert main(["apply", str(file), "--data-dir", str(data)]) == 0

    assert "changed 0 monitor(s), 1 unchanged" in capsys.readouterr().out
    assert stored(data) == before
    assert len(token) == 32
