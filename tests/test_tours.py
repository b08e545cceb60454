"""Guided explanations: the file format, storage in the knowledge base, the runner and the CLI."""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from appliance.bootstrap import connect_robot, demo_kb_dir
from appliance.cli import app
from appliance.config import RobotSettings
from appliance.events import StepStarted, TourFinished, TourPaused, TourResumed, TourStarted
from appliance.knowledge.ingest import Ingestor, discover
from appliance.knowledge.store import KnowledgeBase
from appliance.tours import BRIDGE, Tour, TourAction, TourError, TourRunner, load_tour, parse_tour
from firmware_bridge import messages as m
from firmware_bridge.reliable import NotConnected

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # the signature is what is checked

TOUR_TOML = """\
id = "demo-walk"
title = "试讲"
lang = "zh"
summary = "三步的测试讲解"
duration_min = 2

[[steps]]
title = "开场"
narration = "大家好，这是第一步。"
slide = { heading = "欢迎", bullets = ["第一行", "第二行"] }
image = "images/plan.png"
action = { gesture = "wave" }

[[steps]]
title = "大厅"
narration = "请看我指的方向，这是第二步。"
action = { point = "right" }

[[steps]]
title = "结束"
narration = "谢谢大家，这是第三步。"
action = { look = [10, -5] }
"""


def write_tour(folder: Path, text: str = TOUR_TOML, name: str = "walk.tour.toml", image: bytes | None = PNG) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if image is not None:
        (folder / "images").mkdir(exist_ok=True)
        (folder / "images" / "plan.png").write_bytes(image)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def tour_rows(kb: KnowledgeBase) -> tuple:
    tours = kb.conn.execute("SELECT id, source, sha256, body_json FROM tours ORDER BY id").fetchall()
    media = kb.conn.execute("SELECT tour_id, name, mime, data FROM tour_media ORDER BY tour_id, name").fetchall()
    return tours, media, kb.version


# -- the file format -------------------------------------------------------------------------------


def test_a_valid_tour_loads_with_its_images(tmp_path: Path) -> None:
    loaded = load_tour(write_tour(tmp_path))
    tour = loaded.tour
    assert (tour.id, tour.title, tour.lang, tour.duration_min, len(tour.steps)) == ("demo-walk", "试讲", "zh", 2, 3)
    first = tour.steps[0]
    assert first.slide is not None and first.slide.bullets == ("第一行", "第二行")
    assert [s.action.describe() for s in tour.steps if s.action] == [
        "gesture wave",
        "point right",
        "look pan +10° tilt -5°",
    ]
    assert [(x.name, x.mime, x.data) for x in loaded.media] == [("images/plan.png", "image/png", PNG)]
    # the digest covers the images: a new picture with the same TOML is a change
    (tmp_path / "images" / "plan.png").write_bytes(PNG + b"\x01")
    assert load_tour(tmp_path / "walk.tour.toml").sha256 != loaded.sha256


def test_action_names_are_the_robots_and_bearings_pick_a_side() -> None:
    assert TourAction.model_validate({"gesture": "Point_Left"}).gesture == "point-left"
    assert TourAction.model_validate({"face": " SMILE "}).face == "smile"
    left, right = TourAction.model_validate({"point": 30}), TourAction.model_validate({"point": "right"})
    assert (left.point_bearing(), left.describe()) == (30.0, "point +30° (left)")
    assert (right.point_bearing(), right.describe()) == (-45.0, "point right")
    assert TourAction.model_validate({"turn": -90}).describe() == "turn -90°"


