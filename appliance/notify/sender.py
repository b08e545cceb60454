"""The sender: drains the outbox to the channels, emergencies first, never losing a message.

One worker thread per channel (a channel that hangs for its whole timeout delays nobody else's
emergencies), each with:

* a **token bucket** of ``rate_per_min`` tokens (the robots allow 20 messages a minute), two of
  which only an emergency may take, so a backlog never spends the last tokens an alert needs;
* **retries** with exponential backoff and full jitter — wait a uniform random time in
  [0, min(cap, base·2^attempt)] (M. Brooker, "Exponential Backoff And Jitter", AWS Architecture
  Blog, 2015) — with a shorter cap for emergencies; a rate-limit reply pauses the whole channel
  for the robot's minute without counting against the message;
* a **digest**: when ``digest_after`` or more non-emergency messages wait on a channel (the network
  was down for a day), they go as one message listing them all; emergencies always go alone;
* a **deadline**: a non-emergency undelivered after ``give_up_h`` fails (``kiosk outbox retry``
  brings it back); an emergency is retried until delivered, and the kiosk shows it undelivered
  after ``alarm_after_s``.

One process sends at a time (a lock file beside the journal): ``kiosk run`` and ``kiosk outbox
send`` never send the same row twice at once. Rows other processes queued (``kiosk ask``) are
found within ``poll_s``; rows this process queued wake the workers at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from appliance.config import NotifySettings
from appliance.notify.channels import Channel, DeliveryError
from appliance.notify.message import MessageKind, Priority, StaffMessage, clip
from appliance.notify.outbox import Outbox, OutboxRow

__all__ = ["OutboxSender", "TokenBucket", "backoff_s", "digest_message"]

log = logging.getLogger(__name__)

#: Tokens of a channel's bucket only an emergency may take.
EMERGENCY_RESERVE = 2
#: Rows one drain reads at most.
DRAIN_LIMIT = 200


def backoff_s(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Full-jitter backoff: uniform in [0, min(cap_s, base_s·2^attempt)] seconds (Brooker 2015).

    Args:
        attempt: failed attempts so far, 0 for the first retry.
    """
    return rng.uniform(0.0, min(cap_s, base_s * 2.0 ** min(attempt, 30)))


@dataclass
class TokenBucket:
    """A token bucket: ``per_min`` tokens, refilled continuously at ``per_min``/60 a second.

    Attributes:
        tokens: tokens now (float; starts full).
        last: when it was last refilled, seconds (any monotonic clock).
    """

    per_min: int
    last: float
    tokens: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.per_min)

    def _refill(self, now: float) -> None:
        self.tokens = min(float(self.per_min), self.tokens + (now - self.last) * self.per_min / 60.0)
        self.last = max(self.last, now)

    def take(self, now: float, reserve: int = 0) -> bool:
        """Take one token when one is left after keeping ``reserve`` back; False (nothing taken)
        otherwise."""
        self._refill(now)
        if self.tokens - reserve >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait_s(self, now: float, reserve: int = 0) -> float:
        """Seconds until :meth:`take` with this ``reserve`` would succeed."""
        self._refill(now)
        missing = reserve + 1.0 - self.tokens
        return max(0.0, missing * 60.0 / self.per_min)


def digest_message(rows: list[OutboxRow], kiosk: str, place: str, ts: str) -> StaffMessage:
    """One message standing for ``rows`` (non-emergencies that waited): a line per row,
    "time title: what the resident said"."""
    lines = tuple(
        f"{r.message.ts[11:16]} {r.message.title}" + (f"：{clip(r.message.said, 60)}" if r.message.said else "")
        for r in rows
    )
    return StaffMessage(
        MessageKind.DIGEST,
        f"【汇总】{len(rows)} 条消息未能及时送达，现一并发送",
        kiosk,
        place,
        ts,
        action="请逐条查看，转人工的事项请在终端工作台跟进。",
        lines=lines,
        priority=min((r.priority for r in rows), default=int(Priority.HANDOFF)),
    )


