"""The simulated controller on a real port: a pseudo-terminal pair or a TCP socket, with a model of
the wire's speed and fault injection on whole frames in both directions.

Pseudo-terminal: the host opens a stable symlink (like udev's ``/dev/serial/by-id/...``) that
points at the current ``/dev/pts/N``; an unplug closes the pair (the host's reads fail as on a USB
unplug), a replug makes a new pair and moves the symlink. TCP: the host opens
``socket://127.0.0.1:PORT``; an unplug drops the connection and refuses new ones until the replug.
"""

from __future__ import annotations

import contextlib
import os
import queue
import random
import select
import socket
import tempfile
import threading
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path

from firmware_bridge.framing import DELIMITER
from firmware_bridge.sim.controller import SimController


@dataclass
class Faults:
    """Fault injection, applied to each frame independently, in each direction.

    Attributes:
        drop: probability a frame is lost.
        corrupt: probability one bit of a frame is flipped (the CRC or COBS check must catch it).
        duplicate: probability a frame is delivered twice.
        latency_ms: added one-way delay, ms (order is kept).
        seed: random seed (None: a random one).
    """

    drop: float = 0.0
    corrupt: float = 0.0
    duplicate: float = 0.0
    latency_ms: float = 0.0
    seed: int | None = None


@dataclass(frozen=True)
class Wire:
    """How long bytes take on the wire.

    kind 'pty': no pacing (as fast as the kernel moves them). 'uart': 10 bits per byte (8N1) at
    ``baud``. 'usb-fs': USB 2.0 full speed CDC-ACM, where bulk data waits for the next 1 ms USB frame
    and then moves at up to 19 x 64-byte packets per frame (1.216 MB/s; USB 2.0 spec, 5.8.4).
    """

    kind: str = "pty"
    baud: int = 115200

    def delay_s(self, nbytes: int, now: float) -> float:
        """Seconds until ``nbytes`` sent at ``now`` (monotonic s) have arrived."""
        if self.kind == "uart":
            return nbytes * 10 / self.baud
        if self.kind == "usb-fs":
            to_next_frame = 1e-3 - (now % 1e-3)
            return to_next_frame + nbytes / 1.216e6
        return 0.0

    def describe(self) -> str:
        """'115200 baud (8N1)', 'USB full speed' or 'pseudo-terminal'."""
        return {"uart": f"{self.baud} baud (8N1)", "usb-fs": "USB full speed (12 Mbit/s)"}.get(
            self.kind, "pseudo-terminal"
        )


@dataclass
class LineCounters:
    """What the fault injector did in one direction."""

    frames: int = 0
    dropped: int = 0
    corrupted: int = 0
    duplicated: int = 0
    overflow_bytes: int = 0


@dataclass
class FaultyLine:
    """One direction of the wire: splits bytes into frames and applies :class:`Faults` to each."""

    faults: Faults
    rng: random.Random
    counters: LineCounters = field(default_factory=LineCounters)
    _partial: bytearray = field(default_factory=bytearray)

    def frames(self, data: bytes) -> list[bytes]:
        """The frames (each ending in the delimiter) to deliver for received ``data``, after faults."""
        self._partial.extend(data)
        out: list[bytes] = []
        while True:
            end = self._partial.find(DELIMITER)
            if end < 0:
                return out
            packet = bytes(self._partial[: end + 1])
            del self._partial[: end + 1]
            out.extend(self.apply(packet))

    def apply(self, packet: bytes) -> list[bytes]:
        """0, 1 or 2 copies of one frame, maybe with a flipped bit."""
        f, rng, c = self.faults, self.rng, self.counters
        c.frames += 1
        if f.drop and rng.random() < f.drop:
            c.dropped += 1
            return []
        if f.corrupt and rng.random() < f.corrupt and len(packet) > 1:
            i = rng.randrange(len(packet) - 1)  # never the delimiter itself
            damaged = bytearray(packet)
            damaged[i] ^= 1 << rng.randrange(8)
            packet = bytes(damaged)
            c.corrupted += 1
        if f.duplicate and rng.random() < f.duplicate:
            c.duplicated += 1
            return [packet, packet]
        return [packet]


