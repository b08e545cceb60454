"""The touchscreen, offscreen: real QML, real clicks, the demo knowledge base, a simulated robot."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

pytest.importorskip("PySide6.QtQuick")

from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QFont, QImage  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from appliance.bootstrap import build_appliance  # noqa: E402
from appliance.config import Settings  # noqa: E402
from appliance.dialogue import Session  # noqa: E402
from appliance.events import UserSpeaking  # noqa: E402
from appliance.staff import PinLock  # noqa: E402
from appliance.text_conversation import TextConversation  # noqa: E402
from ui.app import I18N_DIR, KioskUI  # noqa: E402
from ui.layout import shown  # noqa: E402
from ui.screenshots import Driver, settle  # noqa: E402
from ui.services import KioskServices  # noqa: E402
from ui.theme import COLORS, MIN_TARGET_PX, PAIRS, contrast_ratio  # noqa: E402

PIN = "730516"


class Clock:
    """A settable wall clock for the PIN lockout."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Kiosk:
    """A running touchscreen on the demo knowledge base, with helpers to click its items."""

    def __init__(self, tmp: Path, kb_file: Path, body=None, pin_set: bool = True, **settings):
        kb = tmp / "kb.sqlite"
        shutil.copy(kb_file, kb)
        self.settings = Settings(data_dir=tmp / "data", kb_path=kb, **settings)
        self.appliance = build_appliance(self.settings, use_llm=False)
        self.clock = Clock()
        self.pin = PinLock(tmp / "pin.json", max_tries=5, lockout_s=300.0, clock=self.clock)
        if pin_set:
            self.pin.set_pin(PIN)
        self.events: list = []
        session = Session(self.appliance.engine, 3600.0)
        self.responder = TextConversation(session, self._event, 400.0, min_reading_s=0.3)
        self.services = KioskServices(
            settings=self.settings,
            site=self.appliance.site,
            kb=self.appliance.kb,
            journal=self.appliance.journal,
            responder=self.responder,
            voice=True,
            body=body,
            pin=self.pin,
        )
        self.ui = KioskUI(self.services, size=(1920, 1080))
        self.driver = Driver(self.ui)
        self.k = self.ui.controller
        self.driver.wait(lambda: len(self.k.topics) > 0, "topics")

    def _event(self, event) -> None:
        self.events.append(event)
        if hasattr(self, "ui"):
            self.ui.on_event(event)

    def item(self, name: str):
        item = self.driver.item(name)
        assert item is not None, f"no visible item {name!r} on screen {self.k.screen}"
        return item

    def click(self, name: str) -> None:
        """A real mouse click in the middle of item ``name``, where the screen shows it: after a
        frame, since a Row or Flow lays out new delegates (all at x = 0 until then) when polished."""
        self.driver.wait(lambda: self.driver.item(name) is not None, f"item {name}", 5)
        settle(self.ui.app, 0.05)
        item = self.item(name)
        assert item.isVisible(), f"{name} is not visible"
        centre = item.mapToScene(QPointF(item.width() / 2, item.height() / 2)).toPoint()
        QTest.mouseClick(self.ui.window, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, centre)
        self.ui.app.processEvents()

    def text_of(self, name: str) -> str:
        return self.item(name).property("text")

    def close(self) -> None:
        self.ui.close()
        self.responder.close()
        self.appliance.close()


@pytest.fixture(scope="session")
def qapp():
    """The kiosk's own application (a QGuiApplication with the CJK font), not pytest-qt's
    QApplication, so the tests render what the appliance renders."""
    from ui.app import application

    return application()


@pytest.fixture
def kiosk(qapp, tmp_path: Path, demo_kb_file: Path):
    k = Kiosk(tmp_path, demo_kb_file)
    yield k
    k.close()


def test_tapping_a_topic_shows_the_answer_with_its_source_card(kiosk: Kiosk) -> None:
    from appliance.knowledge.card import guide_card

    k = kiosk.k
    kiosk.click("startButton")
    assert k.screen == "conversation"
    kiosk.click("topicsButton")
    assert k.screen == "topics"
    topic = next(t for t in k.topics if guide_card(kiosk.appliance.kb, t["doc_id"]).materials)
    kiosk.click(f"topic_{k.topics.index(topic)}")
    kiosk.driver.wait(lambda: k.turn["done"] and k.turn["card"] is not None, "the answer and its card")
    assert k.turn["question"] == topic["question"]
    assert k.turn["mode"] == "answer"
    assert k.turn["sources"][0]["title"] == topic["title"]
    assert kiosk.text_of("cardTitle") == f"《{topic['title']}》"
    card = guide_card(kiosk.appliance.kb, topic["doc_id"])
    assert k.turn["card"]["materials"] == list(card.materials)
    assert kiosk.item("material_0").isVisible()
    if card.place:
        assert card.place in kiosk.text_of("cardPlace")
    assert kiosk.text_of("answer") == k.turn["answer"] != ""
    # The checklist ticks under a finger.
    material = kiosk.item("material_0")
    assert material.property("checked") is False
    kiosk.click("material_0")
    assert material.property("checked") is True
    # Follow-ups are asked within the session (the topic carries over).
    kiosk.click("followUp_0")
    kiosk.driver.wait(lambda: k.turn["done"] and k.turn["question"] == "需要带什么材料", "the follow-up")
    assert k.turn["sources"][0]["title"] == topic["title"]


