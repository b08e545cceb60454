"""The journal: what was asked and how it was answered, for staff and for improving the base.

One SQLite file (``DATA_DIR/journal.sqlite``), plain tables:

* ``turns``    every question: time, language, mode, generator, answer, sources, confidence,
  reason, per-stage timings, knowledge-base version;
* ``handoffs`` matters handed to staff: question, time, reason, status (open/closed);
* ``gaps``     questions the knowledge base could not answer, with the closest topics;
* ``clarifications`` questions answered with "您是想问…吗？": the topics offered and, once the
  resident replied, the one chosen ('' when they said none);
* ``alerts``   emergencies: category, question, time, acknowledged.

Residents' phone numbers, ID-card numbers and bank-card numbers are redacted before anything is
written (:class:`Redactor`); the site's own published numbers are kept. Answers are redacted too
when an LLM wrote them (it may repeat what the resident said); extractive and scripted answers
are reviewed content and are stored as they were given.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from appliance.answer.types import Answer

SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    question TEXT NOT NULL,
    lang TEXT NOT NULL,
    mode TEXT NOT NULL,
    generator TEXT NOT NULL,
    answer TEXT NOT NULL,
    sources TEXT NOT NULL,
    confidence REAL,
    reason TEXT,
    timings TEXT NOT NULL,
    kb_version INTEGER
);
CREATE TABLE IF NOT EXISTS handoffs (
    id INTEGER PRIMARY KEY,
    turn_id INTEGER REFERENCES turns(id),
    ts TEXT NOT NULL,
    question TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open'
);
CREATE TABLE IF NOT EXISTS gaps (
    id INTEGER PRIMARY KEY,
    turn_id INTEGER REFERENCES turns(id),
    ts TEXT NOT NULL,
    question TEXT NOT NULL,
    closest TEXT NOT NULL,
    confidence REAL
);
CREATE TABLE IF NOT EXISTS clarifications (
    id INTEGER PRIMARY KEY,
    turn_id INTEGER REFERENCES turns(id),
    ts TEXT NOT NULL,
    question TEXT NOT NULL,
    offered TEXT NOT NULL,
    chosen TEXT,
    resolved_ts TEXT
);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    turn_id INTEGER REFERENCES turns(id),
    ts TEXT NOT NULL,
    category TEXT NOT NULL,
    question TEXT NOT NULL,
    acknowledged INTEGER NOT NULL DEFAULT 0
);
"""

# Order matters: the longest, most specific patterns first.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Resident identity card: 18 characters (6 region + 8 birth date + 3 + check digit/X); old 15-digit form.
    (
        "[身份证号]",
        re.compile(
            r"(?<![0-9A-Za-z])[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])"
        ),
    ),
    ("[身份证号]", re.compile(r"(?<!\d)[1-9]\d{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}(?!\d)")),
    # Bank cards: 16–19 digits, optionally grouped by spaces or dashes.
    ("[银行卡号]", re.compile(r"(?<!\d)\d{4}(?:[ -]?\d{4}){3}(?:[ -]?\d{1,3})?(?!\d)")),
    # Mainland mobile numbers: 1[3-9]x, 11 digits, optional +86, optional separators.
    ("[手机号]", re.compile(r"(?<!\d)(?:\+?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?!\d)")),
    # Landlines: area code 0xx/0xxx then 7–8 digits.
    ("[电话]", re.compile(r"(?<!\d)0\d{2,3}[ -]?\d{3,4}[ -]?\d{4}(?!\d)")),
)


