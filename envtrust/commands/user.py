"""Manage dashboard users (roles: leader, analyst, admin, enforcement; passwords stored only as salted hashes).

    envtrust user add USERNAME --role analyst --db var/envtrust.duckdb [--password-stdin]
    envtrust user list --db var/envtrust.duckdb

Without --password-stdin the password is asked twice on the terminal (not echoed). With it, the
first line of standard input is the password (for scripts: ``echo "$PW" | envtrust user add ...``).
Adding a user is recorded in the audit log.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from data.users import ROLES
from envtrust.cli import UserError, open_store_for_writing


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="user_command", metavar="ACTION")
    add = sub.add_parser("add", help="create a user (or reset one with --replace)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--display-name", help="name shown in the dashboard (default: the username)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument("--replace", action="store_true", help="reset an existing user's password and role")
    add.add_argument("--db", help="DuckDB store (default: $ENVTRUST_DB or var/envtrust.duckdb)")
    lst = sub.add_parser("list", help="list users and roles (never passwords)")
    lst.add_argument("--db", help="DuckDB store (default: $ENVTRUST_DB or var/envtrust.duckdb)")


def read_password(from_stdin: bool) -> str:
    """The new password: first stdin line, or asked twice with getpass (must match)."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise UserError("--password-stdin given but standard input is empty")
        return line.rstrip("\r\n")
    first = getpass.getpass("password: ")
    second = getpass.getpass("password again: ")
    if first != second:
        raise UserError("the two passwords differ; nothing was changed")
    return first



def run(args: argparse.Namespace) -> int:
    from data import audit
    from data.users import add_user, list_users

    if args.user_command is None:
        raise UserError("say what to do: `envtrust user add NAME --role R` or `envtrust user list`")
    if args.user_command == "list":
        con = open_store_for_writing(args.db)
        try:
            users = list_users(con)
        finally:
            con.close()
        if users.empty:
            print("no users; add one with `envtrust user add NAME --role analyst`")
            return 0
        for row in users.itertuples(index=False):
            print(f"{row.username:<20} {row.role:<8} {row.display_name or ''}")
        return 0
    password = read_password(args.password_stdin)
    con = open_store_for_writing(args.db)
    try:
        try:
            add_user(con, args.username, password, args.role, args.display_name, replace=args.replace)
        except ValueError as exc:
            raise UserError(str(exc)) from exc
        audit.append(con, getpass.getuser(), "user_add" if not args.replace else "user_reset",
                     subject=args.username, detail={"role": args.role})
    finally:
        con.close()
    print(f"user {args.username!r} ({args.role}) saved")
    return 0
