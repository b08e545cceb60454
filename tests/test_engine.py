"""The answer engine's decisions, the journal it writes, and the LLM grounding gate."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from appliance.answer import generative
from appliance.answer.engine import AnswerEngine
from appliance.answer.generative import GroundingGate, PromptSource, estimate_tokens, fit_sources
from appliance.answer.types import Answer, Generator, Mode
from appliance.config import LLMSettings
from appliance.journal import Journal, Redactor
from appliance.knowledge.retrieval import Retriever
from appliance.triage import Triage
from tests.scripted import ScriptedLLM


class Exploding:
    """Stands in for a component that must not be used on this path."""

    def __getattr__(self, name):
        raise AssertionError(f"{name} was used")


@pytest.fixture
def journal(tmp_path: Path, site) -> Journal:
    j = Journal(tmp_path / "journal.sqlite", Redactor([site.duty_phone, site.property_hotline]))
    yield j
    j.close()


def engine(demo_kb, site, journal=None, llm=None) -> AnswerEngine:
    return AnswerEngine(Retriever(demo_kb), site, Triage.load(), llm=llm, journal=journal)


def test_answer_extractive_with_sources(demo_kb, site, journal) -> None:
    a = engine(demo_kb, site, journal).ask("我社保卡掉了怎么办")
    assert (a.mode, a.generator, a.lang) == ("answer", "extractive", "zh")
    assert "社会保障卡挂失与补办" in a.answer
    assert "12333" in a.answer and "挂失" in a.answer and "身份证" in a.answer  # steps and materials
    assert {s.title for s in a.sources} == {"社会保障卡挂失与补办"}
    assert all(s.source.endswith("shebaoka-guashi-buban.md") for s in a.sources)
    assert {"办理流程", "所需材料"} <= {s.section for s in a.sources}
    assert a.timings_ms["total"] >= a.timings_ms["retrieval"] > 0
    [row] = journal.rows("turns")
    assert row["mode"] == "answer" and json.loads(row["sources"])[0]["title"] == "社会保障卡挂失与补办"


@pytest.mark.parametrize(
    ("question", "must"),
    [
        ("社保卡补办要带什么材料", ["身份证", "证件照"]),
        ("老年卡在哪里办", ["幸福路88号"]),
        ("高龄津贴每月发多少钱", ["100元"]),
        ("最低生活保障申请的条件", ["收入"]),
    ],
)
def test_extractive_answers_follow_the_question(demo_kb, site, question, must) -> None:
    a = engine(demo_kb, site).ask(question)
    assert a.mode == "answer"
    for word in must:
        assert word in a.answer, (word, a.answer)


def test_english_question_gets_english_answer(demo_kb, site) -> None:
    a = engine(demo_kb, site).ask("Where do I sort batteries and old medicine?")
    assert a.lang == "en" and a.mode == "answer"
    assert a.sources[0].title == "Household Waste Sorting"
    assert "About" in a.answer and "Source" in a.answer


def test_emergency_never_waits_for_retrieval_or_model(demo_kb, site, journal) -> None:
    class NoSearch:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            if name == "search":
                raise AssertionError("retrieval ran for an emergency")
            return getattr(self.inner, name)

    e = AnswerEngine(NoSearch(Retriever(demo_kb)), site, Triage.load(), llm=Exploding(), journal=journal)
    streamed: list[str] = []
    a = e.ask("电梯里有人被困住了，快来人", on_text=streamed.append)
    assert (a.mode, a.generator, a.reason) == ("emergency", "scripted", "lift_entrapment")
    assert site.property_hotline in a.answer and "119" in a.answer
    assert streamed == [a.answer]
    [alert] = journal.rows("alerts")
    assert alert["category"] == "lift_entrapment" and "电梯" in alert["question"]


def test_emergency_numbers_come_from_the_site(demo_kb, site) -> None:
    local = site.model_copy(
        update={"emergency": site.emergency.model_copy(update={"gas": "96777", "crisis_line": None})}
    )
    gas = engine(demo_kb, local).ask("厨房里闻到很浓的煤气味")
    assert gas.mode == "emergency" and "96777" in gas.answer
    crisis = engine(demo_kb, local).ask("我真的不想活了")
    assert crisis.mode == "emergency" and "12356" in crisis.answer and "120" in crisis.answer
    en = engine(demo_kb, site).ask("My father collapsed and is not breathing")
    assert en.lang == "en" and en.mode == "emergency" and "120" in en.answer and "Call" in en.answer


def test_handoff_is_kind_recorded_and_points_to_staff(demo_kb, site, journal) -> None:
    a = engine(demo_kb, site, journal).ask("楼上漏水不肯赔，我们两家吵起来了，能不能帮忙调解")
    assert (a.mode, a.generator, a.reason) == ("handoff", "scripted", "dispute")
    assert site.duty_phone in a.answer and "调解" in a.answer
    assert a.sources and a.sources[0].title == "房屋漏水与邻里纠纷处理"
    [h] = journal.rows("handoffs")
    assert h["reason"] == "dispute" and h["status"] == "open" and "漏水" in h["question"]


def test_no_answer_offers_topics_and_records_a_gap(demo_kb, site, journal) -> None:
    a = engine(demo_kb, site, journal).ask("驾照换证要什么")
    assert (a.mode, a.generator, a.reason) == ("no_answer", "scripted", "low_confidence")
    assert site.duty_phone in a.answer and "没有找到" in a.answer
    assert a.confidence < 0.15
    [gap] = journal.rows("gaps")
    assert gap["question"] == "驾照换证要什么"
    assert json.loads(gap["closest"]) == a.suggestions


def test_an_english_no_answer_names_english_topics_only(demo_kb, site) -> None:
    """The English voice cannot say a Chinese guide's title: it is left out of what is offered."""
    eng = engine(demo_kb, site)
    # as a cross-lingual embedder ranks it: the closest topics are Chinese guides, all unsure ...
    response = eng.retriever.search("Can you fix my 手机 screen?")
    assert response.results and all(r.doc.lang == "zh" for r in response.results[:3])
    eng.retriever.search = lambda query, k=5: response
    a = eng.ask("Can you fix my laptop screen?")
    assert (a.mode, a.lang) == ("no_answer", "en")
    assert not re.search(r"[\u4e00-\u9fff]", a.answer), a.answer  # ... and none is offered
    titles = {d.title: d.lang for d in demo_kb.documents()}
    assert all(titles[t] == "en" for t in a.suggestions), a.suggestions
    zh = engine(demo_kb, site).ask("Can you fix my 手机 screen?")  # read as Chinese: Chinese topics
    assert zh.suggestions and all(titles[t] == "zh" for t in zh.suggestions)