def _step(**fields: str) -> str:
    body = "\n".join(f"{k} = {v}" for k, v in fields.items())
    return (
        f'id = "t"\ntitle = "T"\nlang = "zh"\nsummary = "S"\n\n[[steps]]\ntitle = "第一步"\nnarration = "N"\n{body}\n'
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('id = "t"\ntitle = \n', "not valid TOML"),
        (
            'title = "T"\nlang = "zh"\nsummary = "S"\n[[steps]]\ntitle = "a"\nnarration = "b"\n',
            "id: missing (required)",
        ),
        (_step().replace('lang = "zh"', 'lang = "fr"'), "lang: Input should be 'zh' or 'en'"),
        (_step().replace('id = "t"', 'id = "Fang Zha"'), "id: use lowercase letters a-z"),
        ('id = "t"\ntitle = "T"\nlang = "zh"\nsummary = "S"\nsteps = []\n', "steps: "),
        (_step(naration='"typo"'), 'step 1 ("第一步") naration: unknown field'),
        (
            _step().replace('narration = "N"', 'narration = "  "'),
            'step 1 ("第一步") narration: String should have at least 1',
        ),
        (_step(action='{ gesture = "dance" }'), "unknown gesture 'dance'; one of: wave, nod, point-left"),
        (_step(action='{ face = "grin" }'), "unknown face 'grin'; one of: neutral, smile"),
        (_step(action="{ look = [120, 0] }"), "look pan 120° is outside the robot's range -90..90°"),
        (_step(action="{ look = [0, 45] }"), "look tilt 45° is outside the robot's range -20..30°"),
        (_step(action="{ look = [30] }"), "look is [pan_deg, tilt_deg]"),
        (_step(action='{ look = ["30", 0] }'), "look pan must be a number of degrees"),
        (_step(action='{ point = "up" }'), 'point is "left", "right" or a bearing'),
        (_step(action="{ point = 0 }"), "point bearing 0 is straight ahead"),
        (_step(action="{ point = 100 }"), "point bearing 100° is outside the robot's range -90..90°"),
        (_step(action="{ turn = 200 }"), "turn 200° is outside the robot's range -180..180°"),
        (_step(action="{ turn = 0 }"), "turn 0° does nothing"),
        (_step(action='{ gesture = "wave", face = "smile" }'), "exactly one of look, gesture, point, turn, face"),
        (_step(action="{ dance = 1 }"), "unknown action 'dance'"),
        (_step(action='"wave"'), "an action is a table"),
        (_step(image='"/etc/passwd.png"'), "must be a path relative to the tour file"),
        (_step(image='"../other/plan.png"'), "must be a path relative to the tour file"),
        (_step(image='"images/plan.gif"'), "use .png, .jpg, .jpeg, .svg"),
        (_step(slide='{ heading = "H", bullets = ["a", " "] }'), "slide bullets: bullet 2 is empty"),
        (_step(slide='{ bullets = ["a"] }'), "slide heading: missing (required)"),
    ],
)
def test_invalid_tours_are_refused_naming_the_file_and_the_field(tmp_path: Path, text: str, expected: str) -> None:
    path = write_tour(tmp_path, text, name="bad.tour.toml")
    with pytest.raises(TourError) as info:
        load_tour(path)
    assert str(info.value).startswith("bad.tour.toml: ")
    assert expected in info.value.detail


def test_not_utf8_is_refused() -> None:
    with pytest.raises(TourError, match="x.tour.toml: not UTF-8"):
        parse_tour('title = "讲解"'.encode("gb18030"), "x.tour.toml")


@pytest.mark.parametrize(
    ("image", "limit", "expected"),
    [
        (None, 2**20, "image 'images/plan.png' not found"),
        (PNG * 100, 1000, "MiB (limit"),
        (b"<html>not a picture</html>", 2**20, "is not a PNG file"),
    ],
)
def test_images_must_exist_be_small_and_be_what_their_name_says(
    tmp_path: Path, image: bytes | None, limit: int, expected: str
) -> None:
    path = write_tour(tmp_path, image=image)
    with pytest.raises(TourError, match="walk.tour.toml") as info:
        load_tour(path, max_image_bytes=limit)
    assert expected in info.value.detail


# -- in the knowledge base ---------------------------------------------------------------------------


@pytest.fixture
def kb(tmp_path: Path, analyzer):
    knowledge = KnowledgeBase.open(tmp_path / "kb.sqlite", analyzer)
    yield knowledge
    knowledge.close()