class _Worker:
    """One channel's lane: its bucket, pause and thread.

    ``progress`` is the service watchdog's view of the lane (``time.monotonic()``, s): the time
    of its last step — a pass begun, a send attempt ended — or, while it sleeps, the time it is due
    back. It is infinite until the lane's thread starts (another process may hold the sender lock),
    so a lane is overdue only when a step overruns: a send hung past its channel's timeout.
    """

    def __init__(self, sender: OutboxSender, channel: Channel, per_min: int):
        self.sender = sender
        self.channel = channel
        self.bucket = TokenBucket(per_min, sender.clock())
        self.paused_until = 0.0
        self.event = threading.Event()
        self.thread: threading.Thread | None = None
        self.progress = math.inf

    def drain(self) -> int:
        """Send what is due now; the number delivered."""
        s, outbox, name = self.sender, self.sender.outbox, self.channel.name
        now = s.clock()
        if now < self.paused_until:
            return 0
        rows = outbox.due(name, now, DRAIN_LIMIT)
        rows = self._expire(rows, now)
        ordinary = [r for r in rows if r.kind != MessageKind.EMERGENCY.value]
        if len(ordinary) >= s.settings.digest_after:
            digest = digest_message(ordinary, s.kiosk, s.place, s.local_ts())
            key = f"{s.kiosk_id}/digest/{ordinary[0].id}-{ordinary[-1].id}"
            folded = outbox.fold(name, ordinary, digest, key)
            log.info("outbox %s: %d waiting messages folded into one digest", name, len(ordinary))
            rows = [r for r in rows if r.kind == MessageKind.EMERGENCY.value] + [folded]
        delivered = 0
        for row in rows:
            if s.stopping.is_set():
                break
            reserve = 0 if row.priority == Priority.EMERGENCY else EMERGENCY_RESERVE
            if not self.bucket.take(s.clock(), reserve):
                break  # the loop waits for the bucket
            if self._send(row):
                delivered += 1
            elif s.clock() < self.paused_until:
                break
        return delivered

    def _expire(self, rows: list[OutboxRow], now: float) -> list[OutboxRow]:
        deadline = self.sender.settings.give_up_h * 3600.0
        kept = []
        for row in rows:
            age = now - dt.datetime.fromisoformat(row.ts).timestamp()
            if row.kind != MessageKind.EMERGENCY.value and age > deadline:
                self.sender.outbox.mark_failed(row.id, f"undelivered after {self.sender.settings.give_up_h:g} h")
            else:
                kept.append(row)
        return kept

    def _send(self, row: OutboxRow) -> bool:
        try:
            return self._attempt(row)
        finally:
            self.progress = time.monotonic()

    def _attempt(self, row: OutboxRow) -> bool:
        s = self.sender
        try:
            self.channel.send(row.message, row.key)
        except DeliveryError as exc:
            now = s.clock()
            if exc.rate_limited:
                self.paused_until = now + (exc.wait_s or 60.0)
                s.outbox.mark_retry(row.id, str(exc), self.paused_until, count=False)
            elif exc.retry:
                cap = s.settings.emergency_retry_max_s if row.priority == Priority.EMERGENCY else s.settings.retry_max_s
                wait = (
                    exc.wait_s
                    if exc.wait_s is not None
                    else backoff_s(row.attempts, s.settings.retry_base_s, cap, s.rng)
                )
                s.outbox.mark_retry(row.id, str(exc), now + wait)
            else:
                s.outbox.mark_failed(row.id, str(exc))
            log.warning("outbox %s: %s not delivered: %s", self.channel.name, row.key, exc)
            return False
        except Exception as exc:  # a channel's bug must not stop the lane: retry later, say why
            log.exception("outbox %s: sending %s failed", self.channel.name, row.key)
            s.outbox.mark_retry(row.id, f"{type(exc).__name__}: {exc}"[:200], s.clock() + s.settings.retry_max_s)
            return False
        s.outbox.mark_sent(row.id)
        return True

    def loop(self) -> None:
        s = self.sender
        while not s.stopping.is_set():
            self.progress = time.monotonic()
            try:
                self.drain()
            except Exception:  # the database is busy or broken: keep the lane alive, try again
                log.exception("outbox %s: drain failed", self.channel.name)
            now = s.clock()
            wait = s.settings.poll_s
            next_due = s.outbox.next_due(self.channel.name)
            if next_due is not None:
                wait = min(wait, max(0.0, next_due - now))
            if self.paused_until > now:
                wait = max(wait, self.paused_until - now)
            wait = max(0.02, wait, self.bucket.wait_s(now))
            self.progress = time.monotonic() + wait  # asleep on purpose until then
            self.event.wait(wait)
            self.event.clear()


