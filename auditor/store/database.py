"""One connection to the history store: a SQLite file (the default) or a PostgreSQL database.

Both speak the same SQL (`?` placeholders here, turned into psycopg's `%s`); what differs is
how a connection is made, how a writing transaction starts, and how many rows go in at once:
SQLite takes `executemany` inside one transaction, PostgreSQL takes `COPY`.

SQLite runs in WAL mode with a busy timeout, and a writing transaction starts `IMMEDIATE`
(it takes the write lock at once rather than failing half way): two audits recording into one
file at the same moment both land, one after the other.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from auditor.config import without_password
from auditor.errors import HistoryError

DEFAULT_FILE = "history.sqlite"
BUSY_TIMEOUT_S = 60.0  # another audit recording a million rows holds the lock for seconds
CONNECT_TIMEOUT_S = 10
_COPY_CHUNK = 10_000
_EXECUTE_CHUNK = 10_000


def locate(url: str, out: Path) -> str:
    """The store a `--history` value names: empty is `<out>/history.sqlite`; a path or
    `sqlite:///path` is a SQLite file; `postgresql://…` (or `postgres://…`) a database."""
    if not url:
        return str(out / DEFAULT_FILE)
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///") - 1 :] if url.startswith("sqlite:////") else url[10:]
    return url


def is_postgres(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def shown(location: str) -> str:
    """The location for messages: a PostgreSQL URL without its password."""
    return without_password(location)


class Database:
    """A connection with the small vocabulary the history store needs."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.kind = "postgresql" if is_postgres(location) else "sqlite"
        self._connection: Any = (
            _connect_postgres(location) if self.kind == "postgresql" else _connect_sqlite(location)
        )

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._connection.close()

    def sql(self, text: str) -> str:
        """`text` in this database's placeholder style."""
        return text.replace("?", "%s") if self.kind == "postgresql" else text

    def execute(self, text: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; return its cursor."""
        with self._errors():
            return self._connection.execute(self.sql(text), params)

    def execute_many(self, text: str, values: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each of `values`."""
        with self._errors():
            if self.kind == "postgresql":
                with self._connection.cursor() as cursor:
                    cursor.executemany(self.sql(text), values)
            else:
                self._connection.executemany(text, values)

    def rows(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._errors():
            return list(self._connection.execute(self.sql(text), params).fetchall())

    def stream(self, text: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """The rows of a query one at a time (a server-side cursor on PostgreSQL): a million
        are never held at once."""
        with self._errors():
            if self.kind == "postgresql":
                # A server-side cursor lives in a transaction (a read-only one here).
                with (
                    self._connection.transaction(),
                    self._connection.cursor(name="auditor_stream") as cursor,
                ):
                    cursor.itersize = 10_000
                    cursor.execute(self.sql(text), params)
                    yield from cursor
            else:
                yield from self._connection.execute(text, params)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One writing transaction: all of it lands, or none of it."""
        with self._errors():
            if self.kind == "postgresql":
                with self._connection.transaction():
                    yield
                return
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def insert_many(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Insert `rows` (streamed) inside the current transaction; return how many."""
        count = 0
        with self._errors():
            if self.kind == "postgresql":
                copy = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
                with self._connection.cursor() as cursor, cursor.copy(copy) as writer:
                    for row in rows:
                        writer.write_row(row)
                        count += 1
                return count
            statement = (
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})"
            )
            batch: list[Sequence[Any]] = []
            for row in rows:
                batch.append(row)
                if len(batch) >= _EXECUTE_CHUNK:
                    self._connection.executemany(statement, batch)
                    count += len(batch)
                    batch.clear()
            if batch:
                self._connection.executemany(statement, batch)
                count += len(batch)
        return count

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """A database error as a `HistoryError` naming the store (never its password)."""
        try:
            yield
        except HistoryError:
            raise
        except Exception as exc:
            if not _is_database_error(exc):
                raise
            message = _first_line(exc, self.location)
            raise HistoryError(f"history store {shown(self.location)}: {message}") from None


def _connect_sqlite(location: str) -> sqlite3.Connection:
    path = Path(location)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: transactions are begun explicitly (IMMEDIATE), never implicitly.
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise HistoryError(f"history store {location}: cannot be opened ({exc})") from None
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            # Switching a new file to WAL takes a lock the busy timeout does not wait for:
            # another audit creating the same store at this moment makes it fail at once.
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at each checkpoint
            connection.execute("PRAGMA foreign_keys=ON")
            return connection
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                connection.close()
                raise HistoryError(f"history store {location}: {exc}") from None
            time.sleep(0.05)
        except sqlite3.DatabaseError as exc:
            connection.close()
            raise HistoryError(
                f"history store {location}: not an auditor history store ({exc}); "
                "give another --history"
            ) from None


def _connect_postgres(location: str) -> Any:
    try:
        import psycopg
    except ImportError:
        raise HistoryError(
            f"history store {shown(location)}: PostgreSQL needs psycopg: "
            "pip install 'auditor[postgres]'"
        ) from None
    try:
        return psycopg.connect(location, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        raise HistoryError(
            f"history store {shown(location)}: cannot connect ({_first_line(exc, location)}); "
            "check the URL, the server and its pg_hba.conf"
        ) from None


def _is_database_error(exc: Exception) -> bool:
    if isinstance(exc, sqlite3.Error):
        return True
    module = type(exc).__module__
    return module.startswith("psycopg")


def _first_line(exc: Exception, location: str) -> str:
    """The error's first line, with the URL's password (should a driver echo it) masked."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    for secret in _passwords(location):
        line = line.replace(secret, "***")
    return line


def _passwords(location: str) -> list[str]:
    """The passwords a PostgreSQL URL holds (user part, `password=` parameter)."""
    if not is_postgres(location):
        return []
    parts = urlsplit(location)
    found = [parts.password] if parts.password else []
    for item in parts.query.split("&"):
        key, _, value = item.partition("=")
        if key.lower() == "password" and value:
            found.append(unquote(value))
            found.append(value)
    return found
