"""The appliance as a systemd service: readiness, and a watchdog fed by the workers' progress.

``deploy/systemd/kiosk.service`` runs ``kiosk run`` with ``Type=notify`` and ``WatchdogSec=``.
systemd then expects ``READY=1`` once the appliance can serve, and ``WATCHDOG=1`` at least every
``WatchdogSec`` (it passes the period as ``WATCHDOG_USEC``, see sd_watchdog_enabled(3)); when the
pings stop it kills the process and ``Restart=on-failure`` starts a new one.

A process whose main thread still runs while the voice loop or the answer worker is stuck is not
alive for a resident, so the pings are not sent by a timer alone: every worker reports its
progress to a :class:`Heartbeat`, and :class:`ServiceNotifier` pings only while no worker is
overdue. What counts as progress:

- the voice loop: every audio frame it takes from the microphone (32 ms each);
- the answer worker: each answer started, each sentence of it, each answer finished (idle
  between answers: nothing is expected);
- the robot link: each pass of its supervisor (heartbeats to the controller, reconnection
  attempts while the controller is away: a missing controller is degraded mode, not a hang);
- the touchscreen's GUI thread: a timer it runs every second.

Messages go through the ``sdnotify`` package (sd_notify(3)'s datagram protocol); outside systemd
(no ``NOTIFY_SOCKET``) nothing is sent and the workers' state is still reported in
``health.json``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

log = logging.getLogger(__name__)


class Heartbeat:
    """One worker's progress: when it last moved and whether anything is expected of it.

    A worker is *overdue* when it is expected to move (``always`` is True, or it is inside
    :meth:`busy`) and has not called :meth:`beat` for more than ``limit_s`` seconds. Thread-safe:
    :meth:`beat` is one assignment of ``time.monotonic()``; several overlapping :meth:`busy`
    blocks (two answers at once) are counted.

    Args:
        name: what the worker is, as the staff screen and ``systemctl status`` say it
            ("voice loop", "answers", "robot link", "touchscreen").
        limit_s: the longest silence, s, before the worker counts as hung.
        always: the worker is expected to move all the time (a loop), not only inside
            :meth:`busy` (a job).
        clock: seconds, monotonic (tests pass their own).
    """

    def __init__(self, name: str, limit_s: float, *, always: bool = False, clock: Callable[[], float] = time.monotonic):
        if limit_s <= 0:
            raise ValueError(f"{name}: limit_s must be > 0, got {limit_s}")
        self.name = name
        self.limit_s = limit_s
        self.always = always
        self.clock = clock
        self.last = clock()
        self._busy = 0
        self._lock = threading.Lock()
        self.stopped = False

    def beat(self) -> None:
        """Record progress now."""
        self.last = self.clock()

    @contextmanager
    def busy(self) -> Iterator[None]:
        """A job: the worker is expected to :meth:`beat` while it runs (it beats on entry and exit)."""
        with self._lock:
            self._busy += 1
        self.beat()
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1
            self.beat()

    def stop(self) -> None:
        """The worker ended on purpose (the microphone was unplugged, the front end closes):
        nothing is expected of it any more."""
        self.stopped = True

    @property
    def expected(self) -> bool:
        """True when the worker should be moving now."""
        return not self.stopped and (self.always or self._busy > 0)

    def silent_s(self) -> float:
        """Seconds since the last :meth:`beat`."""
        return self.clock() - self.last

    def overdue(self) -> bool:
        """True when the worker is expected to move and has been silent longer than ``limit_s``."""
        return self.expected and self.silent_s() > self.limit_s

    def state(self) -> dict[str, object]:
        """``{"expected", "silent_s", "limit_s", "overdue"}`` for health reports."""
        return {
            "expected": self.expected,
            "silent_s": round(self.silent_s(), 2),
            "limit_s": self.limit_s,
            "overdue": self.overdue(),
        }


class PolledHeartbeat(Heartbeat):
    """A loop that keeps its own progress time: ``read()`` returns the ``time.monotonic()`` of its
    last pass (e.g. ``RobotLink.progress``). Always expected to move."""

    def __init__(
        self, name: str, limit_s: float, read: Callable[[], float], *, clock: Callable[[], float] = time.monotonic
    ):
        super().__init__(name, limit_s, always=True, clock=clock)
        self.read = read

    def silent_s(self) -> float:
        """Seconds since the loop's last pass."""
        return self.clock() - self.read()


