"""The screen's state and what a touch does: the object QML sees as ``kiosk``.

:class:`KioskController` turns the conversation's events (:mod:`appliance.conversation`: Heard,
ModeDecided, Speaking, TurnDone …) into properties the QML binds to: which screen is up, the live
caption, the answer as it streams, its source card, the status strip. Touches call its slots; a
question goes to the :class:`~appliance.text_conversation.Responder` and returns at once. Every
method runs on the GUI thread (events arrive through :class:`ui.bridge.Bridge`); anything that
reads SQLite or hashes a PIN is a :class:`ui.bridge.Background` job.

Screens: ``attract`` (greeting, notices), ``conversation`` (caption, answer, source card,
follow-ups), ``topics`` (grid of services), ``typing`` (keyboard), ``handoff`` (next steps, duty
phone), ``emergency`` (guidance and numbers; only staff or a confirmed all-clear dismiss it),
``pin`` and ``staff`` (staff mode), ``tour`` (a guided explanation).

Timeouts never take away what a resident is reading: after ``ui.attract_after_s`` without a touch
or a turn, a "still there?" prompt appears for :attr:`KioskController.STILL_THERE_S` seconds; only
then does the session end and the attract screen return. The emergency and tour screens never
time out; staff mode closes after ``staff.idle_exit_s``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from PySide6.QtCore import Property, QObject, QTimer, Signal, Slot

from appliance.events import BargeIn, Heard, Listening, ModeDecided, SessionEnded, Speaking, TurnDone, UserSpeaking
from ui.bridge import Background, Bridge
from ui.keyboard import KeyboardModel
from ui.services import KioskServices
from ui.staff import StaffModel
from ui.tour import TourModel

log = logging.getLogger(__name__)

RESIDENT_SCREENS = ("conversation", "topics", "typing", "handoff")
SCREENS = ("attract", *RESIDENT_SCREENS, "emergency", "pin", "staff", "tour")
FIND_STAFF = {"zh": "我想找工作人员", "en": "I would like to talk to a staff member"}
TEXT_SCALES = (1.0, 1.2, 1.4)


def _empty_turn() -> dict[str, Any]:
    return {
        "id": 0,
        "question": "",
        "answer": "",
        "mode": "",
        "done": True,
        "interrupted": False,
        "suggestions": [],
        "sources": [],
        "card": None,
        "query": "",
        "voice": False,
        "followUps": [],
    }


FOLLOW_UPS = {
    "zh": ["需要带什么材料", "在哪里办", "什么时候可以办"],
    "en": ["What do I need to bring?", "Where do I go?", "When is it open?"],
}
"""Follow-up questions offered under an answer; the session resolves them against its topic."""


#: How far back the kiosk's "staff not reached" banner looks, seconds.
ALERT_WINDOW_S = 3600.0


def alert_undelivered(services: KioskServices) -> bool:
    """Whether an emergency of the last hour has not reached staff: a channel refused it, or it
    has waited longer than ``[notify] alarm_after_s``. The kiosk then tells the resident to call
    the duty phone themselves (the local guidance never waited for the network)."""
    if services.journal is None:
        return False
    st = services.journal.outbox.status(window_s=ALERT_WINDOW_S)
    late = st.oldest_emergency_s is not None and st.oldest_emergency_s > services.settings.notify.alarm_after_s
    return st.emergencies_failed > 0 or late


class KioskController(QObject):
    """The resident-facing state and controls (see the module docstring).

    Args:
        services: the appliance core (responder, knowledge base, journal, body …).
        bridge: carries events from core threads to the GUI thread.
        background: runs blocking reads off the GUI thread.
        language: the starting UI language, 'zh' or 'en'.
        on_language: called with the new language when it changes (installs translations).
    """

    STILL_THERE_S = 20.0

    screenChanged = Signal()
    langChanged = Signal()
    textScaleChanged = Signal()
    statusChanged = Signal()
    turnChanged = Signal()
    captionChanged = Signal()
    noticesChanged = Signal()
    topicsChanged = Signal()
    emergencyChanged = Signal()
    stillThereChanged = Signal()
    #: a question was sent (tests wait on it): the question text
    asked = Signal(str)

    def __init__(
        self,
        services: KioskServices,
        bridge: Bridge,
        background: Background,
        language: str = "zh",
        on_language=None,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self.services = services
        self.bridge = bridge
        self.background = background
        self._on_language = on_language or (lambda lang: None)
        ui = services.settings.ui
        self._screen = "attract"
        self._lang = "en" if language == "en" else "zh"
        self._text_scale = ui.text_scale
        self._status: dict[str, Any] = {
            "activity": "listening" if services.voice else "idle",
            "online": None,
            "network": "",
            "kbVersion": services.kb.version,
            "kb": "",  # what the knowledge base holds: 'empty', 'demo', 'mixed', 'site' ('' until checked)
            "robot": "none",
            "voice": services.voice,
            "voiceNote": services.voice_note or "",
            "alertUndelivered": False,  # an emergency message staff have not received (see alert_undelivered)
        }
        self._turn = _empty_turn()
        self._caption = ""
        self._notices: list[dict[str, Any]] = []
        self._topics: list[dict[str, Any]] = []
        self._emergency: dict[str, Any] = {
            "active": False,
            "text": "",
            "question": "",
            "since": "",
            "check": False,
            "options": [],
        }
        self._still_there = False
        self._last_touch = time.monotonic()
        self._still_since: float | None = None
        self._voice_turn = False  # the current turn began with the resident speaking

        self._staff = StaffModel(self, services, background)
        self._tour = TourModel(self, services, bridge, background)
        self._keyboard = KeyboardModel(services, background, self)

        self._idle = QTimer(self)
        self._idle.setInterval(1000)
        self._idle.timeout.connect(self._tick)
        self._idle.start()
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(int(services.settings.network.check_every_s * 1000))
        self._status_timer.timeout.connect(self.refresh_status)
        self._status_timer.start()
        # After an emergency: look again once its alert should have reached staff.
        self._alert_timer = QTimer(self)
        self._alert_timer.setSingleShot(True)
        self._alert_timer.setInterval(int((services.settings.notify.alarm_after_s + 1) * 1000))
        self._alert_timer.timeout.connect(self.refresh_status)
        self.refresh_content()
        self.refresh_status()

    # -- properties ------------------------------------------------------------------------------
    def _get_screen(self) -> str:
        return self._screen

    screen = Property(str, _get_screen, notify=screenChanged)

    def _get_lang(self) -> str:
        return self._lang

    lang = Property(str, _get_lang, notify=langChanged)

    def _get_text_scale(self) -> float:
        return self._text_scale

    textScale = Property(float, _get_text_scale, notify=textScaleChanged)

    def _get_status(self) -> dict[str, Any]:
        return self._status

    status = Property("QVariantMap", _get_status, notify=statusChanged)

    def _get_turn(self) -> dict[str, Any]:
        return self._turn

    turn = Property("QVariantMap", _get_turn, notify=turnChanged)

    def _get_caption(self) -> str:
        return self._caption

    caption = Property(str, _get_caption, notify=captionChanged)

    def _get_notices(self) -> list[dict[str, Any]]:
        return self._notices

    notices = Property("QVariantList", _get_notices, notify=noticesChanged)

    def _get_topics(self) -> list[dict[str, Any]]:
        return self._topics

    topics = Property("QVariantList", _get_topics, notify=topicsChanged)

    def _get_emergency(self) -> dict[str, Any]:
        return self._emergency

    emergency = Property("QVariantMap", _get_emergency, notify=emergencyChanged)

    def _get_still_there(self) -> bool:
        return self._still_there

    stillThere = Property(bool, _get_still_there, notify=stillThereChanged)

    def _get_site(self) -> dict[str, Any]:
        s = self.services.site
        en = self._lang == "en"
        e = s.emergency
        numbers = [
            {"key": "police", "number": e.police},
            {"key": "fire", "number": e.fire},
            {"key": "ambulance", "number": e.ambulance},
        ]
        numbers += [{"key": "gas", "number": e.gas}] if e.gas else []
        numbers += [{"key": "property", "number": s.property_hotline}] if s.property_hotline else []
        numbers += [{"key": "duty", "number": s.duty_phone}]
        return {
            "name": (s.name_en or s.name) if en else s.name,
            "assistant": (s.assistant_name_en or s.assistant_name) if en else s.assistant_name,
            "address": (s.address_en or s.address) if en else s.address,
            "hours": (s.office_hours_en or s.office_hours) if en else s.office_hours,
            "dutyPhone": s.duty_phone,
            "emergencyNumbers": numbers,
            "crisisLine": e.crisis_line or "",
            "example": s.example,
        }

    site = Property("QVariantMap", _get_site, notify=langChanged)

    def _get_staff(self) -> QObject:
        return self._staff

    staff = Property(QObject, _get_staff, constant=True)

    def _get_tour(self) -> QObject:
        return self._tour

    tour = Property(QObject, _get_tour, constant=True)

    def _get_keyboard(self) -> QObject:
        return self._keyboard

    keyboard = Property(QObject, _get_keyboard, constant=True)

    # -- setters ---------------------------------------------------------------------------------
    def set_screen(self, name: str) -> None:
        """Show screen ``name`` (one of :data:`SCREENS`).

        Raises:
            ValueError: an unknown screen.
        """
        if name not in SCREENS:
            raise ValueError(f"unknown screen {name!r}")
        if name != self._screen:
            self._screen = name
            self.screenChanged.emit()
        if name == "typing":
            self._keyboard.clear()

    def _set_status(self, **changes: Any) -> None:
        if any(self._status.get(k) != v for k, v in changes.items()):
            self._status = {**self._status, **changes}
            self.statusChanged.emit()

    def set_activity(self, activity: str | None) -> None:
        """The status strip's activity: 'listening', 'thinking', 'speaking', or None for the
        resting state (listening when there is a voice, else idle)."""
        self._set_status(activity=activity or ("listening" if self.services.voice else "idle"))

    def _set_turn(self, **changes: Any) -> None:
        self._turn = {**self._turn, **changes}
        self.turnChanged.emit()

    def _set_caption(self, text: str) -> None:
        if text != self._caption:
            self._caption = text
            self.captionChanged.emit()

    def _set_still_there(self, value: bool) -> None:
        if value != self._still_there:
            self._still_there = value
            self._still_since = time.monotonic() if value else None
            self.stillThereChanged.emit()

    # -- resident controls (slots called by QML) ---------------------------------------------------
    @Slot(str)
    def ask(self, question: str) -> None:
        """Send a typed or tapped question; the answer arrives as events."""
        question = question.strip()
        if not question:
            return
        self.touched()
        self._voice_turn = False
        self._tour.question_started()
        self.services.responder.ask_text(question)
        self._set_caption(question)
        self._set_turn(**{**_empty_turn(), "question": question, "done": False})
        self._show_answer_screen()
        self._set_status(activity="thinking")
        self.asked.emit(question)

    @Slot()
    def talk(self) -> None:
        """Push-to-talk: listen for one utterance (stops any answer being spoken first)."""
        self.touched()
        self.services.responder.interrupt()
        self.services.responder.push_to_talk()
        if self.services.voice:
            self._set_status(activity="listening")

    @Slot()
    def stopSpeaking(self) -> None:
        """Silence: stop the answer now (its text stays on screen)."""
        self.touched()
        self.services.responder.interrupt()

    @Slot()
    def findStaff(self) -> None:
        """The big 找工作人员 button: a handoff, recorded for staff, with the duty phone on screen."""
        self.ask(FIND_STAFF[self._lang])

    def back(self) -> None:
        """Leave a screen opened over the others (the PIN pad, staff mode, a finished tour) for
        the one the appliance's state calls for, decided here for every screen: an emergency
        first, then a running guided explanation, then staff mode, else attract."""
        if self._emergency["active"]:
            self.set_screen("emergency")
        elif self._tour.active:
            self.set_screen("tour")
        elif self.staff.active:
            self.set_screen("staff")
        else:
            self.set_screen("attract")

    @Slot(str)
    def go(self, name: str) -> None:
        """Open a resident screen (conversation, topics, typing, handoff) or attract."""
        self.touched()
        if self._emergency["active"] and name != "emergency":
            return  # only staff or a confirmed all-clear leave the emergency screen
        if name in (*RESIDENT_SCREENS, "attract"):
            self.set_screen(name)

    @Slot()
    def home(self) -> None:
        """The resident is done: end the session (topic and history forgotten), attract screen."""
        if self._emergency["active"]:
            return
        self.services.responder.interrupt()
        self.services.responder.end_session()
        self._turn = _empty_turn()
        self.turnChanged.emit()
        self._set_caption("")
        self._set_still_there(False)
        self.set_screen("attract")

    @Slot(str)
    def setLang(self, lang: str) -> None:
        """Switch the screen language ('zh' or 'en'); answers follow the question's language."""
        lang = "en" if lang == "en" else "zh"
        self.touched()
        if lang != self._lang:
            self._lang = lang
            self._on_language(lang)
            self.langChanged.emit()
            if self.services.body is not None:
                self.services.body.lang = lang
            self.refresh_content()

    @Slot()
    def cycleTextScale(self) -> None:
        """The text-size button: 100 % → 120 % → 140 % → 100 %."""
        self.touched()
        i = min(range(len(TEXT_SCALES)), key=lambda k: abs(TEXT_SCALES[k] - self._text_scale))
        self.setTextScale(TEXT_SCALES[(i + 1) % len(TEXT_SCALES)])

    @Slot(float)
    def setTextScale(self, scale: float) -> None:
        """Text size, 0.8-1.6 of the base size."""
        scale = max(0.8, min(1.6, float(scale)))
        if scale != self._text_scale:
            self._text_scale = scale
            self.textScaleChanged.emit()

    @Slot()
    def touched(self) -> None:
        """Any touch: the resident (or staff member) is still here."""
        self._last_touch = time.monotonic()
        self._staff.last_touch = self._last_touch
        self._set_still_there(False)

    @Slot()
    def confirmSafe(self) -> None:
        """A resident confirms on the emergency screen (after a second confirmation in QML) that the
        danger is over. The alert stays open in the journal for staff."""
        self._end_emergency()

    def _end_emergency(self) -> None:
        self._emergency = {**self._emergency, "active": False}
        self.emergencyChanged.emit()
        self.set_screen("conversation")

    def dismiss_emergency_by_staff(self) -> None:
        """Staff close the emergency screen (staff mode); its alerts are acknowledged."""
        journal = self.services.journal
        if journal is not None:
            self.background.submit(lambda: journal.acknowledge_alerts())
        self._end_emergency()

    # -- content -----------------------------------------------------------------------------------
    def refresh_content(self) -> None:
        """Reload notices and topics for the current language (a worker thread reads the KB)."""
        from appliance.knowledge.card import notices, popular_topics

        kb, journal, lang, n = self.services.kb, self.services.journal, self._lang, self.services.settings.ui.topics

        def load() -> tuple[list, list]:
            return (
                [x.to_json() for x in notices(kb, lang)],
                [x.to_json() for x in popular_topics(kb, lang, journal, limit=n)],
            )

        def done(result: tuple[list, list]) -> None:
            self._notices, self._topics = result
            self.noticesChanged.emit()
            self.topicsChanged.emit()

        self.background.submit(load, done)

    @Slot()
    def refresh_status(self) -> None:
        """Re-check network, knowledge-base version and what it holds (no guides, the fictional
        demo: the strip says so), and the robot link (on a worker thread)."""
        services = self.services

        def check() -> dict[str, Any]:
            from appliance.bootstrap import demo_kb_dir
            from appliance.health import robot_health
            from appliance.knowledge.origin import kb_state

            out: dict[str, Any] = {"kbVersion": services.kb.version, "kb": kb_state(services.kb, demo_kb_dir()).kind}
            if services.network is not None:
                state = services.network.check()
                out.update(online=state.online, network=state.how)
            robot = services.body.robot if services.body is not None else None
            out["robot"] = robot_health(robot)["mode"]
            out["alertUndelivered"] = alert_undelivered(services)
            return out

        self.background.submit(check, lambda changes: self._set_status(**changes))

    # -- conversation events (GUI thread) ------------------------------------------------------------
    def on_event(self, event: object) -> None:
        """One event of the voice loop or the text conversation (posted to the GUI thread)."""
        if isinstance(event, Listening):
            if self.services.voice and self._turn["done"]:
                self._set_status(activity="listening")
        elif isinstance(event, UserSpeaking):
            self.touched()
            self._voice_turn = True
            self._tour.question_started()
            self._set_caption("…")
            self._set_status(activity="listening")
            if self._screen in ("attract", "topics"):
                self.set_screen("conversation")
        elif isinstance(event, Heard):
            self._heard(event)
        elif isinstance(event, ModeDecided):
            self._mode(event)
        elif isinstance(event, Speaking):
            if event.turn_id == self._turn["id"] and not self._turn["done"]:
                self._set_turn(answer=self._turn["answer"] + event.text)
            self._set_status(activity="speaking")
        elif isinstance(event, BargeIn):
            self._set_status(activity="listening")
        elif isinstance(event, TurnDone):
            self._turn_done(event)
        elif isinstance(event, SessionEnded):
            self._last_touch = min(self._last_touch, time.monotonic())

    def _heard(self, event: Heard) -> None:
        t = event.transcript
        if t.dropped or not t.text:
            self._set_caption("")
            return
        self.touched()
        self._set_caption(t.text)
        self._set_turn(
            **{**_empty_turn(), "id": event.turn_id, "question": t.text, "done": False, "voice": self._voice_turn}
        )
        self._set_status(activity="thinking")
        self._show_answer_screen()

    def _show_answer_screen(self) -> None:
        """Where an answer appears: over the tour during a guided explanation, else the
        conversation screen (the emergency and staff screens stay)."""
        if self._screen in ("emergency", "staff", "pin"):
            return
        self.set_screen("tour" if self._tour.active else "conversation")

    def _mode(self, event: ModeDecided) -> None:
        if event.turn_id != self._turn["id"]:
            return
        self._set_turn(mode=event.mode)
        if event.mode != "emergency" and self._emergency["active"] and self._emergency.get("check"):
            self._end_emergency()  # asked "are you in danger?", the resident said no (or asked on)
        if event.mode == "emergency":
            from datetime import datetime

            self._emergency = {
                "active": True,
                "text": "",
                "question": self._turn["question"],
                "since": datetime.now().strftime("%H:%M"),
                "turnId": event.turn_id,
                "check": False,
                "options": [],
            }
            self.emergencyChanged.emit()
            self._tour.stop()  # an emergency takes over: the tour ends
            self.set_screen("emergency")
            self._alert_timer.start()  # the screen then says whether staff were reached
        elif event.mode == "handoff" and self._screen in ("conversation", "attract", "topics", "typing"):
            self.set_screen("handoff")

    def _turn_done(self, event: TurnDone) -> None:
        result = event.result
        answer = result.answer
        if result.turn_id != self._turn["id"] or answer is None:
            if answer is None and result.turn_id == self._turn["id"]:
                self._set_turn(done=True, interrupted=result.interrupted)
            self._after_turn()
            return
        seen: dict[tuple[str, str], dict[str, str]] = {}
        for s in answer.sources:
            seen.setdefault((s.doc_id, s.section), {"docId": s.doc_id, "title": s.title, "section": s.section})
        self._set_turn(
            answer=result.heard if result.interrupted else answer.answer,
            mode=answer.mode,
            done=True,
            interrupted=result.interrupted,
            suggestions=list(answer.suggestions),
            sources=list(seen.values()),
            query=result.query or "",
            followUps=(list(answer.suggestions) if answer.mode != "emergency" else [])
            or (FOLLOW_UPS.get(answer.lang, FOLLOW_UPS["zh"]) if answer.mode == "answer" and answer.sources else []),
        )
        if answer.mode == "emergency" and self._emergency.get("turnId") == result.turn_id:
            check = answer.checked_category is not None
            self._emergency = {
                **self._emergency,
                "text": answer.answer,
                "check": check,
                "options": list(answer.suggestions) if check else [],
            }
            self.emergencyChanged.emit()
        if answer.mode == "answer" and answer.sources:
            self._load_card(result.turn_id, answer.sources[0].doc_id)
        self._after_turn()

    def _after_turn(self) -> None:
        self.set_activity(None)
        self.touched()
        self._tour.question_done(auto=self._voice_turn)

    def _load_card(self, turn_id: int, doc_id: str) -> None:
        from appliance.knowledge.card import guide_card

        kb = self.services.kb

        def load() -> dict[str, Any] | None:
            card = guide_card(kb, doc_id)
            return card.to_json() if card is not None else None

        def done(card: dict[str, Any] | None) -> None:
            if self._turn["id"] == turn_id:
                self._set_turn(card=card)

        self.background.submit(load, done)

    # -- idle -------------------------------------------------------------------------------------
    def _tick(self) -> None:
        now = time.monotonic()
        if self._screen == "staff":
            if now - self._staff.last_touch > self.services.settings.staff.idle_exit_s:
                self._staff.exit()
            return
        if self._screen not in (*RESIDENT_SCREENS, "pin") or not self._turn["done"]:
            return
        if self._status["activity"] in ("speaking", "thinking"):
            self._last_touch = now
            return
        quiet = now - self._last_touch
        if not self._still_there and quiet > self.services.settings.ui.attract_after_s:
            self._set_still_there(True)
        elif self._still_there and self._still_since is not None and now - self._still_since > self.STILL_THERE_S:
            self.home()

    def expire_idle_now(self) -> None:
        """Pretend the resident left ``attract_after_s`` ago (tests and screenshots)."""
        self._last_touch = time.monotonic() - self.services.settings.ui.attract_after_s - 1
        self._tick()

    # -- teardown ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the timers and any running tour."""
        self._idle.stop()
        self._status_timer.stop()
        self._alert_timer.stop()
        self._tour.close()
