"""Exemptions (auditor/exemptions.py): reading the TOML file, every way it can be wrong, and
which findings an entry exempts, when it has expired, and what it reports."""

from __future__ import annotations

import json
import random
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from auditor.errors import ConfigError
from auditor.model import Row, Status, Target
from auditor.verdict import exemptions as exemptions_module
from auditor.verdict.exemptions import (
    Exemption,
    ExemptionCounter,
    ExemptionReport,
    Exemptions,
    apply_exemptions,
    load_exemptions,
)
from auditor.verdict.rows import invalid_row
from tests.factories import PROJECT, make_row

TODAY = date(2026, 11, 23)
BASE = f"urn:fss:cn-north-4:{PROJECT}:function:default"


def entry(
    pattern: str,
    number: int = 1,
    *,
    reason: str = "accepted",
    owner: str = "",
    expires: date | None = None,
) -> Exemption:
    return Exemption(pattern, reason, owner, expires, number)


def exemptions(*entries: Exemption) -> Exemptions:
    return Exemptions("exemptions.toml", entries)


def apply(rows: list[Row], *entries: Exemption) -> tuple[list[Row], ExemptionReport]:
    return apply_exemptions(rows, exemptions(*entries), TODAY)


# -- Exemption -------------------------------------------------------------------------------


def test_an_exemption_holds_through_its_last_day() -> None:
    until = entry("x", expires=date(2026, 11, 23))
    assert not until.expired(date(2026, 11, 22))
    assert not until.expired(date(2026, 11, 23))
    assert until.expired(date(2026, 11, 24))
    assert not entry("x").expired(date(9999, 12, 31))


@pytest.mark.parametrize(
    ("owner", "expires", "text"),
    [
        ("team-a", date(2027, 3, 31), "retired (owner: team-a; until 2027-03-31)"),
        ("team-a", None, "retired (owner: team-a)"),
        ("", date(2027, 3, 31), "retired (until 2027-03-31)"),
        ("", None, "retired"),
    ],
)
def test_describe(owner: str, expires: date | None, text: str) -> None:
    assert entry("x", reason="retired", owner=owner, expires=expires).describe() == text


# -- matching --------------------------------------------------------------------------------


def test_an_exact_urn_exempts_that_finding_which_keeps_its_status() -> None:
    rows = [make_row(0, Status.MISSING_KEYS), make_row(1, Status.MISSING_KEYS)]
    marked, report = apply(rows, entry(f"{BASE}:fn-0", reason="legacy", owner="ops"))
    assert marked[0].exempt is True
    assert marked[0].exempt_reason == "legacy (owner: ops)"
    assert marked[0].status is Status.MISSING_KEYS
    assert marked[1].exempt is False
    assert marked[1].exempt_reason == ""
    assert report.exempt_rows == 1
    assert report.by_entry == {1: 1}
    assert not rows[0].exempt  # the input rows are left alone


def test_a_glob_exempts_every_finding_it_matches() -> None:
    rows = [make_row(n, Status.ERROR) for n in range(12)]
    marked, report = apply(rows, entry(f"{BASE}:fn-1?"))
    assert [r.function for r in marked if r.exempt] == ["fn-10", "fn-11"]
    _, report = apply(rows, entry(f"urn:fss:*:{PROJECT}:function:default:fn-[0-2]"))
    assert report.exempt_rows == 3
    _, report = apply(rows, entry("*"))
    assert report.exempt_rows == 12


def test_matching_is_case_sensitive() -> None:
    rows = [make_row(0, Status.ERROR)]
    _, report = apply(rows, entry(f"{BASE}:FN-0"), entry(f"{BASE}:FN-*", 2))
    assert report.exempt_rows == 0


