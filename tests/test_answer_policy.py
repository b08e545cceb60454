"""The answer policy through a session: triage before any search, clarifications, emergency
checks, the spoken form, and the journal's record of them."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from appliance.answer.engine import AnswerEngine
from appliance.dialogue import Session, chosen_topic, reply_kind
from appliance.journal import Journal
from appliance.knowledge.confidence import Calibration
from appliance.knowledge.ingest import Ingestor
from appliance.knowledge.retrieval import Retriever
from appliance.triage import Triage
from appliance.triage.detector import Thresholds
from tests.docmakers import make_docx

TRIAGE = Triage.load()


def constant(p: float) -> Calibration:
    """A confidence model that says ``p`` for every question (to put questions in a chosen band)."""
    return Calibration(("coverage",), (0.0,), math.log(p / (1 - p)))


class CountingRetriever(Retriever):
    """A retriever that counts its searches."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.searches: list[str] = []

    def search(self, query: str, k: int = 5):
        self.searches.append(query)
        return super().search(query, k)


def engine_for(kb, site, *, journal=None, calibration=None, triage=TRIAGE) -> AnswerEngine:
    return AnswerEngine(CountingRetriever(kb, calibration=calibration), site, triage, journal=journal)


def test_an_emergency_after_a_question_waits_for_no_search(demo_kb, site) -> None:
    engine = engine_for(demo_kb, site)
    session = Session(engine)
    first, _ = session.ask("我社保卡掉了怎么办")
    session.add(first, first.answer)
    assert first.mode == "answer" and session.topic is not None
    engine.retriever.searches.clear()
    fire, query = session.ask("着火了")  # short: follow-up shaped, so the session would resolve it
    assert fire.mode == "emergency" and fire.reason == "fire" and query is None
    assert engine.retriever.searches == []  # triage ran on the words said, before any search
    for said in ("我爸卡在两层楼中间下不来", "孩子把一瓶药都吞了", "我不想活了"):
        engine.retriever.searches.clear()
        answer, _ = session.ask(said)
        assert answer.mode == "emergency" and engine.retriever.searches == [], said


def test_a_follow_up_reuses_the_search_of_its_resolution(demo_kb, site) -> None:
    engine = engine_for(demo_kb, site)
    session = Session(engine)
    first, _ = session.ask("社保卡丢了怎么补办")
    session.add(first, first.answer)
    engine.retriever.searches.clear()
    answer, query = session.ask("那要带什么材料")
    assert query is not None and query.startswith("社会保障卡挂失与补办")
    assert answer.sources[0].title == "社会保障卡挂失与补办"
    assert len(engine.retriever.searches) == 2  # the question alone, then completed; nothing searched again


