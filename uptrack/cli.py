"""The `uptrack` command line: serve a node, apply monitors files, manage tokens."""

from __future__ import annotations

import argparse
import collections
import math
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
import trio

from cluster.etcd import EtcdClient, EtcdError
from cluster.records import Keys, decode_node
from uptrack import __version__
from uptrack.apply import load_monitors_file, plan_changes
from uptrack.clusterview import NodeInfo
from uptrack.config import Config, load_config
from uptrack.errors import InvalidInput, StoreUnavailable, UptrackError
from uptrack.logs import configure_logging
from uptrack.monitors import parse_duration
from uptrack.store.base import Store
from uptrack.tokens import SCOPES, NewToken

log = structlog.get_logger()


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML settings file")
    parser.add_argument("--data-dir", help="data directory (default ./.uptrack)")
    parser.add_argument(
        "--database",
        metavar="URL",
        help="postgresql://… for PostgreSQL (default: SQLite in the data directory)",
    )


def _cluster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--etcd", metavar="URL[,URL…]", help="etcd client URLs (a cluster)")
    parser.add_argument("--etcd-prefix", help="key prefix of this deployment (default /uptrack/)")
    parser.add_argument("--etcd-ca", metavar="FILE", help="CA certificate of https etcd URLs")
    parser.add_argument("--etcd-cert", metavar="FILE", help="client certificate for etcd")
    parser.add_argument("--etcd-key", metavar="FILE", help="key of the client certificate")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="uptrack", description=__doc__)
    parser.add_argument("--version", action="version", version=f"uptrack {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run a node")
    _store_options(serve)
    serve.add_argument("--listen", help="HOST:PORT of the API (default 127.0.0.1:8080)")
    serve.add_argument("--node-name", help="name of this node (default: the host name)")
    serve.add_argument("--log-format", choices=["text", "json"])
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    _cluster_options(serve)
    serve.add_argument("--lease-ttl", help="etcd lease TTL, such as 5s (default 5 s, at least 2)")
    serve.add_argument("--api-url", help="URL peers reach this node's API at")

    cluster = sub.add_parser("cluster", help="inspect the cluster in etcd")
    csub = cluster.add_subparsers(dest="action", required=True, metavar="ACTION")
    status = csub.add_parser("status", help="nodes, their shards, and unowned shards")
    status.add_argument("--config", type=Path, help="TOML settings file")
    _cluster_options(status)

    node = sub.add_parser("node", help="act on one node of the cluster")
    nsub = node.add_subparsers(dest="action", required=True, metavar="ACTION")
    drain = nsub.add_parser("drain", help="hand a node's shards over and stop it")
    drain.add_argument("name", nargs="?", help="node name (default: this node's name)")
    drain.add_argument("--wait", default="60s", help="how long to wait for it (default 60s)")
    drain.add_argument("--config", type=Path, help="TOML settings file")
    drain.add_argument("--node-name", help=argparse.SUPPRESS)
    _cluster_options(drain)

    apply = sub.add_parser("apply", help="make the stored monitors match a monitors file")
    apply.add_argument("file", type=Path)
    apply.add_argument("--dry-run", action="store_true", help="show the changes, make none")
    _store_options(apply)

    monitors = sub.add_parser("monitors", help="inspect monitors")
    msub = monitors.add_subparsers(dest="action", required=True, metavar="ACTION")
    mlist = msub.add_parser("list", help="name, kind, target, status, last check, 24h uptime")
    _store_options(mlist)

    token = sub.add_parser("token", help="manage API tokens")
    tsub = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = tsub.add_parser("create", help="create a token and print it once")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", required=True, choices=SCOPES)
    create.add_argument("--expires-in", help="lifetime such as 30d or 12h (default: none)")
    _store_options(create)
    tlist = tsub.add_parser("list", help="list tokens (never their secrets)")
    _store_options(tlist)
    revoke = tsub.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id")
    _store_options(revoke)

    db = sub.add_parser("db", help="database maintenance")
    dsub = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    migrate = dsub.add_parser("migrate", help="apply pending schema migrations")
    _store_options(migrate)
    _dev_parser(sub)
    return parser


def _config(args: argparse.Namespace) -> Config:
    flags: dict[str, Any] = {}
    for name in (
        "data_dir",
        "database",
        "listen",
        "node_name",
        "log_format",
        "log_level",
        "etcd",
        "etcd_prefix",
        "etcd_ca",
        "etcd_cert",
        "etcd_key",
        "lease_ttl",
        "api_url",
    ):
        if hasattr(args, name):
            flags[name] = getattr(args, name)
    return load_config(args.config, flags=flags)


