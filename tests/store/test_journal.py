"""The journal: a header line, one JSON line per finished target, batched fsync, read back."""

from __future__ import annotations

import hashlib
import json
import os
from array import array
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from auditor.errors import InputError
from auditor.model import COLUMNS, Row, Status, Target
from auditor.source.targets import fingerprint
from auditor.store.journal import (
    JOURNAL_VERSION,
    Journal,
    JournalReader,
    JournalRows,
)
from auditor.verdict.rows import from_record, invalid_row, row_json
from tests.factories import make_row, read_journal


def lines(path: Path) -> list[dict[str, Any]]:
    """The journal as another process sees it: a separate open() of the file on disk."""
    with open(path, encoding="utf-8") as stream:
        return [json.loads(line) for line in stream]


HEADER = {"name": "audit-1", "started_at": "2024-05-06T07:08:00Z", "targets": 3}


# --- writing -------------------------------------------------------------------------------


def test_header_line_comes_first_with_the_fingerprint(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    fp = fingerprint(["a", "b"])
    with Journal(path, {**HEADER, "fingerprint": fp}):
        pass
    (header,) = lines(path)
    assert header == {"journal": JOURNAL_VERSION, **HEADER, "fingerprint": fp}
    assert next(iter(header)) == "journal"


def test_one_line_per_record_with_index_and_every_column(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    rows = [
        make_row(0),
        make_row(1, status=Status.ERROR, http_status=None, error_msg="connection failed"),
        invalid_row(Target('garbage, "quoted"\nline', None, "in.txt:3", 2, "not a URN")),
    ]
    with Journal(path, HEADER) as journal:
        for index, row in zip((2, 0, 1), rows, strict=True):
            journal.record(index, row)
    header, *records = lines(path)
    assert "journal" in header
    assert [record["i"] for record in records] == [2, 0, 1]
    for record in records:
        assert list(record) == ["i", *COLUMNS]
    assert records[1]["http_status"] is None
    assert records[1]["status"] == "error"
    assert [from_record(record) for record in records] == rows


def test_every_line_is_one_line_of_json(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    with Journal(path, HEADER) as journal:
        journal.record(0, make_row(0, error_msg="multi\nline\r\nmessage \u2028 ünïcode"))
    raw = path.read_bytes()
    assert raw.count(b"\n") == 2
    assert raw.endswith(b"\n")
    assert lines(path)[1]["error_msg"] == "multi\nline\r\nmessage \u2028 ünïcode"


def test_rows_reach_the_file_before_the_journal_closes(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    journal = Journal(path, HEADER, batch_rows=2, batch_seconds=3600)
    try:
        assert len(lines(path)) == 1  # the header is there at once
        journal.record(0, make_row(0))
        journal.record(1, make_row(1))
        on_disk = lines(path)
        assert [line.get("i") for line in on_disk] == [None, 0, 1]
        journal.record(2, make_row(2))
        assert [line.get("i") for line in lines(path)][-1] == 2
    finally:
        journal.close()


def test_fsync_runs_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    path = tmp_path / "a.journal.jsonl"
    journal = Journal(path, HEADER, batch_rows=2, batch_seconds=3600)
    assert len(synced) == 1  # the header
    journal.record(0, make_row(0))
    assert len(synced) == 1
    journal.record(1, make_row(1))
    assert len(synced) == 2  # a batch of two
    journal.record(2, make_row(2))
    assert len(synced) == 2
    journal.close()
    assert len(synced) == 3  # close syncs the rest
    journal.close()  # idempotent
    assert len(synced) == 3


def test_fsync_also_runs_after_batch_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", synced.append)
    with Journal(tmp_path / "a.jsonl", HEADER, batch_rows=1000, batch_seconds=0.0) as journal:
        journal.record(0, make_row(0))
        journal.record(1, make_row(1))
        assert len(synced) == 3


def test_a_new_journal_replaces_an_old_file(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    path.write_text('{"stale": true}\n', encoding="utf-8")
    with Journal(path, HEADER):
        pass
    assert lines(path) == [{"journal": JOURNAL_VERSION, **HEADER}]


# --- fingerprint ---------------------------------------------------------------------------


def test_fingerprint_is_stable() -> None:
    expected = hashlib.sha256(b"urn:a\nurn:b\n").hexdigest()
    assert fingerprint(["urn:a", "urn:b"]) == expected
    assert fingerprint(("urn:a", "urn:b")) == expected  # any iterable of URN strings
    assert fingerprint(iter(["urn:a", "urn:b"])) == expected
    assert fingerprint([]) == hashlib.sha256().hexdigest()


def test_fingerprint_is_order_sensitive() -> None:
    assert fingerprint(["urn:a", "urn:b"]) != fingerprint(["urn:b", "urn:a"])
    assert fingerprint(["urn:a"]) != fingerprint(["urn:a", "urn:a"])


def test_fingerprint_takes_any_text() -> None:
    assert len(fingerprint(["ünïcode", "bad \udcff byte"])) == 64
    assert fingerprint(["ünïcode"]) == hashlib.sha256("ünïcode\n".encode()).hexdigest()


# --- reading back and resuming -------------------------------------------------------------


def test_read_journal_gives_the_header_and_rows_by_index(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    rows = {5: make_row(5), 1: make_row(1, status=Status.MISSING_KEYS, http_status=404)}
    with Journal(path, HEADER) as journal:
        for index, row in rows.items():
            journal.record(index, row)
    contents = read_journal(path)
    assert contents.header == {"journal": JOURNAL_VERSION, **HEADER}
    assert contents.rows == rows
    assert contents.skipped_lines == 0


def test_read_journal_skips_torn_and_foreign_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    with Journal(path, HEADER) as journal:
        journal.record(0, make_row(0))
    with path.open("a", encoding="utf-8") as stream:
        stream.write('{"i": 1, "status": "no-such-status"}\n')
        stream.write("[1, 2]\n")
        stream.write('{"i": 2, "urn": "urn:fss:tor')  # a crash mid-line
    contents = read_journal(path)
    assert list(contents.rows) == [0]
    assert contents.skipped_lines == 3


@pytest.mark.parametrize("text", ["", "not json\n", '{"i": 0}\n'])
def test_read_journal_needs_a_header(tmp_path: Path, text: str) -> None:
    path = tmp_path / "a.journal.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match="not an auditor journal"):
        read_journal(path)


def test_read_journal_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_journal(tmp_path / "absent.jsonl")


def test_resume_cuts_a_torn_line_and_appends_after_a_marker(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    with Journal(path, HEADER) as journal:
        journal.record(0, make_row(0))
    with path.open("a", encoding="utf-8") as stream:
        stream.write('{"i": 1, "urn": "urn:fss:torn')
    with Journal(path, {**HEADER, "started_at": "2024-05-07T00:00:00Z"}, resume=True) as journal:
        journal.record(1, make_row(1))
    header, first, marker, second = lines(path)
    assert header["journal"] == JOURNAL_VERSION
    assert (first["i"], second["i"]) == (0, 1)
    assert marker == {"resumed_at": "2024-05-07T00:00:00Z"}
    contents = read_journal(path)
    assert contents.rows == {0: make_row(0), 1: make_row(1)}
    assert contents.skipped_lines == 0


# --- offsets ---------------------------------------------------------------------------------


def line_at(path: Path, offset: int) -> dict[str, Any]:
    """The JSON line that starts at `offset` (checked to really start a line)."""
    data = path.read_bytes()
    assert offset == 0 or data[offset - 1 : offset] == b"\n"
    end = data.index(b"\n", offset)
    record: dict[str, Any] = json.loads(data[offset:end])
    return record


def test_record_returns_where_its_line_starts(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    rows = {3: make_row(3), 0: make_row(0, Status.ERROR, error_msg="función 函数"), 7: make_row(7)}
    with Journal(path, HEADER) as journal:
        offsets = {index: journal.record(index, row) for index, row in rows.items()}
    header_length = len(path.read_bytes().split(b"\n")[0]) + 1
    assert offsets[3] == header_length  # the first row follows the header
    assert sorted(offsets.values()) == list(offsets.values())  # appended, so increasing
    for index, offset in offsets.items():
        record = line_at(path, offset)
        assert record["i"] == index
        assert from_record(record) == rows[index]


def test_a_new_journal_is_opened_at_zero(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    path.write_text("an old file that a new journal replaces\n", encoding="utf-8")
    with Journal(path, HEADER) as journal:
        assert journal.opened_at == 0
        journal.record(0, make_row(0))
        assert journal.opened_at == 0


def test_a_resumed_journal_is_opened_at_the_end_of_its_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    with Journal(path, HEADER) as journal:
        journal.record(0, make_row(0))
    size = path.stat().st_size
    with path.open("a", encoding="utf-8") as stream:
        stream.write('{"i": 1, "urn": "urn:fss:torn')  # cut off when resumed
    with Journal(path, HEADER, resume=True) as journal:
        assert journal.opened_at == size
        offset = journal.record(1, make_row(1))
    # This run's lines start at opened_at: its resume marker, then its rows.
    assert "resumed_at" in line_at(path, size)
    assert offset > size
    assert line_at(path, offset)["i"] == 1


# --- JournalReader ---------------------------------------------------------------------------


def test_journal_reader_gives_the_header_and_each_row_with_its_offset(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    rows = [(4, make_row(4)), (1, make_row(1, Status.MISSING_KEYS)), (4, make_row(4, Status.ERROR))]
    with Journal(path, HEADER) as journal:
        offsets = [journal.record(index, row) for index, row in rows]
    reader = JournalReader(path)
    assert reader.header == {"journal": JOURNAL_VERSION, **HEADER}
    assert reader.path == path
    records = list(reader.records())
    # In file order, a target journaled twice listed twice.
    assert records == [
        (index, offset, row) for (index, row), offset in zip(rows, offsets, strict=True)
    ]
    assert reader.skipped_lines == 0
    assert list(reader.records()) == records  # read again, the same


def test_journal_reader_offsets_after_a_resume_marker(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    with Journal(path, HEADER) as journal:
        first = journal.record(0, make_row(0))
    with Journal(path, {**HEADER, "started_at": "2024-05-07T00:00:00Z"}, resume=True) as journal:
        opened_at = journal.opened_at
        second = journal.record(1, make_row(1))
        third = journal.record(2, make_row(2))
    records = list(JournalReader(path).records())
    assert [(index, offset) for index, offset, _ in records] == [
        (0, first),
        (1, second),
        (2, third),
    ]
    marker = line_at(path, opened_at)
    assert marker == {"resumed_at": "2024-05-07T00:00:00Z"}
    assert second == opened_at + len(json.dumps(marker, separators=(",", ":"))) + 1
    for index, offset, row in records:
        assert line_at(path, offset)["i"] == index
        assert row == make_row(index)


def test_journal_reader_skips_and_counts_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    with Journal(path, HEADER) as journal:
        journal.record(0, make_row(0))
        journal.record(1, make_row(1))
    data = path.read_bytes()
    last = data.rstrip(b"\n").rsplit(b"\n", 1)[1]
    path.write_bytes(data[: len(data) - len(last) // 2])  # row 1 torn half-way, no newline
    assert not path.read_bytes().endswith(b"\n")
    reader = JournalReader(path)
    assert [index for index, _, _ in reader.records()] == [0]
    assert reader.skipped_lines == 1


def test_journal_reader_counts_unreadable_lines_and_keeps_the_offsets_right(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.journal.jsonl"
    with Journal(path, HEADER) as journal:
        journal.record(0, make_row(0))
    with path.open("ab") as stream:
        stream.write(b"not json at all \xff\xfe\n")
        stream.write(b'{"i": 1, "status": "no-such-status"}\n')
        stream.write(b'"a string"\n')
        stream.write(b'{"neither": "a row nor a marker"}\n')
    with Journal(path, HEADER, resume=True) as journal:
        offset = journal.record(2, make_row(2, error_msg="función 函数"))
    reader = JournalReader(path)
    records = list(reader.records())
    assert [index for index, _, _ in records] == [0, 2]
    assert records[1][1] == offset  # lines skipped before it do not shift its offset
    assert records[1][2].error_msg == "función 函数"
    assert reader.skipped_lines == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not an auditor journal"),
        ("not json\n", "not an auditor journal"),
        ("[1, 2]\n", "not an auditor journal"),
        ('{"i": 0}\n{"journal": 1}\n', "not an auditor journal"),
    ],
)
def test_journal_reader_checks_the_header_when_opened(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "a.journal.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as raised:
        JournalReader(path)
    assert str(raised.value) == f"{path}: {message} (no header line)"


def test_journal_reader_of_a_missing_file_or_a_directory(tmp_path: Path) -> None:
    for path, message in [
        (tmp_path / "absent.jsonl", "no such file"),
        (tmp_path, "is a directory"),
    ]:
        with pytest.raises(InputError) as raised:
            JournalReader(path)
        text = str(raised.value)
        assert text.startswith(f"{path}: {message}")
        assert "\n" not in text


# --- JournalRows -----------------------------------------------------------------------------

AWKWARD = [
    make_row(0),
    make_row(1, Status.ERROR, http_status=None, error_msg='función 函数 \u2028 "quoted"\n'),
    invalid_row(Target("not a urn ✓", None, "in.txt:3", 2, "not a URN")),
    make_row(3, Status.MISSING_KEYS, runtime="Python3.9", memory_size=256),
    make_row(4, Status.CONFIGURED, tracing_supported=True),
]


def journaled(
    path: Path, rows: list[Row], order: list[int], *, resume: bool = False
) -> tuple[array[int], int]:
    """Journal `rows` (target i is rows[i]) in `order`; return the offsets by target index,
    -1 for a target not in `order`, and where this run's lines start."""
    offsets = array("q", [-1]) * len(rows)
    with Journal(path, HEADER, resume=resume) as journal:
        for index in order:
            offsets[index] = journal.record(index, rows[index])
        return offsets, journal.opened_at


def test_journal_rows_come_in_target_order_not_file_order(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    offsets, opened_at = journaled(path, AWKWARD, [3, 1, 4, 0, 2])
    rows = JournalRows(path, offsets, raw_from=opened_at)
    assert len(rows) == len(AWKWARD)
    assert list(rows) == AWKWARD
    assert list(rows) == AWKWARD  # every iteration reads the file afresh


def test_journal_rows_skip_targets_without_a_line(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    offsets, _ = journaled(path, AWKWARD, [4, 0, 3])
    rows = JournalRows(path, offsets)
    assert list(offsets).count(-1) == 2
    assert len(rows) == 3
    assert list(rows) == [AWKWARD[0], AWKWARD[3], AWKWARD[4]]
    assert len(list(rows.json_lines())) == 3


def test_journal_rows_of_nothing(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    offsets, _ = journaled(path, [], [])
    rows = JournalRows(path, offsets)
    assert (len(rows), list(rows), list(rows.json_lines())) == (0, [], [])


def test_a_later_line_for_a_target_is_read_at_its_offset(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    offsets = array("q", [-1, -1])
    with Journal(path, HEADER) as journal:
        offsets[0] = journal.record(0, make_row(0, Status.ERROR))
        offsets[1] = journal.record(1, make_row(1))
        offsets[0] = journal.record(0, make_row(0))  # asked again: the later line wins
    assert list(JournalRows(path, offsets)) == [make_row(0), make_row(1)]


@pytest.mark.parametrize("raw", [True, False], ids=["copied", "re-encoded"])
def test_json_lines_are_the_rows_as_the_report_writes_them(tmp_path: Path, raw: bool) -> None:
    path = tmp_path / "a.journal.jsonl"
    offsets, opened_at = journaled(path, AWKWARD, [2, 4, 0, 1, 3])
    rows = JournalRows(path, offsets, raw_from=opened_at if raw else None)
    lines = list(rows.json_lines())
    assert lines == [row_json(row).encode() for row in AWKWARD]
    assert list(rows.json_lines()) == lines  # again, the same
    for line, row in zip(lines, AWKWARD, strict=True):
        assert line.isascii()
        assert b"\n" not in line
        record = json.loads(line)
        assert "i" not in record
        assert list(record) == list(COLUMNS)
        assert from_record(record) == row
    assert json.loads(lines[1])["error_msg"] == 'función 函数 \u2028 "quoted"\n'


def test_json_lines_of_a_resumed_journal_before_and_after_raw_from(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    offsets, _ = journaled(path, AWKWARD, [3, 0])
    # A line an older auditor wrote, spaced out: it is re-encoded, not copied.
    with path.open("a", encoding="utf-8") as stream:
        offsets[1] = stream.tell()
        stream.write(json.dumps({"i": 1, **json.loads(row_json(AWKWARD[1]))}) + "\n")
    with Journal(path, HEADER, resume=True) as journal:
        raw_from = journal.opened_at
        offsets[4] = journal.record(4, AWKWARD[4])
        offsets[2] = journal.record(2, AWKWARD[2])
    assert all(offsets[i] < raw_from for i in (0, 1, 3))
    assert all(offsets[i] >= raw_from for i in (2, 4))
    rows = JournalRows(path, offsets, raw_from=raw_from)
    assert list(rows.json_lines()) == [row_json(row).encode() for row in AWKWARD]
    assert list(rows) == AWKWARD
    assert list(rows.indexed()) == list(enumerate(AWKWARD))


def exempt_all(row: Row) -> Row:
    return replace(row, change="regressed", exempt=True, exempt_reason="función accepted")


@pytest.mark.parametrize("raw_from", [None, 0])
def test_journaled_marks_reach_rows_and_json_lines(tmp_path: Path, raw_from: int | None) -> None:
    path = tmp_path / "a.journal.jsonl"
    expected = [exempt_all(row) for row in AWKWARD]
    offsets, _ = journaled(path, expected, [1, 0, 2, 4, 3])
    rows = JournalRows(path, offsets, raw_from=raw_from)
    assert list(rows) == expected
    lines = list(rows.json_lines())
    assert lines == [row_json(row).encode() for row in expected]
    for line in lines:
        record = json.loads(line)
        assert (record["change"], record["exempt"]) == ("regressed", True)
        assert record["exempt_reason"] == "función accepted"


def test_non_ascii_text_round_trips_through_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    row = make_row(0, Status.ERROR, error_msg="función 函数")
    offsets, opened_at = journaled(path, [row], [0])
    for raw_from in (opened_at, None):
        (line,) = JournalRows(path, offsets, raw_from=raw_from).json_lines()
        assert line.isascii()
        assert json.loads(line)["error_msg"] == "función 函数"
        assert from_record(json.loads(line)) == row


def test_offsets_read_before_a_resume_still_point_at_their_rows(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    with Journal(path, HEADER) as journal:
        journal.record(0, make_row(0))
        journal.record(1, make_row(1))
    path.write_bytes(path.read_bytes()[:-1])  # a crash lost only the last newline
    # What a resumed audit does: note the rows the journal has, then continue the journal.
    offsets = array("q", [-1, -1])
    for index, offset, _ in JournalReader(path).records():
        offsets[index] = offset
    with Journal(path, HEADER, resume=True) as journal:
        for index, offset in enumerate(offsets):
            if offset < 0:
                offsets[index] = journal.record(index, make_row(index))
    assert list(JournalRows(path, offsets)) == [make_row(0), make_row(1)]


# --- deferred writes (an audit's journal: one write(2) per event-loop turn) --------------------


class Deferred:
    """A stand-in for `loop.call_soon`: callbacks run when the test says so."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[], None]] = []

    def __call__(self, callback: Callable[[], None]) -> None:
        self.callbacks.append(callback)

    def run(self) -> None:
        callbacks, self.callbacks = self.callbacks, []
        for callback in callbacks:
            callback()


def test_deferred_lines_reach_the_file_together_when_the_turn_ends(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    turn = Deferred()
    with Journal(path, HEADER, defer=turn) as journal:
        offsets = [journal.record(i, make_row(i)) for i in range(3)]
        assert len(turn.callbacks) == 1  # one flush for the whole turn
        assert len(lines(path)) == 1  # only the header so far
        turn.run()
        assert [line["i"] for line in lines(path)[1:]] == [0, 1, 2]
        data = path.read_bytes()
        for index, offset in enumerate(offsets):  # the offsets given out were right
            assert json.loads(data[offset:].split(b"\n", 1)[0])["i"] == index
        journal.record(3, make_row(3))
        assert len(turn.callbacks) == 1  # the next turn gets its own flush
    assert [line["i"] for line in lines(path)[1:]] == [0, 1, 2, 3]  # close flushed the rest
    turn.run()  # a flush that comes after close does nothing
    assert len(lines(path)) == 5


def test_a_deferred_write_that_fails_is_raised_by_the_next_record_and_by_close(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.journal.jsonl"
    turn = Deferred()
    journal = Journal(path, HEADER, defer=turn)
    journal.record(0, make_row(0))

    def full(data: object) -> int:
        raise OSError(28, "No space left on device")

    journal._stream.write = full  # type: ignore[method-assign]
    turn.run()  # the failure is kept, not lost in a loop callback
    with pytest.raises(OSError, match="No space left"):
        journal.record(1, make_row(1))
    with pytest.raises(OSError, match="No space left"):
        journal.close()


# --- what a resume takes: each target's latest line, read from the end back ----------------


def urns_of(count: int) -> list[str]:
    return [make_row(n).urn for n in range(count)]


@pytest.mark.parametrize("block", [64, 1 << 20])
def test_latest_rows_take_each_targets_last_line_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    # A small block makes lines straddle blocks, and one line longer than a block.
    monkeypatch.setattr("auditor.store.journal._READ_BUFFER", block)
    path = tmp_path / "a.journal.jsonl"
    with Journal(path, HEADER) as journal:
        journal.record(1, make_row(1, error_msg="first"))
        journal.record(0, make_row(0))
        journal.record(2, make_row(2, error_msg="x" * 300))
    with Journal(path, HEADER, resume=True) as journal:
        journal.record(1, make_row(1, error_msg="later"))  # a target journaled again
        journal.record(3, make_row(0))  # another target's URN: not target 3's row
        journal.record(9, make_row(9))  # beyond the targets
    reader = JournalReader(path)
    taken = list(reader.latest_rows(urns_of(4), path.stat().st_size))
    assert sorted(taken) == sorted(
        [
            (1, make_row(1, error_msg="later")),
            (0, make_row(0)),
            (2, make_row(2, error_msg="x" * 300)),
        ]
    )
    assert reader.skipped_lines == 0


def test_latest_rows_stop_at_the_end_given(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    with Journal(path, HEADER) as journal:
        journal.record(0, make_row(0, error_msg="earlier"))
    with Journal(path, HEADER, resume=True) as journal:
        end = journal.opened_at
        journal.record(0, make_row(0, error_msg="this run's"))
    taken = list(JournalReader(path).latest_rows(urns_of(1), end))
    assert taken == [(0, make_row(0, error_msg="earlier"))]


def test_latest_rows_count_unreadable_lines_and_pass_them_over(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    with Journal(path, HEADER) as journal:
        journal.record(0, make_row(0))
    with path.open("ab") as stream:
        stream.write(b"not json at all \xff\xfe\n")
        stream.write(b'{"i": 0, "status": "no-such-status"}\n')  # target 0's last line: bad
        stream.write(b'"a string"\n')
        stream.write(b'{"neither": "a row nor a marker"}\n')
        stream.write(b"\n")
    reader = JournalReader(path)
    assert list(reader.latest_rows(urns_of(1), path.stat().st_size)) == [(0, make_row(0))]
    assert reader.skipped_lines == 5


def test_latest_rows_of_a_journal_with_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    with Journal(path, HEADER):
        pass
    reader = JournalReader(path)
    assert list(reader.latest_rows(urns_of(2), path.stat().st_size)) == []
    assert reader.skipped_lines == 0


def test_a_resumed_journal_says_whether_it_cut_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    with Journal(path, HEADER) as journal:
        journal.record(0, make_row(0))
    with Journal(path, HEADER, resume=True) as journal:
        assert journal.torn_lines == 0
    with path.open("a", encoding="utf-8") as stream:
        stream.write('{"i": 1, "urn": "urn:fss:torn')
    with Journal(path, HEADER, resume=True) as journal:
        assert journal.torn_lines == 1