def test_a_question_typed_in_pinyin_is_answered(kiosk: Kiosk) -> None:
    k = kiosk.k
    kiosk.click("startButton")
    kiosk.click("typingButton")
    assert k.screen == "typing"
    kiosk.driver.wait(lambda: k.keyboard.state["ready"], "the pinyin input method", 60)
    for letter in "sbk":
        kiosk.click(f"key_{letter}")
    kiosk.driver.wait(lambda: k.keyboard.state["candidatesFor"] == "sbk", "candidates for sbk")
    assert k.keyboard.state["candidates"][0] == "社保卡"  # the knowledge base's words come first
    kiosk.click(f"candidate_{k.keyboard.state['candidates'].index('社保卡')}")
    for letter in "diule":
        kiosk.click(f"key_{letter}")
    kiosk.driver.wait(lambda: k.keyboard.state["candidatesFor"] == "diule", "candidates for diule")
    kiosk.click(f"candidate_{k.keyboard.state['candidates'].index('丢了')}")
    assert kiosk.text_of("questionField") == "社保卡丢了"
    kiosk.click("sendButton")
    kiosk.driver.wait(lambda: k.turn["done"] and k.turn["question"] == "社保卡丢了", "the typed question's answer")
    assert k.screen == "conversation"
    assert kiosk.text_of("caption") == "您问：社保卡丢了"
    assert k.turn["sources"][0]["title"] == "社会保障卡挂失与补办"


def test_an_emergency_takes_over_until_staff_or_a_confirmed_all_clear(kiosk: Kiosk) -> None:
    k = kiosk.k
    k.ask("电梯里有人被困住了")
    kiosk.driver.wait(lambda: k.turn["done"], "the emergency answer")
    assert k.screen == "emergency"
    guidance = kiosk.text_of("emergencyGuidance")
    assert "电梯" in guidance and "119" in guidance and "010-0000-5678" in guidance
    # Nothing a resident taps elsewhere leaves it; a second question does not either.
    k.go("topics")
    k.home()
    k.ask("社保卡怎么补办")
    kiosk.driver.wait(lambda: k.turn["done"] and k.turn["question"] == "社保卡怎么补办", "the next answer")
    k.expire_idle_now()
    assert k.screen == "emergency" and not k.stillThere
    # "The danger is over" needs a second confirmation.
    kiosk.click("safeButton")
    assert k.screen == "emergency"
    kiosk.click("notSafeButton")
    kiosk.click("safeButton")
    kiosk.click("confirmSafeButton")
    assert k.screen == "conversation" and not k.emergency["active"]
    # Staff dismissal acknowledges the alert in the journal.
    k.ask("家里煤气泄漏了")
    kiosk.driver.wait(lambda: k.screen == "emergency", "the second emergency")
    kiosk.click("staffDismissButton")
    assert k.screen == "pin"
    k.staff.submitPin(PIN)
    kiosk.driver.wait(lambda: k.screen == "staff", "staff mode")
    kiosk.click("staffDismissEmergency")
    assert not k.emergency["active"]
    kiosk.driver.wait(
        lambda: all(not a["open"] for a in k.staff.data["alerts"]) and k.staff.data["alerts"], "acknowledged alerts"
    )


