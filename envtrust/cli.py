"""The ``envtrust`` command: one front door for every task.

Each subcommand lives in ``envtrust/commands/<name>.py`` with two functions::

    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def run(args: argparse.Namespace) -> int: ...          # exit code

The command modules are thin: they parse, call functions in ``data``, ``analytics``, ``geo``
or ``dashboard``, and print. Expected user errors raise :class:`UserError`, which prints one
clear line (no traceback) and exits with code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from envtrust import __version__
from envtrust.allocator import tune_allocator

# name -> one-line help; module envtrust.commands.<name with - as _>
COMMANDS: dict[str, str] = {
    "init": "create or migrate a DuckDB store",
    "ingest": "load readings or station lists from files (CSV/Parquet, Beijing, CNEMC)",
    "demo": "build the demo database: real air data, national stations, water and polluter networks",
    "info": "what is in a store: stations, readings, quarantine, ingest batches",
    "score": "score the plausibility of readings and find interference events",
    "evaluate": "inject interference into real data and measure envtrust against baselines",
    "serve": "serve the dashboard (internal app + public embeds)",
    "user": "manage dashboard users (add, list)",
    "hj212": "HJ 212-2017 data receiver (TCP) and packet tools",
    "release": "the official release channel: publish, audit, finalize, correct released values",
    "apikey": "department keys for the public data API (add, list, revoke)",
    "export": "bulk files of released data (daily Parquet/CSV, GeoParquet/GeoJSON layers)",
    "case": "the closed loop: alarms, cases from clue to closure, webhook deliveries",
    "record": "tamper-evident record of interference (add, checkpoint, receipt, verify, redact)",
    "assess": "assess cities or counties: capture, validity, HJ 663 index, ranking with the penalty rule",
    "contractors": "contractors and labs: comparison samples, scorecard, credit history and blacklist",
}


class UserError(Exception):
    """A problem the user can fix (bad path, bad option, bad file): printed without a traceback."""


def open_store_for_writing(db: str | None):
    """The store named by ``--db`` (or the settings), migrated; a store another process holds
    for writing becomes one clear UserError instead of DuckDB's lock traceback."""
    import duckdb

    from data.store import connect
    from envtrust.settings import load_settings

    path = load_settings(db_path=db).db_path
    try:
        return connect(path)
    except duckdb.IOException as exc:
        raise UserError(f"cannot open {path} for writing (stop `envtrust serve` or other writers "
                        f"first): {exc}") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="envtrust",
        description="envtrust - plausibility scoring and a situation map for environmental monitoring data.",
    )
    parser.add_argument("--version", action="version", version=f"envtrust {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"envtrust.commands.{name.replace('-', '_')}")
        doc = (module.__doc__ or help_text).strip()
        cmd = sub.add_parser(name, help=help_text, description=doc,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


#: commands that score in a process of their own: their temporaries reuse one heap
#: (:mod:`envtrust.allocator`). Long-running services (``serve``, ``hj212 listen``) keep glibc's
#: defaults, which return freed memory to the kernel, so their memory stays flat.
ALLOCATOR_COMMANDS = frozenset({"score", "demo", "evaluate"})


def scores_in_process(words: list[str]) -> bool:
    """Whether the command line (without the program name) runs one of :data:`ALLOCATOR_COMMANDS`."""
    return next((w for w in words if not w.startswith("-")), None) in ALLOCATOR_COMMANDS


def main(argv: list[str] | None = None) -> int:
    if scores_in_process(sys.argv[1:] if argv is None else argv):
        tune_allocator()  # before any thread starts
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 1
    try:
        return int(args._run(args) or 0)
    except UserError as exc:
        print(f"envtrust {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # `python -m envtrust.cli` runs this file as __main__; the commands raise envtrust.cli's
    # UserError, which only envtrust.cli's own main() catches
    from envtrust.cli import main as package_main

    sys.exit(package_main())