class BeatingSource:
    """An audio source whose every frame is the voice loop's progress: frames are taken only by
    a loop that runs, so a stuck loop stops the beats. Same interface as ``voice.audio.AudioSource``.

    Args:
        source: the microphone (or any ``AudioSource``).
        heartbeat: beaten once per frame taken.
    """

    def __init__(self, source, heartbeat: Heartbeat):
        self.source = source
        self.heartbeat = heartbeat

    @property
    def realtime(self) -> bool:
        """As the wrapped source."""
        return self.source.realtime

    async def frames(self):
        """The wrapped source's frames, beating on each."""
        async for frame in self.source.frames():
            self.heartbeat.beat()
            yield frame
        self.heartbeat.stop()  # the source ended: nothing more is expected of the loop

    def close(self) -> None:
        """Close the wrapped source."""
        self.heartbeat.stop()
        self.source.close()


@dataclass
class Liveness:
    """The heartbeats of one running appliance, by name. A front end adds those it runs."""

    beats: dict[str, Heartbeat]

    def add(self, beat: Heartbeat) -> Heartbeat:
        """Watch ``beat`` (replacing one of the same name); returns it."""
        self.beats[beat.name] = beat
        return beat

    def overdue(self) -> list[Heartbeat]:
        """The workers that are hung now, in the order they were added."""
        return [b for b in list(self.beats.values()) if b.overdue()]

    def report(self) -> dict[str, dict[str, object]]:
        """Each worker's :meth:`Heartbeat.state`, for ``health.json``."""
        return {name: b.state() for name, b in list(self.beats.items())}


def watchdog_period_s(environ: dict[str, str] | None = None) -> float | None:
    """The watchdog period systemd asks for, s, or None when there is none.

    From ``WATCHDOG_USEC`` (µs), honoured only when ``WATCHDOG_PID`` is unset or this process's
    pid, as sd_watchdog_enabled(3) specifies. A value that is not a positive integer is ignored.
    """
    env = os.environ if environ is None else environ
    usec, pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
    if not usec:
        return None
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not a number: no watchdog pings", usec)
        return None
    return value / 1e6 if value > 0 else None


class ServiceNotifier:
    """Tells systemd the appliance is ready, and pings its watchdog while no worker is hung.

    The pings run on their own thread every half watchdog period (sd_watchdog_enabled(3)
    recommends pinging at half the period). While a worker is overdue no ping is sent and
    ``STATUS=`` names it, so ``systemctl status kiosk`` says which one hung; systemd restarts the
    service when ``WatchdogSec`` passes without a ping. Without ``NOTIFY_SOCKET`` it sends nothing.

    Args:
        liveness: the workers to check before each ping.
        period_s: the watchdog period, s (default: from ``WATCHDOG_USEC``; None: no pings).
        send: sends one sd_notify message (default: ``sdnotify.SystemdNotifier().notify``).
    """

    def __init__(
        self,
        liveness: Liveness,
        *,
        period_s: float | None = None,
        send: Callable[[str], None] | None = None,
    ):
        self.liveness = liveness
        self.period_s = watchdog_period_s() if period_s is None else period_s
        if send is None:
            import sdnotify

            send = sdnotify.SystemdNotifier().notify
        self.send = send
        self.pings = 0
        self.is_ready = False
        self.withheld: list[str] = []  # the overdue workers when the last ping was withheld
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        """True under systemd (``NOTIFY_SOCKET`` set)."""
        return bool(os.environ.get("NOTIFY_SOCKET"))

    def ready(self, status: str) -> None:
        """``READY=1`` with a one-line ``STATUS=``, and the pings start (when a period is set).
        Called again, only the status changes."""
        if self.is_ready:
            self.status(status)
            return
        self.is_ready = True
        self.send(f"READY=1\nSTATUS={_one_line(status)}\nMAINPID={os.getpid()}")
        if self.period_s and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sd-watchdog", daemon=True)
            self._thread.start()

    def status(self, text: str) -> None:
        """A new ``STATUS=`` line for ``systemctl status``."""
        self.send(f"STATUS={_one_line(text)}")

    def check(self) -> bool:
        """One watchdog round: ping when no worker is overdue (True), else withhold it (False)."""
        overdue = [b.name for b in self.liveness.overdue()]
        if not overdue:
            if self.withheld:
                log.warning("workers moving again: %s", ", ".join(self.withheld))
                self.status("serving")
                self.withheld = []
            self.send("WATCHDOG=1")
            self.pings += 1
            return True
        if overdue != self.withheld:
            log.error("watchdog ping withheld: no progress from %s", ", ".join(overdue))
            self.status(f"hung: {', '.join(overdue)}")
        self.withheld = overdue
        return False

    def close(self) -> None:
        """``STOPPING=1`` and stop pinging."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.send("STOPPING=1")

    def _run(self) -> None:
        assert self.period_s
        interval = self.period_s / 2
        self.check()
        while not self._stop.wait(interval):
            try:
                self.check()
            except Exception:  # a broken probe must not end the pings' thread silently
                log.exception("watchdog round failed")


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]
