"""Serve the dashboard: the internal app (login required), /login, and the public embeds.

    envtrust serve --db var/envtrust.duckdb [--host 127.0.0.1] [--port 8050] [--threads 64]

Runs a multi-threaded WSGI server (waitress), so a slow callback occupies one thread and never
blocks the others. 64 threads by default: an API call spends much of its time waiting (for the
keyed-call audit's synced group, for DuckDB), not computing, so more threads in flight mean larger
audit groups and more overlap; on the 90-day store of benchmarks/api.py, 50 clients, 32 threads
answered 15-75 % more calls a second than 8 with 15-40 % less CPU per answer (session 7), and with
the journaled audit 64 answered 7-33 % more than 32 at no more CPU per answer, every connection
with a thread of its own (session 11). The store is opened read-write by this process (DuckDB allows one writing
process): stop other writers first. If ``demo-accounts.txt`` lies next to the store (written by
``envtrust demo``), its accounts are printed so a newcomer can log in at once.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import duckdb

from envtrust.cli import UserError
from envtrust.settings import load_settings
from envtrust.webhook import DELIVERY_INTERVAL_S, start_webhook_delivery

DEMO_ACCOUNTS_FILE = "demo-accounts.txt"
DEFAULT_THREADS = 64


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="DuckDB store (default: $ENVTRUST_DB or var/envtrust.duckdb)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8050, help="TCP port (default 8050)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help=f"worker threads (default {DEFAULT_THREADS})")
    parser.add_argument("--hj212-port", dest="hj212_port", type=int, default=None,
                        help="also receive HJ 212-2017 packets on this TCP port, in this process "
                             "(DuckDB allows one writing process per store)")


def service_urls(host: str, port: int, first_station: str | None = None) -> dict[str, str]:
    """The URLs worth printing: internal app, login, public map and a station card."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base = f"http://{shown}:{port}"
    urls = {"internal": f"{base}/app/", "login": f"{base}/login", "embed map": f"{base}/embed/map"}
    if first_station:
        urls["embed station"] = f"{base}/embed/station/{first_station}"
    return urls


def demo_accounts_text(db_path: Path) -> str | None:
    """Contents of demo-accounts.txt next to the store, if there is one."""
    path = Path(db_path).parent / DEMO_ACCOUNTS_FILE
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def run(args: argparse.Namespace) -> int:
    try:
        import waitress
    except ImportError as exc:
        raise UserError("the waitress package is missing: pip install waitress") from exc
    from dashboard.server import create_server
    from data.public_views import released_stations
    from envtrust.api import close_audit_log

    try:
        settings = load_settings(db_path=args.db)
    except ValueError as exc:  # a mistyped setting (e.g. ENVTRUST_SECURE_COOKIES=ture) is the user's to fix
        raise UserError(str(exc)) from None
    if not Path(settings.db_path).exists():
        raise UserError(f"no envtrust store at {settings.db_path}; build one with "
                        f"`envtrust demo --db {settings.db_path}`")
    if not 0 < args.port < 65536:
        raise UserError(f"--port must be 1..65535, not {args.port}")
    if args.threads < 1:
        raise UserError("--threads must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # the evidence pack's PDF font subsetting logs every table it touches at INFO
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    # waitress warns "Task queue depth is N" for every request that waits for a free thread: under
    # load that is one formatted log line per request (8 % of the API's GIL time under 50 clients)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    try:
        server = create_server(settings)
    except duckdb.IOException as exc:
        raise UserError(f"cannot open {settings.db_path} for writing (is another envtrust process "
                        f"using it?): {exc}") from exc
    server.extensions["envtrust_api"].snapshot.refresh_in_background()  # built or brought up to date
    stations = released_stations(server.extensions["envtrust"].con.cursor())
    first = str(stations["station_id"].iloc[0]) if len(stations) else None
    print(f"envtrust dashboard on store {settings.db_path}")
    for label, url in service_urls(args.host, args.port, first).items():
        print(f"  {label:<14} {url}")
    accounts = demo_accounts_text(settings.db_path)
    if accounts:
        print("demo accounts (from " + str(Path(settings.db_path).parent / DEMO_ACCOUNTS_FILE) + "):")
        for line in accounts.splitlines():
            print("  " + line)
    else:
        print("no demo accounts file; create a user with `envtrust user add NAME --role analyst "
              f"--db {settings.db_path}`")
    receiver = _start_hj212(settings.db_path, args.host, args.hj212_port, settings.hj212_allow_no_pw,
                           settings.plausible_window)
    scheduler = _start_scoring(server.extensions["envtrust"].con, settings.score_every_s,
                               settings.analyst_capacity["air"])
    delivery = start_webhook_delivery(settings, server.extensions["envtrust"].con)
    print(f"  webhook        {settings.webhook_url} (new alarms pushed every {DELIVERY_INTERVAL_S:g} s)"
          if delivery else "  webhook        off (set ENVTRUST_WEBHOOK_URL; alarms wait in the outbox)")
    print("press Ctrl+C to stop", flush=True)
    try:
        waitress.serve(server, host=args.host, port=args.port, threads=args.threads, ident="envtrust")
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc}") from exc
    finally:
        close_audit_log(server.extensions["envtrust_api"], server.extensions["envtrust"].con)  # fold the journal
        if receiver is not None:
            receiver.stop()
        if scheduler is not None:
            scheduler.stop()
        if delivery is not None:
            delivery.stop()
    return 0


def _start_scoring(con, every_s: float, capacity: float | None = None):
    """Score what arrives every ``every_s`` seconds (and a never-scored store at once), in a thread,
    at the air network's analyst ``capacity`` (the operating point)."""
    if every_s <= 0:
        print("  scoring        off (ENVTRUST_SCORE_EVERY_S=0); run `envtrust score --db ... --new`")
        return None
    from data.scoring import has_scored
    from envtrust.demo import finish_demo_after_scoring
    from envtrust.scheduler import ScoringScheduler

    first = not has_scored(con.cursor())
    scheduler = ScoringScheduler(con, every_s, after_first=finish_demo_after_scoring,
                                 capacity=capacity).start()
    print(f"  scoring        new readings every {every_s:g} s" + (
        "; the store is not scored yet: the first run starts now, events appear when it ends" if first else ""))
    return scheduler


def _start_hj212(db_path: Path, host: str, port: int | None, allow_no_pw: bool, window=None):
    """Start the HJ 212 receiver thread next to the dashboard when a port is given."""
    if port is None:
        return None
    if not 0 < port < 65536:
        raise UserError(f"--hj212-port must be 1..65535, not {port}")
    from data.hj212.receiver import ReceiverThread

    try:
        receiver = ReceiverThread(db_path, host, port, allow_no_pw=allow_no_pw, window=window).start()
    except OSError as exc:
        raise UserError(f"cannot listen for HJ 212 on {host}:{port}: {exc}") from exc
    print(f"  hj212          tcp://{host}:{receiver.port} (HJ 212-2017 data loggers)")
    return receiver
