"""Staff mode: the PIN pad, and what staff see and change (QML's ``kiosk.staff``).

Staff open it with a long press on the site name. The PIN is checked by
:class:`appliance.staff.PinLock` (scrypt, lockout after ``staff.max_tries`` wrong PINs) on a
worker thread, since a check costs tens of milliseconds. Inside: recent handoffs and emergencies,
knowledge-base gaps (questions the appliance could not answer), device health, volume, language,
the guided explanations, clearing the emergency screen and the robot's e-stop.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Property, QObject, Signal, Slot

from appliance.compat import tomllib
from ui.bridge import Background
from ui.services import KioskServices

if TYPE_CHECKING:
    from ui.controller import KioskController

log = logging.getLogger(__name__)

ROWS = 20


def _short_ts(ts: str) -> str:
    """'2026-11-21T09:15:02+00:00' -> '11-21 09:15' (local time)."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(ts).astimezone().strftime("%m-%d %H:%M")
    except ValueError:
        return ts


REASONS_EN = {
    "dispute": "dispute with a neighbour or the property company: needs mediation",
    "complaint": "complaint or a problem reported",
    "family_privacy": "family or privacy matter: to be handled in person",
    "distress": "in distress: needs a social worker",
    "ask_for_person": "asked for a member of staff",
}
"""The handoff reasons of ``appliance/triage/intents.toml`` in English (its ``reason`` is Chinese)."""


@functools.cache
def _handoff_reasons() -> dict[str, str]:
    """Handoff id -> its reason as ``intents.toml`` words it, for staff."""
    from importlib import resources

    text = (resources.files("appliance.triage") / "intents.toml").read_text(encoding="utf-8")
    return {h["id"]: h["reason"] for h in tomllib.loads(text).get("handoff", [])}


def reason_label(code: str | None, lang: str = "zh") -> str:
    """What the staff list says for a handoff's recorded reason: 'complaint' -> '投诉或反映问题'
    (English from :data:`REASONS_EN`); an id the rules do not know is shown as it is; '' for none."""
    if not code:
        return ""
    if lang == "en":
        return REASONS_EN.get(code, code)
    return _handoff_reasons().get(code, code)


def callback_label(number: str | None, lang: str = "zh") -> str:
    """How the staff list shows a handoff's callback number: '13812345678' -> '回电 138 1234 5678'
    ('Call back 138 1234 5678' in English), a landline's area code apart ('回电 010 62345678');
    '' for None."""
    if not number:
        return ""
    if len(number) == 11 and number.startswith("1"):
        shown = f"{number[:3]} {number[3:7]} {number[7:]}"
    elif number.startswith(("01", "02")):
        shown = f"{number[:3]} {number[3:]}"
    elif number.startswith("0"):
        shown = f"{number[:4]} {number[4:]}"
    else:
        shown = number
    return ("Call back " if lang == "en" else "回电 ") + shown


def load_staff_data(services: KioskServices, lang: str = "zh") -> dict[str, Any]:
    """What the staff screen lists (runs on a worker thread): open handoffs (with the callback
    number the resident gave, see :func:`callback_label`) and unacknowledged alerts first,
    knowledge-base gaps, device health and the guided explanations (those in the screen's language
    ``lang``, 'zh' or 'en', first)."""
    from appliance.health import robot_health

    journal = services.journal
    handoffs: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    gaps: list[dict[str, Any]] = []
    if journal is not None:
        for r in journal.rows("handoffs", ROWS):
            handoffs.append(
                {
                    "id": r["id"],
                    "ts": _short_ts(r["ts"]),
                    "question": r["question"],
                    "reason": reason_label(r["reason"], lang),
                    "callback": callback_label(r["callback"], lang),
                    "delivery": delivery_label(journal.outbox.delivery("handoff", r["turn_id"]), lang),
                    "open": r["status"] == "open",
                }
            )
        for r in journal.rows("alerts", ROWS):
            alerts.append(
                {
                    "id": r["id"],
                    "ts": _short_ts(r["ts"]),
                    "question": r["question"],
                    "category": r["category"],
                    "delivery": delivery_label(journal.outbox.delivery("emergency", r["turn_id"]), lang),
                    "open": not r["acknowledged"],
                }
            )
        for r in journal.rows("gaps", ROWS):
            closest = json.loads(r["closest"] or "[]")
            gaps.append(
                {"id": r["id"], "ts": _short_ts(r["ts"]), "question": r["question"], "closest": "、".join(closest)}
            )
    handoffs.sort(key=lambda h: not h["open"])
    alerts.sort(key=lambda a: not a["open"])
    robot = services.body.robot if services.body is not None else None
    rh = robot_health(robot)
    health = [
        {"key": "kb", "value": f"v{services.kb.version} · {services.kb.counts().get('documents', 0)}"},
        {"key": "voice", "value": "ok" if services.voice else (services.voice_note or "off")},
        {"key": "robot", "value": rh["mode"] + (f" · {rh.get('state', '')}" if robot is not None else "")},
    ]
    if services.network is not None:
        state = services.network.check()
        health.append({"key": "network", "value": ("online · " if state.online else "offline · ") + state.how})
    if services.settings.sync.enabled:
        health.append({"key": "sync", "value": sync_line(services.settings)})
    if services.journal is not None and services.settings.notify.channels:
        health.append({"key": "outbox", "value": outbox_line(services.journal.outbox.status())})
    tours = [
        {"id": t.id, "title": t.title, "summary": t.summary, "steps": len(t.steps), "lang": t.lang}
        for t in sorted(services.kb.tours(), key=lambda t: t.lang != lang)
    ]
    return {
        "handoffs": handoffs,
        "alerts": alerts,
        "gaps": gaps,
        "health": health,
        "tours": tours,
        "estop": bool(rh.get("estop_latched")),
    }


