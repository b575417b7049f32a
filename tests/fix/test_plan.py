"""The fix plan: which rows of a report become changes."""

from __future__ import annotations

from auditor.fix.plan import plan_fixes
from auditor.model import Status
from tests.factories import make_row

P1 = "0123456789abcdef0123456789abcdef"
P2 = "fedcba9876543210fedcba9876543210"


def urn(project: str, name: str, region: str = "cn-north-4", qualifier: str = "") -> str:
    return f"urn:fss:{region}:{project}:function:default:{name}{qualifier}"


def test_only_missing_keys_by_default_and_every_other_row_says_why() -> None:
    rows = [
        make_row(urn=urn(P1, "a"), status=Status.MISSING_KEYS),
        make_row(urn=urn(P1, "b"), status=Status.CONFIGURED),
        make_row(urn=urn(P1, "c"), status=Status.UNEXPECTED_KEYS),
        make_row(urn=urn(P1, "d"), status=Status.AUTH_FAILED),
        make_row(urn=urn(P1, "e"), status=Status.MISSING_KEYS, exempt=True),
        make_row(urn="not-a-urn", status=Status.MISSING_KEYS),
    ]
    plan = plan_fixes(rows)
    assert [item.parsed.name for item in plan.items] == ["a"]
    assert plan.skipped == {
        "status configured": 1,
        "status unexpected_keys": 1,
        "status auth_failed": 1,
        "exempt": 1,
        "not a URN": 1,
    }


def test_unexpected_keys_when_included() -> None:
    rows = [
        make_row(urn=urn(P1, "a"), status=Status.MISSING_KEYS),
        make_row(urn=urn(P1, "c"), status=Status.UNEXPECTED_KEYS),
    ]
    plan = plan_fixes(rows, include={Status.MISSING_KEYS, Status.UNEXPECTED_KEYS})
    assert [(i.parsed.name, i.status) for i in plan.items] == [
        ("a", Status.MISSING_KEYS),
        ("c", Status.UNEXPECTED_KEYS),
    ]
    assert plan.by_project_status() == {P1: {"missing_keys": 1, "unexpected_keys": 1}}


def test_projects_and_regions_narrow_the_plan() -> None:
    rows = [
        make_row(urn=urn(P1, "a"), status=Status.MISSING_KEYS),
        make_row(urn=urn(P2, "b"), status=Status.MISSING_KEYS),
        make_row(urn=urn(P2, "c", region="ap-southeast-1"), status=Status.MISSING_KEYS),
    ]
    assert [i.parsed.name for i in plan_fixes(rows, projects={P2}).items] == ["b", "c"]
    only = plan_fixes(rows, projects={P2}, regions={"ap-southeast-1"})
    assert [i.parsed.name for i in only.items] == ["c"]
    assert only.skipped == {"other project": 1, "other region": 1}


def test_versions_of_one_function_are_one_change() -> None:
    rows = [
        make_row(urn=urn(P1, "a", qualifier=":1"), status=Status.MISSING_KEYS),
        make_row(urn=urn(P1, "a", qualifier=":!prod"), status=Status.MISSING_KEYS),
    ]
    plan = plan_fixes(rows)
    assert [item.urn for item in plan.items] == [urn(P1, "a", qualifier=":1")]
    assert plan.skipped == {"same function": 1}
