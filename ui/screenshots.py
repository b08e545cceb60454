"""Every screen rendered to PNG, with real content, without a device (``kiosk ui screenshots``).

The screens are driven the way a resident and a staff member would drive them, through the
controller's slots, against the knowledge base in use (the demo one on a fresh machine): a
question about the social-security card for the conversation screen, a complaint for the handoff
screen, someone trapped in a lift for the emergency screen, a wrong PIN for the PIN pad, the
guided explanation's second step. The journal and staff PIN live in a throwaway folder, so a
device's real journal is not touched. Qt renders offscreen when there is no display.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from appliance.config import Settings
from appliance.triage.detector import Thresholds


@dataclasses.dataclass(frozen=True)
class Shot:
    """One screen rendered: its name (``<size>-<lang>-<screen>``), the PNG (None when only
    checked) and what does not fit on it (:func:`ui.layout.layout_faults`)."""

    name: str
    path: Path | None
    faults: tuple = ()


SIZES: dict[str, tuple[int, int]] = {
    "landscape-1080p": (1920, 1080),
    "portrait-1080p": (1080, 1920),
    "landscape-1280x800": (1280, 800),
    "portrait-800x1280": (800, 1280),
}
SCREENS = (
    "attract",
    "topics",
    "conversation",
    "typing",
    "handoff",
    "emergency",
    "emergency-check",
    "clarify",
    "pin",
    "staff",
    "staff-tours",
    "tour",
    "tour-question",
    "still-there",
)
QUESTIONS = {
    "conversation": {"zh": "我社保卡掉了怎么办", "en": "I lost my social security card, what should I do?"},
    "handoff": {"zh": "我要投诉楼上邻居半夜噪音", "en": "I want to make a complaint about my neighbour"},
    "emergency": {"zh": "电梯里有人被困住了", "en": "Someone is trapped in the lift"},
    "emergency-check": {"zh": "家里有股怪味", "en": "There is a strange smell at home"},
    "clarify": {"zh": "补贴怎么领", "en": "How do I get the allowance?"},
    "gap": {"zh": "小区里能养鸽子吗", "en": "Can I keep pigeons in the courtyard?"},
    "tour-question": {"zh": "接到冒充公检法的电话怎么办", "en": "How do I report a lost social security card?"},
}
SCREENSHOT_PIN = "730516"


class ScreenshotError(RuntimeError):
    """A screen did not reach the expected state in time (the message says which)."""


class ScreenUnavailable(Exception):
    """The knowledge base in use has nothing for this screen (no guided explanations): the screen
    is skipped and reported, the others are rendered."""


def wait_until(app, predicate: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    """Run Qt's event loop until ``predicate()`` holds.

    Raises:
        ScreenshotError: not within ``timeout_s`` seconds.
    """
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise ScreenshotError(f"timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.01)
    app.processEvents()


def find_item(root, name: str):
    """Depth-first search of the visual item tree (Loader items are not QObject children)."""
    stack = [root]
    while stack:
        item = stack.pop()
        if item.objectName() == name:
            return item
        stack.extend(reversed(item.childItems()))
    return None


def settle(app, seconds: float = 0.15) -> None:
    """Let bindings, layouts and images finish before a grab."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)


