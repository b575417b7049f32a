"""The PostgreSQL test harness itself (`.ci/postgres`, the `postgres_url` and `history_url`
fixtures): a real server takes COPY, and every database is fresh, its own, and dropped after."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.conftest import NO_POSTGRES, fresh_postgres_database, postgres_server_url

ROWS = [(1, "plain"), (2, "tab\tnew\nline \\ back"), (3, None), (4, "ünïcode × 😀")]


def database_exists(server_url: str, url: str) -> bool:
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(server_url) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return found is not None


def table_names(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return sorted(name for (name,) in rows)


def test_copy_writes_rows_that_read_back_unchanged(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        conn.execute("CREATE TABLE t (a integer PRIMARY KEY, b text)")
        with conn.cursor() as cur, cur.copy("COPY t (a, b) FROM STDIN") as copy:
            for row in ROWS:
                copy.write_row(row)
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT a, b FROM t ORDER BY a").fetchall() == ROWS


def test_each_database_is_fresh_distinct_and_dropped(postgres_url: str) -> None:
    server_url = postgres_server_url()
    assert table_names(postgres_url) == []
    with fresh_postgres_database(server_url) as other:
        assert other != postgres_url
        assert urlsplit(other).netloc == urlsplit(server_url).netloc
        # Left open on purpose: a store a test forgot to close must not block the drop.
        left_open = psycopg.connect(other, autocommit=True)
        left_open.execute("CREATE TABLE only_in_other (x integer)")
        assert table_names(other) == ["only_in_other"]
        assert table_names(postgres_url) == []
    try:
        assert not database_exists(server_url, other)
        assert database_exists(server_url, postgres_url)
    finally:
        left_open.close()


def test_history_url_gives_each_backend_its_own_store(history_url: str, tmp_path: Path) -> None:
    if history_url.startswith("postgresql://"):
        assert table_names(history_url) == []
    else:
        assert Path(history_url) == tmp_path / "history.sqlite"
        assert not Path(history_url).exists()


def test_without_a_server_postgres_tests_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDITOR_TEST_POSTGRES", raising=False)
    monkeypatch.delenv("AUDITOR_REQUIRE_POSTGRES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="AUDITOR_TEST_POSTGRES"):
        postgres_server_url()


def test_without_a_required_server_postgres_tests_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDITOR_TEST_POSTGRES", raising=False)
    monkeypatch.setenv("AUDITOR_REQUIRE_POSTGRES", "1")
    with pytest.raises(pytest.fail.Exception) as failed:
        postgres_server_url()
    assert str(failed.value) == f"AUDITOR_REQUIRE_POSTGRES=1 but {NO_POSTGRES}"


def test_a_named_server_is_used_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITOR_TEST_POSTGRES", "postgresql://someone@127.0.0.1:5999/db")
    monkeypatch.setenv("AUDITOR_REQUIRE_POSTGRES", "1")
    assert postgres_server_url() == "postgresql://someone@127.0.0.1:5999/db"