@pytest.mark.parametrize(
    "question",
    [
        "帮我订一张去上海的机票",
        "明天会下雨吗",
        "现在买什么股票好",
        "给我写一首诗",
        "Will it rain tomorrow?",
        "tell me a joke",
    ],
)
def test_requests_outside_community_services_are_refused_at_once(demo_kb, site, journal, question) -> None:
    a = engine(demo_kb, site, journal).ask(question)
    assert (a.mode, a.reason, a.suggestions) == ("no_answer", "out_of_scope", [])
    assert site.duty_phone in a.answer and "retrieval" not in a.timings_ms  # nothing was searched
    assert journal.rows("gaps") == []  # not a gap in the knowledge base


def test_says_it_is_an_ai(demo_kb, site) -> None:
    for q in ("你是谁？", "你是真人还是机器人", "Are you a human?"):
        a = engine(demo_kb, site).ask(q)
        assert a.mode == "answer" and a.generator == "scripted"
        assert "AI" in a.answer and ("不是真人" in a.answer or "not a person" in a.answer)


def test_empty_question(demo_kb, site) -> None:
    a = engine(demo_kb, site).ask("   ")
    assert a.mode == "no_answer" and a.reason == "empty"


def test_journal_redacts_personal_numbers(demo_kb, site, journal) -> None:
    q = "我电话138 1234 5678，身份证11010119900307123X，银行卡6222021234567890123，家里座机021-87654321，社保卡丢了"
    a = engine(demo_kb, site, journal).ask(q)
    assert a.mode == "answer" and a.sources[0].title == "社会保障卡挂失与补办"
    stored = journal.rows("turns")[0]["question"]
    assert stored == "我电话〔手机号〕，身份证〔身份证号〕，银行卡〔银行卡号〕，家里座机〔电话〕，社保卡丢了"