class SimulatedRobot:
    """A :class:`SimController` served on a pseudo-terminal (``kind='pty'``) or TCP (``'tcp'``).

    Args:
        controller_kwargs: passed to :class:`SimController` (device_id, limits, on_action, ...).
        kind: 'pty' or 'tcp'.
        faults: fault injection for both directions (change later with :meth:`set_faults`).
        wire: the speed model.
        link: pty only: the symlink the host opens (default: a new temporary folder's ``robot``).
        tcp_port: tcp only: port to listen on, 0 = any free port.

    Use as a context manager, or call :meth:`start` and :meth:`close`. :attr:`port` is what the host
    opens (a path or a pyserial URL).

    Raises:
        OSError: the pseudo-terminal or socket cannot be created.
    """

    def __init__(
        self,
        *,
        kind: str = "pty",
        faults: Faults | None = None,
        wire: Wire | None = None,
        link: Path | None = None,
        tcp_port: int = 0,
        **controller_kwargs,
    ):
        if kind not in ("pty", "tcp"):
            raise ValueError(f"kind must be 'pty' or 'tcp', not {kind!r}")
        self.kind = kind
        self.wire = wire or Wire()
        self.faults = faults or Faults()
        rng = random.Random(self.faults.seed)
        self.rx = FaultyLine(self.faults, random.Random(rng.random()))
        self.tx = FaultyLine(self.faults, random.Random(rng.random()))
        self._tmp: tempfile.TemporaryDirectory | None = None
        if kind == "pty" and link is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="kiosk-robot-sim-")
            link = Path(self._tmp.name) / "robot"
        self.link = link
        self._tcp_port = tcp_port
        self._lock = threading.Lock()
        self._master: int | None = None
        self._slave: int | None = None
        self._server: socket.socket | None = None
        self._client: socket.socket | None = None
        self._plugged = False
        self._closed = threading.Event()
        self._txq: queue.Queue[tuple[float, bytes] | None] = queue.Queue()
        self.controller = SimController(self._enqueue, **controller_kwargs)
        self._threads: list[threading.Thread] = []

    # -- life cycle ------------------------------------------------------------------------------
    @property
    def port(self) -> str:
        """What the host opens: the pty symlink, or ``socket://127.0.0.1:PORT``."""
        if self.kind == "pty":
            return str(self.link)
        assert self._server is not None
        return f"socket://127.0.0.1:{self._server.getsockname()[1]}"

    def start(self) -> SimulatedRobot:
        """Create the port and start the threads (reader, ticker, writer)."""
        if self.kind == "tcp":
            self._server = socket.create_server(("127.0.0.1", self._tcp_port))
            self._server.settimeout(0.1)
        self.replug()
        for target, name in ((self._read_loop, "sim-rx"), (self._tick_loop, "sim-tick"), (self._write_loop, "sim-tx")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self.controller.hello()
        return self

    def __enter__(self) -> SimulatedRobot:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop everything and remove the port."""
        self._closed.set()
        self._txq.put(None)
        self.unplug()
        for thread in self._threads:
            thread.join(timeout=2)
        self.controller.close()
        if self._server is not None:
            self._server.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def set_faults(self, faults: Faults) -> None:
        """Change fault injection (both directions) from now on."""
        self.faults = faults
        self.rx.faults = self.tx.faults = faults

    def unplug(self) -> None:
        """Pull the cable: the host's reads fail; nothing gets through until :meth:`replug`."""
        with self._lock:
            self._plugged = False
            for fd in (self._master, self._slave):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._master = self._slave = None
            if self._client is not None:
                with contextlib.suppress(OSError):
                    self._client.shutdown(socket.SHUT_RDWR)
                self._client.close()
                self._client = None
            if self.kind == "pty" and self.link is not None:
                with contextlib.suppress(FileNotFoundError):
                    self.link.unlink()

    def replug(self) -> None:
        """Plug the cable back in (pty: a new pair behind the same symlink; tcp: accept again)."""
        with self._lock:
            if self.kind == "pty":
                master, slave = os.openpty()
                tty.setraw(slave)
                os.set_blocking(master, False)
                tmp_link = self.link.with_name(self.link.name + ".new")
                with contextlib.suppress(FileNotFoundError):
                    tmp_link.unlink()
                os.symlink(os.ttyname(slave), tmp_link)
                os.replace(tmp_link, self.link)
                self._master, self._slave = master, slave
            self._plugged = True

    # -- threads ---------------------------------------------------------------------------------
    def _receive(self) -> bytes | None:
        """Bytes from the host, b'' when none within 50 ms, None when unplugged."""
        with self._lock:
            master, client, plugged = self._master, self._client, self._plugged
        if not plugged:
            return None
        if self.kind == "tcp" and client is None:
            self._accept()
            return b""
        fd = master if self.kind == "pty" else client
        try:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                return b""
            data = os.read(fd, 4096) if self.kind == "pty" else client.recv(4096)
        except (OSError, ValueError):
            return None
        if self.kind == "tcp" and not data:  # the host closed the connection
            with self._lock:
                if self._client is client:
                    client.close()
                    self._client = None
            self.controller.dedup.reset()
            return b""
        return data

    def _accept(self) -> None:
        try:
            conn, _ = self._server.accept()
        except (TimeoutError, OSError):
            return
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            if not self._plugged:
                conn.close()
                return
            self._client = conn

    def _read_loop(self) -> None:
        while not self._closed.is_set():
            data = self._receive()
            if data is None:
                time.sleep(0.05)
                continue
            if not data:
                continue
            delay = self.wire.delay_s(len(data), time.monotonic())
            if delay:
                time.sleep(delay)
            for packet in self.rx.frames(data):
                if self.faults.latency_ms:
                    time.sleep(self.faults.latency_ms / 1e3)
                self.controller.feed(packet)

    def _tick_loop(self) -> None:
        while not self._closed.wait(0.01):
            self.controller.tick()

    def _enqueue(self, data: bytes) -> None:
        """The controller's write: through the fault injector, delayed by the latency."""
        due = time.monotonic() + self.faults.latency_ms / 1e3
        for packet in self.tx.frames(data):
            self._txq.put((due, packet))

    def _write_loop(self) -> None:
        while True:
            item = self._txq.get()
            if item is None:
                return
            due, packet = item
            now = time.monotonic()
            wait = max(0.0, due - now) + self.wire.delay_s(len(packet), now)
            if wait:
                time.sleep(wait)
            self._write(packet)

    def _write(self, data: bytes) -> None:
        with self._lock:
            master, client = self._master, self._client
        try:
            if self.kind == "pty" and master is not None:
                os.write(master, data)
            elif client is not None:
                client.sendall(data)
        except BlockingIOError:  # nobody reads the pty: like a UART, the bytes are lost
            self.tx.counters.overflow_bytes += len(data)
        except OSError:
            pass
