"""The host end of the link: connect, handshake, heartbeat, reliable commands, events, reconnect.

:class:`RobotLink` owns one supervisor thread that opens the port, runs the HELLO handshake, sends
HEARTBEATs (~5 Hz), watches the controller's heartbeats and reconnects with exponential backoff
when the port fails, the controller falls silent or reboots. pyserial's ``serial.threaded``
ReaderThread turns bytes into frames; events from the controller are handed to ``on_event`` on a
dispatcher thread of their own, so a handler may send commands. While no controller is connected,
commands fail at once with :class:`NotConnected` (degraded mode): the appliance carries on without a
body.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import serial
import serial.threaded

from firmware_bridge import messages as m
from firmware_bridge.framing import PROTOCOL_VERSION, DecoderStats, Flags, Frame, FrameError, decode, encode
from firmware_bridge.reliable import CommandTimeout, DuplicateFilter, LinkError, NotConnected, ReliableSender
from firmware_bridge.transport import FrameProtocol, ReaderThread, open_port

log = logging.getLogger(__name__)


class VersionMismatch(LinkError):
    """The controller speaks another protocol version; the message names both."""


class Unsupported(LinkError):
    """The controller lacks the capability a command needs (from its HELLO)."""


class LinkState(str, enum.Enum):  # enum.StrEnum on 3.11+
    """Where the link is."""

    __str__ = str.__str__  # the value, as StrEnum's

    DISCONNECTED = "disconnected"  # no port, or waiting to retry (degraded mode)
    CONNECTING = "connecting"  # port open, handshake running
    CONNECTED = "connected"
    INCOMPATIBLE = "incompatible"  # a controller answered with another protocol version
    CLOSED = "closed"


@dataclass(frozen=True)
class Reply:
    """A command's outcome: its seq, the controller's ACK, and the round trip of the attempt that
    got it, ms."""

    seq: int
    ack: m.Ack
    rtt_ms: float

    @property
    def ok(self) -> bool:
        """ACCEPTED or IN_PROGRESS."""
        return self.ack.result in (m.Result.ACCEPTED, m.Result.IN_PROGRESS)


@dataclass
class _DoneBox:
    event: threading.Event
    done: m.Done | None = None


class RobotLink:
    """A connection to one motion/display controller that keeps itself up.

    Args:
        port: a port spec (see :mod:`firmware_bridge.transport`) or a callable returning an open
            pyserial port (tests).
        baudrate: for UARTs, bits/s.
        ack_timeout_s: wait this long for an ACK before retransmitting, s.
        retries: retransmissions per command before :class:`CommandTimeout`.
        heartbeat_hz: host HEARTBEAT rate (the controller's deadman watchdog needs one per 500 ms).
        link_timeout_s: no frame from the controller for this long: the link is considered lost.
        backoff_s: (first, maximum) wait between reconnection attempts, s; doubles each failure.
        host_id: sent in the host's HELLO.
        on_event: called on the dispatcher thread with each controller event message
            (TouchEvent, PresenceEvent, EstopEvent, BatteryEvent, FaultEvent).
        on_state: called with each new :class:`LinkState`.
        on_frame: monitor hook, called with ('rx' | 'tx', Frame) and ('rx', FrameError).
    """

    def __init__(
        self,
        port: str | Callable[[], serial.SerialBase],
        *,
        baudrate: int = 115200,
        ack_timeout_s: float = 0.1,
        retries: int = 5,
        heartbeat_hz: float = 5.0,
        link_timeout_s: float = 1.0,
        backoff_s: tuple[float, float] = (0.2, 5.0),
        host_id: str = "kiosk",
        on_event: Callable[[m.Message], None] | None = None,
        on_state: Callable[[LinkState], None] | None = None,
        on_frame: Callable[[str, Frame | FrameError], None] | None = None,
    ):
        self.port = port
        self.baudrate = baudrate
        self.heartbeat_period_s = 1.0 / heartbeat_hz
        self.link_timeout_s = link_timeout_s
        self.backoff_s = backoff_s
        self.host_id = host_id
        self.on_event = on_event
        self.on_state = on_state
        self.on_frame = on_frame
        self.state = LinkState.DISCONNECTED
        self.error: str | None = None
        self.controller: m.Hello | None = None
        self.health: m.ControllerHeartbeat | None = None
        self.host_state = int(m.HostHealth.APPLIANCE_OK)
        self.sender = ReliableSender(self._write, ack_timeout_s, retries)
        self.sender.abort(NotConnected("robot not connected yet"))
        self.dedup = DuplicateFilter()
        self.counters = {
            "frames_sent": 0,
            "frames_received": 0,
            "reconnects": 0,
            "controller_resets": 0,
            "version_errors": 0,
            "payload_errors": 0,
            "late_acks": 0,
        }
        self._decoded = DecoderStats()  # frames and damage, summed over every connection
        self._reader: serial.threaded.ReaderThread | None = None
        self._write_lock = threading.Lock()
        self._lost = threading.Event()
        self._closed = threading.Event()
        self._connected = threading.Event()
        self._hello_event = threading.Event()
        self._hello: m.Hello | None = None
        self._reset_seen = threading.Event()
        self._last_rx = 0.0
        self._dones: OrderedDict[int, _DoneBox] = OrderedDict()
        self._dones_lock = threading.Lock()
        self._events: queue.Queue[m.Message | None] = queue.Queue()
        self._start = time.monotonic()
        self._threads: list[threading.Thread] = []
        #: ``time.monotonic()`` of the supervisor's last pass: it moves every heartbeat while
        #: connected and every second while waiting to reconnect, so a service watchdog can tell a
        #: hung link thread from a controller that is away (see ``appliance.service``).
        self.progress = time.monotonic()

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> RobotLink:
        """Start the supervisor and event threads (returns at once; see :meth:`wait_connected`)."""
        for target, name in ((self._supervise, "robot-link"), (self._dispatch, "robot-events")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __enter__(self) -> RobotLink:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect and stop the threads."""
        self._closed.set()
        self._lost.set()
        self._events.put(None)
        for thread in self._threads:
            thread.join(timeout=3)
        self._disconnect()
        self._set_state(LinkState.CLOSED)

    def wait_connected(self, timeout: float) -> bool:
        """Block until connected (True) or ``timeout`` s pass (False)."""
        return self._connected.wait(timeout)

    def wait_health(self, timeout: float) -> bool:
        """Block until a controller heartbeat of this connection has arrived (the e-stop and
        watchdog state are known), or ``timeout`` s pass (False)."""
        deadline = time.monotonic() + timeout
        while self.health is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.health is not None

    @property
    def connected(self) -> bool:
        """True while a controller is connected and has answered HELLO."""
        return self.state == LinkState.CONNECTED

    def _set_state(self, state: LinkState, error: str | None = None) -> None:
        changed = state != self.state
        self.state, self.error = state, error
        if state == LinkState.CONNECTED:
            self._connected.set()
        else:
            self._connected.clear()
        if changed:
            log.info("robot link %s%s", state.value, f": {error}" if error else "")
            if self.on_state is not None:
                self.on_state(state)

    # -- supervisor ------------------------------------------------------------------------------
    def _supervise(self) -> None:
        delay = self.backoff_s[0]
        was_connected = False
        while not self._closed.is_set():
            try:
                self._connect()
                hello = self._handshake()
            except VersionMismatch as exc:
                self._disconnect()
                self._set_state(LinkState.INCOMPATIBLE, str(exc))
                self._pause(max(30.0, self.backoff_s[1]))  # new firmware may be flashed meanwhile
                continue
            except (OSError, ValueError, LinkError) as exc:  # incl. PortNotFound, SerialException, timeouts
                self._disconnect()
                self._set_state(LinkState.DISCONNECTED, str(exc))
                self._pause(delay)
                delay = min(delay * 2, self.backoff_s[1])
                continue
            self.controller = hello
            if was_connected:
                self.counters["reconnects"] += 1
            was_connected = True
            delay = self.backoff_s[0]
            why = self._serve()
            if not self._closed.is_set():
                self._set_state(LinkState.DISCONNECTED, why)
            self._disconnect()

    def _pause(self, seconds: float) -> None:
        """Wait ``seconds`` (or until closed), marking :attr:`progress` at least every second."""
        end = time.monotonic() + seconds
        while not self._closed.is_set():
            self.progress = now = time.monotonic()
            if now >= end:
                return
            self._closed.wait(min(1.0, end - now))

    def _serve(self) -> str:
        """Run a connected port until it is lost; a controller reboot is answered with a new
        handshake on the same port, as often as it happens. Returns why the port was given up."""
        while True:
            # A heartbeat before anything else: a controller whose watchdog tripped while we were
            # away accepts motion again before the first command arrives.
            if not self._heartbeat():
                return "port lost"
            self.sender.resume()
            self._set_state(LinkState.CONNECTED)
            why = self._keep_alive()
            self.sender.abort(NotConnected(f"robot link lost: {why}"))
            if why != "controller reset":
                return why
            self.counters["controller_resets"] += 1
            self._set_state(LinkState.CONNECTING, why)
            try:
                self.controller = self._handshake()
            except (LinkError, OSError) as exc:
                return str(exc)

    def _connect(self) -> None:
        self._set_state(LinkState.CONNECTING, self.error)
        port = self.port() if callable(self.port) else open_port(self.port, self.baudrate)
        port.reset_input_buffer()  # bytes the controller sent while nobody listened are stale
        self._lost.clear()
        protocol = FrameProtocol(self._on_frame, self._on_lost, self._on_decode_error, self._decoded)
        reader = ReaderThread(port, lambda: protocol)
        reader.daemon = True
        reader.start()
        reader.connect()
        self._reader = reader

    def _disconnect(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            try:
                reader.close()
            except (OSError, serial.SerialException, RuntimeError) as exc:
                log.debug("closing the port: %s", exc)

    def _handshake(self) -> m.Hello:
        """HELLO both ways. Raises VersionMismatch or CommandTimeout."""
        self._hello_event.clear()
        self._hello = None
        self._reset_seen.clear()
        hello = m.Hello(PROTOCOL_VERSION, 1, 0, 0, 0, self.host_id)
        timeout = max(0.25, self.sender.ack_timeout_s * 2)
        for _ in range(max(3, self.sender.retries + 1)):
            if not self._send_plain(hello):
                raise NotConnected("cannot write to the port during the handshake")
            if self._hello_event.wait(timeout):
                theirs = self._hello
                assert theirs is not None
                if theirs.protocol != PROTOCOL_VERSION:
                    raise VersionMismatch(
                        f"the controller {theirs.device_id!r} (firmware {theirs.firmware}) speaks protocol "
                        f"v{theirs.protocol}; this kiosk speaks v{PROTOCOL_VERSION}: update one of them"
                    )
                self.dedup.reset()
                self.health = None  # until this connection's first heartbeat
                self._last_rx = time.monotonic()
                return theirs
            if self._lost.is_set():
                raise NotConnected("port closed during the handshake")
        raise CommandTimeout(
            f"no HELLO from a controller on {self._port_name()} "
            f"(is it powered, running the kiosk firmware, at {self.baudrate} baud?)"
        )

    def _keep_alive(self) -> str:
        """Send heartbeats until the link is lost; return why it ended."""
        next_beat = time.monotonic()
        while True:
            self.progress = time.monotonic()
            if self._closed.is_set():
                return "closed"
            if self._lost.is_set():
                return "port lost"
            reader = self._reader
            if reader is None or not reader.is_alive():
                # pyserial's reader thread can die on an OSError it does not catch (EIO from
                # in_waiting after a hang-up) without calling connection_lost.
                return "port lost (reader stopped)"
            if self._reset_seen.is_set():
                return "controller reset"
            now = time.monotonic()
            if now - self._last_rx > self.link_timeout_s:
                return f"no frame from the controller for {self.link_timeout_s * 1e3:.0f} ms"
            if now >= next_beat:
                if not self._heartbeat():
                    return "port lost"
                next_beat += self.heartbeat_period_s
                if next_beat < now:
                    next_beat = now + self.heartbeat_period_s
            self._lost.wait(min(0.02, max(0.0, next_beat - time.monotonic())))

    def _heartbeat(self) -> bool:
        """Send one HEARTBEAT; False when the port failed."""
        uptime = int((time.monotonic() - self._start) * 1e3) & 0xFFFFFFFF
        return self._send_plain(m.HostHeartbeat(uptime, self.host_state))

    def _port_name(self) -> str:
        return self.port if isinstance(self.port, str) else getattr(self.port, "__name__", "port")

    # -- wire ------------------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        reader = self._reader
        if reader is None or self._lost.is_set():
            raise NotConnected("robot not connected")
        with self._write_lock:
            reader.write(data)
        self.counters["frames_sent"] += 1
        if self.on_frame is not None:
            self.on_frame("tx", decode(data[:-1]))

    def _on_lost(self, exc: BaseException | None) -> None:
        if exc is not None:
            log.info("robot port lost: %s", exc)
        self._lost.set()

    def _on_decode_error(self, error: FrameError) -> None:
        if self.on_frame is not None:
            self.on_frame("rx", error)

    def _on_frame(self, frame: Frame) -> None:
        """Reader thread: one valid frame from the controller."""
        self.counters["frames_received"] += 1
        self._last_rx = time.monotonic()
        if self.on_frame is not None:
            self.on_frame("rx", frame)
        if frame.version != PROTOCOL_VERSION and frame.type != m.MsgType.HELLO:
            self.counters["version_errors"] += 1
            return
        try:
            message = m.unpack(frame.type, frame.payload, m.CONTROLLER_TO_HOST)
        except m.PayloadError as exc:
            self.counters["payload_errors"] += 1
            log.warning("robot: bad %s payload: %s", frame.type, exc)
            if frame.reliable:  # acknowledge, so the controller does not retry forever
                self._send_ack(m.Ack(frame.seq, m.result_for(exc.reason), exc.reason, m.clip_utf8(str(exc), 48)))
            return
        if isinstance(message, m.Hello):
            self._on_hello(frame, message)
        elif isinstance(message, m.Ack):
            if not self.sender.on_ack(message):
                self.counters["late_acks"] += 1
        elif isinstance(message, m.ControllerHeartbeat):
            previous, self.health = self.health, message
            wrapped = previous is not None and previous.uptime_ms > 0xFFFFFFFF - 60_000  # 49.7 days
            if (
                previous is not None
                and message.uptime_ms + 1000 < previous.uptime_ms
                and not wrapped
                and self.connected
            ):
                self._reset_seen.set()  # uptime went backwards: the controller rebooted
        elif frame.reliable:
            previous_ack = self.dedup.seen(frame.seq)
            if previous_ack is not None:
                self._send_ack(previous_ack)
                return
            ack = m.Ack(frame.seq, m.Result.ACCEPTED)
            self.dedup.remember(frame.seq, ack)
            self._send_ack(ack)
            if isinstance(message, m.Done):
                self._on_done(message)
            else:
                self._events.put(message)

    def _on_hello(self, frame: Frame, hello: m.Hello) -> None:
        if frame.flags & Flags.REPLY:
            if not self._hello_event.is_set():  # the answer to our HELLO (a late duplicate is ignored)
                self._hello = hello
                self._hello_event.set()
        elif self.connected:
            self._reset_seen.set()  # an unprompted HELLO while connected: the controller rebooted

    def _send_ack(self, ack: m.Ack) -> None:
        self._send_plain(ack)

    def _send_plain(self, message: m.Message) -> bool:
        """Send an unacknowledged frame under a fresh seq; False when the port is down."""
        try:
            self._write(encode(Frame(message.TYPE, self.sender.next_seq(), Flags.NONE, message.pack())))
        except (OSError, NotConnected):
            return False
        return True

    def _dispatch(self) -> None:
        while True:
            message = self._events.get()
            if message is None:
                return
            if self.on_event is not None:
                try:
                    self.on_event(message)
                except Exception:
                    log.exception("robot event handler failed on %s", message)

    # -- commands --------------------------------------------------------------------------------
    def request(self, message: m.Message, *, priority: bool = False) -> Reply:
        """Send a reliable command and return the controller's reply.

        Raises:
            NotConnected: no controller (degraded mode) or the link went down meanwhile.
            Unsupported: the controller's HELLO lacks the capability the command needs.
            CommandTimeout: no ACK after every retry.
        """
        self._check_capability(message)
        box = None
        if message.TYPE in (m.MsgType.GESTURE, m.MsgType.TURN):
            box = _DoneBox(threading.Event())
        try:
            seq, ack, rtt = self.sender.send(message, priority=priority)
        except OSError as exc:
            raise NotConnected(f"robot port error: {exc}") from exc
        if box is not None and ack.result == m.Result.IN_PROGRESS:
            with self._dones_lock:
                existing = self._dones.get(seq)
                if existing is None:
                    self._dones[seq] = box
                    while len(self._dones) > 64:
                        self._dones.popitem(last=False)
        return Reply(seq, ack, rtt)

    def wait_done(self, seq: int, timeout: float) -> m.Done | None:
        """The DONE of the long motion started by command ``seq``, or None after ``timeout`` s."""
        with self._dones_lock:
            box = self._dones.get(seq)
            if box is None:
                box = self._dones[seq] = _DoneBox(threading.Event())
        box.event.wait(timeout)
        return box.done

    def _on_done(self, done: m.Done) -> None:
        with self._dones_lock:
            box = self._dones.get(done.cmd_seq)
            if box is None:  # the DONE overtook the ACK's bookkeeping
                box = self._dones[done.cmd_seq] = _DoneBox(threading.Event())
            box.done = done
            box.event.set()

    def stream(self, message: m.Message) -> bool:
        """Send an unacknowledged message (MOUTH). Returns False when not connected."""
        if not self.connected or not self._has_capability(message):
            return False
        return self._send_plain(message)

    def _has_capability(self, message: m.Message) -> bool:
        need = m.REQUIRES.get(message.TYPE)
        return need is None or self.controller is None or bool(self.controller.capabilities & need)

    def _check_capability(self, message: m.Message) -> None:
        if not self._has_capability(message):
            need = m.REQUIRES[message.TYPE]
            raise Unsupported(f"the controller {self.controller.device_id!r} has no {need.name} ({message.TYPE.name})")

    # -- diagnosis -------------------------------------------------------------------------------
    def stats(self) -> dict:
        """Counters and round-trip percentiles, for ``kiosk robot status`` and health."""
        d = self._decoded
        return {
            **self.counters,
            "duplicates_received": self.dedup.duplicates,
            "crc_errors": d.crc_errors,
            "cobs_errors": d.cobs_errors,
            "other_frame_errors": d.length_errors + d.short_errors + d.overflows,
            "bytes_received": d.bytes,
            "commands": self.sender.sent - self.sender.retransmissions,
            "retries": self.sender.retransmissions,
            "timeouts": self.sender.timeouts,
            "rtt_ms": self.sender.rtt.summary(),
        }
