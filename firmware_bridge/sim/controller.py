"""The simulated motion and display controller: the controller side of PROTOCOL.md, in Python.

It keeps the rules a firmware must keep (limits, deadman watchdog, e-stop latch, duplicate
suppression) so the host can be tested against them, and records what the body did. It knows
nothing of ports: bytes come in through :meth:`SimController.feed`, go out through ``write``, and
time advances through :meth:`SimController.tick` (see :mod:`firmware_bridge.sim.ports`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from firmware_bridge import messages as m
from firmware_bridge.framing import PROTOCOL_VERSION, Flags, Frame, StreamDecoder, encode
from firmware_bridge.messages import Limits
from firmware_bridge.reliable import EVENT_GIVE_UP_S, CommandTimeout, DuplicateFilter, NotConnected, ReliableSender

log = logging.getLogger(__name__)

ALL_CAPABILITIES = int(
    m.Capability.HEAD
    | m.Capability.ARMS
    | m.Capability.BASE
    | m.Capability.FACE
    | m.Capability.LED
    | m.Capability.DISPLAY
    | m.Capability.TOUCH
    | m.Capability.PRESENCE
    | m.Capability.BATTERY
    | m.Capability.ESTOP
)


GESTURE_MS = {
    m.Gesture.WAVE: 2000,
    m.Gesture.NOD: 900,
    m.Gesture.POINT_LEFT: 1500,
    m.Gesture.POINT_RIGHT: 1500,
    m.Gesture.BOW: 2500,
    m.Gesture.IDLE_BREATHE: 4000,
}
"""How long the simulated arms take for each gesture, ms."""

WATCHDOG_S = 0.5
"""Deadman watchdog: no host HEARTBEAT for this long stops all motion (PROTOCOL.md, "Safety")."""
HEARTBEAT_PERIOD_S = 0.2
MOUTH_TIMEOUT_S = 0.2


def trapezoid_s(distance: float, speed: float, accel: float) -> float:
    """Time to move ``distance`` (deg) from rest to rest at top speed ``speed`` (deg/s) and
    acceleration ``accel`` (deg/s^2): the trapezoidal profile, triangular when too short to reach
    top speed."""
    distance = abs(distance)
    if distance == 0:
        return 0.0
    ramp = speed * speed / accel  # distance spent accelerating and decelerating
    if distance <= ramp:
        return 2.0 * (distance / accel) ** 0.5
    return 2.0 * speed / accel + (distance - ramp) / speed


def _limit_violation(seq: int, *checks: tuple[str, float, tuple[float, float], m.Reason]) -> m.Ack | None:
    """A REJECTED_LIMIT ACK for the first (name, value, (low, high), reason) outside its range,
    with the value and the range in the detail ("pan 120 outside -90..90"); None when all are in."""
    for name, value, (low, high), reason in checks:
        if not low <= value <= high:
            return m.Ack(seq, m.Result.REJECTED_LIMIT, reason, f"{name} {value:g} outside {low:g}..{high:g}")
    return None


@dataclass
class Motion:
    """A long motion in progress: the command's seq, what it is, when it ends (monotonic s)."""

    seq: int
    what: str
    ends: float


@dataclass
class BodyState:
    """What the simulated body is doing (read it under :attr:`SimController.lock`)."""

    pan: float = 0.0
    tilt: float = 0.0
    heading: float = 0.0
    face: m.Face = m.Face.NEUTRAL
    mouth: int = 0
    led: tuple[int, int, int, m.LedPattern] = (0, 0, 0, m.LedPattern.OFF)
    display: str = ""
    arms: Motion | None = None
    base: Motion | None = None
    estop_latched: bool = False
    estop_pressed: bool = False
    watchdog_tripped: bool = False
    battery_pct: int = 87
    charging: bool = False
    fault_code: int = 0


@dataclass
class ControllerCounters:
    """What the controller has seen, for tests and ``kiosk robot sim`` (duplicates: ``dedup``)."""

    executed: int = 0
    rejected: int = 0
    watchdog_trips: int = 0
    resets: int = 0
    mouth_frames: int = 0
    events_lost: int = 0
    last_stop_reason: str = ""
    stopped_at: float | None = None  # monotonic time all motion last stopped