class Driver:
    """Drives a :class:`~ui.app.KioskUI` to each screen (used by the screenshots and the tests)."""

    def __init__(self, ui):
        self.ui = ui
        self.app = ui.app
        self.kiosk = ui.controller

    def wait(self, predicate: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
        """See :func:`wait_until`."""
        wait_until(self.app, predicate, what, timeout_s)

    def ask(self, question: str) -> dict:
        """Ask and wait for the answer, its card (when the answer cites a guide) included."""
        self.kiosk.ask(question)
        self.wait(
            lambda: self.kiosk.turn["done"] and self.kiosk.turn["question"] == question, f"the answer to {question!r}"
        )
        turn = self.kiosk.turn
        if turn["mode"] == "answer" and turn["sources"]:
            self.wait(lambda: self.kiosk.turn["card"] is not None, "the source card")
        return self.kiosk.turn

    def home(self) -> None:
        """Back to attract with no emergency or staff mode."""
        if self.kiosk.emergency["active"]:
            self.kiosk.confirmSafe()
        if self.kiosk.staff.active:
            self.kiosk.staff.exit()
        if self.kiosk.tour.active:
            self.kiosk.tour.stop()
            self.wait(lambda: not self.kiosk.tour.active, "the tour to stop")
        self.kiosk.home()

    @contextmanager
    def unsure_triage(self):
        """Within: every question the rules do not match is an "are you in danger?" check (to stage
        that screen whatever the detector makes of the question)."""
        engine = self.kiosk.services.responder.session.engine
        triage = engine.triage
        engine.triage = dataclasses.replace(triage, thresholds=Thresholds(alarm=1.01, ask=0.0), embed=None)
        try:
            yield
        finally:
            engine.triage = triage

    @contextmanager
    def unsure_retrieval(self):
        """Within: every retrieved question is answered with "您是想问…吗？" (confidence 0.3)."""
        from appliance.knowledge.confidence import Calibration

        retriever = self.kiosk.services.responder.session.engine.retriever
        retriever.set_calibration(Calibration(("coverage",), (0.0,), math.log(0.3 / 0.7)))
        try:
            yield
        finally:
            retriever.set_calibration(None)

    def staff_login(self, pin: str = SCREENSHOT_PIN) -> None:
        """Open staff mode with ``pin``."""
        self.kiosk.staff.open()
        self.kiosk.staff.submitPin(pin)
        self.wait(lambda: not self.kiosk.staff.pin["busy"], "the PIN check")
        self.wait(lambda: self.kiosk.staff.data["health"] != [], "the staff data")

    def item(self, name: str):
        """The visible-tree QML item with objectName ``name`` (None if absent)."""
        from PySide6.QtCore import QCoreApplication, QEvent

        # Delegates a Repeater replaced stay in the tree until their deferred deletion.
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
        return find_item(self.ui.window.contentItem(), name)

    def grab(self, path: Path | None) -> Path | None:
        """Render the window and save it as PNG (``path`` None: render only)."""
        settle(self.app)
        image = self.ui.window.grabWindow()
        if path is None:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(path)):
            raise ScreenshotError(f"cannot write {path}")
        return path


def _stage(driver: Driver, screen: str, lang: str) -> None:
    """Bring the UI to ``screen`` with real content."""
    k = driver.kiosk
    if screen == "attract":
        driver.home()
        driver.wait(lambda: len(k.topics) > 0, "notices and topics")
    elif screen == "topics":
        driver.home()
        k.go("topics")
        driver.wait(lambda: len(k.topics) > 0, "topics")
    elif screen == "conversation":
        driver.home()
        driver.ask(QUESTIONS["conversation"][lang])
    elif screen == "typing":
        driver.home()
        k.go("typing")
        driver.wait(lambda: k.keyboard.state["ready"], "the pinyin input method", 60)
        for letter in "shebaoka":
            k.keyboard.key(letter)
        driver.wait(lambda: k.keyboard.state["candidatesFor"] == "shebaoka", "pinyin candidates")
    elif screen == "handoff":
        driver.home()
        driver.ask(QUESTIONS["handoff"][lang])
        k.go("handoff")
    elif screen == "emergency":
        driver.home()
        driver.ask(QUESTIONS["emergency"][lang])
    elif screen == "emergency-check":
        driver.home()
        with driver.unsure_triage():
            driver.ask(QUESTIONS["emergency-check"][lang])
    elif screen == "clarify":
        driver.home()
        with driver.unsure_retrieval():
            driver.ask(QUESTIONS["clarify"][lang])
    elif screen == "pin":
        driver.home()
        k.staff.open()
        k.staff.submitPin("0000")
        driver.wait(lambda: k.staff.pin["error"] == "wrong", "a wrong PIN")
    elif screen in ("staff", "staff-tours"):
        driver.home()
        driver.ask(QUESTIONS["gap"][lang])
        driver.staff_login()
        if screen == "staff-tours":
            driver.item("staffScreen").setProperty("tab", "tours")
    elif screen in ("tour", "tour-question"):
        driver.home()
        driver.staff_login()
        tours = k.staff.data["tours"]
        if not tours:
            raise ScreenUnavailable(
                "the knowledge base has no guided explanations (add *.tour.toml files with `kiosk kb ingest`)"
            )
        chosen = next((t for t in tours if t["lang"] == lang), tours[0])
        k.staff.startTour(chosen["id"])
        driver.wait(lambda: k.tour.active and k.tour.step.get("index") == 0, "the tour's first step")
        k.tour.skip()
        driver.wait(lambda: k.tour.step.get("index") == 1, "the tour's second step")
        k.tour.pause()
        driver.wait(lambda: k.tour.info["state"] == "paused", "the tour to pause")
        if screen == "tour-question":
            k.tour.resume()
            driver.wait(lambda: k.tour.info["state"] == "running", "the tour to resume")
            driver.ask(QUESTIONS["tour-question"][lang])
    elif screen == "still-there":
        driver.home()
        driver.ask(QUESTIONS["conversation"][lang])
        k.expire_idle_now()
        driver.wait(lambda: k.stillThere, "the still-there prompt")