def test_handoff_gap_and_alert_rows_are_redacted(demo_kb, site, journal) -> None:
    e = engine(demo_kb, site, journal)
    assert e.ask("我要投诉物业，我叫王建国，电话13812345678").mode == "handoff"
    assert e.ask("我是3号楼的李阿姨，帮我订一张去北京的机票，手机13812345678").mode == "no_answer"
    assert e.ask("3号楼2单元501着火了，我是王建国").mode == "emergency"
    stored = [r["question"] for t in ("handoffs", "gaps") for r in journal.rows(t)]
    stored += [r["question"] for r in journal.rows("turns")]
    assert all("13812345678" not in q and "王建国" not in q and "501" not in q for q in stored), stored
    assert journal.rows("handoffs")[0]["question"] == "我要投诉物业，我叫〔姓名〕，电话〔手机号〕"
    # the alert keeps where the fire is, for the duty worker; the turn does not
    assert journal.rows("alerts")[0]["question"] == "3号楼2单元501着火了，我是〔姓名〕"
    assert journal.rows("turns")[0]["question"] == "〔住址〕着火了，我是〔姓名〕"


def test_a_handoff_keeps_a_number_given_for_a_callback_and_says_so(demo_kb, site, journal) -> None:
    e = engine(demo_kb, site, journal)
    a = e.ask("我要投诉物业，麻烦回电13812345678")
    assert (a.mode, a.reason) == ("handoff", "complaint")
    assert "您留的电话（尾号5678）只用于工作人员回电。" in a.answer and "13812345678" not in a.answer
    [h] = journal.rows("handoffs")
    assert (h["question"], h["callback"]) == ("我要投诉物业，麻烦回电〔手机号〕", "13812345678")
    assert journal.rows("turns")[0]["question"] == "我要投诉物业，麻烦回电〔手机号〕"
    en = e.ask("I want to make a complaint about the property management, please call me back on 139 8765 4321")
    assert (
        en.mode == "handoff"
        and "The number you left (ending 4321) is used only for staff to call you back." in en.answer
    )
    assert journal.rows("handoffs")[0]["callback"] == "13987654321"


def test_a_handoff_without_a_callback_cue_keeps_no_number(demo_kb, site, journal) -> None:
    e = engine(demo_kb, site, journal)
    for q in ("我要投诉物业，我叫王建国，电话13812345678", "我要投诉物业，我手机13812345678丢了"):
        a = e.ask(q)
        assert a.mode == "handoff" and "尾号" not in a.answer and "回电" not in a.answer, q
    assert [h["callback"] for h in journal.rows("handoffs")] == [None, None]
    # a number given for a callback outside a handoff is not kept either: no one is asked to call
    assert e.ask("社保卡丢了怎么办，麻烦回电13812345678").mode == "answer"
    assert len(journal.rows("handoffs")) == 2


def test_redactor_keeps_site_numbers() -> None:
    r = Redactor(["010-0000-1234"])
    assert r("值班电话 010-0000-1234，我的是 010-8765-4321") == "值班电话 010-0000-1234，我的是 〔电话〕"
    assert r("12333 和 110 不是个人号码") == "12333 和 110 不是个人号码"


# -- LLM path ---------------------------------------------------------------------------------


def test_llm_answer_cited_and_streamed(demo_kb, site, journal) -> None:
    reply = "社保卡丢了要先打12333挂失[1]。然后带身份证到社保窗口补办[1]。"
    llm = ScriptedLLM(reply)
    seen: list[str] = []
    a = engine(demo_kb, site, journal, llm).ask("我社保卡掉了怎么办", on_text=seen.append)
    assert (a.mode, a.generator) == ("answer", "llm")
    spoken = "社保卡丢了要先打12333挂失。然后带身份证到社保窗口补办。"
    assert a.answer == spoken  # the citations travel as sources, never read out as "[1]"
    assert seen == ["社保卡丢了要先打12333挂失。", "然后带身份证到社保窗口补办。"]  # sentence by sentence
    assert a.sources and {s.title for s in a.sources} == {"社会保障卡挂失与补办"}
    assert a.timings_ms["llm_first_token"] <= a.timings_ms["llm"]
    system, user = llm.prompts[0][0]["content"], llm.prompts[0][-1]["content"]
    assert "AI" in system and "[1]" in system and site.duty_phone in system
    assert "【资料】" in user and "《社会保障卡挂失与补办》" in user and "我社保卡掉了怎么办" in user
    assert "冻结" in user  # the lines that answer it: step 1 whole, with freezing the bank account
    assert estimate_tokens(user) <= LLMSettings().prompt_tokens


