"""Health of the running appliance, for staff screens and ``kiosk health``.

A running front end (``kiosk run``) writes ``DATA_DIR/health.json`` every few seconds, atomically
(write to a temporary file, then rename), so that a field engineer, a monitoring script or the
touchscreen's staff page can read it without talking to the process. A report older than three
periods means the appliance is not running (or hung).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HEALTH_FILE = "health.json"
PERIOD_S = 5.0


def robot_health(robot) -> dict[str, Any]:
    """The body's part of the report: 'none' (configured without one), 'degraded' (a controller
    is configured but not connected: the appliance runs without a body) or 'ok', plus the link's
    status (state, error, controller, health, e-stop, counters)."""
    if robot is None:
        return {"mode": "none"}
    status = robot.status()
    mode = "ok" if status["state"] == "connected" else "degraded"
    if status["estop_latched"]:
        mode = "estop"
    return {"mode": mode, **status}


def appliance_health(appliance) -> dict[str, Any]:
    """The knowledge base (version, and ``kb``: what it holds, see
    :meth:`appliance.knowledge.origin.KbState.as_dict` — ``kind`` 'empty', 'demo', 'mixed' or
    'site', document counts, a one-line ``summary``), the models in use, the operator notes and
    the outbox of messages to staff (rows per state, emergencies not yet delivered, last error)."""
    engine = appliance.engine
    outbox = None
    if appliance.journal is not None:
        st = appliance.journal.outbox.status()
        outbox = {
            "counts": st.counts,
            "emergencies_waiting": st.emergencies_waiting,
            "oldest_emergency_s": st.oldest_emergency_s,
            "last_error": st.last_error,
            "last_sent": st.last_sent,
        }
    return {
        "kb_version": appliance.kb.version,
        "kb": appliance.kb_state().as_dict(),
        "llm": engine.llm.name if engine.llm is not None else None,
        "embedding": appliance.kb.embedding_model,
        "notes": list(appliance.notes),
        "outbox": outbox,
        "sync": sync_health(appliance.settings),
    }


def sync_health(settings) -> dict[str, Any]:
    """The knowledge base's sync: enabled, the version in use and its channels, the last
    successful sync and the last error (:class:`appliance.sync.client.SyncState`)."""
    from appliance.sync.client import STATE_FILE, SyncState

    state = SyncState.load(settings.sync_dir / STATE_FILE)
    current = state.current_entry()
    return {
        "enabled": settings.sync.enabled,
        "version": current.file if current else None,
        "channels": current.channels if current else {},
        "last_success": state.last_success,
        "last_error": state.last_error,
    }


class HealthWriter:
    """Writes a report built from ``parts`` to ``path`` every ``period_s`` seconds on its own thread.

    Args:
        path: the JSON file (its folder is created).
        parts: name -> function returning that part of the report (called on the writer thread).
    """

    def __init__(self, path: Path, parts: dict[str, Callable[[], dict[str, Any]]], period_s: float = PERIOD_S):
        self.path = path
        self.parts = parts
        self.period_s = period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health", daemon=True)

    def start(self) -> HealthWriter:
        """Write once now, then periodically."""
        self.write()
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop writing and mark the report as stopped."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self.write(running=False)

    def report(self, running: bool = True) -> dict[str, Any]:
        """The report as a dict: time, pid, running, period and each part."""
        data: dict[str, Any] = {"time": time.time(), "pid": os.getpid(), "running": running, "period_s": self.period_s}
        for name, part in self.parts.items():
            try:
                data[name] = part()
            except Exception as exc:  # a broken part must not stop the others
                data[name] = {"mode": "error", "error": str(exc)}
        return data

    def write(self, running: bool = True) -> None:
        """Write the report atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".health-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self.report(running), f, ensure_ascii=False, default=str)
        os.replace(tmp, self.path)

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self.write()


def read_health(path: Path) -> tuple[dict[str, Any] | None, str]:
    """The last report and a verdict: 'running', 'stopped' (closed cleanly), 'stale' (the writer
    stopped without closing: crashed or hung) or 'missing'."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, "missing"
    except (OSError, ValueError):
        return None, "missing"
    if not data.get("running"):
        return data, "stopped"
    if time.time() - data.get("time", 0) > 3 * data.get("period_s", PERIOD_S):
        return data, "stale"
    return data, "running"