_DELIVERY = {
    "zh": {"sent": "已送达", "pending": "发送中", "failed": "未送达", "digested": "已汇总发送"},
    "en": {"sent": "delivered", "pending": "sending", "failed": "NOT DELIVERED", "digested": "sent in a digest"},
}


def delivery_label(states: list[tuple[str, str]], lang: str) -> str:
    """How a row's messages to staff fared, per channel: "通知 duty：已送达" ('' when none was sent)."""
    if not states:
        return ""
    en = lang == "en"
    words = _DELIVERY["en" if en else "zh"]
    colon, comma = (": ", ", ") if en else ("：", "，")
    head = "staff messages" if en else "通知"
    return head + " " + comma.join(f"{ch}{colon}{words.get(state, state)}" for ch, state in states)


def sync_line(settings) -> str:
    """The staff page's line on the knowledge base's sync: the channels in use, the last success,
    the last error."""
    from appliance.health import sync_health

    h = sync_health(settings)
    parts = [", ".join(f"{c} v{v}" for c, v in h["channels"].items()) or "not synced yet"]
    parts.append(f"last sync {h['last_success'][:16].replace('T', ' ')}" if h["last_success"] else "never synced")
    if h["last_error"]:
        parts.append(h["last_error"])
    return " · ".join(parts)


def outbox_line(st) -> str:
    """The staff page's line on messages to staff: "sent 12 · pending 1 · failed 0", then
    emergencies not yet delivered and the last error."""
    parts = [f"{k} {st.counts.get(k, 0)}" for k in ("sent", "pending", "failed")]
    if st.emergencies_waiting:
        parts.append(f"EMERGENCY UNDELIVERED {st.emergencies_waiting}")
    if st.last_error:
        parts.append(st.last_error)
    return " · ".join(parts)