def test_prompt_sources_keep_to_the_token_budget_in_whole_sentences() -> None:
    first = PromptSource(
        1, "社会保障卡挂失与补办", "办理流程", "1. 立即挂失：拨打12333。\n2. 补办：带身份证到窗口。工本费20元。"
    )
    second = PromptSource(2, "社会保障卡申领", "办理地点", "社区服务中心一楼窗口。")
    whole = fit_sources("社保卡丢了", "zh", [first, second], 500)
    assert [s.text for s in whole] == [first.text, second.text]
    for budget in range(20, 90, 5):
        kept = fit_sources("社保卡丢了", "zh", [first, second], budget)
        assert kept and kept[0].text.startswith("1. 立即挂失：拨打12333。")  # the first sentence, always
        assert all(s.text[-1] in "。" for s in kept)  # never cut inside a sentence
        assert len(kept) == 1 or kept[0].text == first.text  # a later source only after the whole first
        if len(kept[0].text) > len("1. 立即挂失：拨打12333。"):
            assert estimate_tokens(generative._user_message("社保卡丢了", "zh", kept)) <= budget
    assert len(fit_sources("社保卡丢了", "zh", [first, second], 20)) == 1
    assert fit_sources("x", "zh", [first], 10, count_tokens=lambda t: len(t) * 10)[0].text == "1. 立即挂失：拨打12333。"


def test_llm_answer_without_citation_is_not_shown(demo_kb, site, journal) -> None:
    llm = ScriptedLLM("这事儿您别着急，很简单的。回家等通知就行了。")  # neither cited nor in the guide
    seen: list[str] = []
    a = engine(demo_kb, site, journal, llm).ask("我社保卡掉了怎么办", on_text=seen.append)
    assert a.generator == "extractive" and a.reason == "llm_uncited"
    assert seen == [a.answer]  # nothing of the uncited text reached the resident
    assert "很简单" not in a.answer
    assert journal.rows("turns")[0]["reason"] == "llm_uncited"


def test_llm_invented_number_stops_the_answer(demo_kb, site) -> None:
    llm = ScriptedLLM("先打12333挂失[1]。补卡要交47元工本费[1]。然后等十天。" + "再说点别的。" * 50)
    seen: list[str] = []
    a = engine(demo_kb, site, llm=llm).ask("我社保卡掉了怎么办", on_text=seen.append)
    assert a.generator == "llm" and a.reason.startswith("llm_cut")
    assert a.answer.startswith("先打12333挂失。") and "47" not in a.answer and "47" not in "".join(seen)
    assert "社会保障卡挂失与补办" in a.answer  # pointed to the guide for the rest
    assert llm.pieces_sent < len(llm.reply) // llm.piece  # generation was stopped early


def test_llm_failure_falls_back(demo_kb, site) -> None:
    a = engine(demo_kb, site, llm=ScriptedLLM("", fail=True)).ask("我社保卡掉了怎么办")
    assert a.generator == "extractive" and a.reason.startswith("llm_error")


def test_llm_english_prompt(demo_kb, site) -> None:
    llm = ScriptedLLM("Report the loss by calling 12333 [1].")
    a = engine(demo_kb, site, llm=llm).ask("I lost my social security card")
    assert a.generator == "llm" and a.lang == "en"
    assert "Answer in English" in llm.prompts[0][0]["content"] and "[Sources]" in llm.prompts[0][-1]["content"]