def test_ingest_stores_tours_with_their_images_beside_the_guides(tmp_path: Path, kb: KnowledgeBase) -> None:
    folder = tmp_path / "guides"
    tour_file = write_tour(folder)
    (folder / "guide.md").write_text("# 办证指南\n\n## 所需材料\n- 身份证\n", encoding="utf-8")
    (folder / "settings.toml").write_text('x = "not a tour"\n', encoding="utf-8")
    files, problems = discover([folder])
    assert [f.name for f in files] == ["guide.md", "walk.tour.toml"] and not problems
    _, [problem] = discover([folder / "settings.toml"])
    assert "a tour file is named *.tour.toml" in problem.reason

    v0 = kb.version
    report = Ingestor(kb).ingest([folder])
    assert {Path(o.path).name: (o.status, o.documents, o.tours) for o in report.outcomes} == {
        "guide.md": ("added", 1, 0),
        "walk.tour.toml": ("added", 0, 1),
    }
    assert (report.documents, report.tours, kb.version) == (1, 1, v0 + 2)
    [tour] = kb.tours()
    assert tour == load_tour(tour_file).tour == kb.tour("demo-walk")
    assert kb.tour("nope") is None
    assert kb.tour_media("demo-walk", "images/plan.png") == ("image/png", PNG)
    assert kb.tour_media("demo-walk", "images/other.png") is None
    assert kb.tour_source("demo-walk") == str(tour_file.resolve())
    # tours are not documents: not listed, not searchable
    assert kb.counts()["documents"] == 1 and [d.title for d in kb.documents()] == ["办证指南"]
    assert kb.conn.execute("SELECT count(*) FROM chunks WHERE text LIKE '%第二步%'").fetchone()[0] == 0

    before = tour_rows(kb)
    report = Ingestor(kb).ingest([folder])
    assert [o.status for o in report.outcomes] == ["unchanged", "unchanged"] and report.tours == 0
    assert tour_rows(kb) == before
    assert [o.status for o in Ingestor(kb).ingest([tour_file], force=True).outcomes] == ["updated"]


def test_a_changed_tour_replaces_its_rows(tmp_path: Path, kb: KnowledgeBase) -> None:
    path = write_tour(tmp_path)
    Ingestor(kb).ingest([path])
    v1 = kb.version
    path.write_text(TOUR_TOML.replace("这是第二步", "这是改过的第二步"), encoding="utf-8")
    [outcome] = Ingestor(kb).ingest([path]).outcomes
    assert outcome.status == "updated" and kb.version == v1 + 1
    assert kb.tour("demo-walk").steps[1].narration == "请看我指的方向，这是改过的第二步。"
    # a new picture alone is a change too
    (tmp_path / "images" / "plan.png").write_bytes(PNG + b"new")
    assert Ingestor(kb).ingest([path]).outcomes[0].status == "updated"
    assert kb.tour_media("demo-walk", "images/plan.png") == ("image/png", PNG + b"new")
    # a new id in the same file replaces the old tour and its media
    path.write_text(TOUR_TOML.replace('id = "demo-walk"', 'id = "renamed"'), encoding="utf-8")
    assert Ingestor(kb).ingest([path]).outcomes[0].status == "updated"
    assert [t.id for t in kb.tours()] == ["renamed"]
    assert kb.conn.execute("SELECT DISTINCT tour_id FROM tour_media").fetchall() == [("renamed",)]


def test_a_broken_tour_is_reported_and_leaves_the_database_as_it_was(tmp_path: Path, kb: KnowledgeBase) -> None:
    path = write_tour(tmp_path)
    Ingestor(kb).ingest([path])
    before = tour_rows(kb)
    breakages: list[tuple[Callable[[], object], str]] = [
        (lambda: path.write_text(TOUR_TOML.replace('lang = "zh"', "lang = "), encoding="utf-8"), "not valid TOML"),
        (
            lambda: path.write_text(TOUR_TOML.replace('"wave"', '"dance"'), encoding="utf-8"),
            'step 1 ("开场") action: unknown gesture',
        ),
        (
            lambda: (path.write_text(TOUR_TOML, encoding="utf-8"), (tmp_path / "images" / "plan.png").unlink()),
            "image 'images/plan.png' not found",
        ),
    ]
    for breakage, reason in breakages:
        breakage()
        [outcome] = Ingestor(kb).ingest([path]).outcomes
        assert outcome.status == "failed" and reason in outcome.reason, outcome
        assert tour_rows(kb) == before
    # another file may not take a stored tour's id
    twin = write_tour(tmp_path / "twin", image=PNG)
    [outcome] = Ingestor(kb).ingest([twin]).outcomes
    assert outcome.status == "failed" and "tour id 'demo-walk' is already used by" in outcome.reason
    assert tour_rows(kb) == before


