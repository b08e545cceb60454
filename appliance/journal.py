"""The journal: what was asked and how it was answered, for staff and for improving the base.

One SQLite file (``DATA_DIR/journal.sqlite``), plain tables:

* ``turns``    every question: time, language, mode, generator, answer, sources, confidence,
  reason, per-stage timings, knowledge-base version;
* ``handoffs`` matters handed to staff: question, time, reason, status (open/closed), and the
  callback number when the resident gave one for that purpose (NULL otherwise);
* ``gaps``     questions the knowledge base could not answer, with the closest topics;
* ``clarifications`` questions answered with "您是想问…吗？": the topics offered and, once the
  resident replied, the one chosen ('' when they said none);
* ``alerts``   emergencies: category, question, time, acknowledged;
* ``outbox``   messages to staff about alerts and handoffs (and the daily summary), written in the
  same transaction as the row they report, with their delivery state
  (:mod:`appliance.notify.outbox`).

Residents' personal data (ID, phone and bank-card numbers, e-mails, plates, passports, home
addresses, self-introduced names) is redacted before anything is written
(:class:`~appliance.privacy.Redactor`); the site's own published numbers are kept. Answers are
redacted too when an LLM wrote them (it may repeat what the resident said); extractive and
scripted answers are reviewed content and are stored as they were given. An emergency alert keeps
the address the resident named (the duty worker must find the emergency); its turn does not. A
handoff keeps one contact detail only when the resident gave it for that purpose: the phone
number of "麻烦回电13812345678" (:meth:`~appliance.privacy.Redactor.callback_number`), digits
only, in ``handoffs.callback``; its question is redacted all the same ("麻烦回电〔手机号〕"), and a
number said for any other reason, or in any other mode, is not kept. The kiosk's reply says so
("您留的电话（尾号5678）只用于工作人员回电。").

The file and its ``-wal``/``-shm`` companions are readable by the kiosk user only (0600, an
existing looser file is tightened when opened) and its folder is 0700. Rows older than the
retention period are deleted when the journal is opened (``journal_retention_days``, 90 by
default) or on demand (:meth:`Journal.purge`, ``kiosk journal purge``); deleted rows are
overwritten (``secure_delete``) and the write-ahead log is truncated after a purge.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sqlite3
import stat
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from appliance.answer.types import Answer
from appliance.notify.message import MessageComposer
from appliance.notify.outbox import Outbox
from appliance.privacy import Redactor

__all__ = ["PURGED_TABLES", "RESIDENT_TABLES", "Journal", "Redactor", "private_path"]

log = logging.getLogger(__name__)

#: What an emergency alert keeps of the resident's words: where the emergency is (the duty worker
#: must find it); the turn itself, and every other table, is redacted in full.
ALERT_KEEPS = frozenset({"address"})

#: The tables holding what residents said, children before ``turns`` (the order rows are purged in).
RESIDENT_TABLES = ("handoffs", "gaps", "clarifications", "alerts", "turns")
#: Purged with them: the messages to staff, which quote residents too.
PURGED_TABLES = ("outbox", *RESIDENT_TABLES)

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
    status TEXT NOT NULL DEFAULT 'open',
    callback TEXT
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


@dataclass(frozen=True)
class Migration:
    """One named change to the journal's schema since its tables were first written (as
    sqlite-migrate names them): applied once, in order, and recorded in ``_migrations``.

    ``apply`` must also be harmless on a journal whose tables :data:`SCHEMA` created already in
    their present form (a new journal records every migration without changing anything).
    """

    name: str
    apply: Callable[[sqlite3.Connection], None]


def _add_column(table: str, column: str, decl: str) -> Callable[[sqlite3.Connection], None]:
    def apply(conn: sqlite3.Connection) -> None:
        if column not in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")

    return apply


#: The journal's migrations, oldest first. Append; never rename or reorder one that has shipped.
MIGRATIONS = (Migration("0001-handoffs-callback", _add_column("handoffs", "callback", "TEXT")),)


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """Apply the migrations ``conn``'s journal has not had, each in its own transaction with its
    record in ``_migrations`` (name, UTC time): a failure leaves that one and the later ones
    unapplied and raises.

    Returns:
        The names applied now.
    """
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    applied = []
    for migration in migrations:
        if migration.name in done:
            continue
        with conn:  # commits, or rolls the migration and its record back together
            conn.execute("BEGIN")  # SQLite's DDL is transactional; the module opens none for it
            migration.apply(conn)
            conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (migration.name, _now()))
        applied.append(migration.name)
    return applied


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def private_path(path: Path, *, folder: bool = False) -> None:
    """Make ``path`` readable and writable by its owner only: 0600 for a file, 0700 for a folder
    (``folder``). A folder that is not ours, or is sticky (``/tmp``), or is the home folder is
    left alone; a missing path is skipped.

    Raises:
        OSError: the mode of a path we own cannot be changed.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    if folder and (st.st_uid != os.geteuid() or st.st_mode & stat.S_ISVTX or path == Path.home()):
        return
    want = 0o700 if folder else 0o600
    if stat.S_IMODE(st.st_mode) & ~want:
        os.chmod(path, stat.S_IMODE(st.st_mode) & want)