def test_grounding_gate_units() -> None:
    gate = GroundingGate(2, "电话 010-0000-1234，工本费20元，15天")
    assert gate.feed("工本费是20元") == ""  # not a whole sentence yet
    assert gate.feed("。") == ""  # whole, but nothing cited yet: held
    assert gate.feed("打010-0000-1234咨询【2】。") == "工本费是20元。打010-0000-1234咨询。"
    assert gate.cited == [2]
    assert gate.feed("有效期15天 [1]；") == "有效期15天；"
    assert gate.feed("超过30天作废[1]。") == "" and gate.rejected == "unsupported number '30'" and gate.done
    assert gate.feed("更多。") == ""
    gate.finish()
    assert gate.text.endswith("有效期15天；")

    uncited = GroundingGate(1, "")
    uncited.feed("没有出处的回答。")
    assert uncited.finish() == "" and uncited.rejected == "no citation of a retrieved source"
    out_of_range = GroundingGate(1, "")
    out_of_range.feed("引用了不存在的资料[3]。")
    out_of_range.finish()
    assert out_of_range.cited == [] and out_of_range.rejected
    tail = GroundingGate(1, "")
    assert tail.feed("最后一句没有句号[1]") == "" and tail.finish() == "最后一句没有句号"


def test_a_sentence_that_only_names_its_source_says_nothing() -> None:
    labels = ["老年人优待证办理", "办理流程"]
    gate = GroundingGate(1, "", labels=labels)
    assert gate.feed("[1] 《老年人优待证办理》 — 办理流程\n") == "" and gate.empty == 1
    gate.finish()
    assert gate.rejected == "says nothing" and gate.text == ""
    named_then_said = GroundingGate(1, "", labels=labels)
    out = named_then_said.feed("《老年人优待证办理》[1]。带身份证和照片到社区窗口办理[1]。")
    assert out == "带身份证和照片到社区窗口办理。" and named_then_said.rejected is None
    steps = "关于“长期护理保险申请”：办理步骤：1. 本人或家属带齐材料到医保服务中心申请。"
    labelled = GroundingGate(1, steps, labels=["长期护理保险申请"], sources=[steps])
    assert labelled.feed("关于“长期护理保险申请”：办理步骤：1. ") == ""  # "1. " does not end a sentence
    assert (
        labelled.feed("先带齐材料，再到医保服务中心去申请[1]。")
        == "关于“长期护理保险申请”：办理步骤：1. 先带齐材料，再到医保服务中心去申请。"
    )
    assert not labelled.says_something("关于“长期护理保险申请”：办理步骤：")
    english = GroundingGate(1, "", labels=["Elderly card", "Steps"])
    assert (
        english.feed("Elderly card [1]. Bring your ID card to the window [1]. ") == "Bring your ID card to the window."
    )


def test_an_answer_copied_from_its_sources_is_refused_and_one_said_anew_is_not() -> None:
    source = "携带本人身份证、户口簿到社区服务中心窗口办理临时挂失，同时拨打银行客服冻结金融账户。"
    copy = GroundingGate(1, source, sources=[source])
    assert copy.feed("携带本人身份证、户口簿到社区服务中心窗口办理临时挂失[1]。") == ""
    assert copy.rejected == "copies its sources" and copy.done
    own = GroundingGate(1, source, sources=[source])
    assert own.feed("您先带上身份证去社区服务中心挂失，再给银行打个电话把账户冻结[1]。") != ""
    short_first = GroundingGate(1, source, sources=[source])  # too short to judge alone, then a copy
    assert short_first.feed("先去挂失[1]。") == "先去挂失。"
    assert short_first.feed("户口簿到社区服务中心窗口办理临时挂失[1]。") == "" and short_first.rejected
    assert generative.copied_share("带上身份证去社区服务中心", [source]) == 0.0
    assert generative.copied_share("户口簿到社区服务中心窗口办理临时挂失", [source]) == 1.0


def test_a_sentence_without_a_marker_is_attributed_to_the_source_it_comes_from() -> None:
    sources = ["携带本人身份证到社区服务中心窗口办理临时挂失。", "新卡10个工作日后凭短信通知领取。"]
    gate = GroundingGate(2, "\n".join(sources), sources=sources)
    assert gate.feed("新卡大约10个工作日后凭短信领取。") == "新卡大约10个工作日后凭短信领取。"
    assert gate.cited == [2]
    unsupported = GroundingGate(2, "\n".join(sources), sources=sources)
    assert unsupported.feed("您别着急，回家等通知就行了。") == "" and unsupported.cited == []
    assert generative.supporting_source("回家等通知就行了", sources) is None


