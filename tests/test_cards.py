"""What the touchscreen shows besides the answer: guide cards, community notices, the topics grid."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from appliance.answer.engine import AnswerEngine
from appliance.answer.types import Answer, Source
from appliance.bootstrap import build_appliance
from appliance.config import Settings
from appliance.journal import Journal
from appliance.knowledge.card import (
    Notice,
    Phone,
    card_kind,
    dates_in,
    guide_card,
    list_items,
    notices,
    parse_phones,
    popular_topics,
)
from appliance.knowledge.ingest import Ingestor
from appliance.knowledge.retrieval import Retriever
from appliance.knowledge.sectioning import strip_bullet
from appliance.knowledge.store import KnowledgeBase
from appliance.triage import Triage

NOTICES_ZH = ["tongzhi-liugan-yimiao", "tongzhi-tingshui-qingxi", "tongzhi-fanzha-jiangzuo", "tongzhi-dongji-anquan"]
NOTICES_EN = ["notice-flu-vaccination", "notice-water-interruption"]


@pytest.fixture(scope="module")
def kb(demo_kb_file: Path, analyzer):
    """The demo knowledge base, read-only, shared by the module's tests."""
    knowledge = KnowledgeBase.open(demo_kb_file, analyzer, readonly=True)
    yield knowledge
    knowledge.close()


# -- guide cards ---------------------------------------------------------------------------------


def test_card_of_an_errand_guide(kb) -> None:
    card = guide_card(kb, "shebaoka-guashi-buban")
    assert card is not None
    assert (card.title, card.lang, card.category) == ("社会保障卡挂失与补办", "zh", "社会保障")
    assert card.summary.startswith("社会保障卡（社保卡）丢失、被盗或损坏时，应先挂失，再补办新卡。")
    assert card.summary.endswith("补办由明湖区社会保险服务中心和社保卡合作银行网点办理。")
    assert card.materials == (
        "本人居民身份证原件1份（16周岁以下可用户口簿原件）",
        "社保卡损坏换卡的，交回原卡",
        "近期免冠白底证件照1张（系统里已有照片的可不交，窗口可现场拍照）",
        "代办的：代办人居民身份证原件1份、本人签字的授权委托书1份",
    )
    assert len(card.eligibility) == 3 and card.eligibility[2] == "本人行动不便的，可由家属持委托材料代办。"
    assert len(card.steps) == 5 and card.steps[0].startswith("发现卡丢了，马上拨打12333")
    assert (
        card.place
        == "明湖区社会保险服务中心（明湖区政务服务中心3号窗口，明湖大道200号）；也可到社保卡合作银行网点办理。"
    )
    assert card.hours is not None and card.hours.startswith("周一至周五 9:00–17:00；周六上午")
    assert card.phones == (
        Phone("人社服务热线", "12333"),
        Phone("明湖区政务服务中心", "010-0000-3456"),
        Phone("幸福里社区值班电话", "010-0000-1234", "社区可帮忙指引，不直接制卡"),
    )
    assert len(card.tips) == 4 and card.tips[1].startswith("补卡工本费为每张20元")
    assert card.updated is None  # the store keeps no front-matter dates


def test_card_of_an_english_guide(kb) -> None:
    card = guide_card(kb, "social-security-card-replacement")
    assert card is not None and card.lang == "en" and card.category == "Social security"
    assert card.materials[0] == "Original passport (foreign nationals) or resident ID card (Chinese citizens)"
    assert card.place is not None and card.place.startswith("Minghu District Social Insurance Service Centre, Window 3")
    assert card.hours is not None and card.hours.startswith("Monday to Friday 9:00–17:00")
    assert card.phones[0] == Phone("Human resources and social security hotline", "12333", "mainly in Chinese")
    centre = guide_card(kb, "community-service-centre")
    assert centre is not None and centre.materials == () and centre.steps == ()
    assert centre.place is not None and centre.place.startswith("Ground floor, General Service Window, 88 Xingfu Road")
    labels = {p.number: p.label for p in centre.phones}
    assert labels["010-0000-2345"].startswith("Minghu Subdistrict Convenience Service Centre")  # colons in 9:00 kept
    assert (labels["110"], labels["119"], labels["12345"]) == ("police", "fire", "government service hotline")


