"""The learned emergency detector: its training, its file, and the triage that combines it with the
rules. The sentences here are written for these tests; the held-out test questions
(appliance/demo/eval/test/emergency.jsonl) are only read by `kiosk bench answers`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from appliance.knowledge.text import Analyzer
from appliance.triage import Triage
from appliance.triage import training as tr
from appliance.triage.detector import EmergencyDetector, Exemplar, Thresholds, features, load_exemplars

TRIAGE = Triage.load()


def test_the_shipped_detector_was_trained_on_the_shipped_exemplars() -> None:
    assert tr.main(["--check"]) == 0, "retrain: python -m appliance.triage.training"
    d = TRIAGE.detector
    assert d is not None and set(d.classes) == {c.id for c in TRIAGE.emergencies} | {"none"}
    notes = d.notes
    assert 0 < TRIAGE.thresholds.ask < TRIAGE.thresholds.alarm < 1
    cv = notes["cross_validated"]["all"]
    assert cv["none_alarmed"] <= tr.MAX_FALSE_ALARM + 1e-9  # the thresholds honour their targets out of fold
    assert notes["exemplars"] >= 5000


def test_check_fails_when_the_exemplars_change(tmp_path: Path) -> None:
    (tmp_path / "exemplars.jsonl").write_text('{"text": "着火了", "label": "fire", "lang": "zh"}\n', encoding="utf-8")
    out = tmp_path / "detector.json"
    out.write_text(TRIAGE.detector.to_json(), encoding="utf-8")
    assert tr.main(["--check", "--exemplars", str(tmp_path), "--out", str(out)]) == 1


@pytest.mark.parametrize(
    ("said", "category"),
    [
        ("救命啊 我被关在电梯里了 门怎么按都不开", "lift_entrapment"),
        ("我爸卡在两层楼中间下不来", "lift_entrapment"),
        ("厨房的锅烧起来了", "fire"),
        ("楼道里全是烟 呛得睁不开眼", "fire"),
        ("一进门就闻到好大的煤气味", "gas_leak"),
        ("卫生间的水管爆了 水哗哗往外冒", "flooding"),
        ("我妈突然倒在地上叫不醒", "medical"),
        ("孩子把一瓶药都吞了", "medical"),
        ("隔壁男的又在打老婆", "violence"),
        ("有个男的拿着刀在小区里追人", "violence"),
        ("我真的撑不下去了", "self_harm"),
        ("我想从楼上跳下去", "self_harm"),
        ("我孙子刚才还在滑梯那玩 一转眼人不见了", "missing_person"),
        ("有人打电话说是公安局的 让我往安全账户转钱", "fraud"),
        ("My dad collapsed and he is not breathing", "medical"),
        ("there is smoke coming out of the flat next door", "fire"),
        ("I just want to end my life", "self_harm"),
    ],
)
def test_live_emergencies_raise_the_alarm_or_are_checked(analyzer: Analyzer, said: str, category: str) -> None:
    found = TRIAGE.assess(analyzer.normalize(said))
    assert found is not None, said
    assert found.level == "check" or found.category.id == category, (said, found)


@pytest.mark.parametrize(
    "said",
    [
        "电梯多久保养一次",
        "社区有没有急救培训",
        "电动车怎么安全充电",
        "燃气费在哪里交",
        "去年我妈在电梯里被困过 物业赔不赔",
        "如果家里着火了应该怎么逃生",
        "防诈骗讲座几点开始",
        "我替她办行不行",
        "我妈腿脚不好 我帮她来办老年卡可以吗",
        "累死了 排队排了半天",
        "我的猫丢了 能在群里帮忙发一下吗",
        "这个价格太吓人了",
        "社保卡丢了怎么办",
        "can I do it for my mum",
        "my phone died, where can I charge it",
        # heard by the real ASR in the shared recordings (issue 15's bench): not a danger check
        "turn on the living room light",
        "Turn on the living room lamp.",
        "我在冰台新区有房",
    ],
)
def test_ordinary_questions_are_not_emergencies(analyzer: Analyzer, said: str) -> None:
    assert TRIAGE.assess(analyzer.normalize(said)) is None, said


def test_an_informational_question_is_at_most_a_check(analyzer: Analyzer) -> None:
    sure = dataclasses.replace(TRIAGE, thresholds=Thresholds(alarm=0.0, ask=0.0))
    found = sure.assess(analyzer.normalize("万一孩子误吃了药该怎么处理"))
    assert found is not None and found.level == "check" and found.source == "detector"


def test_features_mark_word_edges_and_english_words() -> None:
    f = features("电梯 help me")
    assert {"c:电梯", "c: 电", "c:梯 ", "w:help", "w:help_me"} <= f
    assert "c: " not in f


def small_bank() -> list[Exemplar]:
    """Two categories and ordinary sentences, for training tests."""
    fire = [
        "着火了",
        "家里着火了快来人",
        "厨房起火了",
        "楼道冒烟了",
        "屋里烧起来了",
        "好大的烟",
        "电动车着火了",
        "插座冒火花着火了",
    ]
    lift = ["电梯卡住了", "我被困在电梯里", "电梯门打不开了", "电梯停在半空", "电梯突然不动了", "关在电梯里出不来"]
    lift += ["孩子困在电梯里了", "电梯里有人出不来"]
    none = ["社保卡怎么办", "老年卡在哪里办", "低保怎么申请", "居住证要带什么", "几点下班", "垃圾怎么分类"]
    none += ["电梯多久保养一次", "消防演练几点开始", "养狗要登记吗", "公租房怎么申请", "你好", "谢谢"]
    exemplars = [Exemplar(t, "fire", "zh") for t in fire] + [Exemplar(t, "lift_entrapment", "zh") for t in lift]
    exemplars += [Exemplar(t, "none", "zh") for t in none]
    return exemplars


def test_training_chooses_thresholds_out_of_fold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Train on a small bank: two categories and ordinary sentences; the model separates them and
    its thresholds come from the held-out folds."""
    pytest.importorskip("sklearn")
    monkeypatch.setattr(tr, "C_GRID", (10.0,))
    monkeypatch.setattr(tr, "MIN_COUNT", 1)
    exemplars = small_bank()
    detector = tr.train(exemplars, Analyzer(), "test", log=lambda *_: None)
    assert set(detector.classes) == {"fire", "lift_entrapment", "none"}
    assert 0 <= detector.notes["ask"] <= detector.notes["alarm"] <= 1
    again = EmergencyDetector.from_json(detector.to_json())
    reading = again.detect("厨房着火了")
    assert reading.category == "fire" and reading.probability > again.detect("社保卡在哪办").probability
    probs = again.probabilities("电梯卡住了")
    assert abs(sum(probs.values()) - 1) < 1e-9 and max(probs, key=probs.get) == "lift_entrapment"


def test_bad_exemplar_lines_and_detector_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="x.jsonl:2"):
        load_exemplars(['{"text": "a", "label": "none"}', "not json"], "x.jsonl")
    with pytest.raises(ValueError, match="not an emergency detector"):
        EmergencyDetector.from_json('{"classes": ["none"]}')
    folder = tmp_path / "rules"
    folder.mkdir()
    from importlib import resources

    src = resources.files("appliance.triage")
    (folder / "emergency.toml").write_text(src.joinpath("emergency.toml").read_text("utf-8"), encoding="utf-8")
    (folder / "intents.toml").write_text(src.joinpath("intents.toml").read_text("utf-8"), encoding="utf-8")
    bad = json.loads(TRIAGE.detector.to_json())
    bad["classes"][bad["classes"].index("fraud")] = "alien_invasion"
    EmergencyDetector.from_json(json.dumps(bad)).save(folder / "detector.json.gz")
    with pytest.raises(ValueError, match="alien_invasion"):
        Triage.load(folder)