def test_the_gate_stops_after_three_sentences_and_strips_markdown() -> None:
    gate = GroundingGate(1, "12333")
    out = gate.feed("1. **Call 12333** to report it [1].\nThen go to the window [1]. Bring your ID [1]. Also")
    assert out == "1. Call 12333 to report it. Then go to the window. Bring your ID." and gate.done
    assert gate.feed(" more words [1]. ") == ""


@pytest.mark.parametrize(
    ("question", "mode"),
    [
        ("电梯里有人被困住了", "emergency"),
        ("我要投诉", "handoff"),
        ("帮我订机票", "no_answer"),
        ("老年卡在哪办", "answer"),
    ],
)
def test_mode_is_announced_once_before_any_text(demo_kb, site, question, mode) -> None:
    events: list[tuple[str, str]] = []
    a = engine(demo_kb, site, llm=ScriptedLLM("老年人优待证到社区窗口办理[1]。")).ask(
        question, on_text=lambda t: events.append(("text", t)), on_mode=lambda m: events.append(("mode", m))
    )
    assert a.mode == mode
    assert events[0] == ("mode", mode) and [e for e in events if e[0] == "mode"] == [("mode", mode)]
    assert "".join(t for kind, t in events if kind == "text") == a.answer


class Hashed:
    """A test embedder: a fixed pseudo-random unit vector per text."""

    name = "hashed-test"
    dim = 8

    def embed(self, texts, *, query=False):
        import numpy as np

        rows = [np.random.default_rng(abs(hash(t)) % 2**32).normal(size=self.dim) for t in texts]
        out = np.array(rows, dtype=np.float32).reshape(len(texts), self.dim)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.mark.parametrize("with_vectors", [False, True])
def test_an_emptied_knowledge_base_still_handles_emergencies_handoffs_and_says_it_has_no_answer(
    tmp_path: Path, analyzer, site, journal, with_vectors: bool
) -> None:
    from appliance.knowledge.ingest import Ingestor
    from appliance.knowledge.store import KnowledgeBase

    guide = tmp_path / "own.md"
    guide.write_text("# 居住证办理\n\n## 办理地点\n社区服务中心二楼\n", encoding="utf-8")
    kb = KnowledgeBase.open(tmp_path / "kb.sqlite", analyzer)
    embedder = Hashed() if with_vectors else None
    assert not Ingestor(kb, embedder).ingest([guide]).failed
    assert kb.remove_source(str(guide.resolve())) == 1
    assert kb.is_empty() and kb.vectors_complete() is with_vectors  # vectors of nothing: complete
    retriever = Retriever(kb, embedder)
    found = retriever.search("居住证在哪里办")
    assert found.results == [] and found.confidence == 0.0
    e = AnswerEngine(retriever, site, Triage.load(), journal=journal)
    assert e.ask("电梯里有人被困住了").mode == "emergency"
    handoff = e.ask("我要找工作人员")
    assert handoff.mode == "handoff" and site.duty_phone in handoff.answer
    for question in ("居住证在哪里办", "How do I get a residence permit?"):
        a = e.ask(question)
        assert (a.mode, a.reason, a.sources) == ("no_answer", "low_confidence", [])
        assert site.duty_phone in a.answer
    assert [g["question"] for g in journal.rows("gaps")][::-1] == ["居住证在哪里办", "How do I get a residence permit?"]
    kb.close()


def test_modes_and_generators_are_typed_and_checked(demo_kb, site) -> None:
    answer = engine(demo_kb, site).ask("我社保卡掉了怎么办")
    assert answer.mode is Mode.ANSWER and answer.generator is Generator.EXTRACTIVE
    assert answer.mode == "answer" and f"{answer.mode}" == "answer"  # still reads as its string
    assert json.loads(json.dumps(answer.to_json()))["mode"] == "answer"
    with pytest.raises(ValueError, match="bogus"):
        Answer("q", "a", "bogus", "scripted")
    with pytest.raises(ValueError, match="unknown intent"):
        Answer("q", "a", "answer", "scripted", intent="hello")