def render_screenshots(
    settings: Settings,
    out_dir: Path | None,
    sizes: dict[str, tuple[int, int]] | None = None,
    langs: list[str] | None = None,
    screens: list[str] | tuple[str, ...] = SCREENS,
    *,
    use_llm: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[Shot]:
    """Render ``screens`` at each size and language to ``out_dir/<size>-<lang>-<screen>.png``
    (``out_dir`` None: nothing is written), and check each for text that does not fit
    (:func:`ui.layout.layout_faults`: overflowing its box or card, cut, or over another item).

    The knowledge base is the one ``settings`` names (built from the demo when empty); journal
    and staff PIN are temporary. A screen the knowledge base has nothing for (the tours without
    any tour) is skipped with a message through ``progress``.

    Raises:
        ScreenshotError: a screen did not reach its state, or a file could not be written.
        UIError: the QML failed to load.
    """
    from appliance.bootstrap import build_appliance
    from appliance.dialogue import Session
    from appliance.staff import PinLock
    from appliance.text_conversation import TextConversation
    from ui.app import KioskUI, application
    from ui.layout import layout_faults
    from ui.services import KioskServices

    sizes = sizes or SIZES
    langs = langs or ["zh", "en"]
    say = progress or (lambda message: None)
    written: list[Shot] = []
    application()
    with tempfile.TemporaryDirectory(prefix="kiosk-screens-") as tmp:
        scratch = settings.model_copy(
            update={
                "kb_path": settings.kb_file,
                "journal_path": Path(tmp) / "journal.sqlite",
            }
        )
        appliance = build_appliance(scratch, use_llm=use_llm)
        pin = PinLock(Path(tmp) / "pin.json")
        pin.set_pin(SCREENSHOT_PIN)
        with appliance:
            for n in appliance.notes:
                say(f"note: {n}")
            session = Session(appliance.engine, 3600.0, scratch.conversation.history_turns)
            holder: list = []
            with TextConversation(session, lambda e: holder and holder[0](e), 1000.0, min_reading_s=0.05) as responder:
                for lang in langs:
                    services = KioskServices(
                        settings=scratch,
                        site=appliance.site,
                        kb=appliance.kb,
                        journal=appliance.journal,
                        responder=responder,
                        voice=True,  # the talk and stop buttons are drawn
                        pin=pin,
                    )
                    ui = KioskUI(services, size=next(iter(sizes.values())), language=lang)
                    holder[:] = [ui.on_event]
                    driver = Driver(ui)
                    try:
                        for size_name, (w, h) in sizes.items():
                            ui.resize(w, h)
                            for screen in screens:
                                try:
                                    _stage(driver, screen, lang)
                                except ScreenUnavailable as exc:
                                    say(f"skipped {size_name}-{lang}-{screen}: {exc}")
                                    continue
                                name = f"{size_name}-{lang}-{screen}"
                                # rendered either way: layouts are polished before the check
                                path = driver.grab(None if out_dir is None else out_dir / f"{name}.png")
                                faults = tuple(layout_faults(ui.window))
                                written.append(Shot(name, path, faults))
                                say(name if path is None else path.name)
                                for fault in faults:
                                    say(f"  does not fit: {fault}")
                        driver.home()
                    finally:
                        holder[:] = []
                        ui.close()
    return written
