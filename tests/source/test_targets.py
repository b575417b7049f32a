"""Tests for auditor/targets.py: the compact sequence of targets an input set holds."""

from __future__ import annotations

import random

import pytest

from auditor.errors import InvalidUrn
from auditor.model import Target
from auditor.source.targets import Targets
from auditor.source.urn import VALID_URN, parse_urn, parse_urn_by_parts

P = "0123456789abcdef0123456789abcdef"
Q = "fedcba9876543210fedcba9876543210"
ORDERS = f"urn:fss:cn-north-4:{P}:function:default:orders"
PAYMENTS = f"urn:fss:cn-north-4:{P}:function:default:payments:latest"
CART = f"urn:fss:ap-southeast-1:{Q}:function:shop:cart:!prod"
OTHER_REGION = f"urn:fss:eu-west-101:{P}:function:default:orders"


def valid(
    urn: str,
    source: str,
    occurrences: int = 1,
    runtime: str = "",
    memory_size: int | None = None,
) -> Target:
    return Target(urn, parse_urn(urn), source, occurrences, "", runtime, memory_size)


def invalid(urn: str, source: str, reason: str, occurrences: int = 1) -> Target:
    return Target(urn, None, source, occurrences, reason)


# Every kind of entry the old list of `Target` held: valid, invalid, duplicated, discovered
# (runtime and memory), and sources of every shape readers make.
MIXED = [
    valid(ORDERS, "in.txt:3", 2),
    invalid("not-a-urn", "in.txt:4", "not a function URN: expected ..."),
    valid(PAYMENTS, "fleet.csv:12", runtime="Java11", memory_size=512),
    valid(CART, "book.xlsx[Functions]:7", runtime="Python3.9", memory_size=None),
    invalid('{"name": "x"}', "list.json:item 3", "object has no func_urn/urn field", 3),
    valid(OTHER_REGION, "ListFunctions:1", runtime="Java11", memory_size=512),
    invalid("", "gen:0", ""),  # a hand-made invalid target without a reason
    valid(f"{ORDERS}:1", "in.txt", 1),  # a source without a line number
    valid(f"{ORDERS}:2", "in.txt:007", 1),  # a line number that would not read back
    valid(f"{ORDERS}:3", "in.txt:12345678901", 1),  # too long for the line array
]


# --- of() and the sequence ----------------------------------------------------------------


def test_of_gives_back_equal_targets() -> None:
    targets = Targets.of(MIXED)
    assert len(targets) == len(MIXED)
    assert list(targets) == MIXED
    assert [targets[i] for i in range(len(MIXED))] == MIXED


def test_valid_targets_are_parsed_again_and_invalid_ones_are_not() -> None:
    targets = Targets.of(MIXED)
    assert targets[0].parsed == parse_urn(ORDERS)
    assert targets[1].parsed is None
    assert targets[1].invalid_reason == "not a function URN: expected ..."


def test_negative_indices_read_from_the_end_as_a_list_does() -> None:
    targets = Targets.of(MIXED)
    for index in range(-len(MIXED), len(MIXED)):
        assert targets[index] == MIXED[index]
        assert targets.urn(index) == MIXED[index].urn
        assert targets.source(index) == MIXED[index].source


@pytest.mark.parametrize("index", [len(MIXED), -len(MIXED) - 1, 10**9])
def test_an_index_out_of_range_is_an_index_error(index: int) -> None:
    targets = Targets.of(MIXED)
    with pytest.raises(IndexError):
        targets[index]
    with pytest.raises(IndexError):
        targets.source(index)
    with pytest.raises(IndexError):
        targets.urn(index)


@pytest.mark.parametrize(
    "part",
    [
        slice(None),
        slice(2, 5),
        slice(-3, None),
        slice(None, None, 2),
        slice(None, None, -1),
        slice(8, 2, -3),
        slice(5, 2),
        slice(-100, 100),
    ],
)
def test_slices_are_lists_of_targets_as_a_list_slice(part: slice) -> None:
    assert Targets.of(MIXED)[part] == MIXED[part]


def test_empty() -> None:
    targets = Targets()
    assert len(targets) == 0
    assert list(targets) == []
    assert targets[:] == []
    assert not targets
    assert (targets.invalid_count, targets.duplicates, targets.regions()) == (0, 0, {})


def test_sequence_methods_work() -> None:
    targets = Targets.of(MIXED)
    assert MIXED[2] in targets
    assert targets.index(MIXED[4]) == 4
    assert list(reversed(targets)) == MIXED[::-1]


