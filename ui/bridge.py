"""Crossing into the GUI thread, and keeping heavy work off it.

Qt objects belong to the thread that made them; the appliance's events arrive on other threads
(the voice loop, the text-conversation worker, the tour runner, the robot link). :class:`Bridge`
carries a callable from any thread to the GUI thread through a signal, which Qt delivers as a
queued connection because the receiver lives in the GUI thread. :class:`Background` runs blocking
work (a PIN's scrypt hash, SQLite reads, a network probe) on a small thread pool and hands the
result back through the bridge, so the GUI thread only ever sets properties.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

log = logging.getLogger(__name__)


class Bridge(QObject):
    """Runs callables on the thread this object lives in (the GUI thread)."""

    _posted = Signal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._posted.connect(self._run, Qt.ConnectionType.QueuedConnection)

    def post(self, fn: Callable[[], Any]) -> None:
        """Queue ``fn`` to run on the GUI thread (any thread; returns at once)."""
        self._posted.emit(fn)

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., None]:
        """``fn`` made callable from any thread: each call is posted to the GUI thread."""

        def posted(*args: Any) -> None:
            self.post(lambda: fn(*args))

        return posted

    @Slot(object)
    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except Exception:
            log.exception("GUI callback failed")


class Background:
    """Blocking work on worker threads, results delivered on the GUI thread.

    Args:
        bridge: delivers the results.
        workers: threads in the pool (2: a slow job does not hold up the next).
    """

    def __init__(self, bridge: Bridge, workers: int = 2):
        self.bridge = bridge
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ui-work")

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> Future:
        """Run ``fn`` on a worker; then ``on_done(result)`` or ``on_error(exc)`` on the GUI thread.

        An exception without ``on_error`` is logged.
        """

        def finished(future: Future) -> None:
            if future.cancelled():
                return
            exc = future.exception()
            if exc is not None:
                if on_error is not None:
                    self.bridge.post(lambda: on_error(exc))
                else:
                    log.error("background job failed", exc_info=exc)
            elif on_done is not None:
                result = future.result()
                self.bridge.post(lambda: on_done(result))

        future = self._pool.submit(fn)
        future.add_done_callback(finished)
        return future

    def close(self) -> None:
        """Wait for running jobs; drop queued ones."""
        self._pool.shutdown(wait=True, cancel_futures=True)
