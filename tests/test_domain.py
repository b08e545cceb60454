"""The learned domain detector: its file, its training, and the out-of-scope gate it adds to the
rules (in the engine and in `kiosk bench answers`). The sentences here are written for these tests;
the held-out questions (appliance/demo/eval/test/) are only read by `kiosk bench answers`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from appliance import bench_answers as ba
from appliance.config import RetrievalSettings
from appliance.knowledge.evaluation import LabelledQuestion
from appliance.knowledge.text import Analyzer
from appliance.triage import Triage
from appliance.triage import training as tr
from appliance.triage.domain import DomainDetector

TRIAGE = Triage.load()


def test_the_shipped_domain_detector_was_trained_on_the_shipped_exemplars() -> None:
    assert tr.main(["--check", "--model", "domain"]) == 0, "retrain: python -m appliance.triage.training"
    d = TRIAGE.domain
    assert d is not None and sorted(d.classes) == ["in", "off"]
    cv = d.notes["cross_validated"]
    assert cv["in_refused"] <= tr.MAX_IN_DOMAIN_REFUSED + 1e-9  # the threshold honours its target out of fold
    assert 0 < d.threshold < 1 and cv["off_caught"] > 0.5


def test_check_fails_when_the_domain_exemplars_change(tmp_path: Path) -> None:
    (tmp_path / "domain-exemplars.jsonl").write_text('{"text": "天气", "label": "off", "lang": "zh"}\n', "utf-8")
    out = tmp_path / "domain.json"
    out.write_text(TRIAGE.domain.to_json(), encoding="utf-8")
    assert tr.main(["--check", "--model", "domain", "--exemplars", str(tmp_path), "--domain-out", str(out)]) == 1


def test_the_detector_reads_what_no_community_centre_handles(analyzer: Analyzer) -> None:
    """Requests the out-of-scope rules do not list, but no residents' committee handles."""
    off = ["附近哪家火锅店好吃", "帮我推荐一款性价比高的手机", "Can you recommend a good pizza place nearby?"]
    for question in off:
        norm = analyzer.normalize(question)
        assert TRIAGE.is_off_domain(norm) and not TRIAGE.is_out_of_scope(norm), question
    assert not dataclasses.replace(TRIAGE, domain=None).is_off_domain(analyzer.normalize(off[0]))
    for question in ("社保卡丢了怎么补办", "老年人优待证在哪里办", "那要带什么材料", "How do I register my dog?"):
        assert not TRIAGE.is_off_domain(analyzer.normalize(question)), question


def test_the_detector_turns_a_clarification_into_a_refusal_never_an_answer(demo_kb, analyzer: Analyzer) -> None:
    from appliance.answer.engine import decide_mode, policy_mode
    from appliance.knowledge.retrieval import Retriever

    settings, retriever = RetrievalSettings(), Retriever(demo_kb)
    off = "附近哪家火锅店好吃"
    response = retriever.search(off)
    assert TRIAGE.is_off_domain(analyzer.normalize(off))
    for mode in ("answer", "clarify", "no_answer"):
        confidence = {"answer": 0.9, "clarify": 0.3, "no_answer": 0.01}[mode]
        pinned = dataclasses.replace(response, confidence=confidence)
        assert policy_mode(pinned, settings) == mode
        decided = decide_mode(pinned, settings, TRIAGE, analyzer.normalize(off))
        assert decided == (
            {"answer": ("answer", None)}.get(mode) or ("no_answer", "out_of_scope" if mode == "clarify" else None)
        )
    unsure = dataclasses.replace(response, confidence=0.3)
    kept = RetrievalSettings(refuse_off_domain=False)  # a site whose guides reach beyond the domain
    assert decide_mode(unsure, kept, TRIAGE, analyzer.normalize(off)) == ("clarify", None)
    ruled = decide_mode(
        dataclasses.replace(response, confidence=0.9), settings, TRIAGE, analyzer.normalize("今天天气怎么样")
    )
    assert ruled == ("no_answer", "out_of_scope")  # the rules refuse whatever retrieval found


def test_training_chooses_the_threshold_out_of_fold(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    monkeypatch.setattr(tr, "C_GRID", (10.0,))
    monkeypatch.setattr(tr, "MIN_COUNT", 1)
    inside = ["社保卡怎么补办", "低保怎么申请", "居住证要带什么", "老年卡在哪里办", "养狗要登记吗", "公租房怎么申请"]
    inside += ["医保怎么报销", "残疾证在哪办", "高龄津贴多少钱", "垃圾怎么分类"]
    outside = ["今天吃什么好", "推荐一部电影", "火锅店在哪", "手机怎么刷机", "讲个笑话", "股票会涨吗"]
    outside += ["附近有什么好吃的", "帮我写首歌", "哪款手机好", "明天去哪玩"]
    (tmp_path / "domain-exemplars.jsonl").write_text(
        "\n".join(f'{{"text": "{t}", "label": "{lab}"}}' for lab, ts in (("in", inside), ("off", outside)) for t in ts),
        encoding="utf-8",
    )
    (tmp_path / "exemplars.jsonl").write_text(
        '{"text": "着火了", "label": "fire"}\n{"text": "今天天气好吗", "label": "none"}\n', encoding="utf-8"
    )
    exemplars = tr.domain_exemplars(tr.domain_paths(tmp_path))
    assert ("着火了", "in") in {(e.text, e.label) for e in exemplars}  # a live emergency is in the domain
    assert "今天天气好吗" not in {e.text for e in exemplars}  # the emergency file's 'none' lines are not used
    detector = tr.train_domain(exemplars, Analyzer(), "test", log=lambda *_: None)
    texts = [Analyzer().normalize(e.text) for e in exemplars]
    vocabulary, model = tr._fit(texts, [e.label for e in exemplars], 10.0)  # the fit it stored
    for text in ("推荐一部好看的电影", "社保卡在哪里补办", "着火了"):
        want = model.predict_proba(tr._matrix([text], vocabulary))[0][list(model.classes_).index("off")]
        assert abs(detector.p_off(text) - want) < 1e-9, text  # the threshold means what it meant in CV
    again = DomainDetector.from_json(detector.to_json())
    assert 0 <= again.threshold <= 1
    assert again.p_off("推荐一部好看的电影") > again.p_off("社保卡在哪里补办")
    probs = again.probabilities("社保卡")
    assert abs(sum(probs.values()) - 1) < 1e-9


def test_bad_domain_files_are_reported(tmp_path: Path) -> None:
    (tmp_path / "domain-exemplars.jsonl").write_text('{"text": "x", "label": "maybe"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="maybe"):
        tr.domain_exemplars(tr.domain_paths(tmp_path))
    with pytest.raises(ValueError, match="'in' and 'off'"):
        DomainDetector(["in", "none"], {}, [[], []], [0.0, 0.0])
    with pytest.raises(ValueError, match="not a domain detector"):
        DomainDetector.from_json('{"classes": ["in", "off"]}')


def test_the_bench_applies_the_gate_as_the_engine_does(demo_kb) -> None:
    qs = [LabelledQuestion("社保卡丢了怎么补办", "社会保障卡挂失与补办"), LabelledQuestion("明天会下雨吗", None)]
    ds = ba.Dataset("mini", "dev", lambda _w: [], qs)
    f = ba.evaluate(ds, demo_kb, RetrievalSettings(), None, None, TRIAGE)
    assert [r["out_of_scope"] for r in f.rows] == [False, True]
    assert f.rows[1]["mode"] == "no_answer" and f.oos_answered == 0.0 and f.oos_clarified == 0.0