class StaffModel(QObject):
    """Staff mode's state and controls (see the module docstring)."""

    activeChanged = Signal()
    pinChanged = Signal()
    dataChanged = Signal()
    volumeChanged = Signal()

    def __init__(self, kiosk: KioskController, services: KioskServices, background: Background):
        super().__init__(kiosk)
        self.kiosk = kiosk
        self.services = services
        self.background = background
        self._active = False
        self._pin: dict[str, Any] = {
            "isSet": services.pin is not None and services.pin.is_set,
            "locked": False,
            "retryAfter": 0,
            "triesLeft": 0,
            "error": "",
            "busy": False,
        }
        self._data: dict[str, Any] = {
            "handoffs": [],
            "alerts": [],
            "gaps": [],
            "health": [],
            "tours": [],
            "estop": False,
        }
        self._volume = services.sink.gain if services.sink is not None else 1.0
        self.last_touch = time.monotonic()

    def _get_active(self) -> bool:
        return self._active

    active = Property(bool, _get_active, notify=activeChanged)

    def _get_pin(self) -> dict[str, Any]:
        return self._pin

    pin = Property("QVariantMap", _get_pin, notify=pinChanged)

    def _get_data(self) -> dict[str, Any]:
        return self._data

    data = Property("QVariantMap", _get_data, notify=dataChanged)

    def _get_volume(self) -> float:
        return self._volume

    volume = Property(float, _get_volume, notify=volumeChanged)

    def _set_pin(self, **changes: Any) -> None:
        self._pin = {**self._pin, **changes}
        self.pinChanged.emit()

    # -- entering and leaving ------------------------------------------------------------------
    @Slot()
    def open(self) -> None:
        """Staff asked for staff mode: the PIN pad (or staff mode if still open)."""
        self.last_touch = time.monotonic()
        if self._active:
            self.kiosk.set_screen("staff")
            return
        self._set_pin(error="", busy=False)
        self.kiosk.set_screen("pin")
        self.refreshPin()

    @Slot()
    def refreshPin(self) -> None:
        """Re-read the lockout (the PIN pad does this every second while locked)."""
        pin = self.services.pin
        if pin is not None:
            self.background.submit(pin.status, self._show_pin_status)

    def _show_pin_status(self, result) -> None:
        self._set_pin(
            isSet=result.is_set,
            locked=result.locked,
            retryAfter=int(round(result.retry_after_s)),
            triesLeft=result.tries_left,
        )

    @Slot(str)
    def submitPin(self, pin: str) -> None:
        """Check a PIN (on a worker thread); the result arrives as ``pin`` changes."""
        lock = self.services.pin
        if lock is None or not lock.is_set or self._pin["busy"]:
            return
        self._set_pin(busy=True, error="")
        self.background.submit(lambda: lock.verify(pin), self._pin_checked)

    def _pin_checked(self, result) -> None:
        self._set_pin(
            busy=False,
            locked=result.locked,
            retryAfter=int(round(result.retry_after_s)),
            triesLeft=result.tries_left,
            error="" if result.ok else ("locked" if result.locked else "wrong"),
        )
        if result.ok:
            self._active = True
            self.activeChanged.emit()
            self.last_touch = time.monotonic()
            self.kiosk.set_screen("staff")
            self.refresh()

    @Slot()
    def cancelPin(self) -> None:
        """Back from the PIN pad without entering."""
        self.kiosk.back()

    @Slot()
    def exit(self) -> None:
        """Leave staff mode (also after ``staff.idle_exit_s`` untouched)."""
        self._active = False
        self.activeChanged.emit()
        self.kiosk.back()

    # -- inside staff mode (each refuses when not active) --------------------------------------
    def _allowed(self) -> bool:
        self.last_touch = time.monotonic()
        if not self._active:
            log.warning("staff control used outside staff mode: ignored")
        return self._active

    @Slot()
    def refresh(self) -> None:
        """Reload handoffs, alerts, gaps, health and tours (worker thread)."""
        if not self._allowed():
            return

        def done(data: dict[str, Any]) -> None:
            self._data = data
            self.dataChanged.emit()

        lang = self.kiosk.lang
        self.background.submit(lambda: load_staff_data(self.services, lang), done)

    @Slot(float)
    def setVolume(self, volume: float) -> None:
        """Speaker volume, 0.0-1.5 (linear gain on the synthesised speech)."""
        if not self._allowed():
            return
        self._volume = max(0.0, min(1.5, float(volume)))
        if self.services.sink is not None:
            self.services.sink.gain = self._volume
        self.volumeChanged.emit()

    @Slot(str)
    def setLang(self, lang: str) -> None:
        """The screen's language."""
        if self._allowed():
            self.kiosk.setLang(lang)
            self.refresh()  # the tours of the new language first

    @Slot(int)
    def closeHandoff(self, handoff_id: int) -> None:
        """Mark a handoff as dealt with."""
        journal = self.services.journal
        if self._allowed() and journal is not None:
            self.background.submit(lambda: journal.close_handoff(handoff_id), lambda ok: self.refresh())

    @Slot()
    def dismissEmergency(self) -> None:
        """Close the emergency screen; its alerts are acknowledged in the journal."""
        if self._allowed():
            self.kiosk.dismiss_emergency_by_staff()
            self.kiosk.set_screen("staff")
            self.refresh()

    @Slot()
    def resetEstop(self) -> None:
        """Clear the robot's latched e-stop (the controller refuses while the button is still down)."""
        body = self.services.body
        if self._allowed() and body is not None:
            self.background.submit(body.robot.estop_reset, lambda reply: self.refresh())

    @Slot(str)
    def startTour(self, tour_id: str) -> None:
        """Start a guided explanation."""
        if self._allowed():
            self.kiosk.tour.start(tour_id)