def test_card_of_an_emergency_guide_has_what_it_has(kb) -> None:
    card = guide_card(kb, "dianti-kunren")
    assert card is not None and card.category == "安全应急"
    assert card.materials == () and card.eligibility == () and card.place is None and card.hours is None
    assert len(card.steps) == 6 and card.steps[0].startswith("保持冷静。")
    assert "不要吸烟或使用明火。" in card.tips  # 不要做的事 as well as 温馨提示
    assert card.phones == (
        Phone("幸福里物业服务中心（24小时报修热线）", "010-0000-5678"),
        Phone("消防救援", "119"),
        Phone("医疗急救", "120"),
        Phone("幸福里社区值班电话", "010-0000-1234", "反映电梯问题"),
    )


def test_every_demo_card_holds_only_the_guides_own_lines(kb) -> None:
    for doc in kb.documents():
        card = guide_card(kb, doc.doc_id)
        assert card is not None and card.title == doc.title, doc.doc_id
        text = "\n".join(c.text for c in kb.doc_chunks(doc.doc_id) if not c.is_question)
        lines = {strip_bullet(line) for line in text.split("\n")}
        for item in card.eligibility + card.materials + card.steps + card.tips:
            assert item in lines, (doc.doc_id, item)
        for value in (card.place, card.hours):
            assert value is None or all(part in text for part in value.split("；")), (doc.doc_id, value)
        assert card.summary and card.summary in text
        assert card.phones and all(p.number in text and p.label for p in card.phones), doc.doc_id
        source = Path(doc.source).read_text(encoding="utf-8")
        if "\n## 所需材料" in source or "\n## Documents to bring" in source:
            assert card.materials, doc.doc_id
        if "\n## 办理地点和时间" in source or "\n## Where and when" in source:
            assert card.place and card.hours, doc.doc_id
        json.dumps(card.to_json(), ensure_ascii=False)  # plain types only


def test_card_to_json_and_unknown_document(kb) -> None:
    data = guide_card(kb, "yangquan-dengji").to_json()
    assert data["title"] == "养犬登记" and isinstance(data["materials"], list)
    assert data["phones"][0] == {"label": "明湖派出所", "number": "010-0000-4567", "note": None}
    assert set(data) == {
        "doc_id",
        "title",
        "lang",
        "category",
        "summary",
        "eligibility",
        "materials",
        "steps",
        "place",
        "hours",
        "phones",
        "tips",
        "updated",
    }
    assert guide_card(kb, "no-such-guide") is None


def test_cards_of_guides_written_differently(tmp_path: Path, analyzer) -> None:
    folder = tmp_path / "guides"
    folder.mkdir()
    (folder / "a.md").write_text(
        "# 示例事项\n\n概述一句。\n\n## 需要带的材料\n- 户口簿\n- 照片两张\n\n## 报名对象\n本区居民\n\n"
        "## 时间和地点\n时间：每周三上午\n地点：社区二楼\n\n## 联系方式\n- 020-83527072；020-83805040\n"
        "- 电话：(020)87623552、020-37886909\n- 遇到危险，先拨打110\n",
        encoding="utf-8",
    )
    (folder / "b.md").write_text(
        "# 另一事项\n\n如有疑问，请拨打社区值班电话：010-0000-1234（工作日）。2026年共办理120件。\n\n"
        "## 所需材料\n### 申请人\n- 身份证\n### 代办人\n- 委托书\n\n## 办理地点\n明湖大道100号\n",
        encoding="utf-8",
    )
    portal = {
        "matter_name": "示例门户事项",
        "accept_standard": "本省居民",
        "material_intro": ["申请表", "居民身份证"],
        "handle_location": "办理地点：广州市示例路1号",
        "consult_phone": "020-38356454转1",
        "complain_phone": "020-12345",
    }
    (folder / "c.jsonl").write_text(json.dumps(portal, ensure_ascii=False) + "\n", encoding="utf-8")
    with KnowledgeBase.open(tmp_path / "kb.sqlite", analyzer) as knowledge:
        report = Ingestor(knowledge).ingest([folder])
        assert not report.failed
        ids = {d.title: d.doc_id for d in knowledge.documents()}
        a = guide_card(knowledge, ids["示例事项"])
        assert a.materials == ("户口簿", "照片两张") and a.eligibility == ("本区居民",)
        assert (a.place, a.hours) == ("社区二楼", "每周三上午")
        assert [(p.label, p.number) for p in a.phones] == [
            ("联系方式", "020-83527072"),
            ("联系方式", "020-83805040"),
            ("电话", "(020)87623552"),
            ("电话", "020-37886909"),
            ("遇到危险", "110"),
        ]
        b = guide_card(knowledge, ids["另一事项"])
        assert b.materials == ("申请人：身份证", "代办人：委托书")
        assert (b.place, b.hours, b.steps) == ("明湖大道100号", None, ())
        assert b.phones == (Phone("社区值班电话", "010-0000-1234", "工作日"),)  # not "120" of 120件
        c = guide_card(knowledge, ids["示例门户事项"])
        assert c.materials == ("申请表", "居民身份证") and c.eligibility == ("本省居民",)
        assert c.place == "广州市示例路1号" and c.hours is None
        assert c.phones == (Phone("咨询电话", "020-38356454转1"), Phone("投诉电话", "020-12345"))


