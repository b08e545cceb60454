"""``kiosk bench service``: the appliance as systemd runs it, measured under a stand-in notify socket.

- **Boot to READY**: ``kiosk run`` (touchscreen offscreen, voice loop, simulated robot) started as
  its own process, timed from ``Popen`` to its ``READY=1`` datagram; first boot (the demo
  knowledge base is built) and a second boot on the same data; with no models, with the tiny
  synthetic models, and with the real ones when a folder of them is given. Resident memory
  (``VmRSS``) and its peak (``VmHWM``) are read from ``/proc/PID/status`` when READY arrives.
- **Hung worker to missing ping**: ``kiosk run --text`` whose answer worker is made to hang (the
  child wraps ``AnswerEngine._decide`` to block on a marked question: the bench's doing, not the
  appliance's), timed from the question to the last watchdog ping, to the ``STATUS=hung: …``
  message, and to when systemd would restart it (last ping + ``WatchdogSec``).

:class:`NotifyListener` is the stand-in for systemd's side of sd_notify(3): an ``AF_UNIX``
datagram socket that records every message with its arrival time. The tests use it too.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

#: The child for the hang measurement: the real CLI, with the answer worker made to block forever
#: on any question containing HANG_MARK.
HANG_MARK = "HANG-THE-ANSWER-WORKER"
HANG_CHILD = f"""
import sys, threading
from appliance.answer import engine
_decide = engine.AnswerEngine._decide
def _decide_or_hang(self, question, *args, **kwargs):
    if {HANG_MARK!r} in question:
        threading.Event().wait()
    return _decide(self, question, *args, **kwargs)
engine.AnswerEngine._decide = _decide_or_hang
from appliance.cli import main
sys.argv = ["kiosk", *sys.argv[1:]]
main()
"""


@dataclass
class Notice:
    """One sd_notify datagram: arrival (``time.monotonic()``, s) and its ``KEY=value`` lines."""

    t: float
    fields: dict[str, str]


class NotifyListener:
    """systemd's notification socket, stood in for: give :attr:`env` to a child process.

    Args:
        folder: where the socket file is made (its path must stay under 108 bytes).
    """

    def __init__(self, folder: Path):
        self.path = folder / "notify.sock"
        if len(os.fsencode(self.path)) > 100:
            raise ValueError(f"socket path too long for AF_UNIX: {self.path}")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.1)
        self.notices: list[Notice] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notify-listener", daemon=True)
        self._thread.start()

    def env(self, watchdog_s: float | None = None) -> dict[str, str]:
        """``NOTIFY_SOCKET`` (and ``WATCHDOG_USEC`` for a watchdog of ``watchdog_s`` seconds)."""
        env = {"NOTIFY_SOCKET": str(self.path)}
        if watchdog_s:
            env["WATCHDOG_USEC"] = str(int(watchdog_s * 1e6))
        return env

    def _run(self) -> None:
        while not self._closed.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            lines = data.decode("utf-8", "replace").splitlines()
            fields = dict(line.split("=", 1) for line in lines if "=" in line)
            with self._lock:
                self.notices.append(Notice(time.monotonic(), fields))

    def seen(self, key: str, contains: str = "", after: float = 0.0) -> list[Notice]:
        """The notices after ``after`` that set ``key`` to a value containing ``contains``."""
        with self._lock:
            return [n for n in self.notices if n.t > after and key in n.fields and contains in n.fields[key]]

    def wait_for(self, key: str, contains: str = "", *, after: float = 0.0, timeout: float = 60.0) -> Notice | None:
        """The first such notice, waiting up to ``timeout`` s; None if none came."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if found := self.seen(key, contains, after):
                return found[0]
            time.sleep(0.02)
        return None

    def pings(self, after: float = 0.0) -> list[float]:
        """Arrival times of the ``WATCHDOG=1`` pings after ``after``."""
        return [n.t for n in self.seen("WATCHDOG", "1", after)]

    def close(self) -> None:
        """Stop listening and remove the socket file."""
        self._closed.set()
        self._thread.join(timeout=1)
        self.sock.close()
        self.path.unlink(missing_ok=True)


