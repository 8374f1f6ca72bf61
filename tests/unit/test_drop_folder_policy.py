"""Defect 10: who may put a file under a company's import folder (template.yaml's DropBucketPolicy).

moto does not evaluate bucket policies, so the local cloud cannot refuse a write; only AWS does. What this
checks is what the policy *says*, read with IAM's rules for the few features it uses (Deny, Resource and
NotResource with `*` wildcards, the `${aws:PrincipalTag/company_id}` variable, which leaves a statement
invalid for a principal without the tag, ArnNotEquals, Null): a
principal tagged with a company writes only under that company's prefix, an untagged one nowhere under
imports/, and the import API's role (which signs the upload links for the caller's own company) is the
one exception. The prefix is the one the worker reads the company from.
"""

from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from infra.localcloud.template import load
from k2k.imports.service import parse_key

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load(ROOT / "template.yaml")
BUCKET = TEMPLATE.ref("DropBucket")
API_ROLE = TEMPLATE.get_att("ImportExcelFunctionRole", "Arn")
OTHER_ROLE = TEMPLATE.get_att("ImportWorkerFunctionRole", "Arn")


def denied(principal_arn: str, tags: dict[str, str], key: str, action: str = "s3:PutObject") -> bool:
    """Whether an explicit Deny of the bucket policy matches (an explicit deny wins over any allow)."""
    resource = f"arn:aws:s3:::{BUCKET}/{key}"
    context = {"aws:PrincipalArn": principal_arn, **{f"aws:PrincipalTag/{k}": v for k, v in tags.items()}}

    def expand(pattern: str) -> str | None:
        for name, value in context.items():
            pattern = pattern.replace("${" + name + "}", value)
        return None if "${" in pattern else pattern

    def matches(patterns: list[str]) -> bool:
        return any(fnmatchcase(resource, p) for p in patterns)

    def condition_holds(condition: dict[str, dict[str, str]]) -> bool:
        for operator, tests in condition.items():
            for name, wanted in tests.items():
                if operator == "ArnNotEquals" and context.get(name) == wanted:
                    return False
                if operator == "Null" and (name not in context) != (wanted == "true"):
                    return False
                if operator not in ("ArnNotEquals", "Null", "Bool"):
                    raise AssertionError(f"the test does not read {operator}")
                if operator == "Bool":
                    return False  # aws:SecureTransport: these requests are made over TLS
        return True

    for statement in TEMPLATE.properties("DropBucketPolicy")["PolicyDocument"]["Statement"]:
        assert statement["Effect"] == "Deny" and statement["Principal"] == "*"
        if not any(fnmatchcase(action, a) for a in _list(statement["Action"])):
            continue
        patterns = [expand(p) for p in _list(statement.get("NotResource") or statement["Resource"])]
        if None in patterns:
            continue  # AWS: a variable it cannot resolve may make the whole statement invalid; count on none
        in_scope = not matches(patterns) if "NotResource" in statement else matches(patterns)
        if in_scope and condition_holds(statement.get("Condition", {})):
            return True
    return False


def _list(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


BLOOM_ERP = "arn:aws:iam::123456789012:role/bloom-erp-export"


@pytest.mark.parametrize(("who", "tags", "key", "refused"), [
    ("bloom's tagged principal, its own folder", {"company_id": "bloom"}, "imports/bloom/open-invoices/a.xlsx", False),
    ("bloom's tagged principal, tulipa's folder", {"company_id": "bloom"}, "imports/tulipa/open-invoices/a.xlsx", True),
    ("a company whose id starts like another's", {"company_id": "bloo"}, "imports/bloom/open-invoices/a.xlsx", True),
    ("an untagged principal", {}, "imports/bloom/open-invoices/a.xlsx", True),
    ("an untagged principal, outside imports/", {}, "templates/x.xlsx", True),
    ("a tagged principal, outside imports/", {"company_id": "bloom"}, "templates/x.xlsx", True),
])
def test_a_company_principal_drops_only_into_its_own_folder(who, tags, key, refused):
    assert denied(BLOOM_ERP, tags, key) is refused, who


def test_the_import_api_signs_upload_links_and_writes_templates_and_no_other_function_may():
    assert not denied(API_ROLE, {}, "imports/tulipa/open-invoices/0123456789ab/a.xlsx")
    assert not denied(API_ROLE, {}, "templates/open-invoices-1.xlsx")
    assert denied(OTHER_ROLE, {}, "imports/bloom/open-invoices/a.xlsx")


def test_reading_is_not_what_the_policy_is_about():
    assert not denied(BLOOM_ERP, {}, "imports/bloom/open-invoices/a.xlsx", action="s3:GetObject")


def test_the_prefix_the_policy_guards_is_the_one_the_worker_reads_the_company_from():
    [statement] = [s for s in TEMPLATE.properties("DropBucketPolicy")["PolicyDocument"]["Statement"]
                   if "NotResource" in s]
    guarded = statement["NotResource"].removeprefix(f"arn:aws:s3:::{BUCKET}/")
    assert guarded == "imports/${aws:PrincipalTag/company_id}/*"
    key = guarded.replace("${aws:PrincipalTag/company_id}", "bloom").replace("*", "open-invoices/a.xlsx")
    assert parse_key(key) is not None and parse_key(key)[0] == "bloom"
