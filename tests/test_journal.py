"""The journal's named schema migrations (appliance/journal.py: migrate)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from appliance.journal import MIGRATIONS, Journal, Migration, migrate

#: The handoffs table as the first journals wrote it, before the callback column.
OLD_HANDOFFS = """CREATE TABLE handoffs (id INTEGER PRIMARY KEY, turn_id INTEGER, ts TEXT NOT NULL,
question TEXT NOT NULL, reason TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'open')"""


def _names(conn) -> list[str]:
    return [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]


def test_an_old_journal_is_migrated_once_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(OLD_HANDOFFS)
        conn.execute("INSERT INTO handoffs (ts, question, reason) VALUES ('2026-01-01', '我要投诉', 'complaint')")
    conn.close()
    journal = Journal(path)
    try:
        columns = {row[1] for row in journal.conn.execute("PRAGMA table_info(handoffs)")}
        assert "callback" in columns
        assert journal.conn.execute("SELECT question, callback FROM handoffs").fetchall() == [("我要投诉", None)]
        assert _names(journal.conn) == [m.name for m in MIGRATIONS]
    finally:
        journal.close()
    again = Journal(path)
    try:
        assert migrate(again.conn) == [] and _names(again.conn) == [m.name for m in MIGRATIONS]
    finally:
        again.close()


def test_a_failing_migration_is_rolled_back_with_its_record_and_stops_the_later_ones(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "j.sqlite")
    conn.execute("CREATE TABLE t (a TEXT)")

    def broken(c) -> None:
        c.execute("ALTER TABLE t ADD COLUMN b TEXT")
        raise RuntimeError("disk full")

    def later(c) -> None:
        c.execute("ALTER TABLE t ADD COLUMN c TEXT")

    with pytest.raises(RuntimeError, match="disk full"):
        migrate(conn, [Migration("0001-t-b", broken), Migration("0002-t-c", later)])
    assert {row[1] for row in conn.execute("PRAGMA table_info(t)")} == {"a"}  # b rolled back, c never ran
    assert _names(conn) == []
    assert migrate(conn, [Migration("0001-t-b", lambda c: c.execute("ALTER TABLE t ADD COLUMN b TEXT"))]) == [
        "0001-t-b"
    ]
    assert _names(conn) == ["0001-t-b"]
    conn.close()


def test_a_new_journal_records_every_migration_without_changing_its_tables(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "new.sqlite")
    try:
        assert _names(journal.conn) == [m.name for m in MIGRATIONS]
        assert "callback" in {row[1] for row in journal.conn.execute("PRAGMA table_info(handoffs)")}
    finally:
        journal.close()