def test_helpers() -> None:
    assert card_kind("需要带的材料") == "materials" and card_kind("时间和地点") == "place_hours"
    assert card_kind("Documents to bring") == "materials" and card_kind("Things to note") == "tips"
    assert card_kind("投放时间和地点") == "other" and card_kind("办理地点") == "place"
    assert list_items("- 一\n  接着一\n\n1. 二\n（3）三") == ["一 接着一", "二", "三"]
    phones = parse_phones("消防救援：119；医疗急救：120\n- Emergencies: police 110, fire 119", "求助电话")
    assert [(p.label, p.number) for p in phones] == [
        ("消防救援", "119"),
        ("医疗急救", "120"),
        ("police", "110"),
        ("fire", "119"),
    ]
    assert parse_phones("办理时间：9:00–12:00，2026-10-15 起，收费120元", "x", labelled_only=True) == []
    assert [p.number for p in parse_phones("+86 139 1234 5678\n（0662）3681111；020－81102000", "电话")] == [
        "+86 139 1234 5678",
        "（0662）3681111",
        "020－81102000",
    ]
    assert dates_in("2026年11月16日至12月18日") == [dt.date(2026, 11, 16), dt.date(2026, 12, 18)]
    assert dates_in("Tuesday 8 December and Wednesday 9 December 2026") == [
        dt.date(2026, 12, 8),
        dt.date(2026, 12, 9),
    ]
    assert dates_in("16 November to 18 December 2026; May 5th, 2027") == [
        dt.date(2026, 11, 16),
        dt.date(2026, 12, 18),
        dt.date(2027, 5, 5),
    ]
    assert dates_in("12月18日") == [] and dates_in("12月18日", 2027) == [dt.date(2027, 12, 18)]
    assert dates_in("1 yuan per 4 hours, 2月30日", 2026) == []


# -- notices -------------------------------------------------------------------------------------


def test_notices_soonest_first_with_time_and_place(kb) -> None:
    zh = notices(kb, "zh")
    assert [n.doc_id for n in zh] == NOTICES_ZH
    water = zh[1]
    assert water == Notice(
        "tongzhi-tingshui-qingxi",
        "小区二次供水设施清洗停水通知",
        water.summary,
        "2026年12月8日（周二）至12月9日（周三），每天 9:00–17:00；如遇特殊情况顺延，物业另行张贴通知",
        "小区1号楼至12号楼（二次供水泵房在8号楼地下一层）",
        "zh",
    )
    assert water.summary.startswith("为保证居民饮用水卫生") and water.summary.endswith("请居民提前储水。")
    assert zh[0].where == "幸福里社区卫生服务中心二楼预防接种门诊（示例市明湖区幸福路66号）"
    en = notices(kb, "en")
    assert [n.doc_id for n in en] == NOTICES_EN
    assert en[1].when is not None and en[1].when.startswith("Tuesday 8 December and Wednesday 9 December 2026")
    assert en[0].to_json()["where"].startswith("vaccination clinic, 2nd floor")
    assert [n.doc_id for n in notices(kb, "zh", limit=2)] == NOTICES_ZH[:2]
    assert [n.doc_id for n in notices(kb, "zh", today=dt.date(2026, 12, 10))] == [
        "tongzhi-liugan-yimiao",
        "tongzhi-fanzha-jiangzuo",
        "tongzhi-dongji-anquan",
    ]
    assert [n.doc_id for n in notices(kb, "zh", today=dt.date(2026, 12, 20))] == ["tongzhi-dongji-anquan"]
    assert notices(kb, "fr") == []


