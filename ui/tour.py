"""A guided explanation on screen (QML's ``kiosk.tour``).

Staff start a tour from staff mode; :class:`appliance.tours.TourRunner` narrates it step by step
on its own thread through the responder (spoken when there is a voice, shown for reading time
otherwise) and moves the robot through the body's worker. This model mirrors the runner's events
onto the screen: the step's title, slide, image and narration, and the controls (pause, resume,
skip, repeat, stop). A resident's question (spoken, or the 提问 button) pauses the tour; it is
answered by the normal engine, and the tour resumes: by itself after a spoken question, or with
the 继续讲解 button after a typed one (the resident may still be reading the answer).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Property, QObject, Signal, Slot

from ui.bridge import Background, Bridge
from ui.services import KioskServices

if TYPE_CHECKING:
    from appliance.tours import TourRunner
    from ui.controller import KioskController

log = logging.getLogger(__name__)


class TourModel(QObject):
    """The running guided explanation, if any (see the module docstring)."""

    changed = Signal()
    stepChanged = Signal()

    def __init__(self, kiosk: KioskController, services: KioskServices, bridge: Bridge, background: Background):
        super().__init__(kiosk)
        self.kiosk = kiosk
        self.services = services
        self.bridge = bridge
        self.background = background
        self.runner: TourRunner | None = None
        self._info: dict[str, Any] = {"active": False, "id": "", "title": "", "total": 0, "index": 0, "state": "idle"}
        self._step: dict[str, Any] = {}

    def _get_active(self) -> bool:
        return self._info["active"]

    active = Property(bool, _get_active, notify=changed)

    def _get_info(self) -> dict[str, Any]:
        return self._info

    info = Property("QVariantMap", _get_info, notify=changed)

    def _get_step(self) -> dict[str, Any]:
        return self._step

    step = Property("QVariantMap", _get_step, notify=stepChanged)

    def _set(self, **changes: Any) -> None:
        self._info = {**self._info, **changes}
        self.changed.emit()

    # -- starting --------------------------------------------------------------------------------
    @Slot(str)
    def start(self, tour_id: str) -> None:
        """Load tour ``tour_id`` from the knowledge base (worker thread) and start it."""
        self._control("stop")
        kb = self.services.kb
        self.background.submit(lambda: kb.tour(tour_id), self._begin)

    def _begin(self, tour) -> None:
        from appliance.tours import TourRunner

        if tour is None:
            log.warning("no such tour in the knowledge base")
            return
        self.runner = TourRunner(tour, self.services.responder, self._act, self.bridge.wrap(self.on_event))
        self._set(
            active=True, id=tour.id, title=tour.title, total=len(tour.steps), index=0, state="running", lang=tour.lang
        )
        self.kiosk.set_screen("tour")
        self.runner.start()

    def _act(self, action) -> None:
        """A step's robot action, queued on the body's worker (the runner never waits on the link)."""
        body = self.services.body
        if body is not None:
            body.perform(f"tour: {action.describe()}", lambda: action.perform(body.robot))

    # -- runner events (GUI thread) ----------------------------------------------------------------
    def on_event(self, event: object) -> None:
        """One :mod:`appliance.tours` event."""
        from appliance.events import StepStarted, TourFinished, TourPaused, TourResumed

        if isinstance(event, StepStarted):
            s = event.step
            slide = s.slide
            self._step = {
                "index": event.index,
                "title": s.title,
                "narration": s.narration,
                "heading": slide.heading if slide is not None and slide.heading else "",
                "bullets": list(slide.bullets) if slide is not None else [],
                "image": f"image://tour/{event.tour_id}/{s.image}" if s.image else "",
                "action": s.action.describe() if s.action is not None else "",
            }
            self.stepChanged.emit()
            self._set(index=event.index, total=event.total, state="running")
            self.kiosk.set_activity("speaking")
        elif isinstance(event, TourPaused):
            self._set(state=event.reason if event.reason == "question" else "paused")
        elif isinstance(event, TourResumed):
            self._set(state="running")
        elif isinstance(event, TourFinished):
            self._set(active=False, state="finished" if event.completed else "stopped")
            self.kiosk.set_activity(None)
            if self.kiosk.screen == "tour":
                self.kiosk.back()

    # -- controls ----------------------------------------------------------------------------------
    def _control(self, name: str) -> None:
        if self.runner is not None and self._info["active"]:
            getattr(self.runner, name)()

    @Slot()
    def pause(self) -> None:
        """Pause (narration stops now; resume repeats the step)."""
        self._control("pause")

    @Slot()
    def resume(self) -> None:
        """Resume a paused tour."""
        self._control("resume")

    @Slot()
    def skip(self) -> None:
        """Go to the next step."""
        self._control("skip")

    @Slot()
    def repeat(self) -> None:
        """Say the current step again."""
        self._control("repeat")

    @Slot()
    def stop(self) -> None:
        """End the tour."""
        self._control("stop")

    @Slot()
    def ask(self) -> None:
        """The 提问 button: the tour waits while the resident types a question."""
        self.question_started()
        self.kiosk.set_screen("typing")

    @Slot()
    def resumeAfterQuestion(self) -> None:
        """The 继续讲解 button after an answer."""
        if self.runner is not None and self._info["active"]:
            self.kiosk.set_screen("tour")
            self.runner.question_done()

    # -- from the conversation ------------------------------------------------------------------
    def question_started(self) -> None:
        """A resident started asking (spoken or typed) during the tour."""
        if self.runner is not None and self._info["active"] and self._info["state"] == "running":
            self.runner.question_started()
            self._set(state="question")

    def question_done(self, auto: bool) -> None:
        """The question was answered; a spoken question resumes the tour by itself."""
        if self.runner is None or not self._info["active"] or self._info["state"] != "question":
            return
        if self.kiosk.screen != "emergency":
            self.kiosk.set_screen("tour")
        if auto:
            self.runner.question_done()

    def close(self) -> None:
        """Stop the runner and wait for its thread."""
        if self.runner is not None:
            self.runner.stop()
            self.runner.join(2.0)