def test_a_versioned_or_aliased_urn_matches_by_its_unqualified_form() -> None:
    rows = [
        make_row(0, Status.MISSING_KEYS, urn=f"{BASE}:fn-0:latest", qualifier="latest"),
        make_row(1, Status.MISSING_KEYS, urn=f"{BASE}:fn-1:!prod", qualifier="!prod"),
    ]
    marked, _ = apply(rows, entry(f"{BASE}:fn-0"), entry(f"{BASE}:fn-1", 2))
    assert [r.exempt for r in marked] == [True, True]
    # An entry may also name the qualified URN itself, or glob over versions.
    marked, _ = apply(rows, entry(f"{BASE}:fn-0:latest"), entry(f"{BASE}:fn-1:!*", 2))
    assert [r.exempt for r in marked] == [True, True]
    # A qualified entry does not cover another version.
    marked, _ = apply(rows, entry(f"{BASE}:fn-0:3"))
    assert marked[0].exempt is False


def test_invalid_urn_rows_match_only_by_their_text() -> None:
    row = invalid_row(Target("legacy-thing", None, "in.txt:1", invalid_reason="not a URN"))
    marked, _ = apply([row], entry("urn:fss:::function::"))
    assert marked[0].exempt is False  # no unqualified form is built from empty parts
    marked, _ = apply([row], entry("legacy-*"))
    assert marked[0].exempt is True
    assert marked[0].status is Status.INVALID_URN


def test_configured_rows_are_never_marked() -> None:
    rows = [make_row(0, Status.CONFIGURED), make_row(1, Status.ERROR)]
    marked, report = apply(rows, entry("*"), entry(f"{BASE}:fn-0", 2))
    assert marked[0] == rows[0]
    assert marked[1].exempt is True
    assert report.exempt_rows == 1
    assert report.by_entry == {1: 1, 2: 0}
    assert [e.number for e in report.unused] == [2]


@pytest.mark.parametrize("status", [s for s in Status if s is not Status.CONFIGURED])
def test_every_other_status_is_a_finding(status: Status) -> None:
    marked, _ = apply([make_row(0, status)], entry(f"{BASE}:fn-0"))
    assert marked[0].exempt is True


def test_the_first_matching_entry_wins_whatever_its_kind() -> None:
    rows = [make_row(0, Status.ERROR)]
    exact, glob = f"{BASE}:fn-0", f"{BASE}:fn-*"
    marked, report = apply(rows, entry(glob, 1, reason="glob"), entry(exact, 2, reason="exact"))
    assert marked[0].exempt_reason == "glob"
    assert report.by_entry == {1: 1, 2: 0}
    marked, report = apply(rows, entry(exact, 1, reason="exact"), entry(glob, 2, reason="glob"))
    assert marked[0].exempt_reason == "exact"
    marked, _ = apply(
        rows, entry(f"{BASE}:f*", 1, reason="one"), entry(f"{BASE}:fn-?", 2, reason="two")
    )
    assert marked[0].exempt_reason == "one"
    marked, _ = apply(
        rows, entry(exact, 1, reason="first"), entry(exact, 2, reason="second duplicate")
    )
    assert marked[0].exempt_reason == "first"
    # The unqualified form's match counts as much as the URN's own.
    versioned = make_row(0, Status.ERROR, urn=f"{exact}:latest", qualifier="latest")
    marked, _ = apply(
        [versioned], entry(exact, 1, reason="bare"), entry(f"{exact}:latest", 2, reason="full")
    )
    assert marked[0].exempt_reason == "bare"


def test_expired_entries_never_apply_and_are_listed_with_what_they_would_cover() -> None:
    rows = [make_row(n, Status.MISSING_KEYS) for n in range(4)]
    lapsed = entry(f"{BASE}:fn-*", 1, reason="old", expires=date(2026, 11, 22))
    current = entry(f"{BASE}:fn-0", 2, reason="still", expires=date(2026, 11, 23))
    exact_lapsed = entry(f"{BASE}:fn-3", 3, reason="old too", expires=date(2020, 1, 1))
    marked, report = apply(rows, lapsed, current, exact_lapsed)
    assert [r.exempt for r in marked] == [True, False, False, False]
    assert marked[0].exempt_reason == "still (until 2026-11-23)"
    # fn-0 is covered by an entry in force; fn-1..3 fail now because entry 1 expired (it is
    # the first expired entry that matches each of them).
    assert report.expired == [(lapsed, 3), (exact_lapsed, 0)]
    assert report.unused == []
    assert report.by_entry == {1: 0, 2: 1, 3: 0}


