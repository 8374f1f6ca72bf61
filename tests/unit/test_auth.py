"""The caller comes from verified claims only."""

import pytest

from k2k.auth import Role, caller_from_claims
from k2k.errors import Forbidden, Unauthorized


@pytest.mark.parametrize("groups", ["Admin,Setup", "[Admin, Setup]", "[Admin Setup]", ["Admin", "Setup"]])
def test_groups_in_every_shape_api_gateway_renders_them(groups):
    caller = caller_from_claims({"sub": "u1", "custom:company_id": "bloom", "cognito:groups": groups})
    assert caller.roles == {Role.ADMIN, Role.SETUP}
    assert caller.company_id == "bloom"


def test_unknown_groups_grant_nothing():
    caller = caller_from_claims({"sub": "u1", "custom:company_id": "bloom", "cognito:groups": "Admins,root"})
    assert caller.roles == frozenset()
    with pytest.raises(Forbidden):
        caller.require({Role.ADMIN})


def test_no_identity_or_no_company_is_unauthorized():
    with pytest.raises(Unauthorized):
        caller_from_claims(None)
    with pytest.raises(Unauthorized):
        caller_from_claims({"sub": "u1", "cognito:groups": "Admin"})


def test_the_operator_needs_no_company():
    assert caller_from_claims({"sub": "op", "cognito:groups": "Operator"}).roles == {Role.OPERATOR}


def test_a_role_check_names_the_roles_needed():
    caller = caller_from_claims({"sub": "u1", "custom:company_id": "bloom", "cognito:groups": "Salesperson"})
    with pytest.raises(Forbidden, match="Admin, Setup"):
        caller.require({Role.ADMIN, Role.SETUP})
