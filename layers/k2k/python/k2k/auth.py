"""Who is calling: company, user and roles, from the verified Cognito claims only.

API Gateway's Cognito authorizer verifies the token and passes its claims in
requestContext.authorizer.claims. The company always comes from there, never
from a path, body or header.
"""

from enum import StrEnum
from typing import Any

from k2k.errors import Forbidden, Unauthorized
from k2k.models import Model

COMPANY_CLAIM = "custom:company_id"
GROUPS_CLAIM = "cognito:groups"


class Role(StrEnum):
    ADMIN = "Admin"
    SETUP = "Setup"
    SALES_MANAGER = "SalesManager"
    SALESPERSON = "Salesperson"
    PROCUREMENT_MANAGER = "ProcurementManager"
    PROCUREMENT_USER = "ProcurementUser"
    ACCOUNTS_RECEIVABLE = "AccountsReceivable"
    CREDIT_MANAGER = "CreditManager"
    # Not a company role: the platform operator who bootstraps companies.
    OPERATOR = "Operator"


ALL_COMPANY_ROLES = frozenset(r for r in Role if r is not Role.OPERATOR)
# Which roles may call which route: k2k.access.


class Caller(Model):
    company_id: str
    user_id: str
    email: str = ""
    roles: frozenset[Role]

    def require(self, allowed: frozenset[Role] | set[Role]) -> None:
        if not self.roles & set(allowed):
            needed = ", ".join(sorted(r.value for r in allowed))
            raise Forbidden(f"this action needs one of the roles: {needed}")


def _parse_groups(raw: Any) -> list[str]:
    # API Gateway renders list claims as a string; accept "A,B", "[A, B]", "[A B]" or a list.
    if raw is None:
        return []
    if isinstance(raw, list):
        return [str(g) for g in raw]
    text = str(raw).strip().strip("[]")
    return [g for g in text.replace(",", " ").split() if g]


def caller_from_claims(claims: dict[str, Any] | None) -> Caller:
    if not claims or not claims.get("sub"):
        raise Unauthorized("no verified identity on the request")
    roles = {Role(g) for g in _parse_groups(claims.get(GROUPS_CLAIM)) if g in Role._value2member_map_}
    company_id = str(claims.get(COMPANY_CLAIM) or "")
    if not company_id and Role.OPERATOR not in roles:
        raise Unauthorized("the token names no company")
    return Caller(
        company_id=company_id,
        user_id=str(claims["sub"]),
        email=str(claims.get("email") or ""),
        roles=frozenset(roles),
    )