def test_of_a_targets_is_that_targets() -> None:
    targets = Targets.of(MIXED)
    assert Targets.of(targets) is targets


def test_of_refuses_a_target_whose_parsed_is_another_urn() -> None:
    with pytest.raises(ValueError, match="not its URN"):
        Targets.of([Target(ORDERS, parse_urn(CART), "in.txt:1")])


def test_equality_compares_what_the_targets_would_be() -> None:
    assert Targets.of(MIXED) == Targets.of(list(MIXED))
    assert Targets.of(MIXED) != Targets.of(MIXED[:-1])
    changed = [*MIXED[:-1], valid(f"{ORDERS}:3", "in.txt:12345678902")]
    assert Targets.of(MIXED) != Targets.of(changed)
    assert Targets.of(MIXED) != MIXED  # a Targets is not a list: compare list(targets)


def test_repr_counts_without_listing() -> None:
    assert repr(Targets.of(MIXED)) == "Targets(10 entries, 3 invalid, 3 duplicates merged)"


# --- accessors ----------------------------------------------------------------------------


def test_accessors_agree_with_the_targets() -> None:
    targets = Targets.of(MIXED)
    assert list(targets.urns) == [t.urn for t in MIXED]
    for index, target in enumerate(MIXED):
        assert targets.urn(index) == target.urn
        assert targets.source(index) == target.source
        assert targets.occurrences(index) == target.occurrences
        assert targets.runtime(index) == target.runtime
        assert targets.memory_size(index) == target.memory_size
        assert targets.is_invalid(index) == (target.parsed is None)
        assert targets.invalid_reason(index) == target.invalid_reason


def test_invalid_indices_and_count() -> None:
    targets = Targets.of(MIXED)
    assert targets.invalid_indices() == [1, 4, 6]
    assert targets.invalid_count == 3


def test_duplicates_count_occurrences_after_the_first() -> None:
    assert Targets.of(MIXED).duplicates == (2 - 1) + (3 - 1)


def test_regions_are_those_of_the_first_valid_urn_of_each_project() -> None:
    targets = Targets.of(MIXED)
    assert targets.regions() == {P: "cn-north-4", Q: "ap-southeast-1"}
    targets.regions()[P] = "changed"  # a copy
    assert targets.regions()[P] == "cn-north-4"


def test_region_names_are_those_of_every_valid_urn() -> None:
    targets = Targets.of(MIXED)
    assert targets.region_names() == {"cn-north-4", "ap-southeast-1", "eu-west-101"}
    targets.region_names().clear()  # a copy
    assert len(targets.region_names()) == 3
    assert Targets.of([MIXED[1]]).region_names() == set()


def test_place_is_the_region_and_project_each_urn_names() -> None:
    targets = Targets.of(MIXED)
    expected = [
        (t.parsed.region, t.parsed.project_id) if t.parsed is not None else ("", "") for t in MIXED
    ]
    assert [targets.place(i) for i in range(len(MIXED))] == expected
    assert targets.place(-1) == ("cn-north-4", P)
    built = Targets()
    built.add_line(CART, "in.txt:", 1)
    built.add("not-a-urn", "in.txt:2")
    built.add(ORDERS, "in.txt:3", problem="listed twice")  # kept as invalid: no place
    assert [built.place(i) for i in range(3)] == [("ap-southeast-1", Q), ("", ""), ("", "")]
    assert targets.subset([5, 2]).place(0) == ("eu-west-101", P)


def test_urns_is_the_list_itself_not_a_copy() -> None:
    targets = Targets.of(MIXED)
    assert targets.urns is targets.urns


def test_runtime_columns_cost_nothing_until_an_entry_has_them() -> None:
    plain = Targets.of([valid(ORDERS, "a:1"), valid(CART, "a:2")])
    assert [(plain.runtime(i), plain.memory_size(i)) for i in range(2)] == [("", None)] * 2
    late = Targets.of([valid(ORDERS, "a:1"), valid(CART, "a:2", runtime="Java8")])
    assert [(late.runtime(i), late.memory_size(i)) for i in range(2)] == [
        ("", None),
        ("Java8", None),
    ]


# --- building -----------------------------------------------------------------------------


def test_add_checks_each_urn_as_parse_urn_does() -> None:
    targets = Targets()
    bad = f"urn:fss:cn-north-4:{P}:function:default:bad name"
    targets.add(ORDERS, "in.txt:1")
    targets.add(bad, "in.txt:2", runtime="Java8", memory_size=256)
    targets.add("x", "in.txt:3", problem="a JSON number, not a URN string")
    with pytest.raises(InvalidUrn) as caught:
        parse_urn(bad)
    assert list(targets) == [
        valid(ORDERS, "in.txt:1"),
        invalid(bad, "in.txt:2", str(caught.value)),  # no runtime: it describes nothing
        invalid("x", "in.txt:3", "a JSON number, not a URN string"),
    ]