def test_unused_entries_are_those_in_force_that_matched_nothing() -> None:
    rows = [make_row(0, Status.ERROR), make_row(1, Status.CONFIGURED)]
    used = entry(f"{BASE}:fn-0", 1)
    configured_only = entry(f"{BASE}:fn-1", 2)
    nothing = entry("urn:fss:eu-west-0:*", 3)
    expired = entry("urn:fss:eu-west-0:*", 4, expires=date(2000, 1, 1))
    _, report = apply(rows, used, configured_only, nothing, expired)
    assert report.unused == [configured_only, nothing]
    assert report.expired == [(expired, 0)]


def test_as_run_dict_is_json_ready() -> None:
    rows = [make_row(0, Status.ERROR), make_row(1, Status.ERROR)]
    _, report = apply(
        rows,
        entry(f"{BASE}:fn-0", 1, reason="legacy", owner="ops"),
        entry(f"{BASE}:fn-1", 2, reason="old", owner="ops", expires=date(2026, 1, 31)),
        entry("urn:none", 3, reason="typo"),
    )
    run = report.as_run_dict()
    assert json.loads(json.dumps(run)) == run
    assert run == {
        "source": "exemptions.toml",
        "exempt_rows": 1,
        "expired": [
            {
                "urn": f"{BASE}:fn-1",
                "reason": "old",
                "owner": "ops",
                "expires": "2026-01-31",
                "would_match": 1,
            }
        ],
        "unused": [{"urn": "urn:none", "reason": "typo", "owner": "", "expires": None}],
    }


def test_matching_compiles_once_and_tries_few_patterns_per_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """1M rows × 100 entries stays fast: patterns are compiled once per run, not per row;
    exact URNs are dict look-ups; a glob is tried only on names that share its literal parts;
    the other globs are one regex match per name, however many there are."""
    compiled: list[str] = []
    matches = 0

    class CountingPattern:
        def __init__(self, pattern: re.Pattern[str]) -> None:
            self.pattern = pattern

        def match(self, name: str) -> re.Match[str] | None:
            nonlocal matches
            matches += 1
            return self.pattern.match(name)

    def counting_compile(source: str) -> Any:
        compiled.append(source)
        return CountingPattern(re.compile(source))

    def forbidden(*args: Any) -> bool:
        raise AssertionError("fnmatch per row and entry is too slow for a million rows")

    monkeypatch.setattr(exemptions_module, "_compile", counting_compile)
    monkeypatch.setattr(exemptions_module.fnmatch, "fnmatch", forbidden)
    monkeypatch.setattr(exemptions_module.fnmatch, "fnmatchcase", forbidden)
    entries = [entry(f"{BASE}:fn-{n}", n + 1) for n in range(50)]
    # Filed under their package: never tried on these rows (package `default`).
    entries += [entry(f"urn:fss:*:{PROJECT}:function:pkg{n}:*", n + 51) for n in range(30)]
    # Filed under `fn-990` and `fn-991`, which fewer globs share than `default`.
    entries += [entry(f"urn:fss:*:function:default:fn-99{n}", n + 81) for n in range(2)]
    # No literal part to file them under: one alternation, one match per name.
    entries += [entry(f"urn:fss:eu-west-{n}:*", n + 83) for n in range(8)]
    entries += [entry(f"urn:fss:*:[a-z]*:old{n}:*", n + 91) for n in range(5)]
    entries += [
        entry(f"urn:fss:*:function:old{n}:*", n + 96, expires=date(2020, 1, 1)) for n in range(5)
    ]
    rows = [
        make_row(n, Status.ERROR, urn=f"{BASE}:fn-{n}:latest", qualifier="latest")
        for n in range(1000)
    ]
    marked, report = apply_exemptions(rows, exemptions(*entries), TODAY)
    assert report.exempt_rows == 52  # fn-0..49 by their exact URN, fn-990 and fn-991 by glob
    assert sum(r.exempt for r in marked) == 52
    globs = len(entries) - 50
    assert len(compiled) <= globs  # once per run, whatever the number of rows
    # Two names per row (as written, and unqualified), each tried once against the alternation
    # of unfiled globs; and the two rows with part `fn-990` or `fn-991` against that glob.
    assert matches == 2 * len(rows) + 2 * 2