def memory_kb(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` (peak) of process ``pid``, KiB, from ``/proc/PID/status``."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def kiosk_command() -> list[str]:
    """The ``kiosk`` entry point of this interpreter's environment."""
    exe = Path(sys.executable).parent / "kiosk"
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "appliance"]


@dataclass
class Boot:
    """One start of ``kiosk run`` to READY."""

    label: str
    ready_s: float | None  # None: no READY within the budget
    rss_mb: float | None = None
    peak_mb: float | None = None
    status: str = ""
    error: str = ""


def boot(label: str, env: dict[str, str], workdir: Path, *, args: tuple[str, ...] = (), budget_s: float = 300) -> Boot:
    """Start ``kiosk run ARGS`` under a stand-in notify socket; READY time, memory at READY; stop it.

    ``env`` is added to this process's environment (``KIOSK_CONFIG``, ``KIOSK_DATA_DIR`` …); the
    touchscreen runs offscreen.
    """
    listener = NotifyListener(workdir)
    child_env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **env, **listener.env()}
    try:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [*kiosk_command(), "run", *args],
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            ready = None
            while time.monotonic() - t0 < budget_s and proc.poll() is None:
                ready = listener.wait_for("READY", "1", timeout=0.2)
                if ready is not None:
                    break
            if ready is None:
                proc.kill()
                _, err = proc.communicate(timeout=10)
                return Boot(label, None, error=(err or "").strip().splitlines()[-1:][0] if err else "no READY")
            mem = memory_kb(proc.pid)
            return Boot(
                label,
                ready.t - t0,
                mem.get("VmRSS", 0) / 1024,
                mem.get("VmHWM", 0) / 1024,
                ready.fields.get("STATUS", ""),
            )
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.communicate(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.communicate()
    finally:
        listener.close()


@dataclass
class Hang:
    """The answer worker hung at t = 0: when the pings stopped and the status said so."""

    limit_s: float
    watchdog_s: float
    last_ping_s: float | None = None  # the last ping after the hang, s after it
    status_s: float | None = None  # STATUS=hung: … arrived, s after the hang
    restart_s: float | None = None  # systemd would kill it: last ping + WatchdogSec
    pings_before: int = 0
    notices: list[Notice] = field(default_factory=list)


def hang(env: dict[str, str], workdir: Path, *, limit_s: float = 2.0, watchdog_s: float = 1.0) -> Hang:
    """Run ``kiosk run --text --no-llm`` under a stand-in notify socket with a watchdog of
    ``watchdog_s``, ask one ordinary question, then hang the answer worker; measure (see :class:`Hang`).

    Raises:
        RuntimeError: the child sent no READY, or no ping before the hang.
    """
    listener = NotifyListener(workdir)
    child_env = {
        **os.environ,
        **env,
        **listener.env(watchdog_s),
        "KIOSK_SERVICE__ANSWER_LIMIT_S": str(limit_s),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", HANG_CHILD, "run", "--text", "--no-llm", "--robot", "none"],
        env=child_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    result = Hang(limit_s, watchdog_s)
    try:
        if listener.wait_for("READY", "1", timeout=300) is None:
            raise RuntimeError(
                f"no READY from kiosk run --text: {proc.stderr.read() if proc.poll() is not None else ''}"
            )
        assert proc.stdin is not None
        proc.stdin.write("社保卡丢了怎么补办\n")
        proc.stdin.flush()
        time.sleep(limit_s + watchdog_s)  # longer than the limit: an answer that finishes is no hang
        result.pings_before = len(listener.pings())
        if not result.pings_before:
            raise RuntimeError("no watchdog ping before the hang")
        t_hang = time.monotonic()
        proc.stdin.write(f"{HANG_MARK} 社保卡\n")
        proc.stdin.flush()
        status = listener.wait_for("STATUS", "hung", after=t_hang, timeout=limit_s + 10 * watchdog_s)
        time.sleep(2 * watchdog_s)  # no ping may follow
        after = listener.pings(t_hang)
        if after:
            result.last_ping_s = after[-1] - t_hang
            result.restart_s = result.last_ping_s + watchdog_s
        if status is not None:
            result.status_s = status.t - t_hang
        result.notices = list(listener.notices)
        return result
    finally:
        proc.kill()
        proc.communicate()
        listener.close()


REAL_MODELS_TOML = """\
[llm]
enabled = true
model = "qwen2.5-coder-0.5b-instruct-q4_k_m"

[asr]
model = "faster-whisper-base"

[tts.voices]
en = "piper-en_US-joe-medium"
"""
"""Selects the models ``../shared/models/get-real-models`` lays out (Chinese speech: espeak-ng)."""


def _setup(name: str, workdir: Path, models_toml: str, models_from: Path | None) -> dict[str, str]:
    """A data folder and a settings file for one configuration; its models imported from
    ``models_from`` (an archive or a folder). Returns the child's environment."""
    from typer.testing import CliRunner

    from appliance.cli import app

    data = workdir / name / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = workdir / name / "kiosk.toml"
    config.write_text(f'data_dir = "{data}"\n\n{models_toml}', encoding="utf-8")
    env = {"KIOSK_CONFIG": str(config)}
    if models_from is not None:
        r = CliRunner().invoke(app, ["models", "import", str(models_from)], env=env)
        if r.exit_code != 0:
            raise RuntimeError(f"kiosk models import {models_from}: {r.stdout.strip()}")
    return env


def run(workdir: Path, say, *, real: Path | None, boots: int = 2) -> None:
    """The whole bench (see the module docstring), printing with ``say``."""
    from models.tiny import TINY_SETTINGS_TOML, write_tiny_models_archive

    configs: list[tuple[str, str, Path | None]] = [("no models", "", None)]
    configs.append(("tiny models", TINY_SETTINGS_TOML, write_tiny_models_archive(workdir / "tiny.tar.gz")))
    if real is not None:
        configs.append(("real models", REAL_MODELS_TOML, real))
    say("kiosk run (touchscreen offscreen, voice loop, simulated robot) to READY=1, under a stand-in notify socket:")
    say(f"  {'models':14s}{'boot':>6s}{'READY s':>9s}{'RSS MB':>8s}{'peak MB':>9s}  status")
    for name, toml, models_from in configs:
        env = _setup(name.replace(" ", "-"), workdir, toml, models_from)
        for i in range(boots):
            b = boot(name, env, workdir, args=("--robot", "sim"))
            label = "first" if i == 0 else f"{i + 1}"
            if b.ready_s is None:
                say(f"  {name:14s}{label:>6s}  no READY: {b.error}")
                continue
            say(f"  {name:14s}{label:>6s}{b.ready_s:9.2f}{b.rss_mb:8.0f}{b.peak_mb:9.0f}  {b.status}")
    say("first boot builds the demo knowledge base (and embeds it, when an embedder is installed)")
    h = hang(_setup("hang", workdir, "", None), workdir)
    say(
        f"answer worker hung (limit [service] answer_limit_s = {h.limit_s:g} s, WatchdogSec = {h.watchdog_s:g} s; "
        f"{h.pings_before} pings before the hang):"
    )
    say(f"  last watchdog ping   {_s(h.last_ping_s)} after the hang")
    say(f"  STATUS=hung: answers {_s(h.status_s)}")
    say(f"  systemd's restart    {_s(h.restart_s)} (last ping + WatchdogSec)")


def _s(value: float | None) -> str:
    return f"{value:6.2f} s" if value is not None else "   none"
