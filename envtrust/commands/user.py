"""(being built) envtrust user."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="DuckDB file")


def run(args: argparse.Namespace) -> int:
    raise NotImplementedError("envtrust user is being built")
