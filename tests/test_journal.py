"""The journal: a header line, one JSON line per finished target, batched fsync, read back."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from auditor.errors import InputError
from auditor.journal import JOURNAL_VERSION, Journal, fingerprint, read_journal
from auditor.model import COLUMNS, Status, Target
from auditor.rows import from_record, invalid_row
from tests.factories import make_row


def lines(path: Path) -> list[dict[str, Any]]:
    """The journal as another process sees it: a separate open() of the file on disk."""
    with open(path, encoding="utf-8") as stream:
        return [json.loads(line) for line in stream]


def targets(*urns: str) -> list[Target]:
    return [Target(urn, None, f"in.txt:{n}") for n, urn in enumerate(urns, start=1)]


HEADER = {"name": "audit-1", "started_at": "2024-05-06T07:08:00Z", "targets": 3}


# --- writing -------------------------------------------------------------------------------


def test_header_line_comes_first_with_the_fingerprint(tmp_path: Path) -> None:
    path = tmp_path / "a.journal.jsonl"
    fp = fingerprint(targets("a", "b"))
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
    items = targets("urn:a", "urn:b")
    expected = hashlib.sha256(b"urn:a\nurn:b\n").hexdigest()
    assert fingerprint(items) == expected
    assert fingerprint(targets("urn:a", "urn:b")) == expected  # sources do not matter
    assert fingerprint([]) == hashlib.sha256().hexdigest()


def test_fingerprint_is_order_sensitive() -> None:
    assert fingerprint(targets("urn:a", "urn:b")) != fingerprint(targets("urn:b", "urn:a"))
    assert fingerprint(targets("urn:a")) != fingerprint(targets("urn:a", "urn:a"))


def test_fingerprint_takes_any_text() -> None:
    assert len(fingerprint(targets("ünïcode", "bad \udcff byte"))) == 64


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
    with pytest.raises(InputError, match="no such journal"):
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