def test_staff_pin_locks_after_five_wrong_tries(kiosk: Kiosk) -> None:
    k = kiosk.k
    k.ask("我要投诉物业不作为")
    kiosk.driver.wait(lambda: k.turn["done"], "a handoff")
    kiosk.k.home()
    k.staff.open()
    assert k.screen == "pin"

    def enter(pin: str) -> None:
        for digit in pin:
            kiosk.click(f"pin_{digit}")
        kiosk.click("pin_ok")
        kiosk.driver.wait(lambda: not k.staff.pin["busy"], "the PIN check")

    for n in range(1, 6):
        enter("1357")
        assert k.screen == "pin"
        if n < 5:
            assert k.staff.pin["error"] == "wrong" and k.staff.pin["triesLeft"] == 5 - n
            assert f"{5 - n}" in kiosk.text_of("pinMessage")
    assert k.staff.pin["locked"] and 290 <= k.staff.pin["retryAfter"] <= 300
    assert "锁定" in kiosk.text_of("pinMessage")
    # Locked: the keypad is disabled and even the right PIN is refused.
    k.staff.submitPin(PIN)
    kiosk.driver.wait(lambda: not k.staff.pin["busy"], "the PIN check")
    assert k.screen == "pin" and not k.staff.active
    # Staff controls do nothing outside staff mode.
    k.staff.setVolume(0.2)
    assert k.staff.volume == 1.0
    kiosk.clock.now += 301
    kiosk.driver.wait(lambda: not k.staff.pin["locked"], "the lockout to end (the pad re-reads it)")
    enter(PIN)
    assert k.screen == "staff" and k.staff.active
    kiosk.driver.wait(lambda: k.staff.data["handoffs"], "the handoff list")
    assert k.staff.data["handoffs"][0]["question"] == "我要投诉物业不作为"
    assert {t["id"] for t in k.staff.data["tours"]} >= {"fuwu-zhongxin-jieshao", "fangzha-xuanjiang"}
    assert [t["lang"] for t in k.staff.data["tours"][:2]] == ["zh", "zh"]
    k.staff.setLang("en")  # the tours of the screen's language come first
    kiosk.driver.wait(lambda: k.staff.data["tours"][0]["lang"] == "en", "the English tours first")
    assert [t["lang"] for t in k.staff.data["tours"]] == ["en", "en", "zh", "zh"]
    k.staff.setLang("zh")
    kiosk.click("staffTab_settings")
    kiosk.click("volumeDown")
    assert k.staff.volume == pytest.approx(0.9)
    kiosk.click("staffExit")
    assert k.screen == "attract" and not k.staff.active


def test_staff_handoff_list_shows_the_callback_number(kiosk: Kiosk) -> None:
    from ui.staff import callback_label

    k = kiosk.k
    for q in ("我要投诉物业，我手机13912345678丢了", "我要投诉物业，麻烦回电13812345678"):
        k.ask(q)
        kiosk.driver.wait(lambda q=q: k.turn["done"] and k.turn["question"] == q, "a handoff")
    assert "尾号5678" in k.turn["answer"]
    k.home()
    k.staff.open()
    k.staff.submitPin(PIN)
    kiosk.driver.wait(lambda: k.staff.active and len(k.staff.data["handoffs"]) == 2, "the handoff list")
    assert [h["callback"] for h in k.staff.data["handoffs"]] == ["回电 138 1234 5678", ""]
    kiosk.ui.app.processEvents()
    texts = [it.property("text") or "" for it in _walk(kiosk.item("staffRows")) if shown(it)]
    assert any("回电〔手机号〕" in t and t.endswith("回电 138 1234 5678") for t in texts), texts
    assert not any("13912345678" in t or "139 1234" in t for t in texts)
    assert callback_label("02187654321", "en") == "Call back 021 87654321"
    assert callback_label("075512345678") == "回电 0755 12345678" and callback_label(None) == ""
    assert all("[投诉或反映问题]" in t for t in texts if "投诉物业" in t)  # the reason in words,
    assert not any("[complaint]" in t for t in texts)  # not the rule's id


def test_every_handoff_reason_reads_as_words_in_both_languages() -> None:
    from ui.staff import REASONS_EN, _handoff_reasons, reason_label

    ids = set(_handoff_reasons())
    assert ids and ids == set(REASONS_EN)  # a new handoff rule needs its English words here
    for code in ids:
        assert reason_label(code) != code and reason_label(code, "en") == REASONS_EN[code]
    assert reason_label("distress") == "情绪困扰，需要社工关怀"
    assert reason_label("something_new") == "something_new" and reason_label(None) == ""


def test_without_a_pin_staff_mode_stays_closed(qapp, tmp_path: Path, demo_kb_file: Path) -> None:
    kiosk = Kiosk(tmp_path, demo_kb_file, pin_set=False)
    try:
        kiosk.k.staff.open()
        assert "kiosk staff set-pin" in kiosk.text_of("pinMessage")
        kiosk.k.staff.submitPin("0000")
        kiosk.ui.app.processEvents()
        assert kiosk.k.screen == "pin" and not kiosk.k.staff.active
    finally:
        kiosk.close()


