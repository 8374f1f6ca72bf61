"""Local ID tokens: minted and verified like Cognito's, refused when they should be."""

from __future__ import annotations

import jwt
import pytest

from infra.localcloud import token as token_cli
from infra.localcloud import tokens


def test_a_token_carries_the_company_and_roles_as_cognito_claims() -> None:
    claims = tokens.verify(tokens.mint("rosaflor", ["Admin", "Setup"], user="ana@rosaflor.example"))
    assert claims["custom:company_id"] == "rosaflor"
    assert claims["cognito:groups"] == ["Admin", "Setup"]
    assert claims["email"] == "ana@rosaflor.example"
    assert (claims["iss"], claims["token_use"]) == ("k2k-local", "id")
    assert claims["exp"] > claims["iat"]
    # The same user always gets the same sub, so seeded data survives a restart.
    again = tokens.verify(tokens.mint("rosaflor", ["Admin"], user="ana@rosaflor.example"))
    assert claims["sub"] == again["sub"]


def test_the_operator_needs_no_company_but_company_roles_do() -> None:
    claims = tokens.verify(tokens.mint(None, ["Operator"]))
    assert "custom:company_id" not in claims and claims["cognito:groups"] == ["Operator"]
    with pytest.raises(ValueError, match="need a company"):
        tokens.mint("", ["Admin"])
    with pytest.raises(ValueError, match="unknown roles"):
        tokens.mint("rosaflor", ["Boss"])


@pytest.mark.parametrize("bad", [
    "",
    "not.a.jwt",
    jwt.encode({"sub": "x", "iss": "k2k-local", "aud": "k2k-local", "token_use": "id", "exp": 4102444800},
               "someone-elses-secret-of-32-bytes-or-more", "HS256"),
    jwt.encode({"sub": "x", "iss": "elsewhere", "aud": "k2k-local", "token_use": "id", "exp": 4102444800},
               tokens.DEFAULT_SECRET, "HS256"),
    jwt.encode({"sub": "x", "iss": "k2k-local", "aud": "k2k-local", "token_use": "access", "exp": 4102444800},
               tokens.DEFAULT_SECRET, "HS256"),
])
def test_foreign_malformed_or_access_tokens_are_refused(bad: str) -> None:
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(bad)


def test_expired_and_tampered_tokens_are_refused() -> None:
    with pytest.raises(tokens.InvalidToken, match="expired"):
        tokens.verify(tokens.mint("rosaflor", ["Admin"], ttl_seconds=-1))
    header, _, signature = tokens.mint("rosaflor", ["Admin"]).split(".")
    other_payload = tokens.mint("bloom", ["Admin"]).split(".")[1]
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(".".join([header, other_payload, signature]))


def test_the_secret_comes_from_the_environment_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    default_token = tokens.mint("rosaflor", ["Admin"])
    monkeypatch.setenv("K2K_LOCAL_JWT_SECRET", "a-team-wide-secret-that-is-long-enough")
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(default_token)
    assert tokens.verify(tokens.mint("rosaflor", ["Admin"]))["custom:company_id"] == "rosaflor"


def test_the_cli_prints_a_token_the_gateway_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--company", "rosaflor", "--roles", "Admin,Setup", "--user", "ana@rosaflor.example"]
    assert token_cli.main(args) == 0
    claims = tokens.verify(capsys.readouterr().out.strip())
    assert (claims["custom:company_id"], claims["cognito:groups"]) == ("rosaflor", ["Admin", "Setup"])
    with pytest.raises(SystemExit):
        token_cli.main(["--company", "rosaflor", "--roles", "Admn"])
    assert "unknown roles ['Admn']" in capsys.readouterr().err