@pytest.mark.parametrize("seed", range(5))
def test_matching_agrees_with_fnmatch_in_entry_order(seed: int) -> None:
    """Whatever the index files where, the first entry `fnmatchcase` matches wins."""
    import fnmatch
    import random

    chance = random.Random(seed)
    parts = ["cn-north-4", "ap-southeast-1", PROJECT, "default", "pkg", "fn-1", "fn-12", "x"]
    pieces = [*parts, "*", "?", "fn-*", "*-1", "[cf]n-1", "[!x]*", "urn", "fss", "function"]

    def pattern() -> str:
        return ":".join(chance.choice(pieces) for _ in range(chance.randint(1, 7)))

    entries = [entry(pattern(), n + 1, reason=f"r{n + 1}") for n in range(60)]
    entries += [entry("urn:fss:*:*:function:*:fn-1*", 61, reason="r61")]
    rows = [
        make_row(
            n,
            Status.ERROR,
            region=chance.choice(["cn-north-4", "ap-southeast-1"]),
            function=chance.choice(["fn-1", "fn-12", "x", "pkg"]),
            package=chance.choice(["default", "pkg"]),
        )
        for n in range(300)
    ]
    rows = [
        make_row(
            n,
            Status.ERROR,
            urn=f"urn:fss:{r.region}:{r.project_id}:function:{r.package}:{r.function}"
            + chance.choice(["", ":latest", ":!prod"]),
            region=r.region,
            package=r.package,
            function=r.function,
        )
        for n, r in enumerate(rows)
    ]
    marked, _ = apply(rows, *entries)
    for row, result in zip(rows, marked, strict=True):
        bare = f"urn:fss:{row.region}:{row.project_id}:function:{row.package}:{row.function}"
        expected = next(
            (
                e.reason
                for e in entries
                if fnmatch.fnmatchcase(row.urn, e.pattern) or fnmatch.fnmatchcase(bare, e.pattern)
            ),
            "",
        )
        assert result.exempt_reason == expected, (row.urn, expected)


def test_many_globs_pick_the_first_that_matches() -> None:
    entries = [entry(f"{BASE}:fn-{n}*", n + 1, reason=f"r{n}") for n in range(300)]
    rows = [make_row(n, Status.ERROR) for n in range(300)]
    marked, report = apply(rows, *entries)
    # fn-1 is matched by fn-1* (entry 2); fn-10..19 and fn-100..199 too, as entry 2 comes first.
    assert marked[1].exempt_reason == "r1"
    assert marked[15].exempt_reason == "r1"
    assert marked[150].exempt_reason == "r1"
    assert marked[299].exempt_reason == "r2"
    assert marked[0].exempt_reason == "r0"
    assert report.exempt_rows == 300


# -- ExemptionCounter ------------------------------------------------------------------------

COUNTED_ROWS = [
    make_row(n, [Status.CONFIGURED, Status.MISSING_KEYS, Status.ERROR][n % 3]) for n in range(30)
]
COUNTED_ENTRIES = exemptions(
    entry(f"{BASE}:fn-1*", 1, reason="tens"),
    entry(f"{BASE}:fn-2", 2, reason="two", expires=date(2026, 12, 31)),
    entry(f"{BASE}:fn-2*", 3, reason="lapsed", expires=date(2020, 1, 1)),
    entry(f"{BASE}:fn-6", 4, reason="configured only"),
    entry("urn:fss:eu-west-0:*", 5, reason="nothing"),
)