def test_a_clarification_asks_then_answers_the_original_question(demo_kb, site, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    engine = engine_for(demo_kb, site, journal=journal, calibration=constant(0.3))
    session = Session(engine)
    asked, _ = session.ask("我替我妈办老年卡行不行")
    session.add(asked, asked.answer)
    assert asked.mode == "clarify" and asked.suggestions and asked.suggestions[0] == "老年人优待证办理"
    assert asked.answer.startswith("您是想问《老年人优待证办理》")
    assert [t for _, t in asked.offered] == asked.suggestions
    answer, _ = session.ask("是的")
    session.add(answer, answer.answer)
    assert answer.mode == "answer" and answer.reason == "clarified"
    assert answer.question == "我替我妈办老年卡行不行" and answer.sources[0].title == "老年人优待证办理"
    assert "代办" in answer.answer or "代理" in answer.answer  # answers what was asked: applying for her
    [row] = journal.rows("clarifications")
    assert row["chosen"] == "老年人优待证办理" and row["resolved_ts"] and "老年人优待证办理" in row["offered"]
    journal.close()


def test_a_clarification_reply_can_name_another_topic_or_decline(demo_kb, site, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    engine = engine_for(demo_kb, site, journal=journal, calibration=constant(0.3))
    session = Session(engine)
    asked, _ = session.ask("补贴怎么领")
    session.add(asked, asked.answer)
    assert asked.mode == "clarify" and len(asked.offered) >= 2
    second = asked.offered[1]
    answer, _ = session.ask(second[1])  # the resident taps the second topic's button
    session.add(answer, answer.answer)
    assert answer.reason == "clarified" and answer.sources[0].doc_id == second[0]
    asked, _ = session.ask("补贴怎么领")
    session.add(asked, asked.answer)
    declined, _ = session.ask("都不是")
    assert declined.mode == "no_answer" and declined.reason == "declined" and site.duty_phone in declined.answer
    gaps = journal.rows("gaps")
    assert gaps[0]["question"] == "补贴怎么领"
    assert [r["chosen"] for r in journal.rows("clarifications")] == ["", second[1]]
    journal.close()


def test_an_emergency_reply_to_a_clarification_is_triaged(demo_kb, site) -> None:
    engine = engine_for(demo_kb, site, calibration=constant(0.3))
    session = Session(engine)
    asked, _ = session.ask("电梯的事找谁")
    session.add(asked, asked.answer)
    assert asked.mode == "clarify" and "电梯困人应急处置" in asked.suggestions
    answer, _ = session.ask("电梯困人了 有人在里面出不来")  # close to the offered title, but a live danger
    assert answer.mode == "emergency" and answer.reason == "lift_entrapment"


def test_out_of_scope_is_refused_not_clarified(demo_kb, site) -> None:
    engine = engine_for(demo_kb, site)
    for question in ("今天天气怎么样", "帮我写一首关于春天的诗"):
        answer = engine.ask(question)
        assert (answer.mode, answer.reason) == ("no_answer", "out_of_scope"), question
    for question in ("附近哪家火锅店好吃", "Which phone should I buy?"):  # the domain detector's, not the rules'
        assert engine.ask(question).mode == "no_answer", question


def test_unsure_detector_asks_and_a_no_answers_the_question(demo_kb, site, tmp_path: Path) -> None:
    """With the detector's ask threshold at 0 and its alarm threshold out of reach, every question
    the rules do not match is a check: the answer to it decides what happens."""
    journal = Journal(tmp_path / "journal.sqlite")
    unsure = dataclasses.replace(TRIAGE, thresholds=Thresholds(alarm=1.01, ask=0.0), embed=None)
    engine = engine_for(demo_kb, site, journal=journal, triage=unsure, calibration=constant(0.9))
    session = Session(engine)
    check, _ = session.ask("养狗要办什么手续")
    session.add(check, check.answer)
    assert check.mode == "emergency" and check.reason.startswith("check:")
    assert "您现在有危险吗" in check.answer and "110" in check.answer and "120" in check.answer
    assert check.suggestions == ["有危险", "没有危险"]
    assert engine.retriever.searches == []  # numbers first, no guide
    safe, _ = session.ask("没有危险")
    session.add(safe, safe.answer)
    assert safe.mode == "answer" and safe.sources[0].title == "养犬登记" and safe.question == "养狗要办什么手续"
    again, _ = session.ask("家里有股怪味")
    session.add(again, again.answer)
    alarm, _ = session.ask("有危险")
    category = again.reason.split(":", 1)[1]
    assert alarm.mode == "emergency" and alarm.reason == category
    assert [r["category"] for r in journal.rows("alerts")] == [category, again.reason, check.reason]
    journal.close()


def test_rules_alarm_even_right_after_a_no(demo_kb, site) -> None:
    unsure = dataclasses.replace(TRIAGE, thresholds=Thresholds(alarm=1.01, ask=0.0), embed=None)
    engine = engine_for(demo_kb, site, triage=unsure, calibration=constant(0.9))
    assert engine.ask("着火了", safe=True).reason == "fire"
    assert engine.ask("养狗要办什么手续", safe=True).mode == "answer"


def test_spoken_form_is_short_and_the_screen_gets_everything(demo_kb, site) -> None:
    engine = engine_for(demo_kb, site)
    heard: list[str] = []
    answer = engine.ask("社保卡丢了要带什么材料去补办", on_text=heard.append, speech=True)
    assert answer.mode == "answer" and answer.spoken and heard == [answer.spoken]
    assert answer.spoken.endswith("详细内容在屏幕上。") and len(answer.spoken) < len(answer.answer)
    shown: list[str] = []
    same = engine.ask("社保卡丢了要带什么材料去补办", on_text=shown.append)
    assert shown == [same.answer] and same.answer == answer.answer


def test_a_word_guide_without_sample_questions_is_answered(demo_kb, site, tmp_path: Path) -> None:
    """A site's own .docx guide (no 常见问法) competes fairly with the demo's guides."""
    lines = [
        ("Title", "社区食堂就餐卡办理"),
        ("Heading 2", "办理条件"),
        ("Normal", "本社区户籍或居住满半年的居民，可以办理社区食堂就餐卡。"),
        ("Heading 2", "所需材料"),
        ("Normal", "居民身份证原件；一寸照片一张。"),
        ("Heading 2", "办理地点和时间"),
        ("Normal", "社区党群服务中心二楼食堂窗口，周一至周五 10:00–13:00。"),
    ]
    path = tmp_path / "canka.docx"
    path.write_bytes(make_docx(lines, table=False))
    assert not Ingestor(demo_kb).ingest([path]).failed
    engine = engine_for(demo_kb, site)
    for question in ("社区食堂就餐卡怎么办理", "办食堂就餐卡要带什么"):
        r = engine.retriever.search(question)
        assert r.top.doc.title == "社区食堂就餐卡办理" and r.confidence >= engine.settings.min_confidence, question
        assert engine.ask(question).mode == "answer"


@pytest.mark.parametrize(
    ("said", "kind"),
    [
        ("是", "yes"),
        ("是的！", "yes"),
        ("对", "yes"),
        ("有危险", "yes"),
        ("yes", "yes"),
        ("不是", "no"),
        ("没有危险", "no"),
        ("没有", "no"),
        ("I'm safe", "no"),
        ("no", "no"),
        ("社保卡怎么办", None),
        ("有危险吗这个", None),
    ],
)
def test_reply_kind(analyzer, said: str, kind: str | None) -> None:
    assert reply_kind(analyzer.normalize(said)) == kind


def test_chosen_topic(analyzer) -> None:
    offered = [("a", "高龄津贴申领"), ("b", "居家养老服务补贴申请"), ("c", "独生子女父母奖励")]
    norm = analyzer.normalize
    assert chosen_topic(norm("第二个"), offered, norm) == 1
    assert chosen_topic(norm("居家养老服务补贴申请"), offered, norm) == 1
    assert chosen_topic(norm("独生子女的那个"), offered, norm) == 2
    assert chosen_topic(norm("低保"), offered, norm) is None