def _open_store(config: Config, *, wait: bool = False) -> Store:
    """The configured store, migrated. With `wait`, an unreachable database is
    retried (with capped backoff) until it answers, as a node starting before its
    database does; otherwise StoreUnavailable stops the command."""
    store: Store
    if config.database:
        from uptrack.store.postgres import PostgresStore
        from uptrack.store.postgres_pool import redacted

        store = PostgresStore(config.database, shards=config.shards)
        where = redacted(config.database)
    else:
        from uptrack.store.sqlite import SqliteStore

        config.data_path.mkdir(parents=True, exist_ok=True)
        store = SqliteStore(config.data_path / "uptrack.db", shards=config.shards)
        where = str(config.data_path / "uptrack.db")
    delay = 0.5
    try:
        while True:
            try:
                store.migrate()
                return store
            except StoreUnavailable as exc:
                if not wait:
                    raise
                log.warning("store.unavailable", database=where, error=str(exc), retry_in=delay)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
    except BaseException:
        store.close()
        raise


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = _config(args)
        configure_logging(config.log_format, config.log_level)
        handler = _COMMANDS[(args.command, getattr(args, "action", None))]
        return handler(args, config)
    except InvalidInput as exc:
        for error in exc.errors:
            print(f"error: {error}", file=sys.stderr)
        return 2
    except UptrackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _serve(args: argparse.Namespace, config: Config) -> int:
    from uptrack.datadir import locked_data_dir
    from uptrack.node import Node

    with locked_data_dir(config.data_path):
        store = _open_store(config, wait=True)
        try:
            trio.run(lambda: Node(config, store).run(handle_signals=True))
        finally:
            store.close()
    return 0


def _apply(args: argparse.Namespace, config: Config) -> int:
    from checker.registry import KINDS

    store = _open_store(config)
    try:
        channels = {c.name for c in store.list_channels()}
        specs = load_monitors_file(args.file, KINDS, channels)
        plan, changes, unchanged = plan_changes(specs, store.all_monitors())
        for change in changes:
            detail = f" ({', '.join(change.fields)})" if change.fields else ""
            print(f"{change.action} {change.name}{detail}")
        if not args.dry_run and changes:
            store.apply_monitors(plan, now=time.time())
        verb = "would change" if args.dry_run else "changed"
        print(f"{verb} {len(changes)} monitor(s), {unchanged} unchanged")
    finally:
        store.close()
    return 0


def _ago(at: float | None, now: float) -> str:
    if at is None:
        return "never"
    seconds = max(0, int(now - at))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _monitors_list(args: argparse.Namespace, config: Config) -> int:
    store = _open_store(config)
    try:
        monitors = store.all_monitors()
        states = store.get_states([m.id for m in monitors])
        now = time.time()
        uptimes = store.uptimes([m.id for m in monitors], since=now - 86400, until=now)
        rows: list[tuple[str, ...]] = [
            ("NAME", "KIND", "TARGET", "STATUS", "LAST CHECK", "UPTIME 24H")
        ]
        for m in monitors:
            state = states[m.id]
            up = uptimes[m.id]
            uptime = "-" if up.fraction is None else f"{math.floor(up.fraction * 10000) / 100}%"
            status = "paused" if m.paused else state.status
            rows.append(
                (m.name, m.kind, m.target, status, _ago(state.last_checked_at, now), uptime)
            )
        _print_table(rows)
    finally:
        store.close()
    return 0


def _token_create(args: argparse.Namespace, config: Config) -> int:
    expires_at = None
    if args.expires_in:
        try:
            expires_at = time.time() + parse_duration(args.expires_in)
        except ValueError as exc:
            raise UptrackError(f"--expires-in: {exc}") from None
    new = NewToken()
    store = _open_store(config)
    try:
        token = store.create_token(
            name=args.name,
            scope=args.scope,
            secret_sha256=new.sha256,
            prefix=new.prefix,
            now=time.time(),
            expires_at=expires_at,
        )
    finally:
        store.close()
    print(new.secret)
    print(
        f"token {token.id} ({token.scope}) created; this is the only time it is shown",
        file=sys.stderr,
    )
    return 0