@pytest.mark.parametrize("seed", range(5))
def test_exemption_counter_in_any_order_reports_as_in_order(seed: int) -> None:
    rows = list(COUNTED_ROWS)
    random.Random(seed).shuffle(rows)
    counter = ExemptionCounter(COUNTED_ENTRIES, TODAY)
    marked = {row.urn: counter.add(row) for row in rows}
    report = counter.finish()
    expected_rows, expected = apply_exemptions(COUNTED_ROWS, COUNTED_ENTRIES, TODAY)
    assert [marked[row.urn] for row in COUNTED_ROWS] == expected_rows
    assert report == expected
    assert report.exempt_rows == sum(row.exempt for row in expected_rows) > 0
    assert [e.number for e, _ in report.expired] == [3]
    assert [e.number for e in report.unused] == [4, 5]


def test_exemption_counter_mark_counts_nothing_and_agrees_with_add() -> None:
    counter = ExemptionCounter(COUNTED_ENTRIES, TODAY)
    marked = [counter.mark(row) for row in COUNTED_ROWS]
    untouched = counter.finish()
    assert untouched.exempt_rows == 0
    assert set(untouched.by_entry.values()) == {0}
    assert [(e.number, n) for e, n in untouched.expired] == [(3, 0)]
    verdict = [counter.add(row) for row in COUNTED_ROWS]
    assert marked == verdict
    assert any(row.exempt for row in verdict)
    assert [counter.mark(row) for row in COUNTED_ROWS] == verdict
    assert counter.finish() == apply_exemptions(COUNTED_ROWS, COUNTED_ENTRIES, TODAY)[1]


# -- reading the file ------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exemptions.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_loads_every_form(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
# Known and accepted.
[[exemption]]
urn = "{BASE}:legacy"
reason = "retired in Q1"
owner = "team-payments"
expires = 2027-03-31

[[exemption]]
urn = "urn:fss:*:{PROJECT}:function:batch:*"
reason = "  batch jobs need no tracing  "
expires = "2027-01-15"