def test_add_line_is_add_with_the_source_made_from_name_and_line() -> None:
    by_line = Targets()
    by_text = Targets()
    for line, urn in enumerate([ORDERS, "bad", CART], start=1):
        by_line.add_line(urn, "in.txt:", line)
        by_text.add(urn, f"in.txt:{line}")
    assert by_line == by_text
    assert by_line.source(2) == "in.txt:3"


def test_add_occurrences_counts_by_urn() -> None:
    targets = Targets()
    targets.add(ORDERS, "a:1")
    targets.add(CART, "a:2")
    targets.add_occurrences({CART: 2, "not there": 5})
    assert [targets.occurrences(i) for i in range(2)] == [1, 3]
    assert targets.duplicates == 2


def test_sources_that_are_not_name_and_line_are_kept_as_text() -> None:
    sources = ["in.txt", "in.txt:0", "in.txt:00", "stdin:item 12", "7", "", "a:4294967296"]
    targets = Targets()
    for number, source in enumerate(sources):
        targets.add(f"{ORDERS}:{number}", source)
    assert [targets.source(i) for i in range(len(sources))] == sources


def test_subset_keeps_the_chosen_entries_in_the_given_order() -> None:
    targets = Targets.of(MIXED)
    chosen = [5, 1, -1, 0]
    kept = targets.subset(chosen)
    assert list(kept) == [MIXED[i] for i in chosen]
    assert kept.regions() == {P: "eu-west-101"}
    assert kept.region_names() == {"eu-west-101", "cn-north-4"}
    assert kept.invalid_indices() == [1]


# --- the short cut that checks URNs ------------------------------------------------------


_PIECES = [
    "urn", "fss", "cn-north-4", "ap-southeast-1", "cn", "-4", "cn--4", "CN-north-4", "cn-north-",
    P, P[:-1], P + "a", P[:-1] + "é", P[:-1] + "٣", "function", "functions", "default", "a",
    "a" * 128, "a" * 129, "my.pkg", "my-pkg_1", "", "latest", "!prod", "!", "!a.b", "1.0",
    "v" * 64, "v" * 65, "!" + "a" * 64, "!" + "a" * 65, "x y", "\n", "ä", "K",
]  # fmt: skip


def _candidates(count: int) -> list[str]:
    rng = random.Random(20240601)
    good = [ORDERS, PAYMENTS, CART, OTHER_REGION]
    made = [*good, f"{ORDERS}\n", f"{ORDERS}:", f"{ORDERS}:a:b", "x" * 600]
    made.append(f"urn:fss:{'a' * 200}-{'b' * 200}:{P}:function:default:orders")  # > 512
    made.append(f"urn:fss:{'a' * 200}-{'b' * 100}:{P}:function:default:orders")
    for _ in range(count):
        if rng.random() < 0.5:
            parts = ["urn", "fss", "cn-north-4", P, "function", "default", "orders", "latest"]
            parts = parts[: rng.choice([6, 7, 7, 8, 8, 9])]
            for _ in range(rng.randint(1, 2)):
                parts[rng.randrange(len(parts))] = rng.choice(_PIECES)
            made.append(":".join(parts))
        else:
            text = list(rng.choice(good))
            position = rng.randrange(len(text))
            text[position] = rng.choice([":", "!", ".", "-", "_", "A", "0", "é", " ", ""])
            made.append("".join(text))
    return made


def test_the_one_expression_accepts_exactly_what_the_part_by_part_parse_accepts() -> None:
    agreed = 0
    for text in _candidates(20000):
        try:
            reference = parse_urn_by_parts(text)
        except InvalidUrn:
            reference = None
        assert (len(text) <= 512 and VALID_URN.match(text) is not None) == (reference is not None)
        if reference is not None:  # and the fast path gives the very same parts
            assert parse_urn(text) == reference, text
        agreed += reference is not None
    assert agreed > 1000  # both kinds were tried


def test_added_entries_build_the_targets_parse_urn_would() -> None:
    targets = Targets()
    expected = []
    for number, text in enumerate(dict.fromkeys(_candidates(3000)), start=1):
        targets.add(text, f"gen:{number}")
        try:
            expected.append(valid(text, f"gen:{number}"))
        except InvalidUrn as exc:
            expected.append(invalid(text, f"gen:{number}", str(exc)))
    assert list(targets) == expected