class OutboxSender:
    """Drains an :class:`~appliance.notify.outbox.Outbox` to its channels (see the module docstring).

    Args:
        outbox: the journal's outbox.
        channels: by name, as the outbox's routes name them; rows for a channel not here wait.
        settings: ``[notify]``.
        kiosk_id, kiosk, place: for digests' keys and text.
        housekeeping: called every ``poll_s`` on one thread while the lanes run, and before a
            :meth:`drain_once` (the daily summary); must be cheap and idempotent.
        lock_path: the cross-process sender lock (None: no lock, for tests).
        clock: seconds since the epoch.
        rng: the jitter's random source.
    """

    def __init__(
        self,
        outbox: Outbox,
        channels: Mapping[str, Channel],
        settings: NotifySettings,
        *,
        kiosk_id: str,
        kiosk: str,
        place: str = "",
        housekeeping: Callable[[], None] | None = None,
        lock_path: Path | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ):
        self.outbox = outbox
        self.settings = settings
        self.kiosk_id, self.kiosk, self.place = kiosk_id, kiosk, place
        self.clock = clock
        self.rng = rng or random.Random()
        self._housekeeping = housekeeping
        self.stopping = threading.Event()
        rates = {c.name: c.rate_per_min for c in settings.channels}
        self.workers = {name: _Worker(self, ch, rates.get(name, 20)) for name, ch in channels.items()}
        self._lock = FileLock(str(lock_path), thread_local=False) if lock_path is not None else None
        self._starter: threading.Thread | None = None
        self.sending = threading.Event()  # set once this process holds the sender lock

    def local_ts(self) -> str:
        """Now, local time, ISO 8601 to the second."""
        return dt.datetime.fromtimestamp(self.clock()).astimezone().isoformat(timespec="seconds")

    def housekeeping(self) -> None:
        """Run the housekeeping callback (the daily summary), logging its failures."""
        if self._housekeeping is not None:
            try:
                self._housekeeping()
            except Exception:
                log.exception("outbox housekeeping failed")

    def wake(self) -> None:
        """Rows were queued: every lane looks now."""
        for w in self.workers.values():
            w.event.set()

    def drain_once(self) -> int:
        """One pass over every channel in this thread (``kiosk outbox send``, tests); the number
        delivered. Does not take the cross-process lock: see :meth:`try_lock`."""
        self.housekeeping()
        return sum(w.drain() for w in self.workers.values())

    def try_lock(self, timeout_s: float = 0.0) -> bool:
        """Take the cross-process sender lock; False when another process holds it."""
        if self._lock is None:
            return True
        try:
            self._lock.acquire(timeout=timeout_s)
        except Timeout:
            return False
        return True

    def start(self) -> None:
        """Start the lanes once this process holds the sender lock (a background thread waits
        for it, so a second process takes over when the first exits, then runs the
        housekeeping every ``poll_s``)."""
        if not self.workers:
            return

        def run() -> None:
            while not self.stopping.is_set():
                if self.try_lock(timeout_s=self.settings.poll_s):
                    break
            else:
                return
            self.sending.set()
            for name, w in self.workers.items():
                w.thread = threading.Thread(target=w.loop, name=f"outbox-{name}", daemon=True)
                w.thread.start()
            while not self.stopping.wait(self.settings.poll_s):
                self.housekeeping()

        self._starter = threading.Thread(target=run, name="outbox-lock", daemon=True)
        self._starter.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the lanes (each finishes its current attempt), close the channels, release the lock."""
        self.stopping.set()
        self.wake()
        if self._starter is not None:
            self._starter.join(timeout_s)
        for w in self.workers.values():
            if w.thread is not None:
                w.thread.join(timeout_s)
            try:
                w.channel.close()
            except Exception:
                log.exception("outbox %s: close failed", w.channel.name)
        if self._lock is not None and self._lock.is_locked:
            self._lock.release(force=True)