def test_removing_a_tour_file_removes_the_tour_and_its_images(tmp_path: Path, kb: KnowledgeBase) -> None:
    path = write_tour(tmp_path)
    Ingestor(kb).ingest([path])
    v1 = kb.version
    assert kb.remove_source(str(path.resolve())) == 1
    assert kb.tours() == [] and kb.tour_media("demo-walk", "images/plan.png") is None
    assert kb.conn.execute("SELECT count(*) FROM tour_media").fetchone()[0] == 0
    assert kb.version == v1 + 1
    assert kb.remove_source(str(path.resolve())) == 0 and kb.version == v1 + 1


def test_a_knowledge_base_from_before_tours_gets_the_tables(tmp_path: Path, analyzer) -> None:
    path = tmp_path / "old.sqlite"
    with KnowledgeBase.open(path, analyzer) as old, old.conn:
        old.conn.execute("DROP TABLE tour_media")
        old.conn.execute("DROP TABLE tours")
    with KnowledgeBase.open(path, analyzer, readonly=True) as readonly:
        assert readonly.tours() == [] and readonly.tour("x") is None and readonly.tour_hash("x") is None
    with KnowledgeBase.open(path, analyzer) as kb:
        assert Ingestor(kb).ingest([write_tour(tmp_path)]).outcomes[0].status == "added"
        assert [t.id for t in kb.tours()] == ["demo-walk"]


def test_the_demo_knowledge_base_has_both_tours_in_both_languages_with_their_images(demo_kb: KnowledgeBase) -> None:
    tours = {t.id: t for t in demo_kb.tours()}
    assert {(t.lang, t.title) for t in tours.values()} == {
        ("zh", "社区服务中心功能区介绍"),
        ("zh", "防范电信网络诈骗宣讲"),
        ("en", "Welcome to the Community Service Centre"),
        ("en", "Protect Yourself from Phone and Online Fraud"),
    }
    pairs = {"centre-introduction-en": "fuwu-zhongxin-jieshao", "fraud-prevention-en": "fangzha-xuanjiang"}
    for en, zh in pairs.items():  # a translation: same steps, same robot actions, an image where the original has one
        a, b = tours[en].steps, tours[zh].steps
        assert [s.action for s in a] == [s.action for s in b], en
        assert [s.image is None for s in a] == [s.image is None for s in b], en
        assert all(not re.search(r"[\u4e00-\u9fff]", s.narration) for s in a), en
    kinds: set[str] = set()
    for tour in tours.values():
        assert 6 <= len(tour.steps) <= 8
        assert tour.images(), tour.id
        for name in tour.images():
            mime, data = demo_kb.tour_media(tour.id, name)
            assert mime == "image/svg+xml" and b"<svg" in data
        kinds |= {s.action.kind for s in tour.steps if s.action}
    assert {"look", "point", "gesture"} <= kinds
    fraud = next(t for t in tours.values() if t.title == "防范电信网络诈骗宣讲")
    text = " ".join(s.narration for s in fraud.steps)
    for must in ("不轻信", "不透露", "不转账", "96110", "110", "国家反诈中心", "公检法", "刷单"):
        assert must in text, must
    # the tour files are beside the guides, and the guides are all still there as documents
    guides = list(demo_kb_dir().rglob("*.md"))
    assert demo_kb.counts()["documents"] == len(guides)
    assert len(list(demo_kb_dir().rglob("*.tour.toml"))) == len(tours) == 4


