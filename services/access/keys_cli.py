"""API keys from the command line, for the people who run the service (the first admin key
has to come from somewhere). Talks to schema `access` directly, as role fte_access
(DATABASE_URL), through the same code CreateApiKey / RevokeApiKey use.

    python -m services.access.keys_cli create --role agent --name "ops laptop" [--replace]
    python -m services.access.keys_cli list [--all]
    python -m services.access.keys_cli revoke KEY_ID

`create` prints the key on stdout, alone on its line, and nothing else there (so
`KEY=$(... create ...)` works); what it is and that it is shown once go to stderr.
Exit status: 0 done, 1 refused (bad input, unknown key, no database), 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import asyncpg
from grpc_interceptor.exceptions import GrpcException

from services.access import api_keys, keys
from services.access.settings import AccessSettings
from services.access.store import AccessStore, StoredKey
from services.common.db import open_pool


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.access.keys_cli",
                                     description="Create, list and revoke FTE API keys.")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="make a key; its secret is printed once")
    create.add_argument("--role", required=True, help=f"one of {', '.join(keys.ROLES)}")
    create.add_argument("--name", required=True, help='what the key is for, e.g. "ops laptop"')
    create.add_argument("--replace", action="store_true",
                        help="first revoke the active keys of this name (a key made on every start)")
    listing = commands.add_parser("list", help="list keys (never secrets)")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    revoke = commands.add_parser("revoke", help="revoke a key (idempotent)")
    revoke.add_argument("key_id")
    return parser


def _row(k: StoredKey) -> str:
    def when(t):
        return t.isoformat(timespec="seconds") if t else "-"

    return "\t".join([k.key_id, k.role, when(k.create_time), when(k.last_used_time),
                      f"revoked {when(k.revoke_time)}" if k.revoke_time else "active", k.name])


async def _run(args: argparse.Namespace, settings: AccessSettings) -> int:
    # Checked before connecting, so a typo is answered without a database at hand.
    if args.command == "create":
        keys.check_role(args.role)
        keys.check_name(args.name)
    elif args.command == "revoke":
        keys.check_key_id(args.key_id)
    pool = await open_pool(settings.database_url, min_size=1, max_size=1)
    try:
        store = AccessStore(pool)
        if args.command == "create":
            if args.replace:
                for old in await store.list_keys(include_revoked=False):
                    if old.name == keys.check_name(args.name):
                        await api_keys.revoke(store, old.key_id)
                        print(f"revoked API key {old.key_id} ({old.name!r}), replaced", file=sys.stderr)
            key, credential = await api_keys.create(store, args.name, args.role)
            print(f"created API key {key.key_id} ({key.role}, {key.name!r}). The key is printed "
                  "below once; it is not stored and cannot be shown again.", file=sys.stderr)
            print(credential)
        elif args.command == "list":
            print("key_id\trole\tcreated\tlast_used\tstatus\tname")
            for key in await store.list_keys(include_revoked=args.all):
                print(_row(key))
        else:
            key, already = await api_keys.revoke(store, args.key_id)
            print(f"API key {key.key_id} {'was already' if already else 'is now'} revoked "
                  "(services that verified it recently accept it until their cache expires, "
                  "AUTH_CACHE_TTL_S)")
        return 0
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_run(args, AccessSettings()))
    except GrpcException as e:  # InvalidArgument / NotFound / Unavailable from the shared code
        print(f"error: {e.details}", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:  # unreachable, login refused
        print(f"error: cannot reach the access database ({type(e).__name__}: {e})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