class SimController:
    """Protocol engine of the simulated controller.

    Args:
        write: sends encoded bytes towards the host (must not block for long).
        device_id: reported in HELLO.
        capabilities: :class:`~firmware_bridge.messages.Capability` bits.
        limits: enforced joint limits.
        firmware: (major, minor, patch).
        protocol: the protocol version it claims (change it to test a mismatch).
        on_action: called with a one-line description of everything the body does.
        ack_timeout_s, retries: for its own reliable frames (DONE, events).
    """

    def __init__(
        self,
        write: Callable[[bytes], None],
        *,
        device_id: str = "sim-0001",
        capabilities: int = ALL_CAPABILITIES,
        limits: Limits | None = None,
        firmware: tuple[int, int, int] = (1, 0, 0),
        protocol: int = PROTOCOL_VERSION,
        on_action: Callable[[str], None] | None = None,
        ack_timeout_s: float = 0.1,
        retries: int = 10,
    ):
        self.write = write
        self.device_id = device_id
        self.capabilities = capabilities
        self.limits = limits or Limits()
        self.firmware = firmware
        self.protocol = protocol
        self.on_action = on_action or (lambda text: None)
        self.lock = threading.RLock()
        self.state = BodyState()
        self.counters = ControllerCounters()
        self.executed: list[tuple[int, m.Message]] = []  # (seq, command) in execution order
        self.decoder = StreamDecoder()
        self.dedup = DuplicateFilter()
        self.sender = ReliableSender(self._write, ack_timeout_s, retries)
        self._ack_timeout_s, self._retries = ack_timeout_s, retries
        self._outbox: list[list] = []  # [message, seq or None until first sent, first send time]
        self._outbox_ready = threading.Condition()
        self._boot = time.monotonic()
        self._host_hello = False
        self._last_host_hb: float | None = None
        self._last_mouth = 0.0
        self._next_heartbeat = 0.0
        self._closed = False
        self._outbox_thread = threading.Thread(target=self._send_events, name="sim-events", daemon=True)
        self._outbox_thread.start()

    # -- wire ------------------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        try:
            self.write(data)
        except OSError as exc:  # nobody on the line: like a UART, the bytes are simply gone
            log.debug("sim write failed: %s", exc)

    def _send(self, message: m.Message, seq: int = 0, flags: Flags = Flags.NONE) -> None:
        self._write(encode(Frame(message.TYPE, seq, flags, message.pack(), PROTOCOL_VERSION)))

    def hello(self) -> None:
        """Send an unprompted HELLO (as after boot)."""
        self._send(self._hello(), self.sender.next_seq())

    def _hello(self) -> m.Hello:
        major, minor, patch = self.firmware
        return m.Hello(self.protocol, major, minor, patch, self.capabilities, self.device_id)

    def feed(self, data: bytes) -> None:
        """Bytes from the host (any split): decode and act on every complete frame."""
        for frame in self.decoder.feed(data):
            self._on_frame(frame, time.monotonic())

    def _on_frame(self, frame: Frame, now: float) -> None:
        if frame.version != PROTOCOL_VERSION and frame.type != m.MsgType.HELLO:
            return
        try:
            message = m.unpack(frame.type, frame.payload, m.HOST_TO_CONTROLLER)
        except m.PayloadError as exc:
            if frame.reliable:
                self._ack(m.Ack(frame.seq, m.result_for(exc.reason), exc.reason, m.clip_utf8(str(exc), 48)))
            return
        with self.lock:
            if isinstance(message, m.Hello):
                self._on_hello(message)
            elif isinstance(message, m.HostHeartbeat):
                self._last_host_hb = now
                if self.state.watchdog_tripped:
                    self.state.watchdog_tripped = False
                    self.on_action("watchdog: host heartbeats are back")
            elif isinstance(message, m.Ack):
                self.sender.on_ack(message)
            elif isinstance(message, m.Mouth):
                self.counters.mouth_frames += 1
                if self._host_hello and self.capabilities & m.Capability.FACE:
                    self.state.mouth = message.level
                    self._last_mouth = now
            elif frame.reliable:
                previous = self.dedup.seen(frame.seq)
                if previous is not None:
                    self._ack(previous)
                    return
                ack = self._execute(frame.seq, message, now)
                self.dedup.remember(frame.seq, ack)
                self._ack(ack)

    def _ack(self, ack: m.Ack) -> None:
        self._send(ack, self.sender.next_seq())

    def _on_hello(self, hello: m.Hello) -> None:
        self._send(self._hello(), self.sender.next_seq(), Flags.REPLY)
        self.dedup.reset()
        # Events belong to a host session: a new host learns the current state (e-stop, battery,
        # fault) from the heartbeat, and a stale presence or e-stop event would mislead it.
        with self._outbox_ready:
            self.counters.events_lost += len(self._outbox)
            self._outbox.clear()
        self.sender.abort(NotConnected("new host session"))
        self.sender.resume()
        self._host_hello = hello.protocol == self.protocol
        self._last_host_hb = None  # the watchdog arms at the first heartbeat of this host session
        if self._host_hello:
            self.on_action(f"host connected ({hello.device_id or 'host'})")

    # -- commands --------------------------------------------------------------------------------
    def _execute(self, seq: int, message: m.Message, now: float) -> m.Ack:
        if isinstance(message, m.Stop):  # always accepted, even before HELLO
            self.counters.executed += 1
            self.executed.append((seq, message))
            return self._do_stop(seq, message, now)
        if not self._host_hello:
            return self._reject(seq, m.Result.UNSUPPORTED, m.Reason.NOT_HELLO, "HELLO first")
        need = m.REQUIRES.get(message.TYPE)
        if need is not None and not self.capabilities & need:
            return self._reject(seq, m.Result.UNSUPPORTED, m.Reason.NO_CAPABILITY, f"no {need.name}")
        s = self.state
        if message.TYPE in m.MOTION:
            if s.estop_latched:
                return self._reject(seq, m.Result.REJECTED_ESTOP, m.Reason.ESTOP_LATCHED, "e-stop latched")
            if s.watchdog_tripped:
                return self._reject(seq, m.Result.REJECTED_ESTOP, m.Reason.WATCHDOG, "watchdog tripped")
        handler = getattr(self, f"_do_{message.TYPE.name.lower()}")
        ack = handler(seq, message, now)
        if ack.result in (m.Result.ACCEPTED, m.Result.IN_PROGRESS):
            self.counters.executed += 1
            self.executed.append((seq, message))
        else:
            self.counters.rejected += 1
        return ack

    def _reject(self, seq: int, result: m.Result, reason: m.Reason, detail: str) -> m.Ack:
        self.counters.rejected += 1
        return m.Ack(seq, result, reason, m.clip_utf8(detail, 48))

    def _ok(self, seq: int, action: str, result: m.Result = m.Result.ACCEPTED) -> m.Ack:
        self.on_action(action)
        return m.Ack(seq, result)

    def _do_ping(self, seq: int, msg: m.Ping, now: float) -> m.Ack:
        return m.Ack(seq, m.Result.ACCEPTED)

    def _do_stop(self, seq: int, msg: m.Stop, now: float) -> m.Ack:
        self._stop_all("STOP", m.Reason.NONE, now)
        return self._ok(seq, "stop")

    def _do_look(self, seq: int, msg: m.Look, now: float) -> m.Ack:
        lim = self.limits
        pan, tilt, speed = msg.pan_cdeg / 100, msg.tilt_cdeg / 100, msg.speed_dps
        accel = msg.accel_dps2 or lim.default_head_accel
        rejected = _limit_violation(
            seq,
            ("pan", pan, lim.pan, m.Reason.PAN_RANGE),
            ("tilt", tilt, lim.tilt, m.Reason.TILT_RANGE),
            ("speed", speed, (1, lim.head_speed), m.Reason.SPEED_LIMIT),
            ("accel", accel, (0, lim.head_accel), m.Reason.ACCEL_LIMIT),
        )
        if rejected is not None:
            return rejected
        self.state.pan, self.state.tilt = pan, tilt
        return self._ok(seq, f"look pan {pan:+.0f}° tilt {tilt:+.0f}° at {speed} °/s")

    def _do_gesture(self, seq: int, msg: m.GestureCmd, now: float) -> m.Ack:
        if self.state.arms is not None:
            return m.Ack(seq, m.Result.REJECTED_BUSY, m.Reason.NONE, f"arms busy ({self.state.arms.what})")
        name = msg.gesture.name.lower().replace("_", "-")
        self.state.arms = Motion(seq, name, now + GESTURE_MS[msg.gesture] / 1e3)
        return self._ok(seq, f"gesture {name}", m.Result.IN_PROGRESS)

    def _do_turn(self, seq: int, msg: m.Turn, now: float) -> m.Ack:
        lim = self.limits
        angle, speed = msg.angle_cdeg / 100, msg.speed_dps
        accel = msg.accel_dps2 or lim.default_base_accel
        rejected = _limit_violation(
            seq,
            ("turn", angle, lim.turn, m.Reason.TURN_RANGE),
            ("speed", speed, (1, lim.base_speed), m.Reason.SPEED_LIMIT),
            ("accel", accel, (0, lim.base_accel), m.Reason.ACCEL_LIMIT),
        )
        if rejected is not None:
            return rejected
        if self.state.base is not None:
            return m.Ack(seq, m.Result.REJECTED_BUSY, m.Reason.NONE, "base busy")
        self.state.base = Motion(seq, f"turn {angle:+.0f}°", now + trapezoid_s(angle, speed, accel))
        self.state.heading = (self.state.heading + angle) % 360
        return self._ok(seq, f"base turn {angle:+.0f}° at {speed} °/s", m.Result.IN_PROGRESS)

    def _do_face(self, seq: int, msg: m.FaceCmd, now: float) -> m.Ack:
        self.state.face = msg.face
        return self._ok(seq, f"face {msg.face.name.lower()}")

    def _do_led(self, seq: int, msg: m.Led, now: float) -> m.Ack:
        self.state.led = (msg.r, msg.g, msg.b, msg.pattern)
        return self._ok(seq, f"led #{msg.r:02x}{msg.g:02x}{msg.b:02x} {msg.pattern.name.lower()}")

    def _do_display_text(self, seq: int, msg: m.DisplayText, now: float) -> m.Ack:
        self.state.display = msg.text
        return self._ok(seq, f"display {msg.text!r}")

    def _do_estop_reset(self, seq: int, msg: m.EstopReset, now: float) -> m.Ack:
        if self.state.estop_pressed:
            return m.Ack(seq, m.Result.REJECTED_ESTOP, m.Reason.ESTOP_PRESSED, "e-stop button still pressed")
        self.state.estop_latched = False
        return self._ok(seq, "e-stop reset by staff")

    # -- time ------------------------------------------------------------------------------------
    def tick(self, now: float | None = None) -> None:
        """Advance time: finish motions, run the watchdog, close an idle mouth, send HEARTBEATs.
        Call every 10 ms or so."""
        now = time.monotonic() if now is None else now
        with self.lock:
            s = self.state
            for part in ("arms", "base"):
                motion = getattr(s, part)
                if motion is not None and now >= motion.ends:
                    setattr(s, part, None)
                    self._queue(m.Done(motion.seq, m.Result.DONE))
            if self._last_host_hb is not None and not s.watchdog_tripped and now - self._last_host_hb > WATCHDOG_S:
                s.watchdog_tripped = True
                self.counters.watchdog_trips += 1
                self._stop_all("watchdog", m.Reason.WATCHDOG, now)
                self.on_action(f"watchdog: no host heartbeat for {WATCHDOG_S * 1e3:.0f} ms, all motion stopped")
            if s.mouth and now - self._last_mouth > MOUTH_TIMEOUT_S:
                s.mouth = 0
            if now >= self._next_heartbeat:
                self._next_heartbeat = now + HEARTBEAT_PERIOD_S
                self._send(self._heartbeat(now), self.sender.next_seq())

    def _heartbeat(self, now: float) -> m.ControllerHeartbeat:
        s = self.state
        flags = (
            (m.Health.ESTOP_LATCHED if s.estop_latched else 0)
            | (m.Health.ESTOP_PRESSED if s.estop_pressed else 0)
            | (m.Health.WATCHDOG_TRIPPED if s.watchdog_tripped else 0)
            | (m.Health.MOVING if (s.arms or s.base) else 0)
            | (m.Health.FAULT if s.fault_code else 0)
            | (m.Health.CHARGING if s.charging else 0)
            | (m.Health.HOST_SEEN if self._last_host_hb is not None and not s.watchdog_tripped else 0)
        )
        return m.ControllerHeartbeat(
            int((now - self._boot) * 1e3) & 0xFFFFFFFF, int(flags), s.battery_pct, 31, s.fault_code
        )

    def _stop_all(self, why: str, reason: m.Reason, now: float) -> None:
        s = self.state
        for part in ("arms", "base"):
            motion = getattr(s, part)
            if motion is not None:
                setattr(s, part, None)
                self._queue(m.Done(motion.seq, m.Result.STOPPED, reason))
        self.counters.last_stop_reason = why
        self.counters.stopped_at = now

    # -- the hardware's own events (fault injection and the sim console) -------------------------
    def press_estop(self) -> None:
        """The e-stop button is pressed: stop everything, latch, report."""
        with self.lock:
            self.state.estop_pressed = self.state.estop_latched = True
            self._stop_all("e-stop", m.Reason.ESTOP_LATCHED, time.monotonic())
            self.on_action("E-STOP pressed: all motion stopped, latched")
            self._queue(m.EstopEvent(1))

    def release_estop(self) -> None:
        """The e-stop button is released (the latch stays until ESTOP_RESET)."""
        with self.lock:
            self.state.estop_pressed = False
            self.on_action("e-stop button released (still latched until reset)")
            self._queue(m.EstopEvent(0))

    def person(self, distance_cm: int, bearing_deg: float = 0.0) -> None:
        """The presence sensor sees a person at ``distance_cm``, ``bearing_deg`` (+ left)."""
        self._queue(m.PresenceEvent(1, distance_cm, round(bearing_deg * 100)))

    def person_gone(self) -> None:
        """The presence sensor no longer sees anyone."""
        self._queue(m.PresenceEvent(0, 0, 0))

    def touch(self, zone: int) -> None:
        """A touch sensor zone is touched."""
        self._queue(m.TouchEvent(zone))

    def battery(self, percent: int, charging: bool) -> None:
        """The battery level changed."""
        with self.lock:
            self.state.battery_pct, self.state.charging = percent, charging
        self._queue(m.BatteryEvent(percent, int(charging)))

    def fault(self, code: int, text: str) -> None:
        """A hardware fault (code 0 clears it)."""
        with self.lock:
            self.state.fault_code = code
        self._queue(m.FaultEvent(code, text))

    def reset(self) -> None:
        """A controller reboot: motion, seqs, host session and dedup memory are lost; the e-stop
        latch is hardware and survives. Sends an unprompted HELLO as after boot."""
        with self.lock:
            s = self.state
            self.state = BodyState(
                estop_latched=s.estop_latched, estop_pressed=s.estop_pressed, battery_pct=s.battery_pct
            )
            self.counters.resets += 1
            self.dedup.reset()
            self.decoder = StreamDecoder()
            self._host_hello = False
            self._last_host_hb = None
            self._boot = time.monotonic()
            self.sender.abort(NotConnected("controller reset"))
            self.sender = ReliableSender(self._write, self._ack_timeout_s, self._retries)
            with self._outbox_ready:
                self._outbox.clear()
            self.on_action("controller reset")
        self.hello()

    # -- reliable outgoing frames -----------------------------------------------------------------
    def _queue(self, message: m.Message) -> None:
        with self._outbox_ready:
            if len(self._outbox) >= 64:
                self._outbox.pop(0)
                self.counters.events_lost += 1
            self._outbox.append([message, None, 0.0])
            self._outbox_ready.notify()

    def _send_events(self) -> None:
        while True:
            with self._outbox_ready:
                while not self._outbox and not self._closed:
                    self._outbox_ready.wait()
                if self._closed:
                    return
                entry = self._outbox[0]
            if not self._host_hello:  # events wait for a host session
                time.sleep(0.05)
                continue
            if entry[1] is None:
                entry[1], entry[2] = self.sender.next_seq(), time.monotonic()
            elif time.monotonic() - entry[2] > EVENT_GIVE_UP_S:  # the host would no longer know the seq
                with self._outbox_ready:
                    if self._outbox and self._outbox[0] is entry:
                        self._outbox.pop(0)
                        self.counters.events_lost += 1
                continue
            try:
                self.sender.send(entry[0], seq=entry[1])  # the same seq on every try: delivered once
            except (CommandTimeout, NotConnected):
                # Nobody acknowledged (the host went away, or a reset): keep the event for the next
                # host session; the outbox is bounded, so old events go first.
                time.sleep(0.05)
                continue
            with self._outbox_ready:
                if self._outbox and self._outbox[0] is entry:
                    self._outbox.pop(0)

    def close(self) -> None:
        """Stop the event thread."""
        with self._outbox_ready:
            self._closed = True
            self._outbox_ready.notify_all()
        self.sender.abort(NotConnected("closed"))
