"""The outbox: messages to staff waiting to be delivered, in the journal's SQLite file.

One row per message and channel (the transactional-outbox pattern: the row is written in the same
transaction as the journal row it reports, so an alert is never recorded without its message, nor
a message queued for an alert that was rolled back). The sender (:mod:`appliance.notify.sender`)
reads due rows, emergencies first, and marks each ``sent`` only after its channel accepted it: a
crash in between sends it again, with the same idempotency key.

States: ``pending`` (to send at ``next_at``), ``sent``, ``failed`` (a channel refused it for good,
or a non-emergency waited past its deadline: ``kiosk outbox retry`` puts it back), ``digested``
(sent inside a digest, whose key is in ``digest``).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from appliance.notify.message import MessageKind, StaffMessage

__all__ = ["SCHEMA", "STATES", "Outbox", "OutboxRow", "OutboxStatus"]

STATES = ("pending", "sent", "failed", "digested")

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    channel TEXT NOT NULL,
    priority INTEGER NOT NULL,
    kind TEXT NOT NULL,
    ts TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    sent_ts TEXT,
    digest TEXT,
    UNIQUE (key, channel)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, channel, priority, next_at);
"""


def _utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class OutboxRow:
    """One message for one channel.

    Attributes:
        key: the idempotency key, the same on every attempt ("<kiosk id>/<kind>/<journal id>").
        ts: when it was queued, UTC ISO 8601.
        next_at: when it may be tried next, seconds since the epoch.
    """

    id: int
    key: str
    channel: str
    priority: int
    kind: str
    ts: str
    message: StaffMessage
    state: str
    attempts: int
    next_at: float
    last_error: str | None
    sent_ts: str | None


@dataclass(frozen=True)
class OutboxStatus:
    """What the staff screen, the kiosk's banner and ``kiosk health`` show.

    Attributes:
        counts: rows per state.
        emergencies_waiting: emergency rows not yet delivered (pending or failed).
        oldest_emergency_s: how long the oldest of those has waited, seconds (None: none waits).
        emergencies_failed: emergency rows a channel refused for good.
        last_error: the newest row's error, "channel: message" (None: no error).
        last_sent: when a message was last delivered, UTC ISO 8601.
    """

    counts: dict[str, int]
    emergencies_waiting: int
    oldest_emergency_s: float | None
    emergencies_failed: int
    last_error: str | None
    last_sent: str | None


_COLUMNS = "id, key, channel, priority, kind, ts, body, state, attempts, next_at, last_error, sent_ts"


def _row(r: tuple[Any, ...]) -> OutboxRow:
    return OutboxRow(r[0], r[1], r[2], r[3], r[4], r[5], StaffMessage.from_json(r[6]), *r[7:])