# -- the runner ---------------------------------------------------------------------------------------


def make_tour(*, lang: str = "zh", actions: tuple[dict | None, ...] = ({"gesture": "wave"}, None, {"look": [10, 0]})):
    steps = [
        {"title": f"第{n}步", "narration": f"step {n}", **({"action": a} if a else {})}
        for n, a in enumerate(actions, start=1)
    ]
    return Tour.model_validate({"id": "t", "title": "T", "lang": lang, "summary": "S", "steps": steps})


class FakeNarrator:
    """Records what it is asked to say. Blocking: each say waits until :meth:`finish` or until it
    is cancelled; otherwise it returns at once."""

    def __init__(self, blocking: bool = True, journal: list | None = None):
        self.blocking = blocking
        self.log: list[list] = []  # [text, None while speaking | 'done' | 'cancelled']
        self.journal = journal if journal is not None else []
        self._cond = threading.Condition()
        self._permits = 0

    def say(self, text: str, lang: str, cancelled: threading.Event) -> None:
        entry = [text, None]
        with self._cond:
            self.log.append(entry)
            self.journal.append(("say", text))
            self._cond.notify_all()
            while self.blocking and not cancelled.is_set() and not self._permits:
                self._cond.wait(0.005)  # the Event cannot wake a Condition: look at it often
            if self.blocking and not cancelled.is_set():
                self._permits -= 1
            entry[1] = "cancelled" if cancelled.is_set() else "done"
            self._cond.notify_all()

    def wait_saying(self, text: str, times: int = 1, timeout: float = 3.0) -> None:
        """Until ``text`` is being said for the ``times``-th time."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: sum(1 for t, _ in self.log if t == text) >= times and self.log[-1] == [text, None], timeout
            )
        assert ok, f"not saying {text!r} (#{times}); log: {self.log}"

    def finish(self) -> None:
        """Let the narration in progress end normally."""
        with self._cond:
            self._permits += 1
            self._cond.notify_all()

    def said(self) -> list[tuple[str, str]]:
        with self._cond:
            return [(t, o) for t, o in self.log]


class Events:
    """The runner's events, with waiting."""

    def __init__(self) -> None:
        self.items: list[object] = []
        self._cond = threading.Condition()

    def __call__(self, event: object) -> None:
        with self._cond:
            self.items.append(event)
            self._cond.notify_all()

    def of(self, kind: type) -> list:
        with self._cond:
            return [e for e in self.items if isinstance(e, kind)]

    def wait(self, predicate: Callable[[list], bool], timeout: float = 3.0) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: predicate(self.items), timeout), self.items


@pytest.fixture
def rig():
    """(runner factory, narrator, events, acts): the runner with a fake narrator and a fake act."""
    journal: list = []
    narrator, events = FakeNarrator(journal=journal), Events()
    runners: list[TourRunner] = []

    def act(action: TourAction) -> None:
        journal.append(("act", action.describe()))

    def make(tour: Tour | None = None, **kw) -> TourRunner:
        kw.setdefault("act", act)
        runner = TourRunner(tour or make_tour(), narrator, on_event=events, **kw)
        runners.append(runner)
        return runner

    yield make, narrator, events, journal
    for runner in runners:
        runner.stop()
        assert runner.join(3)


def play_to_step_two(runner: TourRunner, narrator: FakeNarrator) -> None:
    """Start the tour, let step 1 be told to the end, and wait until step 2 is being told."""
    runner.start()
    narrator.wait_saying("step 1")
    narrator.finish()
    narrator.wait_saying("step 2")


def test_runs_every_step_in_order_acting_as_each_step_starts(rig) -> None:
    make, narrator, events, journal = rig
    narrator.blocking = False
    runner = make()
    assert runner.state == "idle"
    runner.start()
    assert runner.join(3)
    assert journal == [
        ("act", "gesture wave"),
        ("say", "step 1"),
        ("say", "step 2"),
        ("act", "look pan +10° tilt +0°"),
        ("say", "step 3"),
    ]
    assert [type(e) for e in events.items] == [TourStarted, StepStarted, StepStarted, StepStarted, TourFinished]
    assert [(e.index, e.total, e.step.title) for e in events.of(StepStarted)] == [
        (0, 3, "第1步"),
        (1, 3, "第2步"),
        (2, 3, "第3步"),
    ]
    assert events.items[-1] == TourFinished("t", completed=True, steps_done=3)
    assert (runner.state, runner.index) == ("finished", 3)


