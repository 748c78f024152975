"""The reader of docs/runbook.md: which blocks run, with what options and expectations."""

from __future__ import annotations

import pytest

from tests.cluster.runbook import first_missing, metric_names, parse

PAGE = """# Title

## Look

```sh runnable
echo one
```

```text expected
one
```

```sh
echo not runnable
```

## Act

```sh runnable id=drain exit=1 timeout=5 each=member
false
```

Prose between a command and a block of text.

```text
not what it prints
```
"""


def test_it_reads_runnable_blocks_with_their_options_and_expected_lines() -> None:
    first, second = parse(PAGE)

    assert (first.section, first.code, first.expected) == ("Look", "echo one\n", ["one"])
    assert (first.id, first.exit, first.timeout, first.each_member) == ("", 0, 30.0, False)
    assert (second.section, second.id, second.exit, second.timeout) == ("Act", "drain", 1, 5.0)
    assert second.each_member
    assert second.expected == []
    assert second.where() == "docs/runbook.md:19 (Act, id=drain)"


def test_an_unknown_option_is_an_error_that_names_the_line() -> None:
    with pytest.raises(ValueError, match=r"runbook.md:1: unknown option 'retries=3'"):
        parse("```sh runnable retries=3\ntrue\n```\n")


def test_expected_lines_match_in_order_with_ellipses_and_any_spacing() -> None:
    output = (
        "NODE    ADDRESS\nnode1-ab12  http://127.0.0.1:1  active  87\nshards: 256 of 256 owned\n"
    )

    assert (
        first_missing(["NODE ADDRESS", "node1-… active …", "shards: 256 of 256 owned"], output)
        is None
    )
    assert first_missing(["shards: 256 of 256 owned", "NODE ADDRESS"], output) == "NODE ADDRESS"
    assert first_missing(["node2-… active …"], output) == "node2-… active …"
    assert first_missing(["node1-…", "node1-…"], output) == "node1-…"  # a line matches once


def test_the_metrics_table_is_read_without_labels() -> None:
    table = "| `uptrack_checks_total{kind,outcome}` | … |\n| `uptrack_spool_results` | … |\n"

    assert metric_names(table) == {"uptrack_checks_total", "uptrack_spool_results"}
