"""Tests for auditor/inputs.py: reading URN lists from files and stdin into targets."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from openpyxl import Workbook

from auditor.errors import InputError
from auditor.model import Target
from auditor.source.inputs import InputSet, from_lines, parse_stream, read_inputs, sniff_format
from auditor.source.targets import Targets
from auditor.source.urn import parse_urn

DATA = Path(__file__).parent.parent / "data"
P = "0123456789abcdef0123456789abcdef"
Q = "fedcba9876543210fedcba9876543210"
ORDERS = f"urn:fss:cn-north-4:{P}:function:default:orders"
PAYMENTS = f"urn:fss:cn-north-4:{P}:function:default:payments"
CART = f"urn:fss:ap-southeast-1:{Q}:function:shop:cart"


def urns(inputs: InputSet) -> list[str]:
    return [t.urn for t in inputs.targets]


def by_urn(inputs: InputSet) -> dict[str, Target]:
    return {t.urn: t for t in inputs.targets}


def write(tmp_path: Path, name: str, data: bytes | str) -> str:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def xlsx(tmp_path: Path, name: str, rows: Sequence[Sequence[object]]) -> str:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Functions"
    for row in rows:
        sheet.append(list(row))
    path = tmp_path / name
    book.save(path)
    return str(path)


def stdin(data: bytes) -> InputSet:
    return read_inputs(["-"], stdin=io.BytesIO(data))


# --- text -------------------------------------------------------------------------------------


def test_text_file_skips_blanks_and_comments_and_merges_duplicates() -> None:
    name = str(DATA / "inputs-mixed.txt")
    inputs = read_inputs([name])
    assert urns(inputs) == [ORDERS, f"{PAYMENTS}:latest", f"{CART}:!prod", "not-a-urn"]
    targets = by_urn(inputs)
    assert targets[ORDERS].source == f"{name}:3"
    assert targets[ORDERS].occurrences == 2
    assert targets[f"{PAYMENTS}:latest"].parsed == parse_urn(f"{PAYMENTS}:latest")
    assert targets[f"{CART}:!prod"].source == f"{name}:7"
    assert targets["not-a-urn"].parsed is None
    assert "not a function URN" in targets["not-a-urn"].invalid_reason
    assert inputs.duplicates == 1
    assert [(s.name, s.format, s.entries) for s in inputs.inputs] == [(name, "txt", 5)]


def test_text_with_bom_and_crlf(tmp_path: Path) -> None:
    name = write(tmp_path, "inputs-crlf.txt", f"\ufeff{ORDERS}\r\n\r\n# c\r\n{PAYMENTS}\r\n")
    inputs = read_inputs([name])
    assert urns(inputs) == [ORDERS, PAYMENTS]
    assert all(t.parsed is not None for t in inputs.targets)
    assert by_urn(inputs)[PAYMENTS].source == f"{name}:4"


def test_lst_suffix_is_text(tmp_path: Path) -> None:
    name = write(tmp_path, "inputs.lst", f"{ORDERS}\n")
    assert [s.format for s in read_inputs([name]).inputs] == ["txt"]


# --- CSV --------------------------------------------------------------------------------------


def test_csv_with_named_column_among_others_and_quoted_cells() -> None:
    name = str(DATA / "inputs-header.csv")
    inputs = read_inputs([name])
    bad = "urn:fss:cn-north-4:short:function:default:x"
    assert urns(inputs) == [ORDERS, f"{CART}:v2", bad]
    targets = by_urn(inputs)
    assert targets[ORDERS].source == f"{name}:2"
    assert targets[f"{CART}:v2"].parsed is not None
    assert "32 letters or digits" in targets[bad].invalid_reason
    assert inputs.inputs[0].format == "csv"


@pytest.mark.parametrize("header", ["urn", "URN", "func_urn", "Function_Urn", " urn "])
def test_csv_urn_column_names_are_case_insensitive(tmp_path: Path, header: str) -> None:
    name = write(tmp_path, "inputs-col.csv", f"owner,{header},memory\na,{ORDERS},512\n")
    assert urns(read_inputs([name])) == [ORDERS]


def test_csv_prefers_urn_over_func_urn(tmp_path: Path) -> None:
    text = f"func_urn,urn\n{PAYMENTS},{ORDERS}\n"
    assert urns(read_inputs([write(tmp_path, "inputs-two.csv", text)])) == [ORDERS]


def test_csv_single_column_with_header(tmp_path: Path) -> None:
    name = write(tmp_path, "inputs-single.csv", f"functions\n{ORDERS}\n{PAYMENTS}\n")
    inputs = read_inputs([name])
    assert urns(inputs) == [ORDERS, PAYMENTS]
    assert by_urn(inputs)[ORDERS].source == f"{name}:2"


def test_csv_single_column_without_header(tmp_path: Path) -> None:
    name = write(tmp_path, "inputs-bare.csv", f"{ORDERS}\n{PAYMENTS}\n")
    inputs = read_inputs([name])
    assert urns(inputs) == [ORDERS, PAYMENTS]
    assert by_urn(inputs)[ORDERS].source == f"{name}:1"


def test_csv_with_bom_crlf_and_quotes(tmp_path: Path) -> None:
    data = f'\ufeff"urn","note"\r\n"{ORDERS}","a, b"\r\n"{PAYMENTS}",""\r\n'.encode()
    name = write(tmp_path, "inputs-bom.csv", data)
    inputs = read_inputs([name])
    assert urns(inputs) == [ORDERS, PAYMENTS]
    assert by_urn(inputs)[PAYMENTS].source == f"{name}:3"


def test_csv_with_several_columns_and_no_urn_column_names_the_file(tmp_path: Path) -> None:
    name = write(tmp_path, "inputs-nocol.csv", f"name,arn\norders,{ORDERS}\n")
    with pytest.raises(InputError) as caught:
        read_inputs([name])
    message = str(caught.value)
    assert name in message
    assert "no URN column" in message
    assert "func_urn" in message
    assert "\n" not in message


# --- XLSX -------------------------------------------------------------------------------------


def test_xlsx_with_urn_column(tmp_path: Path) -> None:
    name = xlsx(
        tmp_path,
        "inputs-sheet.xlsx",
        [("name", "URN", "memory"), ("orders", ORDERS, 512), ("none", None, 1), ("p", PAYMENTS, 2)],
    )
    inputs = read_inputs([name])
    assert urns(inputs) == [ORDERS, PAYMENTS]
    assert by_urn(inputs)[PAYMENTS].source == f"{name}[Functions]:4"
    assert inputs.inputs[0].format == "xlsx"


def test_xlsx_single_column_without_header(tmp_path: Path) -> None:
    name = xlsx(tmp_path, "inputs-bare.xlsx", [(ORDERS,), (PAYMENTS,)])
    assert urns(read_inputs([name])) == [ORDERS, PAYMENTS]


def test_xlsx_without_urn_column_names_the_file(tmp_path: Path) -> None:
    name = xlsx(tmp_path, "inputs-nocol.xlsx", [("name", "owner"), ("orders", "a")])
    with pytest.raises(InputError) as caught:
        read_inputs([name])
    assert name in str(caught.value)
    assert "no URN column" in str(caught.value)


def test_xlsx_is_sniffed_from_stdin(tmp_path: Path) -> None:
    data = Path(xlsx(tmp_path, "inputs-stdin.xlsx", [("urn",), (ORDERS,)])).read_bytes()
    assert sniff_format(data) == "xlsx"
    inputs = stdin(data)
    assert urns(inputs) == [ORDERS]
    assert inputs.inputs[0].format == "xlsx"


def test_damaged_xlsx_is_an_input_error(tmp_path: Path) -> None:
    name = write(tmp_path, "inputs-damaged.xlsx", f"urn\n{ORDERS}\n")
    with pytest.raises(InputError, match=r"not a readable \.xlsx workbook") as caught:
        read_inputs([name])
    assert name in str(caught.value)


# --- JSON -------------------------------------------------------------------------------------


def test_json_list_of_strings(tmp_path: Path) -> None:
    name = write(tmp_path, "inputs-list.json", json.dumps([ORDERS, " ", f" {PAYMENTS} "]))
    inputs = read_inputs([name])
    assert urns(inputs) == [ORDERS, PAYMENTS]
    assert by_urn(inputs)[PAYMENTS].source == f"{name}:item 3"


def test_json_list_of_objects(tmp_path: Path) -> None:
    items = [{"func_urn": ORDERS, "x": 1}, {"urn": PAYMENTS}, {"function_urn": CART}]
    inputs = read_inputs([write(tmp_path, "inputs-objects.json", json.dumps(items))])
    assert urns(inputs) == [ORDERS, PAYMENTS, CART]
    assert all(t.parsed is not None for t in inputs.targets)


def test_json_list_functions_response() -> None:
    name = str(DATA / "inputs-list-functions.json")
    inputs = read_inputs([name])
    assert urns(inputs) == [ORDERS, PAYMENTS]
    assert by_urn(inputs)[ORDERS].source == f"{name}:item 1"
    assert inputs.inputs[0].format == "json"


def test_json_items_of_wrong_type_become_invalid_targets(tmp_path: Path) -> None:
    items = [ORDERS, 42, {"name": "orders"}, ["x"], {"func_urn": 7}, True]
    inputs = read_inputs([write(tmp_path, "inputs-wrong.json", json.dumps(items))])
    targets = by_urn(inputs)
    assert len(targets) == 6
    assert targets[ORDERS].parsed is not None
    invalid = [t for t in inputs.targets if t.parsed is None]
    assert len(invalid) == 5
    assert all(t.invalid_reason for t in invalid)
    assert "not a URN" in targets["42"].invalid_reason
    assert "no func_urn/urn field" in targets['{"name": "orders"}'].invalid_reason
    assert "no func_urn/urn field" in targets['{"func_urn": 7}'].invalid_reason
    assert targets['["x"]'].source.endswith(":item 4")


def test_json_wrong_type_reason_uses_json_type_names(tmp_path: Path) -> None:
    inputs = read_inputs([write(tmp_path, "inputs-null.json", "[null]")])
    reason = inputs.targets[0].invalid_reason
    assert "null" in reason
    assert "NoneType" not in reason


def test_long_invalid_json_item_is_shortened(tmp_path: Path) -> None:
    inputs = read_inputs([write(tmp_path, "inputs-long.json", json.dumps([{"x": "y" * 500}]))])
    assert len(inputs.targets[0].urn) == 200
    assert inputs.targets[0].urn.endswith("…")


@pytest.mark.parametrize(
    "text", ['{"functions": [', "[1, 2,]", '{"urns": []}', '"just a string"', "7"]
)
def test_invalid_or_unusable_json_is_an_input_error(tmp_path: Path, text: str) -> None:
    name = write(tmp_path, "inputs-bad.json", text)
    with pytest.raises(InputError) as caught:
        read_inputs([name])
    assert name in str(caught.value)
    assert "\n" not in str(caught.value)


# --- stdin and sniffing -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"PK\x03\x04rest", "xlsx"),
        (b"[]", "json"),
        (b'\xef\xbb\xbf \r\n {"functions": []}', "json"),
        (b"urn,owner\nx,y\n", "csv"),
        (b'"URN"\r\nx\r\n', "csv"),
        (b"func_urn\nx\n", "csv"),
        (b"\xef\xbb\xbffunction_urn\n", "csv"),
        (ORDERS.encode() + b"\n", "txt"),
        (b"# comment\n" + ORDERS.encode(), "txt"),
        (b"", "txt"),
    ],
)
def test_sniff_format(data: bytes, fmt: str) -> None:
    assert sniff_format(data) == fmt


def test_stdin_json() -> None:
    inputs = stdin(json.dumps({"functions": [{"func_urn": ORDERS}]}).encode())
    assert urns(inputs) == [ORDERS]
    assert inputs.targets[0].source == "stdin:item 1"
    assert [(s.name, s.format) for s in inputs.inputs] == [("-", "json")]


def test_stdin_csv() -> None:
    inputs = stdin(f"name,urn\norders,{ORDERS}\n".encode())
    assert urns(inputs) == [ORDERS]
    assert inputs.targets[0].source == "stdin:2"
    assert inputs.inputs[0].format == "csv"


def test_stdin_text() -> None:
    inputs = stdin(f"# fleet\n\n{ORDERS}\n{PAYMENTS}  # note\n".encode())
    assert urns(inputs) == [ORDERS, PAYMENTS]
    assert inputs.targets[1].source == "stdin:4"
    assert inputs.inputs[0].format == "txt"


def test_stdin_text_whose_first_comment_has_a_comma() -> None:
    inputs = stdin(f"# prod fleet, eu regions\n{ORDERS}\n".encode())
    assert urns(inputs) == [ORDERS]


def test_stdin_csv_with_leading_blank_line() -> None:
    inputs = stdin(f"\nurn,owner\n{ORDERS},team-a\n".encode())
    assert urns(inputs) == [ORDERS]


def test_unknown_suffix_is_sniffed(tmp_path: Path) -> None:
    name = write(tmp_path, "inputs-noext", json.dumps([ORDERS]))
    inputs = read_inputs([name])
    assert urns(inputs) == [ORDERS]
    assert inputs.inputs[0].format == "json"


def test_dash_without_stdin_is_an_input_error() -> None:
    with pytest.raises(InputError, match="standard input"):
        read_inputs(["-"])


def test_parse_stream_with_explicit_format_does_not_sniff() -> None:
    fmt, entries = parse_stream(io.BytesIO(b"a,b\n"), "label", "txt")
    assert fmt == "txt"
    assert [(e.text, e.where) for e in entries] == [("a,b", "label:1")]


# --- several inputs ---------------------------------------------------------------------------


def test_several_inputs_merge_duplicates_keeping_the_first_source(tmp_path: Path) -> None:
    first = write(tmp_path, "inputs-a.txt", f"{ORDERS}\n{PAYMENTS}\n{ORDERS}\n")
    second = write(tmp_path, "inputs-b.csv", f"urn\n{PAYMENTS}\n{CART}\n")
    third = write(tmp_path, "inputs-c.json", json.dumps([ORDERS, "bad", "bad"]))
    inputs = read_inputs([first, second, third], stdin=io.BytesIO(ORDERS.encode()))
    assert urns(inputs) == [ORDERS, PAYMENTS, CART, "bad"]
    targets = by_urn(inputs)
    assert (targets[ORDERS].source, targets[ORDERS].occurrences) == (f"{first}:1", 3)
    assert (targets[PAYMENTS].source, targets[PAYMENTS].occurrences) == (f"{first}:2", 2)
    assert (targets[CART].source, targets[CART].occurrences) == (f"{second}:3", 1)
    assert targets["bad"].occurrences == 2
    assert targets["bad"].parsed is None
    assert targets["bad"].source == f"{third}:item 2"
    assert inputs.duplicates == 2 + 1 + 1
    assert [(s.format, s.entries) for s in inputs.inputs] == [("txt", 3), ("csv", 2), ("json", 3)]


def test_versioned_and_unversioned_urns_are_distinct_targets() -> None:
    inputs = from_lines([ORDERS, f"{ORDERS}:latest"], "gen")
    assert urns(inputs) == [ORDERS, f"{ORDERS}:latest"]
    assert inputs.duplicates == 0


def test_invalid_entries_become_targets_with_a_reason() -> None:
    inputs = from_lines(["nope", f"urn:fss:cn-north-4:{P}:function:default:bad name"], "gen")
    assert [t.parsed for t in inputs.targets] == [None, None]
    assert "not a function URN" in inputs.targets[0].invalid_reason
    assert "function name 'bad name'" in inputs.targets[1].invalid_reason


def test_from_lines_strips_and_skips_blanks_counting_every_line() -> None:
    inputs = from_lines(["", f"  {ORDERS}  ", PAYMENTS, ORDERS], "fleet")
    assert urns(inputs) == [ORDERS, PAYMENTS]
    assert by_urn(inputs)[ORDERS].source == "fleet:2"
    assert by_urn(inputs)[ORDERS].occurrences == 2
    assert inputs.duplicates == 1
    assert [(s.name, s.format, s.entries) for s in inputs.inputs] == [("fleet", "list", 3)]


def test_valid_targets_carry_the_parsed_urn() -> None:
    inputs = from_lines([f"{CART}:!prod"], "gen")
    target = inputs.targets[0]
    assert target.parsed == parse_urn(f"{CART}:!prod")
    assert target.invalid_reason == ""


# --- unreadable inputs ------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    name = str(tmp_path / "inputs-missing.txt")
    with pytest.raises(InputError, match="no such file") as caught:
        read_inputs([name])
    assert name in str(caught.value)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory") as caught:
        read_inputs([str(tmp_path)])
    assert str(tmp_path) in str(caught.value)


@pytest.mark.parametrize("name", ["inputs-empty.txt", "inputs-empty.csv", "inputs-empty.json"])
def test_empty_file_gives_no_targets(tmp_path: Path, name: str) -> None:
    inputs = read_inputs([write(tmp_path, name, b"")])
    assert list(inputs.targets) == []
    assert inputs.inputs[0].entries == 0


def test_empty_stdin_and_empty_workbook_give_no_targets(tmp_path: Path) -> None:
    assert list(stdin(b"").targets) == []
    assert list(read_inputs([xlsx(tmp_path, "inputs-empty.xlsx", [])]).targets) == []


@pytest.mark.parametrize(
    ("name", "data", "why"),
    [
        ("inputs-binary.txt", b"urn\x00\x01\x02", "binary file"),
        ("inputs-binary.csv", b"\x00\x00\x00", "binary file"),
        ("inputs-latin1.txt", f"{ORDERS}\n# caf\xe9\n".encode("latin-1"), "not UTF-8"),
        ("inputs-latin1.json", b'["\xff"]', "not UTF-8"),
        ("inputs-binary", b"\x7fELF\x00\x00", "binary file"),
    ],
)
def test_unreadable_content_is_a_one_line_input_error(
    tmp_path: Path, name: str, data: bytes, why: str
) -> None:
    path = write(tmp_path, name, data)
    with pytest.raises(InputError) as caught:
        read_inputs([path])
    message = str(caught.value)
    assert path in message
    assert why in message
    assert "\n" not in message


def test_unreadable_input_stops_before_later_inputs(tmp_path: Path) -> None:
    good = write(tmp_path, "inputs-good.txt", ORDERS)
    with pytest.raises(InputError, match=r"inputs-absent\.txt"):
        read_inputs([good, str(tmp_path / "inputs-absent.txt")])


# --- streaming: big inputs are read a chunk at a time ------------------------------------------


class Trickle(io.BytesIO):
    """A pipe that hands out at most `step` bytes per read, so chunks end anywhere: inside a
    UTF-8 character, between CR and LF, in the middle of a line or of a quoted CSV cell."""

    def __init__(self, data: bytes, step: int) -> None:
        super().__init__(data)
        self.step = step

    def read(self, size: int | None = -1) -> bytes:
        wanted = self.step if size is None or size < 0 else min(size, self.step)
        return super().read(wanted)


def fleet(count: int, start: int = 0) -> list[str]:
    return [f"urn:fss:cn-north-4:{P}:function:default:fn-{n:07d}" for n in range(start, count)]


def big_text(newline: str) -> str:
    """~100 KB of text (more than is read before the format is decided) with every kind of
    line: blank, comment, trailing comment, non-ASCII characters of 2 and 4 bytes."""
    lines = []
    for n, urn in enumerate(fleet(1200)):
        lines.append(urn if n % 7 else f"{urn}  # café 𝄞 {n}")
        if n % 11 == 0:
            lines.extend(["", "# é" * (n % 5)])
    return newline.join(lines)  # no final newline


def expected_text_entries(text: str, label: str) -> list[tuple[str, str]]:
    """What reading the whole text at once gave: `splitlines` numbering."""
    pairs = []
    for number, line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()
        if entry:
            pairs.append((entry, f"{label}:{number}"))
    return pairs


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r", "\u2028"])
@pytest.mark.parametrize("step", [1, 3, 4096])
def test_text_read_in_small_pieces_numbers_lines_as_the_whole_text(newline: str, step: int) -> None:
    text = "\ufeff" + big_text(newline)
    fmt, entries = parse_stream(Trickle(text.encode(), step), "pipe")
    assert fmt == "txt"
    assert [(e.text, e.where) for e in entries] == expected_text_entries(text, "pipe")


def test_big_text_file_with_crlf_split_between_chunks(tmp_path: Path) -> None:
    # A CR LF pair cut in two by the end of the first chunk read (the 64 KiB head), lines cut
    # by the ends of later 1 MiB chunks, and a last line with no newline.
    urns_ = fleet(15000)
    line = len(urns_[0]) + 2
    first = "#" * (65536 - 700 * line - 1)  # the CR of line 701 is the head's last byte
    data = "\r\n".join([first, *urns_]).encode()
    assert data[65535:65537] == b"\r\n"
    assert len(data) > (1 << 20) + 65536
    name = write(tmp_path, "inputs-big.txt", data)
    inputs = read_inputs([name])
    assert urns(inputs) == urns_
    assert [inputs.targets.source(i) for i in range(len(urns_))] == [
        f"{name}:{n}" for n in range(2, len(urns_) + 2)
    ]
    assert inputs.targets[-1].source == f"{name}:{len(urns_) + 1}"


def test_file_without_final_newline(tmp_path: Path) -> None:
    name = write(tmp_path, "inputs-nofinal.txt", f"{ORDERS}\n{PAYMENTS}")
    inputs = read_inputs([name])
    assert urns(inputs) == [ORDERS, PAYMENTS]
    assert inputs.targets[1].source == f"{name}:2"


def test_bad_byte_deep_in_a_big_file_names_its_offset(tmp_path: Path) -> None:
    good = "\n".join(fleet(20000)).encode()
    offset = (1 << 20) + 70000 + 3  # past the head and the first chunk
    data = good[:offset] + b"\xff" + good[offset:]
    name = write(tmp_path, "inputs-deep.txt", data)
    with pytest.raises(InputError) as caught:
        read_inputs([name])
    assert str(caught.value) == (
        f"{name}: is not UTF-8 text (bad byte at offset {offset}); save it as UTF-8"
    )


@pytest.mark.parametrize("step", [1, 2, 5, 1 << 16])
def test_bad_byte_offset_is_the_same_however_the_input_is_read(step: int) -> None:
    # A character cut at the end of the input, and one whose second byte is bad.
    for data in [b"a\n" * 40000 + "é".encode()[:1], b"a\n" * 40000 + b"\xc3(\n"]:
        with pytest.raises(InputError, match=r"bad byte at offset 80000\)"):
            parse_stream(Trickle(data, step), "pipe", "txt")


def test_bad_byte_offset_counts_the_bom(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + ORDERS.encode() + b"\n\xff\n"
    name = write(tmp_path, "inputs-bom-bad.txt", data)
    with pytest.raises(InputError, match=rf"bad byte at offset {len(data) - 2}\)"):
        read_inputs([name])


def test_bom_is_dropped_once(tmp_path: Path) -> None:
    name = write(tmp_path, "inputs-bom.txt", f"\ufeff{ORDERS}\n\ufeff{PAYMENTS}\n")
    assert urns(read_inputs([name])) == [ORDERS, f"\ufeff{PAYMENTS}"]


def test_nul_after_the_first_8_kib_is_an_invalid_entry_not_a_binary_file(tmp_path: Path) -> None:
    name = write(tmp_path, "inputs-late-nul.txt", "#" * 9000 + f"\n{ORDERS}\nab\x00c\n")
    inputs = read_inputs([name])
    assert urns(inputs) == [ORDERS, "ab\x00c"]
    assert inputs.targets.invalid_indices() == [1]


@pytest.mark.parametrize("step", [1, 7, 1 << 16])
def test_csv_read_in_small_pieces_reads_rows_as_the_whole_text(step: int) -> None:
    rows = [f'"{urn}","a\r\nmulti-line\rnote",{n}' for n, urn in enumerate(fleet(1500))]
    text = "\ufeffurn,note,n\r\n" + "\r\n".join(rows) + "\n" + ORDERS
    fmt, entries = parse_stream(Trickle(text.encode(), step), "pipe")
    assert fmt == "csv"
    # A row is numbered by its last line, as csv.reader.line_num gives it.
    expected = [(urn, f"pipe:{4 + 3 * n}") for n, urn in enumerate(fleet(1500))]
    assert [(e.text, e.where) for e in entries] == [*expected, (ORDERS, "pipe:4502")]


@pytest.mark.parametrize(
    ("preamble", "body", "fmt", "line"),
    [
        ("\n" * 100000, f"name,urn\norders,{ORDERS}\n", "csv", 100002),
        ("# a long preamble, with commas\n" * 3000, f"{ORDERS}\n", "txt", 3001),
    ],
)
def test_format_decided_by_a_first_entry_far_down_the_input(
    preamble: str, body: str, fmt: str, line: int
) -> None:
    # The preamble is longer than what is read before the format is decided.
    inputs = stdin(f"{preamble}{body}".encode())
    assert inputs.inputs[0].format == fmt
    assert urns(inputs) == [ORDERS]
    assert inputs.targets[0].source == f"stdin:{line}"


def test_csv_without_urn_column_still_reports_a_later_bad_byte_first(tmp_path: Path) -> None:
    # The whole file used to be decoded before its first row was read.
    data = b"name,arn\n" + b"a,b\n" * 100000 + b"\xff\n"
    name = write(tmp_path, "inputs-nocol-bad.csv", data)
    with pytest.raises(InputError, match=rf"bad byte at offset {len(data) - 2}\)"):
        read_inputs([name])


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_input_files_are_closed_after_reading_and_after_an_error(tmp_path: Path) -> None:
    good = write(tmp_path, "inputs-closed.txt", "\n".join(fleet(30000)))
    bad = write(tmp_path, "inputs-closed-bad.txt", "\n".join(fleet(30000)).encode() + b"\n\xff")
    before = open_files()
    read_inputs([good])
    with pytest.raises(InputError):
        read_inputs([good, bad])
    assert open_files() == before


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_permission_denied(tmp_path: Path) -> None:
    name = write(tmp_path, "inputs-secret.txt", ORDERS)
    Path(name).chmod(0)
    with pytest.raises(InputError, match="permission denied") as caught:
        read_inputs([name])
    assert str(caught.value) == f"{name}: permission denied"


def test_inputs_are_read_into_compact_targets() -> None:
    inputs = read_inputs([str(DATA / "inputs-mixed.txt")])
    assert isinstance(inputs.targets, Targets)
    assert inputs.targets.regions() == {P: "cn-north-4", Q: "ap-southeast-1"}
    assert inputs.targets.region_names() == {"cn-north-4", "ap-southeast-1"}
    assert inputs.targets.invalid_indices() == [3]
    assert inputs.targets.urns[0] == ORDERS


def test_input_set_built_by_hand_from_a_list_of_targets() -> None:
    targets = [
        Target(ORDERS, parse_urn(ORDERS), "in.txt:1", 3),
        Target("bad", None, "in.txt:2", 1, "not a URN"),
    ]
    inputs = InputSet(targets, [])
    assert isinstance(inputs.targets, Targets)
    assert list(inputs.targets) == targets
    assert inputs.duplicates == 2
    assert InputSet(inputs.targets, []).targets is inputs.targets
