"""Syncing in the background while the kiosk runs: whenever the network is up, at once when it
comes back, then every ``interval_s`` with ±20 % jitter (so twenty kiosks of one street office do
not all ask in the same second)."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from appliance.network import NetworkProbe
from appliance.sync.client import SyncClient, SyncError

__all__ = ["SyncLoop"]

log = logging.getLogger(__name__)

#: The spread of the sync interval: each wait is interval × uniform(1 − JITTER, 1 + JITTER).
JITTER = 0.2


class SyncLoop:
    """Runs :meth:`SyncClient.sync` on its own thread (see the module docstring).

    Args:
        client: the sync client (its failures are recorded in its state; the loop goes on).
        probe: tells whether the network is up (None: always try).
        interval_s: time between syncs while online, seconds.
        check_every_s: how often the network is checked, seconds.
        clock: monotonic seconds; rng: the jitter's random source.
    """

    def __init__(
        self,
        client: SyncClient,
        probe: NetworkProbe | None,
        interval_s: float,
        check_every_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ):
        self.client = client
        self.probe = probe
        self.interval_s = interval_s
        self.check_every_s = check_every_s
        self.clock = clock
        self.rng = rng or random.Random()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kb-sync", daemon=True)
        self._online: bool | None = None
        self._next = 0.0
        self.runs = 0

    def step(self) -> bool:
        """One check: sync when online and due, or just back online. True when a sync ran."""
        online = self.probe.check().online if self.probe is not None else True
        came_back = online and self._online is False
        self._online = online
        if not online or (self.clock() < self._next and not came_back):
            return False
        self.runs += 1
        try:
            report = self.client.sync()
            if report.installed is not None:
                log.info("sync installed %s", report.installed.describe())
        except SyncError:
            pass  # recorded in the sync state, shown by `kiosk health` and the staff screen
        except Exception:  # a bug must not end the loop: the kiosk keeps answering
            log.exception("sync failed unexpectedly")
        self._next = self.clock() + self.interval_s * self.rng.uniform(1 - JITTER, 1 + JITTER)
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            self.step()
            self._stop.wait(self.check_every_s)

    def start(self) -> SyncLoop:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop after the current sync (a sync in progress finishes or fails on its timeout)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