def _iso(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _token_list(args: argparse.Namespace, config: Config) -> int:
    store = _open_store(config)
    try:
        rows: list[tuple[str, ...]] = [
            ("ID", "NAME", "SCOPE", "PREFIX", "CREATED", "EXPIRES", "REVOKED", "LAST USED")
        ]
        for t in store.list_tokens():
            rows.append(
                (
                    t.id,
                    t.name,
                    t.scope,
                    t.prefix + "…",
                    _iso(t.created_at),
                    _iso(t.expires_at),
                    _iso(t.revoked_at),
                    _iso(t.last_used_at),
                )
            )
        _print_table(rows)
    finally:
        store.close()
    return 0


def _token_revoke(args: argparse.Namespace, config: Config) -> int:
    store = _open_store(config)
    try:
        token = store.revoke_token(args.id, now=time.time())
    finally:
        store.close()
    print(f"token {token.id} ({token.name}) revoked")
    return 0


def _db_migrate(args: argparse.Namespace, config: Config) -> int:
    store = _open_store(config)
    version = store.migrate()
    store.close()
    print(f"schema at version {version}")
    return 0


def _cluster_status(args: argparse.Namespace, config: Config) -> int:
    return trio.run(_read_cluster_status, config)


def _node_drain(args: argparse.Namespace, config: Config) -> int:
    try:
        wait = parse_duration(args.wait)
    except ValueError as exc:
        raise UptrackError(f"--wait: {exc}") from None
    return trio.run(_drain_node, config, args.name or config.name, wait)


def _etcd_endpoints(config: Config) -> list[str]:
    if not config.etcd_endpoints:
        raise UptrackError("etcd: not set; give --etcd URL[,URL…] or UPTRACK_ETCD")
    return config.etcd_endpoints


async def _read_cluster(config: Config) -> tuple[list[NodeInfo], dict[int, str], int | None]:
    keys = Keys(config.etcd_prefix)
    try:
        async with EtcdClient(_etcd_endpoints(config), tls=config.etcd_tls()) as etcd:
            listed = await etcd.range(keys.prefix, prefix=True)
    except EtcdError as exc:
        raise UptrackError(f"etcd: {exc}") from None
    nodes: list[NodeInfo] = []
    owners: dict[int, str] = {}
    count: int | None = None
    for kv in listed.kvs:
        shard = keys.shard_of_key(kv.key)
        if shard is not None:
            owners[shard] = kv.value.decode(errors="replace")
        elif kv.key.startswith(keys.nodes):
            info = decode_node(kv.value)
            if info is not None:
                nodes.append(info)
        elif kv.key == keys.meta_shards and kv.value.isdigit():
            count = int(kv.value)
    return sorted(nodes, key=lambda n: n.name), owners, count


async def _read_cluster_status(config: Config) -> int:
    nodes, owners, count = await _read_cluster(config)
    if count is None:
        print(f"no cluster under {config.etcd_prefix} yet (no node has started)")
        return 1
    owned = collections.Counter(owners.values())
    rows: list[tuple[str, ...]] = [("NODE", "ADDRESS", "VERSION", "STATE", "SHARDS", "STARTED")]
    for n in nodes:
        state = "draining" if n.draining else "active"
        rows.append(
            (n.id, n.api_url, n.version, state, str(owned.get(n.id, 0)), _iso(n.started_at))
        )
    _print_table(rows)
    free = sorted(set(range(count)) - set(owners))
    print(f"shards: {len(owners)} of {count} owned" + (f"; unowned: {free}" if free else ""))
    return 0 if not free else 1


async def _drain_node(config: Config, name: str, wait: float) -> int:
    keys = Keys(config.etcd_prefix)
    nodes, _, _ = await _read_cluster(config)
    if not any(n.name == name for n in nodes):
        known = ", ".join(sorted({n.name for n in nodes})) or "none"
        raise UptrackError(f"no node named {name!r} is registered (registered: {known})")
    try:
        async with EtcdClient(_etcd_endpoints(config), tls=config.etcd_tls()) as etcd:
            # on a lease: a request nobody deletes (this command killed) goes away
            lease = await etcd.grant(int(wait) + 60)
            await etcd.put(
                keys.drain_request(name), f"requested at {time.time():.0f}", lease=lease.id
            )
            print(f"asked {name} to drain", file=sys.stderr)
            try:
                with trio.move_on_after(wait) as waited:
                    while True:
                        nodes, _, _ = await _read_cluster(config)
                        if not any(n.name == name for n in nodes):
                            break
                        await trio.sleep(0.2)
            finally:
                await etcd.revoke(lease.id)
    except EtcdError as exc:
        raise UptrackError(f"etcd: {exc}") from None
    if waited.cancelled_caught:
        print(f"error: {name} did not leave within {wait:g} s", file=sys.stderr)
        return 1
    print(f"{name} drained: its shards are handed over and it has left the cluster")
    return 0


_COMMANDS = {
    ("serve", None): _serve,
    ("apply", None): _apply,
    ("monitors", "list"): _monitors_list,
    ("token", "create"): _token_create,
    ("token", "list"): _token_list,
    ("token", "revoke"): _token_revoke,
    ("db", "migrate"): _db_migrate,
    ("cluster", "status"): _cluster_status,
    ("node", "drain"): _node_drain,
}


# -- `uptrack dev cluster`: a local cluster on loopback (cluster/dev) ---------------------
def _dev_parser(sub: Any) -> None:
    dev = sub.add_parser("dev", help="development helpers")
    dsub = dev.add_subparsers(dest="dev_command", required=True, metavar="COMMAND")
    cluster = dsub.add_parser(
        "cluster", help="3 etcd members, PostgreSQL and N nodes on loopback, in one directory"
    )
    csub = cluster.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = csub.add_parser("up", help="start what is not running; print the URLs")
    up.add_argument("--nodes", type=int, default=3, help="number of nodes (default 3)")
    up.add_argument("--lease-ttl", type=int, default=2, help="seconds (default 2, new clusters)")
    csub.add_parser("status", help="each process: URL, pid, running or not")
    down = csub.add_parser("down", help="stop everything and remove the directory")
    down.add_argument("--keep", action="store_true", help="keep the directory (a later `up`)")
    start = csub.add_parser("start", help="start processes by name (etcd1, postgres, node2 …)")
    start.add_argument("names", nargs="+", metavar="NAME")
    stop = csub.add_parser("stop", help="stop processes by name (a node drains)")
    stop.add_argument("names", nargs="+", metavar="NAME")
    stop.add_argument("--kill", action="store_true", help="SIGKILL: a crash, no drain")
    for parser in (up, *(csub.choices[a] for a in ("status", "down")), start, stop):
        parser.add_argument("--dir", type=Path, help="state directory (default ./.uptrack-dev)")
        parser.set_defaults(config=None)


def _dev_cluster(args: argparse.Namespace, config: Config) -> int:
    from cluster.dev.procs import ProcessFailed
    from cluster.dev.stack import DevCluster, default_dir

    root: Path = args.dir or default_dir()
    try:
        if args.action == "up":
            if args.nodes < 1:
                raise UptrackError("--nodes: must be at least 1")
            cluster = DevCluster.open(root, nodes=args.nodes, lease_ttl=args.lease_ttl)
            took = cluster.up()
            _print_dev_cluster(cluster)
            print(f"\nup in {took:.1f} s; every shard owned. In a shell: . {root / 'env'}")
            return 0
        found = DevCluster.load(root)
        if found is None:
            raise UptrackError(f"no dev cluster in {root} (start one: uptrack dev cluster up)")
        if args.action == "status":
            _print_dev_cluster(found)
            return 0 if all(row.running for row in found.rows()) else 1
        if args.action == "start":
            found.start(args.names)
        elif args.action == "stop":
            found.stop(args.names, kill=args.kill)
        else:
            found.down(keep=args.keep)
        return 0
    except (ProcessFailed, TimeoutError) as exc:
        hint = f"\n(what did start still runs: uptrack dev cluster down --dir {root})"
        raise UptrackError(f"dev cluster: {exc}" + (hint if args.action == "up" else "")) from None


def _print_dev_cluster(cluster: Any) -> None:
    rows: list[tuple[str, ...]] = [("NAME", "KIND", "URL", "PID", "STATE")]
    for row in cluster.rows():
        pid, state = (str(row.pid), "running") if row.running else ("-", "stopped")
        rows.append((row.name, row.kind, row.url, pid, state))
    _print_table(rows)
    env = cluster.env()
    print(f"\netcd endpoints  {env['ETCDCTL_ENDPOINTS']}")
    print(f"database        {env['UPTRACK_DATABASE']}")
    print(f"admin token     {env['UPTRACK_TOKEN']}")


_COMMANDS.update({("dev", a): _dev_cluster for a in ("up", "status", "down", "start", "stop")})
# -- end of `uptrack dev cluster` ---------------------------------------------------------

if __name__ == "__main__":
    sys.exit(main())