class Outbox:
    """The outbox table on the journal's connection.

    Args:
        conn: the journal's connection (the table is created when missing).
        lock: the journal's lock, held around every statement (one connection, several threads).
        routes: channel name -> the kinds of message it takes (``[notify.channels] kinds``); a
            message goes to every channel that takes its kind. Empty: nothing is queued.
        on_queued: called after a transaction that queued rows committed (the sender's wake-up).
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        lock: threading.RLock,
        routes: Mapping[str, Iterable[str]] | None = None,
        on_queued: Callable[[], None] | None = None,
    ):
        self.conn = conn
        self.lock = lock
        self.routes = {name: frozenset(kinds) for name, kinds in (routes or {}).items()}
        self.on_queued = on_queued
        with self.lock, self.conn:
            self.conn.executescript(SCHEMA)

    def channels_for(self, kind: MessageKind) -> list[str]:
        """The channels a message of this kind goes to (a digest goes where its parts went)."""
        return [name for name, kinds in self.routes.items() if kind.value in kinds]

    def queue(self, message: StaffMessage, key: str, *, channels: Iterable[str] | None = None) -> int:
        """Queue ``message`` for each channel that takes its kind (or for ``channels``), inside
        the caller's transaction when one is open on the connection: the caller commits. A key
        already queued for a channel is left as it is (queuing twice sends once).

        Returns:
            Rows added.
        """
        names = list(channels) if channels is not None else self.channels_for(message.kind)
        added = 0
        with self.lock:
            for name in names:
                cur = self.conn.execute(
                    "INSERT OR IGNORE INTO outbox (key, channel, priority, kind, ts, body) VALUES (?, ?, ?, ?, ?, ?)",
                    (key, name, int(message.priority), message.kind.value, _utc_now(), message.to_json()),
                )
                added += cur.rowcount
        return added

    def queued(self) -> None:
        """Tell the sender that rows were committed (call after the transaction)."""
        if self.on_queued is not None:
            self.on_queued()

    def has_key(self, key: str) -> bool:
        """Whether a message with this key was ever queued (for any channel)."""
        with self.lock:
            return self.conn.execute("SELECT 1 FROM outbox WHERE key = ? LIMIT 1", (key,)).fetchone() is not None

    def due(self, channel: str, now: float, limit: int = 50) -> list[OutboxRow]:
        """Pending rows of ``channel`` whose time has come, emergencies first, then oldest first."""
        with self.lock:
            rows = self.conn.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE state = 'pending' AND channel = ? AND next_at <= ?"
                " ORDER BY priority, id LIMIT ?",
                (channel, now, limit),
            ).fetchall()
        return [_row(r) for r in rows]

    def next_due(self, channel: str) -> float | None:
        """The earliest ``next_at`` of ``channel``'s pending rows (None: nothing pending)."""
        with self.lock:
            (value,) = self.conn.execute(
                "SELECT min(next_at) FROM outbox WHERE state = 'pending' AND channel = ?", (channel,)
            ).fetchone()
        return value

    def mark_sent(self, row_id: int) -> None:
        """The channel accepted the row."""
        with self.lock, self.conn:
            self.conn.execute(
                "UPDATE outbox SET state = 'sent', attempts = attempts + 1, sent_ts = ?, last_error = NULL WHERE id = ?",
                (_utc_now(), row_id),
            )

    def mark_retry(self, row_id: int, error: str, next_at: float, *, count: bool = True) -> None:
        """The attempt failed and will be repeated at ``next_at`` (epoch s); ``count`` False for a
        wait that was not the message's fault (a rate limit)."""
        with self.lock, self.conn:
            self.conn.execute(
                "UPDATE outbox SET attempts = attempts + ?, next_at = ?, last_error = ? WHERE id = ?",
                (1 if count else 0, next_at, error, row_id),
            )

    def mark_failed(self, row_id: int, error: str) -> None:
        """The row will not be tried again until ``kiosk outbox retry``."""
        with self.lock, self.conn:
            self.conn.execute(
                "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?",
                (error, row_id),
            )

    def fold(self, channel: str, rows: list[OutboxRow], digest: StaffMessage, key: str) -> OutboxRow:
        """Replace ``rows`` (pending, of ``channel``) by one digest row, in one transaction: the
        rows become ``digested`` and point at the digest's key.

        Returns:
            The digest's row.
        """
        with self.lock, self.conn:
            self.queue(digest, key, channels=[channel])
            self.conn.executemany(
                "UPDATE outbox SET state = 'digested', digest = ? WHERE id = ? AND state = 'pending'",
                [(key, r.id) for r in rows],
            )
            found = self.conn.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE key = ? AND channel = ?", (key, channel)
            ).fetchone()
        return _row(found)

    def retry(self, ids: Iterable[int] | None = None) -> int:
        """Put failed rows (all, or those of ``ids``) back to pending, due now.

        Returns:
            Rows put back.
        """
        with self.lock, self.conn:
            if ids is None:
                return self.conn.execute(
                    "UPDATE outbox SET state = 'pending', next_at = 0 WHERE state = 'failed'"
                ).rowcount
            return sum(
                self.conn.execute(
                    "UPDATE outbox SET state = 'pending', next_at = 0 WHERE id = ? AND state = 'failed'", (i,)
                ).rowcount
                for i in ids
            )

    def delivery(self, kind: str, turn_id: int) -> list[tuple[str, str]]:
        """(channel, state) of the messages a journal turn queued (its alert or handoff), for the
        staff screen's lists."""
        with self.lock:
            return [
                (r[0], r[1])
                for r in self.conn.execute(
                    "SELECT channel, state FROM outbox WHERE key LIKE ? ORDER BY channel", (f"%/{kind}/{turn_id}-%",)
                ).fetchall()
            ]

    def rows(self, limit: int = 50, state: str | None = None) -> list[OutboxRow]:
        """The newest ``limit`` rows (of one state), newest first.

        Raises:
            ValueError: an unknown state.
        """
        if state is not None and state not in STATES:
            raise ValueError(f"unknown outbox state {state!r} (states: {', '.join(STATES)})")
        where, args = ("WHERE state = ?", (state,)) if state else ("", ())
        with self.lock:
            found = self.conn.execute(
                f"SELECT {_COLUMNS} FROM outbox {where} ORDER BY id DESC LIMIT ?", (*args, limit)
            ).fetchall()
        return [_row(r) for r in found]

    def status(self, now: float | None = None, window_s: float | None = None) -> OutboxStatus:
        """Counts and the state of emergency deliveries (see :class:`OutboxStatus`).

        Args:
            now: seconds since the epoch (default: the clock).
            window_s: count only emergencies queued in the last ``window_s`` seconds (the kiosk's
                banner: an alert staff have long dealt with stops showing); None: all.
        """
        now = time.time() if now is None else now
        since = "" if window_s is None else dt.datetime.fromtimestamp(now - window_s, dt.timezone.utc).isoformat()
        with self.lock:
            counts = dict(self.conn.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
            waiting, oldest, failed = self.conn.execute(
                "SELECT count(*), min(ts), coalesce(sum(state = 'failed'), 0) FROM outbox"
                " WHERE kind = 'emergency' AND state IN ('pending', 'failed') AND ts >= ?",
                (since,),
            ).fetchone()
            err = self.conn.execute(
                "SELECT channel, last_error FROM outbox WHERE last_error IS NOT NULL AND state != 'sent'"
                " ORDER BY id DESC LIMIT 1"
            ).fetchone()
            (last_sent,) = self.conn.execute("SELECT max(sent_ts) FROM outbox").fetchone()
        oldest_s = None
        if oldest is not None:
            oldest_s = max(0.0, now - dt.datetime.fromisoformat(oldest).timestamp())
        return OutboxStatus(
            {s: counts.get(s, 0) for s in STATES},
            waiting,
            oldest_s,
            failed,
            f"{err[0]}: {err[1]}" if err else None,
            last_sent,
        )
