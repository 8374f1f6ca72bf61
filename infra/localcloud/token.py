"""Print a local ID token for the local cloud's API. From the repository's root, with its environment:

    .venv/bin/python -m infra.localcloud.token --company rosaflor --roles Admin,Setup
    .venv/bin/python -m infra.localcloud.token --company rosaflor --roles Salesperson --user ana@rosaflor.example
    .venv/bin/python -m infra.localcloud.token --roles Operator            # the platform operator, no company

Then call the API with it:

    TOKEN=$(.venv/bin/python -m infra.localcloud.token --company rosaflor --roles Admin)
    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3000/company

Roles are the layer's (k2k.auth.Role): Admin, Setup, SalesManager, Salesperson,
ProcurementManager, ProcurementUser, AccountsReceivable, CreditManager, Operator.
The secret is K2K_LOCAL_JWT_SECRET if set (it must match the running local cloud's).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    from infra.localcloud import tokens
    from infra.localcloud.template import load
except ModuleNotFoundError as missing:  # another Python than the project's: say which one works
    sys.exit(f"{missing}: use the project's environment (make run creates it), from the repository's root:\n"
             f"    .venv/bin/python -m infra.localcloud.token {' '.join(sys.argv[1:])}")

REPO = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m infra.localcloud.token", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--company", default="", help="company id (custom:company_id)")
    parser.add_argument("--roles", required=True, help="comma-separated roles (Cognito groups)")
    parser.add_argument("--user", help="user name; also the email when it looks like one")
    parser.add_argument("--email", help="email claim")
    parser.add_argument("--ttl", type=int, default=tokens.DEFAULT_TTL_SECONDS,
                        help="seconds until it expires")
    parser.add_argument("--template", default=str(REPO / "template.yaml"), help="to find the layer's roles")
    args = parser.parse_args(argv)
    if Path(args.template).exists():  # the roles live in the layer; make it importable to check them
        for path in load(args.template).layer_paths:
            if str(path) not in sys.path:
                sys.path.insert(0, str(path))
    roles = [r.strip() for r in args.roles.split(",") if r.strip()]
    try:
        token = tokens.mint(args.company or None, roles, user=args.user, email=args.email,
                            ttl_seconds=args.ttl)
    except ValueError as e:
        parser.error(str(e))
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
