"""Alert figures of one real node (SQLite): latency of an alert and outbox throughput in a storm.

1. Latency: N monitors (default 20) check a local target every `--interval` seconds;
   the target is switched off; for each incident, the time from its failing slot's
   due time to the webhook receiver getting the alert (p50, max).
2. Storm: M monitors (default 1,000) go down at once. The receiver holds its answers
   until every incident is open (the outbox fills), then answers at once: alerts/s
   while the outbox drains, and start lateness of the checks during the storm (p50,
   p99), which the storm must not delay.

    python bench/alerts.py
    python bench/alerts.py --incidents 20 --monitors 1000 --interval 5
"""

from __future__ import annotations

import argparse
import http.server
import json
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.capacity import percentile  # noqa: E402
from bench.nodeproc import NodeProcess, free_port  # noqa: E402
from uptrack.alerts.records import ChannelSpec  # noqa: E402
from uptrack.model import MonitorSpec  # noqa: E402
from uptrack.store.base import ApplyPlan  # noqa: E402
from uptrack.store.sqlite import SqliteStore  # noqa: E402


class Target:
    """A local HTTP target answering 200 until `switch_off` closes its socket."""

    def __init__(self) -> None:
        handler = type("Ok", (_Quiet,), {"do_GET": _ok})
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.handle_error = _ignore  # type: ignore[method-assign]
        self.server.daemon_threads = True
        self.server.request_queue_size = 1024
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def switch_off(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Receiver:
    """A webhook receiver recording when each alert arrived; `gate` holds answers."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, dict[str, object]]] = []
        self.lock = threading.Lock()
        self.gate = threading.Event()
        self.gate.set()
        receiver = self

        class Handler(_Quiet):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.gate.wait(timeout=60)
                with receiver.lock:
                    receiver.arrivals.append((time.time(), json.loads(body)))
                _ok(self)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.handle_error = _ignore  # type: ignore[method-assign]
        self.server.daemon_threads = True
        self.server.request_queue_size = 1024
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, incidents: set[str] | None = None) -> int:
        """Alerts received (about these incidents only, when given)."""
        with self.lock:
            if incidents is None:
                return len(self.arrivals)
            return sum(1 for _, body in self.arrivals if _incident(body) in incidents)


def _incident(body: dict[str, object]) -> object:
    incident = body.get("incident")
    return incident.get("id") if isinstance(incident, dict) else None


class _Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def _ignore(request: object, client_address: object) -> None:
    pass  # a checker or deliverer that hung up: nothing to report


def _ok(handler: http.server.BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", "2")
    handler.end_headers()
    handler.wfile.write(b"ok")


def wait(condition: object, deadline: float, what: str) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what}: not within {deadline} s")


def count(db: Path, sql: str, *params: object) -> int:
    with sqlite3.connect(db, timeout=10) as conn:
        return int(conn.execute(sql, params).fetchone()[0])


def incidents(db: Path) -> dict[str, int]:
    """Every incident's id and confirming slot."""
    with sqlite3.connect(db, timeout=10) as conn:
        return dict(conn.execute("SELECT id, confirmed_slot FROM incidents").fetchall())


@contextmanager
def node_with(monitors: int, interval: int, target: Target, receiver: Receiver) -> Iterator[Path]:
    """A node checking `monitors` monitors of the target, alerting the receiver;
    yields its database once every monitor is up."""
    with tempfile.TemporaryDirectory(prefix="uptrack-bench-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        db = data / "uptrack.db"
        store = SqliteStore(db)
        store.migrate()
        spec = ChannelSpec(name="hook", kind="webhook", settings={"url": receiver.url})
        store.create_channel(spec, now=time.time())
        specs = [
            MonitorSpec(
                name=f"bench-{i:05d}",
                kind="http",
                target=f"{target.url}/m/{i}",
                interval=interval,
                timeout=2.0,
                retries=0,
                channels=["hook"],
            )
            for i in range(monitors)
        ]
        store.apply_monitors(ApplyPlan(create=specs), now=time.time())
        store.close()
        node = NodeProcess(data, port=free_port()).start()
        try:
            up = "SELECT count(*) FROM monitor_state WHERE status = 'up'"
            wait(lambda: count(db, up) == monitors, interval * 3 + 30, "monitors up")
            time.sleep(2 * interval)  # past the start's catch-up checks: a steady schedule
            wait(lambda: count(db, up) == monitors, interval * 3 + 30, "monitors up")
            yield db
        finally:
            node.stop()


def latency(args: argparse.Namespace) -> None:
    target, receiver = Target(), Receiver()
    with node_with(args.incidents, args.interval, target, receiver) as db:
        before = set(incidents(db))  # a monitor may flap while the node warms up
        target.switch_off()

        def storm_slots() -> dict[str, int]:
            return {i: slot for i, slot in incidents(db).items() if i not in before}

        wait(lambda: len(storm_slots()) >= args.incidents, args.interval * 3 + 30, "incidents")
        slots = storm_slots()
        wait(lambda: receiver.count(set(slots)) >= len(slots), 30, "alerts")
    delays = [
        arrived - slots[str(_incident(body))] / 1000
        for arrived, body in receiver.arrivals
        if _incident(body) in slots
    ]
    print(f"latency   {len(delays)} incidents, {args.interval} s checks; failing slot -> webhook")
    print(
        f"          p50 {percentile(delays, 0.5) * 1000:.0f} ms   "
        f"max {max(delays) * 1000:.0f} ms   (check + batch + commit + delivery)"
    )


def storm(args: argparse.Namespace) -> None:
    target, receiver = Target(), Receiver()
    n = args.monitors
    with node_with(n, args.interval, target, receiver) as db:
        receiver.gate.clear()  # answers wait: the outbox fills as monitors go down
        before = set(incidents(db))  # a monitor may flap while the node warms up
        off = time.time()
        target.switch_off()
        wait(lambda: len(incidents(db)) - len(before) >= n, args.interval * 3 + 30, "incidents")
        all_down = time.time()
        ids = set(incidents(db)) - before
        gate = time.time()
        receiver.gate.set()
        wait(lambda: receiver.count(ids) >= n, 120, "alerts delivered")
        done = time.time()
        with sqlite3.connect(db) as conn:
            sql = (
                "SELECT (started_at - scheduled_at) * 1000 FROM results"
                " WHERE scheduled_at >= ? AND scheduled_at < ?"
            )
            late = [ms for (ms,) in conn.execute(sql, (off, done))]
            calm = [ms for (ms,) in conn.execute(sql, (off - 2 * args.interval, off))]
            statuses = dict(conn.execute("SELECT status, count(*) FROM outbox GROUP BY status"))
    times = sorted(t for t, body in receiver.arrivals if _incident(body) in ids)
    after_gate = [t for t in times if t >= gate]
    drain = (after_gate[-1] - gate) if after_gate else float("nan")
    print(f"storm     {n} monitors, {args.interval} s checks, down within {all_down - off:.1f} s")
    print(
        f"          outbox drained {len(after_gate)} alerts in {drain:.2f} s once the receiver"
        f" answered ({len(times) - len(after_gate)} before): {len(after_gate) / drain:.0f}"
        f" alerts/s  (outbox rows: {statuses})"
    )
    print(
        f"          check start lateness during the storm ({len(late)} checks):"
        f" p50 {percentile(late, 0.5):.1f} ms  p99 {percentile(late, 0.99):.1f} ms"
        f"  max {max(late, default=float('nan')):.1f} ms"
    )
    print(
        f"          ... and in the {2 * args.interval} s before it ({len(calm)} checks):"
        f" p50 {percentile(calm, 0.5):.1f} ms  p99 {percentile(calm, 0.99):.1f} ms"
        f"  max {max(calm, default=float('nan')):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=20)
    parser.add_argument("--monitors", type=int, default=1000)
    parser.add_argument("--interval", type=int, default=5)
    args = parser.parse_args()
    latency(args)
    storm(args)


if __name__ == "__main__":
    main()