def test_pause_cuts_the_narration_and_resume_tells_the_step_again(rig) -> None:
    make, narrator, events, _ = rig
    runner = make()
    play_to_step_two(runner, narrator)
    runner.pause()
    runner.pause()  # a no-op
    assert runner.state == "paused"
    events.wait(lambda items: isinstance(items[-1], TourPaused))
    assert events.of(TourPaused) == [TourPaused("t", 1, "staff")]
    runner.question_started()  # paused by staff: stays paused
    assert runner.state == "paused"
    runner.resume()
    narrator.wait_saying("step 2", times=2)
    assert events.of(TourResumed) == [TourResumed("t", 1)]
    narrator.finish()
    narrator.wait_saying("step 3")
    narrator.finish()
    assert runner.join(3)
    assert narrator.said() == [("step 1", "done"), ("step 2", "cancelled"), ("step 2", "done"), ("step 3", "done")]
    assert events.items[-1] == TourFinished("t", completed=True, steps_done=3)


def test_skip_goes_on_and_past_the_last_step_finishes(rig) -> None:
    make, narrator, events, _ = rig
    runner = make()
    runner.start()
    narrator.wait_saying("step 1")
    runner.skip()
    narrator.wait_saying("step 2")
    runner.pause()
    runner.skip()  # while paused: the tour waits, at the next step
    assert (runner.state, runner.index) == ("paused", 2)
    runner.resume()
    narrator.wait_saying("step 3")
    runner.pause()
    runner.skip()  # past the last step, even while paused: the tour is over
    assert runner.state == "finished"
    assert runner.join(3)
    assert events.items[-1] == TourFinished("t", completed=True, steps_done=0)
    assert [t for t, _ in narrator.said()] == ["step 1", "step 2", "step 3"]
    assert all(outcome == "cancelled" for _, outcome in narrator.said())
    n = len(events.items)
    for control in (runner.skip, runner.pause, runner.resume, runner.repeat, runner.question_started, runner.stop):
        control()  # after the end: no-ops
    assert len(events.items) == n and runner.state == "finished"


def test_repeat_tells_the_current_step_again_and_acts_again(rig) -> None:
    make, narrator, events, journal = rig
    runner = make()
    runner.start()
    narrator.wait_saying("step 1")
    runner.repeat()
    narrator.wait_saying("step 1", times=2)
    assert journal == [("act", "gesture wave"), ("say", "step 1"), ("act", "gesture wave"), ("say", "step 1")]
    assert [e.index for e in events.of(StepStarted)] == [0, 0]
    narrator.finish()
    narrator.wait_saying("step 2")
    assert runner.index == 1


def test_stop_ends_the_tour_from_any_state(rig) -> None:
    make, narrator, events, _ = rig
    runner = make()
    play_to_step_two(runner, narrator)
    runner.stop()
    runner.stop()
    assert runner.join(3) and runner.state == "stopped"
    assert events.of(TourFinished) == [TourFinished("t", completed=False, steps_done=1)]
    assert narrator.said()[-1] == ("step 2", "cancelled")
    runner.resume()
    assert runner.state == "stopped" and len(narrator.said()) == 2

    never = make()  # stopped before it started: ends without playing
    never.stop()
    never.start()
    assert never.join(1) and never.state == "stopped"
    assert events.of(TourFinished)[-1] == TourFinished("t", completed=False, steps_done=0)

    paused = make()
    paused.start()
    narrator.wait_saying("step 1", times=2)
    paused.question_started()
    paused.stop()
    assert paused.join(3) and paused.state == "stopped"