[[exemption]]
urn = "{BASE}:forever"
reason = "no end"
""",
    )
    loaded = load_exemptions(path)
    assert loaded.source == str(path)
    assert loaded.entries == (
        Exemption(f"{BASE}:legacy", "retired in Q1", "team-payments", date(2027, 3, 31), 1),
        Exemption(
            f"urn:fss:*:{PROJECT}:function:batch:*",
            "batch jobs need no tracing",
            "",
            date(2027, 1, 15),
            2,
        ),
        Exemption(f"{BASE}:forever", "no end", "", None, 3),
    )


SECRET = "MIIplanted-secret-0123456789abcdef"
GOOD = 'urn = "urn:x"\nreason = "r"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no exemptions; add [[exemption]] tables"),
        ("# only a comment\n", "no exemptions"),
        ("exemption = []\n", "no exemptions"),
        ('[exemption]\nurn = "x"\nreason = "r"\n', "'exemption' must be [[exemption]] tables"),
        ("exemption = [1, 2]\n", "'exemption' must be [[exemption]] tables"),
        (f'token = "{SECRET}"\n[[exemption]]\n{GOOD}', "unknown key 'token'; the file holds"),
        ("[[exemption]]\nreason = 'r'\n", "exemption 1: 'urn' is required"),
        ("[[exemption]]\nurn = 'x'\n", "exemption 1: 'reason' is required"),
        ("[[exemption]]\nurn = 'x'\nreason = ''\n", "exemption 1: 'reason' must not be empty"),
        ("[[exemption]]\nurn = 'x'\nreason = '   '\n", "exemption 1: 'reason' must not be empty"),
        ("[[exemption]]\nurn = ''\nreason = 'r'\n", "exemption 1: 'urn' must not be empty"),
        (
            f"[[exemption]]\n{GOOD}[[exemption]]\n{GOOD}[[exemption]]\nurn = 5\nreason = 'r'\n",
            "exemption 3: 'urn' must be a string, not an integer",
        ),
        (
            f"[[exemption]]\nurn = 'x'\nreason = ['{SECRET}']\n",
            "exemption 1: 'reason' must be a string, not a list",
        ),
        (f"[[exemption]]\n{GOOD}owner = true\n", "exemption 1: 'owner' must be a string, not a"),
        (f"[[exemption]]\n{GOOD}owner = {{ a = 1 }}\n", "'owner' must be a string, not a table"),
        (
            f"[[exemption]]\n{GOOD}reason2 = '{SECRET}'\n",
            "exemption 1: unknown key 'reason2' (allowed: urn, reason, owner, expires)",
        ),
        (f"[[exemption]]\n{GOOD}expires = '{SECRET}'\n", "exemption 1: 'expires' must be a date"),
        (f"[[exemption]]\n{GOOD}expires = '31/03/2027'\n", "must be a date like 2027-03-31"),
        (f"[[exemption]]\n{GOOD}expires = '2027-13-01'\n", "must be a date like 2027-03-31"),
        (f"[[exemption]]\n{GOOD}expires = '20270331'\n", "must be a date like 2027-03-31"),
        (f"[[exemption]]\n{GOOD}expires = 20270331\n", "must be a date like 2027-03-31"),
        (f"[[exemption]]\n{GOOD}expires = 2027-03-31T12:00:00\n", "date like 2027-03-31, without"),
        (f"[[exemption]]\n{GOOD}expires = 12:00:00\n", "must be a date like 2027-03-31"),
        (f"[[exemption]]\n{GOOD}reason = 'twice'\n", "invalid TOML"),
        ('[[exemption]]\nurn = "x\n', "invalid TOML"),
        (f'[[exemption]]\nurn = "x"\nreason = """a\n{SECRET}"""\n', "'reason' must be one line"),
    ],
)
def test_every_problem_is_one_line_naming_the_file_and_entry(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_exemptions(path)
    found = str(raised.value)
    assert found.startswith(f"{path}: ")
    assert message in found
    assert "\n" not in found
    assert SECRET not in found


def test_a_long_unknown_key_is_cut_short(tmp_path: Path) -> None:
    path = write(tmp_path, f"[[exemption]]\n{GOOD}{'k' * 200} = 1\n")
    with pytest.raises(ConfigError) as raised:
        load_exemptions(path)
    assert len(str(raised.value)) < len(str(path)) + 150


def test_missing_directory_and_not_utf8(tmp_path: Path) -> None:
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b'[[exemption]]\nurn = "\xff\xfe"\n')
    cases = {
        tmp_path / "absent.toml": "no such file",
        tmp_path: "is a directory",
        binary: "is not UTF-8 text",
    }
    for path, message in cases.items():
        with pytest.raises(ConfigError) as raised:
            load_exemptions(path)
        text = str(raised.value)
        assert text.startswith(f"{path}: {message}"), text
        assert "\n" not in text


def test_a_loaded_file_applies_by_its_dates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
[[exemption]]
urn = "{BASE}:fn-0"
reason = "legacy"
owner = "ops"
expires = 2026-11-23
""",
    )
    loaded = load_exemptions(path)
    rows = [make_row(0, Status.MISSING_KEYS)]
    marked, _ = apply_exemptions(rows, loaded, date(2026, 11, 23))
    assert marked[0].exempt_reason == "legacy (owner: ops; until 2026-11-23)"
    marked, report = apply_exemptions(rows, loaded, date(2026, 11, 24))
    assert marked[0].exempt is False
    assert report.as_run_dict()["expired"][0]["would_match"] == 1
