"""The body's behaviours: what the robot does as a conversation goes on, and when someone comes near.

:class:`Body` takes the conversation's events (:mod:`appliance.conversation`) and the controller's
events (presence, touch, e-stop, fault) and turns them into robot commands on a worker thread of
its own, so neither the voice loop nor the UI ever waits on the serial link. Without a controller
(degraded mode) every action fails fast and is counted; nothing else changes.

=======================  ===============================================================
moment                   the body
=======================  ===============================================================
person comes near        smile, head (or base, beyond the head's reach) towards them,
                         wave, greeting on the display; ``on_greet`` is called
resident speaks          listening face, one nod per turn
transcript heard         thinking face, LEDs breathe blue
answer spoken            speaking face, mouth follows the TTS audio envelope (>= 20 Hz)
handoff                  point towards the staff desk (``robot.staff_desk``)
no answer                sad face for the apology
emergency                stop all motion, alert face, LEDs flash red, display notice;
                         kept until the session ends
barge-in / turn over     mouth closed, listening face
session over / quiet     neutral face, head to centre, display cleared; idle-breathe
                         gesture every ``idle_after_s``
=======================  ===============================================================
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable

import numpy as np

from appliance.config import RobotSettings
from appliance.events import BargeIn, Heard, ModeDecided, SessionEnded, Speaking, TurnDone, UserSpeaking
from firmware_bridge import messages as m
from firmware_bridge.reliable import LinkError
from firmware_bridge.robot import Robot

log = logging.getLogger(__name__)

HEAD_PAN_REACH_DEG = 80.0
"""Beyond this bearing the head alone cannot face a person: the base turns instead."""
ALERT_TEXT = {"zh": "紧急情况：请按屏幕提示做，并告诉工作人员", "en": "Emergency: follow the steps, tell staff"}
GREETING_TEXT = {"zh": "您好！有什么可以帮您？", "en": "Hello! How can I help?"}
ESTOP_TEXT = "急停已按下 · 请联系工作人员"


def mouth_level(samples: np.ndarray) -> int:
    """Mouth opening 0-255 from a block of float32 audio in [-1, 1]: RMS mapped linearly in dB
    from -50 dBFS (closed) to -10 dBFS (fully open)."""
    if samples.size == 0:
        return 0
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    if rms <= 1e-6:
        return 0
    db = 20.0 * math.log10(rms)
    return int(round(255 * min(1.0, max(0.0, (db + 50.0) / 40.0))))


class Body:
    """Robot behaviours, driven by events.

    Args:
        robot: the robot API (its link may be down: degraded mode).
        settings: behaviour settings (greeting distance, idle time, mouth rate, staff desk side).
        lang: display language, 'zh' or 'en'.
        audio_window: returns the audio now playing (float32, any length; e.g. the last 40 ms of the
            speaker's reference signal); None: no lip-sync.
        on_greet: called (on the link's event thread) when a person is greeted.
    """

    def __init__(
        self,
        robot: Robot,
        settings: RobotSettings | None = None,
        *,
        lang: str = "zh",
        audio_window: Callable[[], np.ndarray] | None = None,
        on_greet: Callable[[], None] | None = None,
    ):
        self.robot = robot
        self.settings = settings or RobotSettings()
        self.lang = "en" if lang == "en" else "zh"
        self.audio_window = audio_window
        self.on_greet = on_greet
        self.failures = 0
        self.actions: list[str] = []  # what the body was asked to do, newest last (bounded)
        self._queue: queue.Queue[tuple[str, Callable[[], object]] | None] = queue.Queue()
        self._face: m.Face | None = None
        self._emergency = False
        self._nodded_turn = False
        self._speaking = threading.Event()
        self._closed = threading.Event()
        self._last_activity = time.monotonic()
        self._last_idle = 0.0
        self._last_greet = -1e9
        self._threads = [
            threading.Thread(target=self._work, name="body", daemon=True),
            threading.Thread(target=self._lip_sync, name="body-mouth", daemon=True),
        ]
        robot.add_listener(self.on_robot_event)

    def start(self) -> Body:
        """Start the worker and lip-sync threads."""
        for thread in self._threads:
            thread.start()
        return self

    def close(self) -> None:
        """Stop the threads (pending actions are dropped)."""
        self._closed.set()
        self._speaking.clear()
        self._queue.put(None)
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=2)

    def drain(self, timeout: float = 2.0) -> None:
        """Wait until queued actions are done (tests and the terminal front end)."""
        done = threading.Event()
        self._queue.put(("drain", done.set))
        done.wait(timeout)

    # -- events in -------------------------------------------------------------------------------
    def handle(self, event) -> None:
        """A conversation event (any thread; never blocks)."""
        self._last_activity = time.monotonic()
        if isinstance(event, UserSpeaking):
            self._do("face listening", lambda: self._set_face(m.Face.LISTENING))
            if not self._nodded_turn:
                self._nodded_turn = True
                self._do("nod", lambda: self.robot.gesture(m.Gesture.NOD, limited=True))
        elif isinstance(event, Heard):
            if not event.transcript.dropped:
                self.thinking()
        elif isinstance(event, ModeDecided):
            self.mode(event.mode)
        elif isinstance(event, Speaking):
            self.speaking()
        elif isinstance(event, (BargeIn, TurnDone)):
            self.turn_over()
        elif isinstance(event, SessionEnded):
            self.session_over()
        self._report_state(listening=isinstance(event, (UserSpeaking, BargeIn, TurnDone)))

    def perform(self, what: str, action: Callable[[], object]) -> None:
        """Queue ``action`` (a call on :attr:`robot`, e.g. a guided explanation's gesture) on the
        body's worker; never blocks. Failures are counted, not raised (see :attr:`failures`)."""
        self._last_activity = time.monotonic()
        self._do(what, action)

    def _report_state(self, listening: bool = False) -> None:
        """Put what the appliance is doing into the host heartbeat (for the controller's display)."""
        bits = m.HostHealth.APPLIANCE_OK
        if self._speaking.is_set():
            bits |= m.HostHealth.SPEAKING
        if listening:
            bits |= m.HostHealth.LISTENING
        if self._emergency:
            bits |= m.HostHealth.EMERGENCY
        self.robot.link.host_state = int(bits)

    def thinking(self) -> None:
        """The resident's words are in: the answer is being prepared."""
        self._do("face thinking", lambda: self._set_face(m.Face.THINKING))
        if not self._emergency:
            self._do("led thinking", lambda: self.robot.led((40, 90, 255), m.LedPattern.BREATHE, 1500))

    def mode(self, mode: str) -> None:
        """The answer's mode is known: emergency, handoff, no_answer or answer."""
        if mode == "emergency":
            self._emergency = True
            self._do("stop", self.robot.stop)
            self._do("face alert", lambda: self._set_face(m.Face.ALERT))
            self._do("led alert", lambda: self.robot.led((255, 0, 0), m.LedPattern.FLASH, 250))
            self._do("display alert", lambda: self.robot.display(ALERT_TEXT[self.lang]))
        elif mode == "handoff" and self.settings.staff_desk:
            side = m.Gesture.POINT_LEFT if self.settings.staff_desk == "left" else m.Gesture.POINT_RIGHT
            self._do(f"point {self.settings.staff_desk}", lambda: self.robot.gesture(side, limited=True))
        elif mode == "no_answer":
            self._do("face sad", lambda: self._set_face(m.Face.SAD))

    def speaking(self) -> None:
        """A piece of the answer is being spoken."""
        if not self._emergency and self._face != m.Face.SAD:
            self._do("face speaking", lambda: self._set_face(m.Face.SPEAKING))
        if not self._emergency:
            self._do("led speaking", lambda: self.robot.led((40, 200, 120), m.LedPattern.SOLID))
        self._speaking.set()

    def turn_over(self) -> None:
        """The answer ended or was interrupted: close the mouth, listen again."""
        self._speaking.clear()
        self._nodded_turn = False
        self._do("mouth closed", lambda: self.robot.mouth(0))
        if not self._emergency:
            self._do("face listening", lambda: self._set_face(m.Face.LISTENING))

    def session_over(self) -> None:
        """The resident left (goodbye or timeout): back to rest."""
        self._speaking.clear()
        self._emergency = False
        self._do("face neutral", lambda: self._set_face(m.Face.NEUTRAL))
        self._do("head centre", lambda: self.robot.look(0, 0))
        self._do("display clear", lambda: self.robot.display(""))
        self._do("led off", lambda: self.robot.led((0, 0, 0), m.LedPattern.OFF))

    def on_robot_event(self, event: m.Message) -> None:
        """An event from the controller (link event thread)."""
        if isinstance(event, m.PresenceEvent):
            if event.present and event.distance_cm <= self.settings.greet_distance_cm:
                self.greet(event.bearing_cdeg / 100)
        elif isinstance(event, m.EstopEvent) and event.pressed:
            self._do("display e-stop", lambda: self.robot.display(ESTOP_TEXT))
            self._do("led e-stop", lambda: self.robot.led((255, 0, 0), m.LedPattern.SOLID))
        elif isinstance(event, m.TouchEvent):
            self._last_activity = time.monotonic()
        elif isinstance(event, m.FaultEvent) and event.code:
            log.warning("robot fault %#06x: %s", event.code, event.text)

    def greet(self, bearing_deg: float) -> None:
        """Someone came near at ``bearing_deg`` (+ left): turn to them and greet (once per cooldown)."""
        now = time.monotonic()
        if now - self._last_greet < self.settings.greet_cooldown_s or self._emergency:
            return
        self._last_greet = self._last_activity = now
        self._do("face smile", lambda: self._set_face(m.Face.SMILE))
        if abs(bearing_deg) <= HEAD_PAN_REACH_DEG:
            self._do(f"look {bearing_deg:+.0f}°", lambda: self.robot.look(bearing_deg, 5, limited=True))
        else:
            turn = max(-180.0, min(180.0, bearing_deg))
            self._do(f"turn {turn:+.0f}°", lambda: self.robot.turn(turn, limited=True))
        self._do("wave", lambda: self.robot.gesture(m.Gesture.WAVE, limited=True))
        self._do("display greeting", lambda: self.robot.display(GREETING_TEXT[self.lang]))
        if self.on_greet is not None:
            self.on_greet()

    # -- worker ----------------------------------------------------------------------------------
    def _set_face(self, face: m.Face) -> None:
        if face != self._face:
            reply = self.robot.face(face)
            if reply.ok:
                self._face = face

    def _do(self, what: str, action: Callable[[], object]) -> None:
        self._queue.put((what, action))

    def _work(self) -> None:
        while not self._closed.is_set():
            try:
                item = self._queue.get(timeout=1.0)
            except queue.Empty:
                self._maybe_idle()
                continue
            if item is None:
                return
            what, action = item
            if not self.robot.connected and what != "drain":
                self.failures += 1  # degraded mode: no body, nothing to wait for
                self._face = None  # a controller that comes back may show another face
                continue
            try:
                action()
                if what != "drain":
                    self.actions.append(what)
                    del self.actions[:-200]
            except (LinkError, ValueError) as exc:
                self.failures += 1
                log.debug("body: %s failed: %s", what, exc)
            except Exception:  # a refused or broken action must not stop the body's worker
                self.failures += 1
                log.exception("body: %s failed", what)

    def _maybe_idle(self) -> None:
        now = time.monotonic()
        idle_after = self.settings.idle_after_s
        if self._speaking.is_set() or self._emergency or now - self._last_activity < idle_after:
            return
        if now - self._last_idle < idle_after:
            return
        self._last_idle = now
        self._do("face neutral", lambda: self._set_face(m.Face.NEUTRAL))
        self._do("idle-breathe", lambda: self.robot.gesture(m.Gesture.IDLE_BREATHE, limited=True))

    def _lip_sync(self) -> None:
        if self.audio_window is None:
            return
        period = 1.0 / self.settings.mouth_hz
        while not self._closed.is_set():
            if not self._speaking.wait(0.2):
                continue
            next_t = time.monotonic()
            while self._speaking.is_set() and not self._closed.is_set():
                self.robot.mouth(mouth_level(self.audio_window()))
                next_t += period
                time.sleep(max(0.0, next_t - time.monotonic()))