def test_notice_cards_and_answers(demo_kb, site) -> None:
    card = guide_card(demo_kb, "tongzhi-liugan-yimiao")
    assert card.materials == ("本人居民身份证或社会保障卡原件", "预防接种记录（有的带上）")
    assert card.eligibility[0].startswith("年满60周岁") and len(card.steps) == 3
    engine = AnswerEngine(Retriever(demo_kb), site, Triage.load())
    for question, doc_id, must in [
        ("小区哪天停水", "tongzhi-tingshui-qingxi", "2026年12月8日"),
        ("社区的反诈讲座什么时候开", "tongzhi-fanzha-jiangzuo", "2026年12月12日"),
        ("老人接种流感疫苗要花钱吗", "tongzhi-liugan-yimiao", "免费"),
        ("When will the water be cut off?", "notice-water-interruption", "9 December 2026"),
    ]:
        answer = engine.ask(question)
        assert answer.mode == "answer" and answer.sources[0].doc_id == doc_id, question
        assert must in answer.answer, question


# -- the topics grid -----------------------------------------------------------------------------


def test_topics_without_a_journal(kb) -> None:
    zh = popular_topics(kb, "zh", limit=100)
    assert len(zh) == 27  # 34 Chinese documents less 4 notices and 3 safety and emergency guides
    ids = {t.doc_id for t in zh}
    assert not ids & set(NOTICES_ZH)
    assert not ids & {"dianti-kunren", "diandongche-anquan-chongdian", "fangfan-dianxin-zhapian"}
    assert [(t.category, t.title) for t in zh] == sorted((t.category, t.title) for t in zh)
    assert all(t.question == t.title for t in zh if t.doc_id != "fangwu-loushui-linli-jiufen")
    # The title reads as a neighbour dispute for staff; the tile asks the first sample question.
    assert next(t for t in zh if t.doc_id == "fangwu-loushui-linli-jiufen").question == "楼上漏水渗到我家了咋办"
    assert popular_topics(kb, "zh") == zh[:12]
    en = popular_topics(kb, "en")
    assert [t.doc_id for t in en] == [
        "community-service-centre",
        "household-waste-sorting",
        "residence-permit-foreigners",
        "social-security-card-replacement",
    ]
    assert en[0].to_json() == {
        "doc_id": "community-service-centre",
        "title": "Community Service Centre: Hours and Contacts",
        "category": "Community life",
        "question": "Community Service Centre: Hours and Contacts",
    }


def test_topics_follow_the_journal(kb, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")

    def turn(mode: str, *doc_ids: str) -> None:
        sources = [Source(d, d, "s", "f.md") for d in doc_ids]
        journal.record(Answer("q", "a", mode, "extractive", sources))

    try:
        for _ in range(3):
            turn("answer", "yangquan-dengji", "yangquan-dengji")  # one turn counts once
        turn("answer", "gongzufang-shenqing")
        turn("answer", "gongzufang-shenqing", "household-waste-sorting")
        for _ in range(5):
            turn("handoff", "gaoling-jintie")  # only answered turns count
            turn("answer", "tongzhi-tingshui-qingxi")  # notices never get a tile
            turn("answer", "deleted-guide")
        topics = popular_topics(kb, "zh", journal, limit=4)
        assert [t.doc_id for t in topics[:2]] == ["yangquan-dengji", "gongzufang-shenqing"]
        fallback = [t.doc_id for t in popular_topics(kb, "zh", limit=4)]
        assert [t.doc_id for t in topics[2:]] == [
            d for d in fallback if d not in ("yangquan-dengji", "gongzufang-shenqing")
        ][:2]
        assert popular_topics(kb, "en", journal)[0].doc_id == "household-waste-sorting"
        assert [t.doc_id for t in popular_topics(kb, "zh", journal, recent=1, limit=1)] == [fallback[0]]
    finally:
        journal.close()


def test_every_topic_is_answered_from_its_guide(demo_kb_file: Path, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    settings.kb_file.parent.mkdir(parents=True)
    shutil.copy(demo_kb_file, settings.kb_file)
    with build_appliance(settings, use_llm=False, journal=False) as appliance:
        asked = 0
        for lang in ("zh", "en"):
            for topic in popular_topics(appliance.kb, lang, limit=100):
                answer = appliance.engine.ask(topic.question)
                assert answer.mode == "answer", (topic.question, answer.mode, answer.reason)
                assert answer.sources[0].doc_id == topic.doc_id, topic.question
                assert answer.lang == lang
                asked += 1
        assert asked == 31
