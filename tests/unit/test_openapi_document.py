"""The committed OpenAPI document (docs/openapi.json, served at /docs) is the API the handlers serve."""

from infra import openapi


def test_the_committed_openapi_document_matches_the_handlers_and_the_template():
    # --strict: a route in the template the handlers don't serve (or the reverse), or two models
    # with one name, fails too.
    assert openapi.main(["--check", "--strict"]) == 0, "run `make openapi` and commit docs/openapi.json"