class Journal:
    """Appends answered turns (and their handoffs, gaps and alerts) to a SQLite file.

    Args:
        path: the journal file (created with its tables when missing, mode 0600, its folder 0700;
            an older journal gets the columns added since, see :data:`MIGRATIONS`).
        redactor: applied to questions (and LLM answers) before they are written; also finds a
            handoff's callback number.
        retention_days: rows older than this many days are deleted now (see :meth:`purge`);
            None keeps everything.
        composer: builds the message to staff for an alert or a handoff; None: none is queued.
        routes: channel name -> the message kinds it takes (see :class:`~appliance.notify.outbox.Outbox`).
        kiosk_id: the first part of every message's idempotency key.
        on_queued: called after a turn queued messages (wakes the sender).

    Attributes:
        outbox: the messages to staff (:class:`~appliance.notify.outbox.Outbox`), on this file.

    Raises:
        OSError: the folder or file cannot be created, or its mode cannot be tightened.
        sqlite3.DatabaseError: the file is not a journal.
    """

    def __init__(
        self,
        path: Path,
        redactor: Redactor | None = None,
        *,
        retention_days: float | None = None,
        composer: MessageComposer | None = None,
        routes: dict[str, list[str]] | None = None,
        kiosk_id: str = "kiosk",
        on_queued: Callable[[], None] | None = None,
    ):
        folder = path.parent
        if not folder.is_dir():
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        private_path(folder, folder=True)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        private_path(path)
        # The journal needs no extension: the standard module is enough everywhere.
        self.conn = sqlite3.connect(str(path), check_same_thread=False)
        self.conn.execute("PRAGMA secure_delete = ON")  # deleted rows are overwritten, not left in free pages
        self.conn.execute("PRAGMA journal_mode = WAL")  # -wal/-shm take the file's mode (0600)
        self.conn.executescript(SCHEMA)
        if applied := migrate(self.conn):
            log.info("journal %s: migrated (%s)", path, ", ".join(applied))
        for companion in ("-wal", "-shm", "-journal"):
            private_path(path.with_name(path.name + companion))
        self.redact = redactor or Redactor()
        self.path = path
        # One connection shared by the answering threads and the screen's staff views.
        self._lock = threading.RLock()
        self.outbox = Outbox(self.conn, self._lock, routes, on_queued)
        self.composer = composer
        self.kiosk_id = kiosk_id
        if retention_days is not None:
            removed = self.purge(retention_days)
            if any(removed.values()):
                log.info("journal retention (%g days): removed %s", retention_days, removed)

    def close(self) -> None:
        """Close the file."""
        self.conn.close()

    def record(self, answer: Answer, kb_version: int | None = None) -> int:
        """Write one answered turn, plus a handoff, gap or alert row for those modes (a handoff
        with the resident's callback number, when they gave one for that purpose).

        Returns:
            The turn's id.
        """
        question = self.redact(answer.question)
        ts = _now()
        queued = 0
        callback = self.redact.callback_number(answer.question) if answer.mode == "handoff" else None
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
                    self.redact(answer.answer) if answer.generator == "llm" else answer.answer,
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
                    "INSERT INTO handoffs (turn_id, ts, question, reason, callback) VALUES (?, ?, ?, ?, ?)",
                    (turn_id, ts, question, answer.reason or "", callback),
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
            said = question
            if answer.mode == "emergency":
                said = self.redact(answer.question, keep_kinds=ALERT_KEEPS)
                self.conn.execute(
                    "INSERT INTO alerts (turn_id, ts, category, question) VALUES (?, ?, ?, ?)",
                    (turn_id, ts, answer.reason or "", said),
                )
            if self.composer is not None and self.outbox.routes:
                message = self.composer.for_answer(answer, said, callback)
                if message is not None:
                    stamp = ts.replace("-", "").replace(":", "").replace(".", "")[:18]
                    queued = self.outbox.queue(message, f"{self.kiosk_id}/{message.kind.value}/{turn_id}-{stamp}")
        if queued:
            self.outbox.queued()
        return turn_id

    def acknowledge_alerts(self) -> int:
        """Staff have dealt with the emergency on screen: every open alert is acknowledged.

        Returns:
            How many alerts were open.
        """
        with self._lock, self.conn:
            return self.conn.execute("UPDATE alerts SET acknowledged = 1 WHERE acknowledged = 0").rowcount

    def close_handoff(self, handoff_id: int) -> bool:
        """Staff mark a handoff as done, and its callback number, no longer needed, is forgotten;
        False when there is no such open handoff."""
        with self._lock, self.conn:
            cur = self.conn.execute(
                "UPDATE handoffs SET status = 'done', callback = NULL WHERE id = ? AND status = 'open'", (handoff_id,)
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

    def purge(self, older_than_days: float, now: dt.datetime | None = None) -> dict[str, int]:
        """Delete every row of :data:`PURGED_TABLES` written more than ``older_than_days`` days
        before ``now`` (default: the current time), open handoffs and unacknowledged alerts too;
        0 deletes everything. The write-ahead log is truncated afterwards, so the deleted text is
        in neither file.

        Returns:
            Rows removed per table, in the order of :data:`PURGED_TABLES`.

        Raises:
            ValueError: a negative number of days.
        """
        if not older_than_days >= 0:
            raise ValueError(f"the retention period must be 0 days or more, not {older_than_days}")
        cutoff = ((now or dt.datetime.now(dt.timezone.utc)) - dt.timedelta(days=older_than_days)).astimezone(
            dt.timezone.utc
        )
        ts = cutoff.isoformat(timespec="milliseconds")
        if older_than_days == 0:
            ts = "9999"  # everything, whatever clock wrote it
        with self._lock:
            with self.conn:
                removed = {t: self.conn.execute(f"DELETE FROM {t} WHERE ts < ?", (ts,)).rowcount for t in PURGED_TABLES}
            if any(removed.values()):
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return removed

    def rows(self, table: str, limit: int = 50) -> list[dict[str, Any]]:
        """The newest ``limit`` rows of 'turns', 'handoffs', 'gaps', 'clarifications' or 'alerts', newest first.

        Raises:
            ValueError: unknown table.
        """
        if table not in RESIDENT_TABLES:
            raise ValueError(f"unknown journal table {table!r} (tables: {', '.join(RESIDENT_TABLES)})")
        with self._lock:
            cur = self.conn.execute(f"SELECT * FROM {table} ORDER BY id DESC LIMIT ?", (limit,))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def tally(self, since: str, until: str) -> dict[str, int]:
        """Turns per mode written in [``since``, ``until``) (UTC ISO 8601 strings), and the
        handoffs still open among them (``"open_handoffs"``)."""
        with self._lock:
            counts = dict(
                self.conn.execute(
                    "SELECT mode, count(*) FROM turns WHERE ts >= ? AND ts < ? GROUP BY mode", (since, until)
                ).fetchall()
            )
            (open_handoffs,) = self.conn.execute(
                "SELECT count(*) FROM handoffs WHERE status = 'open' AND ts >= ? AND ts < ?", (since, until)
            ).fetchone()
        counts["open_handoffs"] = open_handoffs
        return counts

    def gap_questions(self, since: str, until: str, limit: int = 10) -> list[str]:
        """The questions (redacted) the knowledge base could not answer in [``since``, ``until``),
        most asked first, each once."""
        with self._lock:
            rows = self.conn.execute(
                "SELECT question FROM gaps WHERE ts >= ? AND ts < ? GROUP BY question ORDER BY count(*) DESC,"
                " max(id) DESC LIMIT ?",
                (since, until, limit),
            ).fetchall()
        return [r[0] for r in rows]