class Redactor:
    """Replaces personal numbers in text with placeholders.

    Args:
        keep: numbers that are public and must survive (the site's own phone numbers); compared
            digit for digit, so "010-0000-1234" also keeps "01000001234".
    """

    def __init__(self, keep: Iterable[str] = ()):
        self._keep = {re.sub(r"\D", "", k) for k in keep if k and re.sub(r"\D", "", k)}

    def __call__(self, text: str) -> str:
        """``text`` with ID-card, bank-card, mobile and landline numbers replaced."""
        for label, pattern in _PATTERNS:
            text = pattern.sub(
                lambda m, label=label: m.group() if re.sub(r"\D", "", m.group()) in self._keep else label, text
            )
        return text


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class Journal:
    """Appends answered turns (and their handoffs, gaps and alerts) to a SQLite file.

    Args:
        path: the journal file (created with its tables when missing).
        redactor: applied to questions and answers before they are written.
    """

    def __init__(self, path: Path, redactor: Redactor | None = None):
        path.parent.mkdir(parents=True, exist_ok=True)
        # The journal needs no extension: the standard module is enough everywhere.
        self.conn = sqlite3.connect(str(path), check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.executescript(SCHEMA)
        self.redact = redactor or Redactor()
        self.path = path
        # One connection shared by the answering threads and the screen's staff views.
        self._lock = threading.RLock()

    def close(self) -> None:
        """Close the file."""
        self.conn.close()

    def record(self, answer: Answer, kb_version: int | None = None) -> int:
        """Write one answered turn, plus a handoff, gap or alert row for those modes.

        Returns:
            The turn's id.
        """
        question = self.redact(answer.question)
        ts = _now()
        with self._lock, self.conn:
            cur = self.conn.execute(
                "INSERT INTO turns (ts, question, lang, mode, generator, answer, sources, confidence, reason, timings,"
                " kb_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    ts,
                    question,
                    answer.lang,
                    answer.mode,
                    answer.generator,
                    self.redact(answer.answer),
                    json.dumps([asdict(s) for s in answer.sources], ensure_ascii=False),
                    answer.confidence,
                    answer.reason,
                    json.dumps({k: round(v, 2) for k, v in answer.timings_ms.items()}),
                    kb_version,
                ),
            )
            turn_id = int(cur.lastrowid)
            if answer.mode == "handoff":
                self.conn.execute(
                    "INSERT INTO handoffs (turn_id, ts, question, reason) VALUES (?, ?, ?, ?)",
                    (turn_id, ts, question, answer.reason or ""),
                )
            elif answer.mode == "no_answer" and answer.reason in ("low_confidence", "declined"):
                self.conn.execute(
                    "INSERT INTO gaps (turn_id, ts, question, closest, confidence) VALUES (?, ?, ?, ?, ?)",
                    (turn_id, ts, question, json.dumps(answer.suggestions, ensure_ascii=False), answer.confidence),
                )
            elif answer.mode == "clarify":
                self.conn.execute(
                    "INSERT INTO clarifications (turn_id, ts, question, offered) VALUES (?, ?, ?, ?)",
                    (turn_id, ts, question, json.dumps(answer.suggestions, ensure_ascii=False)),
                )
            if answer.reason in ("clarified", "declined"):
                chosen = answer.sources[0].title if answer.reason == "clarified" and answer.sources else ""
                self.conn.execute(
                    "UPDATE clarifications SET chosen = ?, resolved_ts = ? WHERE id = (SELECT max(id) FROM "
                    "clarifications WHERE question = ? AND chosen IS NULL)",
                    (chosen, ts, question),
                )
            if answer.mode == "emergency":
                self.conn.execute(
                    "INSERT INTO alerts (turn_id, ts, category, question) VALUES (?, ?, ?, ?)",
                    (turn_id, ts, answer.reason or "", question),
                )
        return turn_id

    def acknowledge_alerts(self) -> int:
        """Staff have dealt with the emergency on screen: every open alert is acknowledged.

        Returns:
            How many alerts were open.
        """
        with self._lock, self.conn:
            return self.conn.execute("UPDATE alerts SET acknowledged = 1 WHERE acknowledged = 0").rowcount

    def close_handoff(self, handoff_id: int) -> bool:
        """Staff mark a handoff as done; False when there is no such open handoff."""
        with self._lock, self.conn:
            cur = self.conn.execute(
                "UPDATE handoffs SET status = 'done' WHERE id = ? AND status = 'open'", (handoff_id,)
            )
            return cur.rowcount == 1

    def answered_sources(self, limit: int) -> list[str]:
        """The ``sources`` column (JSON: a list of {doc_id, title, section, source}) of the newest
        ``limit`` turns answered from the knowledge base (mode 'answer'), newest first."""
        with self._lock:
            rows = self.conn.execute(
                "SELECT sources FROM turns WHERE mode = 'answer' ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [r[0] for r in rows]

    def rows(self, table: str, limit: int = 50) -> list[dict[str, Any]]:
        """The newest ``limit`` rows of 'turns', 'handoffs', 'gaps', 'clarifications' or 'alerts', newest first.

        Raises:
            ValueError: unknown table.
        """
        if table not in ("turns", "handoffs", "gaps", "clarifications", "alerts"):
            raise ValueError(f"unknown journal table {table!r}")
        with self._lock:
            cur = self.conn.execute(f"SELECT * FROM {table} ORDER BY id DESC LIMIT ?", (limit,))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
