"""Stage 5, what outlives the run: the journal every row is appended to as it comes.

journal.py  the append-only JSONL journal; read back for `--resume` and, row by row in
            input order, for the reports
"""

from auditor.store.journal import Journal, JournalReader, JournalRows

__all__ = ["Journal", "JournalReader", "JournalRows"]
