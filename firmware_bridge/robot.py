"""The robot API the appliance uses: named commands in degrees, the host's e-stop rule, rate limits.

:class:`Robot` wraps a :class:`~firmware_bridge.link.RobotLink`. It adds what the host must do on
its own side of the safety rules (refuse motion while the e-stop is latched, PROTOCOL.md "Safety"),
keeps motion from being flooded (a minimum interval per part: head, arms, base), and fans the
controller's events out to listeners. It never blocks for long: a command costs one round trip
(about a millisecond on USB, a few at 115200 baud) or fails at once without a controller.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from firmware_bridge import messages as m
from firmware_bridge.link import Reply, RobotLink
from firmware_bridge.messages import FACES, GESTURES, PATTERNS, parse_named
from firmware_bridge.reliable import LinkError


class EstopLatched(LinkError):
    """A motion command while the e-stop is latched; a staff member must reset it first."""


@dataclass
class MotionLimiter:
    """At most one motion command per part every ``min_interval_s`` (behaviours call often; the
    body must not jitter). Skipped commands are counted."""

    min_interval_s: float = 0.3
    skipped: int = 0

    def __post_init__(self) -> None:
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def allow(self, part: str, now: float | None = None) -> bool:
        """True (and the clock starts) when ``part`` may move now."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if now - self._last.get(part, -1e9) < self.min_interval_s:
                self.skipped += 1
                return False
            self._last[part] = now
            return True


class Robot:
    """High-level control of the body.

    Args:
        link: the link (started or not; without a controller every command raises NotConnected).
        head_speed_dps / base_speed_dps: default speeds, deg/s.
        motion_interval_s: rate limit for ``limited=True`` motion calls (behaviours).
    """

    def __init__(
        self,
        link: RobotLink,
        *,
        head_speed_dps: int = 60,
        base_speed_dps: int = 30,
        motion_interval_s: float = 0.3,
    ):
        self.link = link
        self.head_speed_dps = head_speed_dps
        self.base_speed_dps = base_speed_dps
        self.limiter = MotionLimiter(motion_interval_s)
        self._listeners: list[Callable[[m.Message], None]] = []
        self._estop_event: bool | None = None  # from EV_ESTOP or a reset, until heartbeats catch up
        self._estop_at = 0.0
        link.on_event = self._on_event

    # -- state -----------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """True while a controller is connected (else the appliance runs without a body)."""
        return self.link.connected

    @property
    def estop_latched(self) -> bool:
        """The e-stop latch as the host knows it: from EV_ESTOP at once, and from each controller
        heartbeat that is newer than the last event."""
        health = self.link.health
        if self._estop_event is not None and (time.monotonic() - self._estop_at) < 0.5:
            return self._estop_event  # heartbeats sent before the press or reset may still arrive
        if health is not None:
            return bool(health.state & m.Health.ESTOP_LATCHED)
        return bool(self._estop_event)

    def add_listener(self, listener: Callable[[m.Message], None]) -> None:
        """Call ``listener`` (on the link's event thread) with every controller event."""
        self._listeners.append(listener)

    def _on_event(self, event: m.Message) -> None:
        if isinstance(event, m.EstopEvent) and event.pressed:
            self._estop_event, self._estop_at = True, time.monotonic()
        for listener in list(self._listeners):
            listener(event)

    def status(self) -> dict:
        """Link state, controller identity and health, e-stop, counters (for health and the CLI)."""
        hello, health = self.link.controller, self.link.health
        return {
            "state": self.link.state.value,
            "error": self.link.error,
            "controller": None
            if hello is None
            else {
                "device_id": hello.device_id,
                "firmware": hello.firmware,
                "protocol": hello.protocol,
                "capabilities": [c.name for c in m.Capability if hello.capabilities & c],
            },
            "health": None
            if health is None
            else {
                "uptime_s": round(health.uptime_ms / 1e3, 1),
                "flags": [h.name for h in m.Health if health.state & h],
                "battery_pct": health.battery_pct,
                "temperature_c": health.temperature_c,
                "fault_code": health.fault_code,
            },
            "estop_latched": self.estop_latched,
            "motion_skipped": self.limiter.skipped,
            "link": self.link.stats(),
        }

    # -- commands --------------------------------------------------------------------------------
    def _motion(self, part: str, message: m.Message, limited: bool) -> Reply | None:
        if self.estop_latched:
            raise EstopLatched("the e-stop is latched: a staff member must reset it (kiosk robot estop-reset)")
        if limited and not self.limiter.allow(part):
            return None
        return self.link.request(message)

    def look(
        self, pan_deg: float, tilt_deg: float, speed_dps: int | None = None, *, limited: bool = False
    ) -> Reply | None:
        """Turn the head to pan/tilt, degrees (pan + left, tilt + up).

        Returns None when ``limited`` and the head moved too recently.

        Raises:
            EstopLatched, NotConnected, CommandTimeout: see the module.
        """
        return self._motion(
            "head", m.Look(round(pan_deg * 100), round(tilt_deg * 100), speed_dps or self.head_speed_dps), limited
        )

    def gesture(self, name: str | m.Gesture, *, limited: bool = False) -> Reply | None:
        """Start a named gesture (wave, nod, point-left, point-right, bow, idle-breathe).

        Raises:
            ValueError: an unknown name. EstopLatched, NotConnected, CommandTimeout.
        """
        gesture = name if isinstance(name, m.Gesture) else parse_named(name, GESTURES, "gesture")
        return self._motion("arms", m.GestureCmd(gesture), limited)

    def turn(self, degrees: float, speed_dps: int | None = None, *, limited: bool = False) -> Reply | None:
        """Rotate the base by ``degrees`` (+ anticlockwise)."""
        return self._motion("base", m.Turn(round(degrees * 100), speed_dps or self.base_speed_dps), limited)

    def stop(self) -> Reply:
        """Stop all motion now (does not wait behind other commands)."""
        return self.link.request(m.Stop(), priority=True)

    def face(self, name: str | m.Face) -> Reply:
        """Show an expression (neutral, smile, listening, thinking, speaking, sad, alert)."""
        face = name if isinstance(name, m.Face) else parse_named(name, FACES, "face")
        return self.link.request(m.FaceCmd(face))

    def mouth(self, level: int) -> bool:
        """Mouth opening 0-255 (unacknowledged; send at >= 20 Hz while speaking)."""
        return self.link.stream(m.Mouth(max(0, min(255, int(level)))))

    def led(
        self, rgb: tuple[int, int, int], pattern: str | m.LedPattern = m.LedPattern.SOLID, period_ms: int = 0
    ) -> Reply:
        """Set the LEDs' colour and pattern (off, solid, breathe, blink, flash)."""
        p = pattern if isinstance(pattern, m.LedPattern) else parse_named(pattern, PATTERNS, "LED pattern")
        return self.link.request(m.Led(*rgb, p, period_ms))

    def display(self, text: str) -> Reply:
        """Show a short line (at most 96 bytes of UTF-8) on the chest display; "" clears it.

        Raises:
            ValueError: the text is too long (it is never cut).
        """
        return self.link.request(m.DisplayText(text))

    def estop_reset(self) -> Reply:
        """Staff clear the latched e-stop (the controller refuses while the button is pressed)."""
        reply = self.link.request(m.EstopReset())
        if reply.ok:
            self._estop_event, self._estop_at = False, time.monotonic()
        return reply

    def ping(self) -> Reply:
        """A no-op command: its ``rtt_ms`` is the round-trip time."""
        return self.link.request(m.Ping())
