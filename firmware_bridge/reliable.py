"""Reliable delivery over the frame link, used by both ends (see PROTOCOL.md, "Reliability").

* :class:`ReliableSender`: sends a message with ``ACK_REQUESTED``, waits for the ACK carrying its
  seq, and retransmits the same frame (same seq, ``RETRY`` flag) on timeout. Ordinary sends are one
  at a time (stop-and-wait), so commands execute in the order they were sent; a ``priority`` send
  (STOP) does not wait behind them.
* :class:`DuplicateFilter`: the receiver's memory of recently executed seqs and the ACK each got,
  so that a retransmission is answered with the same ACK and not executed twice.
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from firmware_bridge.framing import Flags, Frame, encode
from firmware_bridge.messages import Ack, Message

MAX_RTO_S = 1.0
"""The retransmission timeout never exceeds this, s."""
DUPLICATE_MEMORY_S = 30.0
"""How long a receiver remembers an executed seq, s: longer than any sender keeps retransmitting
(at most MAX_RTO_S per attempt; a controller gives an event up after EVENT_GIVE_UP_S), far shorter
than the 65,536 frames it takes a seq to come back (half an hour at the busiest)."""
EVENT_GIVE_UP_S = 20.0
"""A controller drops an event or DONE still unacknowledged this long after its first send, s."""


class LinkError(RuntimeError):
    """The robot link cannot carry a command (base class)."""


class NotConnected(LinkError):
    """No controller is connected (degraded mode) or the link was lost while waiting."""


class CommandTimeout(LinkError):
    """No ACK after every retry."""


@dataclass
class RttStats:
    """Round-trip times of first-attempt commands, ms (Karn's rule: retransmitted commands are not
    sampled, since their ACK cannot be matched to one transmission; Karn & Partridge, SIGCOMM 1987)."""

    samples: deque[float] = field(default_factory=lambda: deque(maxlen=2000))

    def add(self, ms: float) -> None:
        """Record one round trip, ms."""
        self.samples.append(ms)

    def percentile(self, p: float) -> float | None:
        """The p-th percentile (0-100) of the kept samples, ms; None without samples."""
        if not self.samples:
            return None
        if len(self.samples) == 1:
            return self.samples[0]
        return statistics.quantiles(self.samples, n=100, method="inclusive")[min(98, max(0, round(p) - 1))]

    def summary(self) -> dict[str, float | None]:
        """p50, p90, p99 and max, ms."""
        return {
            "p50": self.percentile(50),
            "p90": self.percentile(90),
            "p99": self.percentile(99),
            "max": max(self.samples) if self.samples else None,
        }


@dataclass
class _Waiter:
    event: threading.Event = field(default_factory=threading.Event)
    ack: Ack | None = None


class ReliableSender:
    """Stop-and-wait sender with retransmission.

    The retransmission timeout (RTO) adapts to the measured round trip as in TCP (RFC 6298, 2.2-2.3:
    SRTT and RTTVAR with alpha 1/8, beta 1/4, RTO = SRTT + 4 RTTVAR), bounded by ``min_rto_s`` and
    ``ack_timeout_s``. Each timeout doubles it, up to :data:`MAX_RTO_S`, and the doubled value stays
    until the next round trip is measured (RFC 6298, 5.5-5.7). Before the first sample the RTO is
    ``ack_timeout_s``.

    Args:
        write: puts encoded bytes on the wire (thread-safe); may raise OSError.
        ack_timeout_s: the first RTO and the RTO's upper bound, s.
        retries: retransmissions after the first attempt before giving up.
        min_rto_s: the RTO's lower bound, s (room for the controller's own processing time).
        first_seq: the first sequence number (u16).
    """

    def __init__(
        self,
        write: Callable[[bytes], None],
        ack_timeout_s: float,
        retries: int,
        min_rto_s: float = 0.02,
        first_seq: int = 0,
    ):
        self.write = write
        self.ack_timeout_s = ack_timeout_s
        self.min_rto_s = min(min_rto_s, ack_timeout_s)
        self.retries = retries
        self.rto_s = ack_timeout_s
        self._srtt: float | None = None
        self._rttvar = 0.0
        self.rtt = RttStats()
        self.sent = 0
        self.retransmissions = 0
        self.timeouts = 0
        self._seq = itertools.count(first_seq)
        self._seq_lock = threading.Lock()
        self._order = threading.Lock()
        self._waiters: dict[int, _Waiter] = {}
        self._lock = threading.Lock()
        self._aborted: LinkError | None = None

    def next_seq(self) -> int:
        """A fresh sequence number (u16, wrapping)."""
        with self._seq_lock:
            return next(self._seq) & 0xFFFF

    def send(self, message: Message, *, priority: bool = False, seq: int | None = None) -> tuple[int, Ack, float]:
        """Send ``message`` reliably and return (its seq, the ACK, ms from the last transmission to
        the ACK).

        Args:
            priority: do not queue behind other sends (STOP).
            seq: resend under this earlier seq (a frame whose earlier send gave up), so the
                receiver's duplicate memory still recognises it; default: a fresh seq.

        Raises:
            CommandTimeout: no ACK after ``retries`` retransmissions.
            NotConnected: :meth:`abort` was called (the link went down) before the ACK came.
            OSError: the write failed.
        """
        if priority:
            return self._send(message, seq)
        with self._order:
            return self._send(message, seq)

    def _send(self, message: Message, seq: int | None) -> tuple[int, Ack, float]:
        seq = self.next_seq() if seq is None else seq
        payload = message.pack()
        waiter = _Waiter()
        with self._lock:
            if self._aborted is not None:
                raise self._aborted
            self._waiters[seq] = waiter
        waited = 0.0
        try:
            for attempt in range(self.retries + 1):
                flags = Flags.ACK_REQUESTED | (Flags.RETRY if attempt else Flags.NONE)
                timeout = self.rto_s
                t0 = time.monotonic()
                self.write(encode(Frame(message.TYPE, seq, flags, payload)))
                self.sent += 1
                if attempt:
                    self.retransmissions += 1
                if waiter.event.wait(timeout):
                    if waiter.ack is None:
                        raise self._aborted or NotConnected("link lost")
                    rtt = (time.monotonic() - t0) * 1e3
                    if attempt == 0:
                        self._sample(rtt / 1e3)
                    return seq, waiter.ack, rtt
                waited += timeout
                with self._lock:  # back off, and keep the longer RTO until a new sample (RFC 6298, 5.5-5.7)
                    self.rto_s = min(MAX_RTO_S, self.rto_s * 2)
            self.timeouts += 1
            raise CommandTimeout(
                f"{message.TYPE.name} seq {seq}: no ACK after {self.retries + 1} attempts "
                f"({waited * 1e3:.0f} ms in all)"
            )
        finally:
            with self._lock:
                self._waiters.pop(seq, None)

    def _sample(self, r: float) -> None:
        """Update SRTT, RTTVAR and the RTO with a round trip ``r``, s (RFC 6298, 2.2-2.3)."""
        self.rtt.add(r * 1e3)
        with self._lock:
            if self._srtt is None:
                self._srtt, self._rttvar = r, r / 2
            else:
                self._rttvar = 0.75 * self._rttvar + 0.25 * abs(self._srtt - r)
                self._srtt = 0.875 * self._srtt + 0.125 * r
            self.rto_s = max(self.min_rto_s, min(self.ack_timeout_s, self._srtt + 4 * self._rttvar))

    def on_ack(self, ack: Ack) -> bool:
        """Deliver a received ACK (reader thread). Returns False when nothing waited for it (a late
        or duplicated ACK)."""
        with self._lock:
            waiter = self._waiters.get(ack.acked_seq)
            if waiter is None or waiter.event.is_set():
                return False
            waiter.ack = ack
            waiter.event.set()
            return True

    def abort(self, error: LinkError) -> None:
        """Fail every waiting send with ``error`` and refuse new ones until :meth:`resume`."""
        with self._lock:
            self._aborted = error
            for waiter in self._waiters.values():
                waiter.event.set()

    def resume(self) -> None:
        """Accept sends again (after a new handshake)."""
        with self._lock:
            self._aborted = None


class DuplicateFilter:
    """The receiver's memory of recently executed seqs and their ACKs: the last ``window`` of them,
    each for ``max_age_s``.

    A sender retransmits only while it waits, and waits for one ordinary frame at a time (plus
    priority frames), so a window of 64 covers every retransmission that can still arrive. The age
    limit keeps a seq that comes round again after the u16 wraps from being taken for a duplicate.
    """

    def __init__(self, window: int = 64, max_age_s: float = DUPLICATE_MEMORY_S, clock=time.monotonic):
        self.window = window
        self.max_age_s = max_age_s
        self.clock = clock
        self.duplicates = 0
        self._acks: OrderedDict[int, tuple[float, Ack]] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, seq: int) -> Ack | None:
        """The ACK already sent for ``seq`` (counting a duplicate), or None if it is new."""
        with self._lock:
            self._expire()
            entry = self._acks.get(seq)
            if entry is None:
                return None
            self.duplicates += 1
            return entry[1]

    def remember(self, seq: int, ack: Ack) -> None:
        """Record the ACK sent for a newly executed ``seq``."""
        with self._lock:
            self._acks[seq] = (self.clock(), ack)
            self._acks.move_to_end(seq)
            while len(self._acks) > self.window:
                self._acks.popitem(last=False)

    def _expire(self) -> None:
        limit = self.clock() - self.max_age_s
        while self._acks and next(iter(self._acks.values()))[0] < limit:
            self._acks.popitem(last=False)

    def reset(self) -> None:
        """Forget everything (a new HELLO: the peer's seqs start again)."""
        with self._lock:
            self._acks.clear()