def test_a_guided_explanation_runs_with_the_robot_and_resumes_after_a_question(
    qapp, tmp_path: Path, demo_kb_file: Path
) -> None:
    from appliance.body import Body
    from appliance.bootstrap import connect_robot
    from appliance.config import RobotSettings

    actions: list[str] = []
    runtime = connect_robot(RobotSettings(), "sim", on_action=actions.append)
    body = Body(runtime.robot, RobotSettings()).start()
    kiosk = Kiosk(tmp_path, demo_kb_file, body=body)
    k = kiosk.k
    try:
        k.staff.open()
        k.staff.submitPin(PIN)
        kiosk.driver.wait(lambda: k.staff.active and k.staff.data["tours"], "staff mode")
        tour = next(t for t in k.staff.data["tours"] if t["id"] == "fuwu-zhongxin-jieshao")
        kiosk.item("staffScreen").setProperty("tab", "tours")
        kiosk.click("startTour_fuwu-zhongxin-jieshao")
        kiosk.driver.wait(lambda: k.screen == "tour" and k.tour.step.get("index") == 0, "the first step")
        first_step = k.tour.step["title"]
        assert kiosk.text_of("stepTitle") == first_step
        # A resident speaks: the narration stops, the question is answered, the tour resumes.
        kiosk.ui.on_event(UserSpeaking(time.monotonic()))
        kiosk.driver.wait(lambda: k.tour.info["state"] == "question", "the tour to wait")
        interrupted = k.tour.step["index"]  # 0, or 1 when step 0's short narration ended first
        told: list[int] = []  # the steps started from now on, in order (short steps may pass before a poll)
        k.tour.stepChanged.connect(lambda: told.append(k.tour.step["index"]))
        kiosk.responder.ask_text("老年人优待证怎么办")
        kiosk.driver.wait(lambda: k.turn["done"] and k.turn["question"] == "老年人优待证怎么办", "the answer")
        assert k.screen == "tour" and k.turn["sources"][0]["title"] == "老年人优待证办理"
        kiosk.driver.wait(lambda: k.tour.info["state"] == "running" and told, "the tour to resume")
        assert told[0] == interrupted  # the interrupted step is told again
        # A typed question waits for the resident to tap 继续讲解.
        kiosk.click("tourAsk")
        assert k.screen == "typing" and k.tour.info["state"] == "question"
        k.ask("高龄津贴怎么领")
        kiosk.driver.wait(lambda: k.turn["done"] and k.turn["question"] == "高龄津贴怎么领", "the typed answer")
        assert k.screen == "tour" and kiosk.item("tourQuestion").isVisible()
        time.sleep(0.5)
        kiosk.ui.app.processEvents()
        assert k.tour.info["state"] == "question"
        kiosk.click("tourContinue")
        kiosk.driver.wait(lambda: k.tour.info["state"] == "running", "the tour to continue")
        # Staff controls: pause, resume, skip to the end.
        kiosk.click("tourPause")
        kiosk.driver.wait(lambda: k.tour.info["state"] == "paused", "pause")
        kiosk.click("tourPause")
        kiosk.driver.wait(lambda: k.tour.info["state"] == "running", "resume")
        for _ in range(tour["steps"]):  # skip to the end (short steps may also end by themselves)
            before = k.tour.step.get("index")
            skip = kiosk.driver.item("tourSkip")
            if not k.tour.active or skip is None or not skip.isVisible():
                break
            kiosk.click("tourSkip")
            kiosk.driver.wait(lambda b=before: k.tour.step.get("index") != b or not k.tour.active, "the next step")
        kiosk.driver.wait(lambda: not k.tour.active, "the end of the tour", 30)
        assert k.tour.info["state"] == "finished"
        assert k.screen == "staff"
        body.drain()
        # Every step's action reached the controller (gestures sent while the arms are still busy
        # from the previous step are refused by the controller: the test skips fast).
        looks = [
            (msg.pan_cdeg, msg.tilt_cdeg) for _, msg in runtime.sim.controller.executed if type(msg).__name__ == "Look"
        ]
        assert (-3000, 0) in looks and (3000, 0) in looks and (0, 2000) in looks, looks
        assert any(a == "tour: gesture wave" for a in body.actions), body.actions
    finally:
        kiosk.close()
        body.close()
        runtime.close()


def _walk(item):
    stack = [item]
    while stack:
        it = stack.pop()
        yield it
        stack.extend(it.childItems())


