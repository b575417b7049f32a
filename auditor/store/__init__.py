"""Stage 5, what outlives the run: the journal every row is appended to as it comes, and the
history store every run is recorded in.

journal.py      the append-only JSONL journal; read back for `--resume` and, row by row in
                input order, for the reports
history.py      `History`, the history store's one face: standings and baselines before a run,
                recording after it, runs, timelines, pruning
runs.py         runs as the store knows them (pure values): `RunScope`, `run_key`, `RunFacts`,
                `RecordedRun`
recording.py    the SQL that writes a run, its rows, standings and timeline (and deletes one)
database.py     one connection: SQLite or PostgreSQL behind one small vocabulary
schema.py       the numbered migrations
report_file.py  the one reader of a JSON report: baselines, rebuilds, diffs, imports
"""

from auditor.store.journal import Journal, JournalReader, JournalRows

__all__ = ["Journal", "JournalReader", "JournalRows"]
