"""`ticketflow users add|list|revoke`: the people of a merchant's account and their API tokens.

`add` prints `user_id: <id>` and `token: <token>`, one a line; the token exists in clear only in
that output (the database keeps a hash of its secret)."""

from __future__ import annotations

import json
import sys

from services.config import Settings
from services.store import users
from services.store.db import connect


def users_command(args, settings: Settings) -> int:
    from services.cli.main import Failure

    if args.users_command == "add":
        if not args.merchant.strip() or len(args.merchant) > 128 or not args.name.strip() or len(args.name) > 200:
            print(
                "ticketflow users add: error: --merchant (1-128 characters) and --name (1-200) are required",
                file=sys.stderr,
            )
            return 2
        with connect(settings.database_url) as conn:
            user, token = users.add(conn, args.merchant, args.role, args.name)
        print(f"user_id: {user.id}")
        print(f"token: {token}")
        return 0
    if args.users_command == "list":
        with connect(settings.database_url) as conn:
            rows = users.listed(conn, args.merchant)
        if args.json:
            for r in rows:
                print(
                    json.dumps(
                        {
                            "user_id": r.id,
                            "role": r.role,
                            "name": r.name,
                            "created_at": r.created_at.isoformat(),
                            "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
                        },
                        ensure_ascii=False,
                    )
                )
            return 0
        for r in rows:
            state = f"revoked {r.revoked_at.isoformat()}" if r.revoked_at else "active"
            print(f"{r.id}  {r.role:<6}  {state:<8}  {r.name}")
        if not rows:
            print(f"no users for merchant {args.merchant}", file=sys.stderr)
        return 0
    with connect(settings.database_url) as conn:
        if not users.revoke(conn, args.user_id):
            raise Failure(f"no user {args.user_id!r}")
    print(f"revoked {args.user_id}")
    return 0
