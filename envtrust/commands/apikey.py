"""Department API keys for the public data API (admin task).

    envtrust apikey add --dept 水利局 --scope read,history [--rate 600] --db var/envtrust.duckdb
    envtrust apikey list --db ...
    envtrust apikey revoke KEY_ID --db ...

``add`` prints the key once (it is stored only as a hash); callers send it in the ``X-API-Key``
header. Scopes: see envtrust/api/keys.py (read, history, bulk). Every change is in the audit log.
"""

from __future__ import annotations

import argparse
import getpass

from envtrust.api import keys
from envtrust.cli import UserError, open_store_for_writing


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="apikey_command", metavar="ACTION")
    add = sub.add_parser("add", help="create a key for a department (printed once)")
    add.add_argument("--dept", required=True, help="the department that holds the key")
    add.add_argument("--scope", action="append", default=[],
                     help=f"scope(s), comma-separated or repeated: {', '.join(keys.SCOPES)} (read is implied)")
    add.add_argument("--rate", type=int, default=keys.DEFAULT_KEY_RATE_PER_MIN, help="calls per minute")
    add.add_argument("--db", help="DuckDB store (default: $ENVTRUST_DB or var/envtrust.duckdb)")
    lst = sub.add_parser("list", help="list keys (never their secrets)")
    lst.add_argument("--db")
    rev = sub.add_parser("revoke", help="revoke a key by its id")
    rev.add_argument("key_id")
    rev.add_argument("--db")



def run(args: argparse.Namespace) -> int:
    from data.release import list_api_keys

    if args.apikey_command is None:
        raise UserError("say what to do: `envtrust apikey add --dept NAME --scope read`, `list` or `revoke ID`")
    con = open_store_for_writing(args.db)
    try:
        if args.apikey_command == "list":
            for row in list_api_keys(con).itertuples(index=False):
                state = "revoked" if row.revoked_at is not None and str(row.revoked_at) != "NaT" else "active"
                print(f"{row.key_id}  {state:<8} {row.rate_per_min:>6}/min  {row.scopes:<20} {row.dept}")
            return 0
        if args.apikey_command == "revoke":
            if not keys.revoke_key(con, args.key_id, getpass.getuser()):
                raise UserError(f"no active key {args.key_id!r}")
            print(f"key {args.key_id} revoked")
            return 0
        try:
            token = keys.create_key(con, args.dept, keys.parse_scopes(args.scope or ["read"]), getpass.getuser(),
                                    rate_per_min=args.rate)
        except ValueError as exc:
            raise UserError(str(exc)) from exc
    finally:
        con.close()
    print(token)
    print(f"key for {args.dept}: shown once, stored only as a hash; send it as the X-API-Key header")
    return 0