@pytest.mark.parametrize(("lang", "bridge"), [("zh", "我们接着讲。"), ("en", "Let's continue.")])
def test_a_question_waits_then_bridges_and_tells_the_step_again(rig, lang: str, bridge: str) -> None:
    make, narrator, events, journal = rig
    runner = make(make_tour(lang=lang))
    runner.start()
    narrator.wait_saying("step 1")
    runner.question_started()
    runner.question_started()
    assert runner.state == "question"
    events.wait(lambda items: isinstance(items[-1], TourPaused))
    assert events.of(TourPaused) == [TourPaused("t", 0, "question")]
    runner.question_done()
    narrator.wait_saying(BRIDGE[lang])
    assert BRIDGE[lang] == bridge
    narrator.finish()
    narrator.wait_saying("step 1", times=2)
    runner.question_done()  # already going on: a no-op
    assert events.of(TourResumed) == [TourResumed("t", 0)]
    assert narrator.said() == [("step 1", "cancelled"), (bridge, "done"), ("step 1", None)]
    assert journal.count(("act", "gesture wave")) == 2  # the step starts again, with its action

    # a question during the bridge: the bridge is cut and said again afterwards
    runner.question_started()
    runner.question_done()
    narrator.wait_saying(bridge, times=2)
    runner.question_started()
    runner.resume()  # staff resuming during a question counts as the answer being done
    narrator.wait_saying(bridge, times=3)


def test_a_failing_act_is_logged_and_the_tour_goes_on(rig, caplog) -> None:
    make, narrator, events, _ = rig
    narrator.blocking = False

    def act(action: TourAction) -> None:
        raise NotConnected("no controller")

    runner = make(act=act)
    with caplog.at_level("WARNING", logger="appliance.tours"):
        runner.start()
        assert runner.join(3)
    assert events.items[-1] == TourFinished("t", completed=True, steps_done=3)
    assert "step 1: gesture wave not done: no controller" in caplog.text


def test_a_failing_narrator_stops_the_tour(rig, caplog) -> None:
    make, _, events, _ = rig

    class Broken:
        def say(self, text: str, lang: str, cancelled: threading.Event) -> None:
            raise RuntimeError("speaker unplugged")

    runner = TourRunner(make_tour(), Broken(), on_event=events)
    with caplog.at_level("ERROR", logger="appliance.tours"):
        runner.start()
        assert runner.join(3)
    assert runner.state == "stopped" and events.items[-1] == TourFinished("t", completed=False, steps_done=0)
    assert "speaker unplugged" in caplog.text


def test_the_simulated_robot_performs_the_step_actions() -> None:
    tour = make_tour(
        actions=({"look": [20, 5]}, {"point": "right"}, {"turn": 30}, {"face": "smile"}, {"point": 60}),
    )
    with connect_robot(RobotSettings(), "sim") as runtime:
        robot, sim = runtime.robot, runtime.sim
        assert robot is not None and robot.connected

        def arms_free_narrator_say(text: str, lang: str, cancelled: threading.Event) -> None:
            # a real narration lasts longer than a gesture; here, wait only for the arms to be free
            # for the next point (after the last step, nothing waits)
            if text == tour.steps[-1].narration:
                return
            deadline = time.monotonic() + 3
            while not cancelled.is_set() and time.monotonic() < deadline:
                with sim.controller.lock:
                    if sim.controller.state.arms is None:
                        return
                cancelled.wait(0.01)

        narrator = FakeNarrator(blocking=False)
        narrator.say = arms_free_narrator_say  # type: ignore[method-assign]
        start = len(sim.controller.executed)
        runner = TourRunner(tour, narrator, act=lambda a: a.perform(robot))
        runner.start()
        assert runner.join(10) and runner.state == "finished"
        with sim.controller.lock:
            done = [c for _, c in sim.controller.executed[start:] if not isinstance(c, m.Ping)]
        assert done == [
            m.Look(2000, 500, robot.head_speed_dps),
            m.Look(-4500, 0, robot.head_speed_dps),
            m.GestureCmd(m.Gesture.POINT_RIGHT),
            m.Turn(3000, robot.base_speed_dps),
            m.FaceCmd(m.Face.SMILE),
            m.Look(6000, 0, robot.head_speed_dps),
            m.GestureCmd(m.Gesture.POINT_LEFT),
        ]

        # with the e-stop latched, motion is refused (and logged) but the tour goes on
        sim.controller.press_estop()
        deadline = time.monotonic() + 3
        while not robot.estop_latched and time.monotonic() < deadline:
            time.sleep(0.01)
        start = len(sim.controller.executed)
        runner = TourRunner(
            make_tour(actions=({"look": [5, 0]}, {"face": "thinking"})), narrator, act=lambda a: a.perform(robot)
        )
        runner.start()
        assert runner.join(5) and runner.state == "finished"
        with sim.controller.lock:
            assert [type(c) for _, c in sim.controller.executed[start:] if not isinstance(c, m.Ping)] == [m.FaceCmd]