def test_portrait_conversation_scrolls_as_one_column_down_to_the_checklist(kiosk: Kiosk) -> None:
    """At 800×1280 the answer is shown whole and the source card below it is reached by dragging
    the page, and its checklist still ticks under a finger."""
    kiosk.ui.resize(800, 1280)
    kiosk.driver.ask("我社保卡掉了怎么办")
    settle(kiosk.ui.app)
    page, answer, card = kiosk.item("conversationPage"), kiosk.item("answer"), kiosk.item("sourceCard")
    assert answer.height() >= answer.implicitHeight() - 1  # not squeezed into a scroller of its own
    assert page.property("contentHeight") > page.height()  # the card is further down
    bottom = page.mapToScene(QPointF(0, page.height())).y()
    assert card.mapToScene(QPointF(0, card.height())).y() > bottom
    material = kiosk.item("material_0")
    top = page.mapToScene(QPointF(0, 0)).y()

    def material_y() -> float:
        return material.mapToScene(QPointF(0, material.height())).y()

    start = page.mapToScene(QPointF(page.width() / 2, page.height() * 0.7)).toPoint()
    for _ in range(10):  # a finger drags the page up, slowly, until the checklist shows
        if material_y() < bottom:
            break
        QTest.mousePress(kiosk.ui.window, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
        for dy in range(0, 300, 20):
            QTest.mouseMove(kiosk.ui.window, start - QPoint(0, dy), 30)
        QTest.mouseMove(kiosk.ui.window, start - QPoint(0, 300), 300)  # hold still: no fling
        QTest.mouseRelease(
            kiosk.ui.window, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start - QPoint(0, 300)
        )
        kiosk.driver.wait(lambda: not page.property("moving"), "the page to settle")
    assert top < material_y() - material.height() and material_y() < bottom, "the checklist is on screen"
    kiosk.click("material_0")
    assert material.property("checked") is True
    # The next question starts at the top again.
    kiosk.driver.ask("居住证怎么办")
    settle(kiosk.ui.app)
    assert page.property("contentY") == pytest.approx(0, abs=1)


@pytest.mark.parametrize(
    "screen", ["attract", "conversation", "topics", "typing", "handoff", "emergency", "pin", "staff", "tour"]
)
def test_text_and_touch_targets_are_big_enough_at_1080p(kiosk: Kiosk, screen: str) -> None:
    from ui.screenshots import _stage

    _stage(kiosk.driver, screen, "zh")
    kiosk.driver.wait(lambda: kiosk.k.screen == screen, screen)
    time.sleep(0.1)
    kiosk.ui.app.processEvents()
    root = kiosk.ui.window.contentItem()
    texts, targets = 0, 0
    for item in _walk(root):
        if not shown(item) or item.width() <= 0:
            continue
        cls = item.metaObject().className()
        if cls.startswith("QQuickText") and item.property("text"):
            texts += 1
            px = item.property("font").pixelSize()
            assert px >= 32, f"{screen}: text {item.property('text')!r} is {px} px"
        if cls == "QQuickMouseArea" and item.isEnabled():
            targets += 1
            assert item.height() >= MIN_TARGET_PX - 0.5, f"{screen}: a touch target of {item.height():.0f} px"
    assert texts > 3 and targets > 0


def test_colours_meet_wcag_aaa_contrast() -> None:
    for fg, bg in PAIRS:
        assert contrast_ratio(COLORS[fg], COLORS[bg]) >= 7.0, (fg, bg)
    assert contrast_ratio("#777777", "#FFFFFF") < 7.0  # the check can fail


def test_english_is_complete_and_switches_at_run_time(kiosk: Kiosk) -> None:
    ts = (I18N_DIR / "kiosk_en.ts").read_text(encoding="utf-8")
    assert 'type="unfinished"' not in ts and "<translation></translation>" not in ts
    kiosk.click("startButton")
    assert kiosk.text_of("topicsButton") == "常见服务"
    kiosk.click("language")
    assert kiosk.k.lang == "en"
    assert kiosk.text_of("topicsButton") == "Services"
    kiosk.driver.wait(lambda: kiosk.k.topics and all(t["title"].isascii() for t in kiosk.k.topics), "English topics")
    kiosk.k.ask(kiosk.k.topics[0]["question"])
    kiosk.driver.wait(lambda: kiosk.k.turn["done"], "an English answer")
    assert kiosk.k.turn["mode"] == "answer" and kiosk.text_of("caption").startswith("You asked: ")
    # English text gets proportional quotes from the CJK font ('pwid'); Chinese text keeps its own.
    pwid = QFont.Tag("pwid")
    assert kiosk.item("answer").property("font").isFeatureSet(pwid)
    kiosk.k.ask("社保卡丢了怎么办")
    kiosk.driver.wait(
        lambda: kiosk.k.turn["done"] and kiosk.k.turn["question"] == "社保卡丢了怎么办", "a Chinese answer"
    )
    assert not kiosk.item("answer").property("font").isFeatureSet(pwid)
    # A new window after an English one starts in Chinese: the English translator went with the
    # old window (the screenshots open one window per language).
    kiosk.ui.close()
    kiosk.ui = KioskUI(kiosk.services, size=(1920, 1080))
    kiosk.driver, kiosk.k = Driver(kiosk.ui), kiosk.ui.controller
    kiosk.click("startButton")
    assert kiosk.text_of("topicsButton") == "常见服务"


def test_the_compiled_translations_are_up_to_date(tmp_path: Path) -> None:
    lrelease = shutil.which("pyside6-lrelease") or str(Path(sys.executable).parent / "pyside6-lrelease")
    out = tmp_path / "kiosk_en.qm"
    subprocess.run([lrelease, str(I18N_DIR / "kiosk_en.ts"), "-qm", str(out)], check=True, capture_output=True)
    assert out.read_bytes() == (I18N_DIR / "kiosk_en.qm").read_bytes(), "run scripts/translations"


def test_idle_asks_before_going_back_to_attract(kiosk: Kiosk) -> None:
    k = kiosk.k
    k.ask("老年卡在哪里办")
    kiosk.driver.wait(lambda: k.turn["done"], "the answer")
    k.expire_idle_now()
    assert k.stillThere and k.screen == "conversation"
    kiosk.click("keepReading")
    assert not k.stillThere and k.screen == "conversation" and k.turn["answer"]
    k.expire_idle_now()
    k._still_since = time.monotonic() - k.STILL_THERE_S - 1
    k._tick()
    assert k.screen == "attract" and k.turn["question"] == ""


def test_the_gui_thread_never_waits_for_an_answer(kiosk: Kiosk) -> None:
    """ask() returns at once even while the engine is blocked."""
    engine = kiosk.appliance.engine
    release = threading.Event()
    original = engine.ask

    def slow_ask(*args, **kwargs):
        release.wait(5)
        return original(*args, **kwargs)

    engine.ask = slow_ask
    try:
        t0 = time.monotonic()
        kiosk.k.ask("社保卡怎么补办")
        # The engine is blocked for 5 s: returning well before that means ask() did not wait for it
        # (the bound leaves room for Qt building the conversation screen on a busy machine).
        assert time.monotonic() - t0 < 2.0
        assert not release.is_set()
        assert kiosk.k.screen == "conversation" and not kiosk.k.turn["done"]
        assert kiosk.k.status["activity"] == "thinking"
    finally:
        release.set()
    kiosk.driver.wait(lambda: kiosk.k.turn["done"], "the answer")


def test_screenshots_render_every_screen_with_content(qapp, tmp_path: Path, demo_kb_file: Path) -> None:
    from ui.screenshots import SCREENS, render_screenshots

    kb = tmp_path / "kb.sqlite"
    shutil.copy(demo_kb_file, kb)
    settings = Settings(data_dir=tmp_path / "data", kb_path=kb)
    written = render_screenshots(settings, tmp_path / "shots", {"portrait": (800, 1280)}, ["en", "zh"])
    assert len(written) == 2 * len(SCREENS)
    assert [f"{shot.name}: {fault}" for shot in written for fault in shot.faults] == []
    for path in (shot.path for shot in written):
        image = QImage(str(path))
        assert (image.width(), image.height()) == (800, 1280), path
        # Not blank: many distinct colours in a sampled grid.
        colours = {image.pixel(x, y) for x in range(0, 800, 37) for y in range(0, 1280, 41)}
        assert len(colours) > 4, path
    zh = QImage(str(tmp_path / "shots" / "portrait-zh-conversation.png"))
    en = QImage(str(tmp_path / "shots" / "portrait-en-conversation.png"))
    assert zh != en


@pytest.mark.parametrize(
    ("sizes", "langs", "text_scale"),
    [
        ({"landscape-1080p": (1920, 1080), "portrait-1080p": (1080, 1920)}, ["zh"], 1.0),
        ({"landscape-1280x800": (1280, 800)}, ["zh", "en"], 1.0),
        ({"landscape-1280x800": (1280, 800), "portrait-1080p": (1080, 1920)}, ["en"], 1.4),
    ],
    ids=["1080p", "1280x800", "largest-text"],
)
def test_every_screen_fits_at_every_size(
    qapp, tmp_path: Path, demo_kb_file: Path, sizes, langs, text_scale: float
) -> None:
    """No text runs out of its box or card, is cut, or lies over another text or a button, on any
    screen, at the sizes a kiosk ships with (800x1280 in both languages is checked above), and at
    the largest text size a resident can choose (English: the longest labels)."""
    from ui.controller import TEXT_SCALES
    from ui.screenshots import SCREENS, render_screenshots

    assert text_scale in TEXT_SCALES
    kb = tmp_path / "kb.sqlite"
    shutil.copy(demo_kb_file, kb)
    settings = Settings(data_dir=tmp_path / "data", kb_path=kb, ui={"text_scale": text_scale})
    checked = render_screenshots(settings, None, sizes, langs)
    assert len(checked) == len(sizes) * len(langs) * len(SCREENS)
    assert [f"{shot.name}: {fault}" for shot in checked for fault in shot.faults] == []


def test_the_layout_check_finds_text_that_does_not_fit(kiosk: Kiosk) -> None:
    """The check sees what the attract screen did at 1280x800 (a notice running out of its card,
    text over text and under the topic buttons), and leaves alone a screen wholly under an
    overlay (the still-there prompt)."""
    from ui.layout import layout_faults

    kiosk.ui.resize(1280, 800)
    kiosk.driver.ask("我社保卡掉了怎么办")
    kiosk.k.expire_idle_now()
    kiosk.driver.wait(lambda: kiosk.k.stillThere, "the still-there prompt")
    settle(kiosk.ui.app)
    assert layout_faults(kiosk.ui.window) == []  # the conversation under the prompt is hidden
    kiosk.driver.home()
    kiosk.driver.wait(lambda: kiosk.k.screen == "attract" and not kiosk.k.stillThere, "attract")
    settle(kiosk.ui.app)
    assert layout_faults(kiosk.ui.window) == []
    title = kiosk.item("noticeTitle")
    title.setProperty("maximumLineCount", 1000)
    title.setProperty("text", "很长的通知标题" * 40)
    settle(kiosk.ui.app)
    assert ("cut", "很长的通知标题") in {(f.kind, f.text[:7]) for f in layout_faults(kiosk.ui.window)}
    notice = kiosk.item("aiNotice")  # one line that does not wrap runs into the notice card beside it
    notice.setProperty("wrapMode", 0)
    notice.setProperty("text", "我是人工智能不是真人" * 6)
    settle(kiosk.ui.app)
    faults = {
        (f.kind, f.detail.split(" at ")[0]) for f in layout_faults(kiosk.ui.window) if f.text.startswith("我是人工")
    }
    assert ("overlap", "runs under notice") in faults, faults
    assert {kind for kind, _ in faults} >= {"overflow", "overlap", "off-card"}, faults


def test_screenshots_skip_the_tour_screens_of_a_kb_without_tours(qapp, tmp_path: Path, analyzer) -> None:
    from appliance.knowledge.ingest import Ingestor
    from appliance.knowledge.readers import ReadLimits
    from appliance.knowledge.store import KnowledgeBase
    from tests.docmakers import GUIDE_TEXT
    from ui.screenshots import render_screenshots

    guide = tmp_path / "guide.md"
    guide.write_text(GUIDE_TEXT, encoding="utf-8")
    with KnowledgeBase.open(tmp_path / "kb.sqlite", analyzer) as kb:
        assert not Ingestor(kb, None, ReadLimits(), 2**20).ingest([guide]).failed
    settings = Settings(data_dir=tmp_path / "data", kb_path=tmp_path / "kb.sqlite")
    said: list[str] = []
    written = render_screenshots(
        settings, tmp_path / "shots", {"small": (1280, 800)}, ["zh"], ["attract", "tour"], progress=said.append
    )
    assert [shot.path.name for shot in written] == ["small-zh-attract.png"]
    assert any(m.startswith("skipped small-zh-tour") and "no guided explanations" in m for m in said), said


def test_a_clarification_offers_topics_and_a_tap_answers_the_question(kiosk: Kiosk) -> None:
    import math

    from appliance.knowledge.confidence import Calibration

    k = kiosk.k
    retriever = kiosk.appliance.engine.retriever
    retriever.set_calibration(Calibration(("coverage",), (0.0,), math.log(0.3 / 0.7)))  # every question: unsure
    kiosk.click("startButton")
    k.ask("补贴怎么领")
    kiosk.driver.wait(lambda: k.turn["done"] and k.turn["question"] == "补贴怎么领", "the clarification")
    assert k.turn["mode"] == "clarify" and len(k.turn["followUps"]) >= 2
    offered = k.turn["followUps"]
    assert kiosk.item("followUp_1").property("text") == offered[1]
    kiosk.click("followUp_1")
    kiosk.driver.wait(lambda: k.turn["done"] and k.turn["mode"] == "answer", "the answer from the chosen topic")
    assert k.turn["sources"][0]["title"] == offered[1] and k.turn["question"] == offered[1]  # the tap, as said
    journal = kiosk.appliance.journal
    kiosk.driver.wait(lambda: journal.rows("clarifications")[0]["chosen"], "the journal")
    [row] = journal.rows("clarifications")
    assert row["question"] == "补贴怎么领" and row["chosen"] == offered[1]
    assert journal.rows("turns")[0]["question"] == "补贴怎么领"  # the question answered: the one asked first


def test_an_unsure_emergency_shows_the_numbers_and_asks(kiosk: Kiosk) -> None:
    import dataclasses

    from appliance.triage.detector import Thresholds

    k = kiosk.k
    engine = kiosk.appliance.engine
    engine.triage = dataclasses.replace(engine.triage, thresholds=Thresholds(alarm=1.01, ask=0.0), embed=None)
    kiosk.click("startButton")
    k.ask("养狗要办什么手续")
    kiosk.driver.wait(lambda: k.screen == "emergency" and k.emergency.get("check"), "the check")
    assert kiosk.text_of("emergencyTitle") == "请确认：您现在有危险吗？"
    assert "110" in kiosk.text_of("emergencyGuidance")
    assert kiosk.item("checkReply_0").property("text") == "有危险"
    kiosk.click("checkReply_1")  # 没有危险: the question is answered as a normal one
    kiosk.driver.wait(lambda: k.screen == "conversation" and k.turn["done"], "the answer")
    assert k.turn["mode"] == "answer" and k.turn["sources"][0]["title"] == "养犬登记"
    assert not k.emergency["active"]
    k.ask("家里有股怪味")
    kiosk.driver.wait(lambda: k.screen == "emergency" and k.emergency.get("check"), "the second check")
    kiosk.click("checkReply_0")  # 有危险: the full guidance, the alarm
    kiosk.driver.wait(lambda: k.emergency["active"] and not k.emergency.get("check") and k.turn["done"], "the alarm")
    assert kiosk.text_of("emergencyTitle") == "紧急情况  请按下面做"
    assert kiosk.item("safeButton").isVisible()


def test_an_emergency_staff_were_not_told_of_says_so_on_the_kiosk(qapp, tmp_path: Path, demo_kb_file: Path) -> None:
    from appliance.config import NotifySettings

    secret = tmp_path / "wecom.toml"
    secret.write_text('key = "K"\n')
    secret.chmod(0o600)
    # No sender runs here: the alert stays queued, as when the network is down.
    notify = NotifySettings(
        alarm_after_s=0.5,
        channels=[{"name": "duty", "kind": "wecom", "url": "http://127.0.0.1:9", "secret_file": secret}],
    )
    kiosk = Kiosk(tmp_path, demo_kb_file, notify=notify)
    try:
        k = kiosk.k
        assert not kiosk.item("alertStrip").isVisible()  # nothing waits yet
        k.ask("电梯里有人被困住了")
        kiosk.driver.wait(lambda: k.screen == "emergency", "the emergency screen")
        kiosk.driver.wait(lambda: k.status.get("alertUndelivered") is True, "the undelivered alert", 10)
        settle(kiosk.ui.app, 0.2)
        warning = kiosk.text_of("alertUndelivered")
        assert "值班电话" in warning and kiosk.appliance.site.duty_phone in warning
        kiosk.ui.window.grabWindow().save(str(tmp_path / "undelivered.png"))
        # The danger is over, the alert still undelivered: the status strip keeps saying so.
        kiosk.click("safeButton")
        kiosk.click("confirmSafeButton")
        settle(kiosk.ui.app, 0.2)
        assert k.screen == "conversation" and kiosk.item("alertStrip").isVisible()
        kiosk.ui.window.grabWindow().save(str(tmp_path / "strip.png"))
        # Delivered at last: the warning goes.
        [row] = kiosk.appliance.journal.outbox.rows()
        kiosk.appliance.journal.outbox.mark_sent(row.id)
        k.refresh_status()
        kiosk.driver.wait(lambda: k.status.get("alertUndelivered") is False, "the cleared warning")
        settle(kiosk.ui.app, 0.2)
        assert not kiosk.item("alertStrip").isVisible()
    finally:
        kiosk.close()


def test_a_knowledge_base_taken_over_after_a_sync_reloads_the_topics(kiosk: Kiosk, tmp_path: Path, analyzer) -> None:
    from appliance.bootstrap import demo_kb_dir
    from appliance.knowledge.ingest import Ingestor
    from appliance.knowledge.store import KnowledgeBase

    k = kiosk.k
    assert len(k.topics) > 3
    kb = KnowledgeBase.open(tmp_path / "synced.sqlite", analyzer)
    Ingestor(kb).ingest([demo_kb_dir() / "zh" / "yangquan-dengji.md", demo_kb_dir() / "zh" / "laji-fenlei.md"])
    try:
        kiosk.ui.kb_swapped(kb)  # as the engine calls it at the next conversation
        kiosk.driver.wait(lambda: len(k.topics) == 2, "the synced knowledge base's topics")
        assert {t["title"] for t in k.topics} == {d.title for d in kb.documents()}
        assert kiosk.services.kb is kb
    finally:
        kiosk.services.kb = kiosk.appliance.kb
        kb.close()


def test_leaving_staff_mode_or_the_pin_pad_returns_to_what_the_state_calls_for(kiosk: Kiosk) -> None:
    """One place decides where "back" goes (KioskController.back): a running tour, else attract;
    an emergency before anything."""
    k = kiosk.k
    k.staff.open()
    k.staff.cancelPin()
    assert k.screen == "attract"
    k.staff.open()
    k.staff.submitPin(PIN)
    kiosk.driver.wait(lambda: k.staff.active and k.staff.data["tours"], "staff mode")
    k.staff.startTour(k.staff.data["tours"][0]["id"])
    kiosk.driver.wait(lambda: k.screen == "tour" and k.tour.active, "the tour")
    k.staff.open()  # staff mode is still open: back to it from the tour
    assert k.screen == "staff"
    k.staff.exit()
    assert k.screen == "tour"  # the tour goes on
    k.staff.open()
    assert k.screen == "pin"
    k.staff.cancelPin()
    assert k.screen == "tour"  # not attract with the narration still running
    kiosk.driver.ask("电梯里有人被困住了")
    kiosk.driver.wait(lambda: k.screen == "emergency" and not k.tour.active, "the emergency")
    k.staff.open()
    k.staff.cancelPin()
    assert k.screen == "emergency"
