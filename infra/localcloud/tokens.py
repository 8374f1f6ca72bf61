"""Local ID tokens: what the Cognito user pool would issue, signed with a local secret.

The gateway verifies them the way the API's Cognito authorizer verifies real
ones, and passes the same claims on (`sub`, `email`, `custom:company_id`,
`cognito:groups`). HS256 with a constant secret that only means something on
this machine; set K2K_LOCAL_JWT_SECRET to use another. Mint one from a shell
with `python -m infra.localcloud.token` (see that module).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable
from typing import Any

import jwt

DEFAULT_SECRET = "k2k-local-cloud-secret-only-valid-on-this-machine"
SECRET_ENV = "K2K_LOCAL_JWT_SECRET"
ISSUER = "k2k-local"
AUDIENCE = "k2k-local"
ALGORITHM = "HS256"
COMPANY_CLAIM = "custom:company_id"
GROUPS_CLAIM = "cognito:groups"
OPERATOR = "Operator"
DEFAULT_TTL_SECONDS = 12 * 3600


class InvalidToken(Exception):
    """Missing, malformed, badly signed or expired: the authorizer answers 401."""


def secret() -> str:
    return os.environ.get(SECRET_ENV) or DEFAULT_SECRET


def known_roles() -> list[str] | None:
    """The layer's roles (k2k.auth.Role), or None when the layer is not importable here."""
    try:
        from k2k.auth import Role
    except ImportError:
        return None
    return [r.value for r in Role]


def mint(company_id: str | None, roles: Iterable[str], *, user: str | None = None,
         email: str | None = None, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> str:
    """An ID token for a user of company_id with the given roles (Cognito groups).

    The Operator role is the platform's, not a company's: it needs no company.
    The same user always gets the same `sub`, so seeded data survives a restart.
    """
    groups = [str(r) for r in roles]
    valid = known_roles()
    unknown = [g for g in groups if valid is not None and g not in valid]
    if unknown:
        raise ValueError(f"unknown roles {unknown}; known: {', '.join(valid or [])}")
    if not company_id and OPERATOR not in groups:
        raise ValueError("company roles need a company (only the Operator role has none)")
    user = user or f"{(groups[0] if groups else 'user').lower()}@{company_id or 'k2k'}.example"
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"k2k-local:{user}")),
        "cognito:username": user,
        "email": email or (user if "@" in user else f"{user}@{company_id or 'k2k'}.example"),
        "email_verified": True,
        GROUPS_CLAIM: groups,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "token_use": "id",
        "auth_time": now,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if company_id:
        claims[COMPANY_CLAIM] = company_id
    return jwt.encode(claims, secret(), algorithm=ALGORITHM)


def verify(token: str) -> dict[str, Any]:
    """The token's claims if it is one of ours, unexpired, and an ID token."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token, secret(), algorithms=[ALGORITHM], issuer=ISSUER, audience=AUDIENCE,
            options={"require": ["exp", "sub", "iss", "token_use"]},
        )
    except jwt.PyJWTError as e:
        raise InvalidToken(str(e)) from e
    if claims.get("token_use") != "id":
        raise InvalidToken("not an ID token")
    return claims