# -- the CLI --------------------------------------------------------------------------------------------


def test_kiosk_tours_check_list_show_run_and_kb_remove(tmp_path: Path, demo_kb_file: Path) -> None:
    runner = CliRunner()
    env = {"KIOSK_DATA_DIR": str(tmp_path / "data")}
    good = write_tour(tmp_path / "good")
    bad = write_tour(tmp_path / "bad", TOUR_TOML.replace("[10, -5]", "[10, -50]"))
    r = runner.invoke(app, ["tours", "check", str(good)], env=env)
    assert r.exit_code == 0 and "ok     " in r.stdout and "demo-walk" in r.stdout, r.output
    r = runner.invoke(app, ["tours", "check", str(good), str(bad)], env=env)
    assert r.exit_code == 1, r.output
    assert "FAILED" in r.stdout and 'step 3 ("结束") action: look tilt -50° is outside' in r.stdout

    kb = tmp_path / "kb.sqlite"
    shutil.copy(demo_kb_file, kb)
    r = runner.invoke(app, ["tours", "list", "--kb", str(kb), "--json"], env=env)
    assert r.exit_code == 0, r.output
    listed = [json.loads(line) for line in r.stdout.splitlines()]
    assert {t["id"] for t in listed} == {
        "fuwu-zhongxin-jieshao",
        "fangzha-xuanjiang",
        "centre-introduction-en",
        "fraud-prevention-en",
    }
    assert all(t["steps"] >= 6 and t["source"].endswith(".tour.toml") for t in listed)
    r = runner.invoke(app, ["tours", "show", "fangzha-xuanjiang", "--kb", str(kb), "--json"], env=env)
    assert r.exit_code == 0 and json.loads(r.stdout)["title"] == "防范电信网络诈骗宣讲"
    r = runner.invoke(app, ["tours", "show", "fuwu-zhongxin-jieshao", "--kb", str(kb)], env=env)
    assert r.exit_code == 0 and "action: point right" in r.stdout and "image: images/floorplan.svg" in r.stdout
    r = runner.invoke(app, ["tours", "show", "nope", "--kb", str(kb)], env=env)
    assert r.exit_code == 2 and "no tour 'nope'" in r.stderr and "fangzha-xuanjiang" in r.stderr

    r = runner.invoke(app, ["tours", "run", str(good), "--speed", "0", "--robot", "sim"], env=env)
    assert r.exit_code == 0, r.output
    assert "── 3/3 结束" in r.stdout and "谢谢大家，这是第三步。" in r.stdout and "finished" in r.stdout
    assert "〔机器人〕gesture wave" in r.stderr

    source = next(t["source"] for t in listed if t["id"] == "fangzha-xuanjiang")
    r = runner.invoke(app, ["kb", "remove", source, "--kb", str(kb)], env=env)
    assert r.exit_code == 0 and "tour removed" in r.stdout, r.output
    r = runner.invoke(app, ["tours", "list", "--kb", str(kb), "--json"], env=env)
    assert "fangzha-xuanjiang" not in [json.loads(line)["id"] for line in r.stdout.splitlines()]
    assert len(r.stdout.splitlines()) == len(listed) - 1
