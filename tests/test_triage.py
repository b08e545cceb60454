"""Emergency, handoff and small-talk rules, on phrasings that are not in any guide."""

from __future__ import annotations

import pytest

from appliance.knowledge.text import Analyzer
from appliance.triage import Triage

TRIAGE = Triage.load()

EMERGENCIES = [
    ("救命，我妈被关在电梯里出不来了", "lift_entrapment"),
    ("3号楼电梯卡住了，里面有个小孩", "lift_entrapment"),
    ("Help, my neighbour is stuck in the lift", "lift_entrapment"),
    ("楼下车棚冒烟了", "fire"),
    ("快来人啊，厨房着火了", "fire"),
    ("There's a fire on the fifth floor!", "fire"),
    ("我家闻到一股煤气味", "gas_leak"),
    ("天然气管道破了在漏气", "gas_leak"),
    ("I can smell gas in the stairwell", "gas_leak"),
    ("卫生间水管突然爆了，水到处都是", "flooding"),
    ("地下室被淹了", "flooding"),
    ("门口有个老人晕倒了", "medical"),
    ("我爸摔倒了爬不起来", "medical"),
    ("我胸口特别闷，喘不上气", "medical"),
    ("奶奶叫不醒了", "medical"),
    ("我被困在电梯里了，物业一般多久能到", "lift_entrapment"),  # a concrete person outweighs "一般"
    ("A man collapsed in the lobby", "medical"),
    ("我老公又打我了", "violence"),
    ("有人拿刀在楼下", "violence"),
    ("活着没意思，我不想活了", "self_harm"),
    ("如果我想自杀怎么办", "self_harm"),  # never treated as hypothetical
    ("I want to end my life", "self_harm"),
]

NOT_EMERGENCIES = [
    "电动车怎么安全充电",
    "电动车在楼道充电安全吗",
    "万一被困在电梯里应该怎么自救",
    "电梯困人的话物业一般多久能到",
    "如何预防厨房火灾",
    "燃气费在哪里交",
    "家里水管老化漏水找谁修",
    "楼上漏水到我家怎么办",
    "老人摔倒了怎么预防",
    "去年摔倒骨折了能申请长护险吗",
    "我妈前几天在家摔倒了，能申请居家养老补贴吗",
    "我想死你了",
    "你们打我电话就行",
    "楼道有人抽烟一股烟味",
    "电梯按钮按了没反应",
    "轮胎没气了去哪打气",
    "热死了",
    "防范电信诈骗讲座什么时候",
]


@pytest.mark.parametrize(("question", "category"), EMERGENCIES)
def test_emergencies_are_detected(analyzer: Analyzer, question: str, category: str) -> None:
    found = TRIAGE.emergency(analyzer.normalize(question))
    assert found is not None and found.id == category


@pytest.mark.parametrize("question", NOT_EMERGENCIES)
def test_ordinary_questions_are_not_emergencies(analyzer: Analyzer, question: str) -> None:
    assert TRIAGE.emergency(analyzer.normalize(question)) is None


@pytest.mark.parametrize(
    ("question", "rule"),
    [
        ("隔壁天天半夜装修吵得没法睡，说了也不听，想请社区出面调解", "dispute"),
        ("楼上漏水不肯赔，我们两家闹僵了", "dispute"),
        ("我要投诉你们窗口的工作人员", "complaint"),
        ("想反映一下小区停车的问题", "complaint"),
        ("儿女都不管我，赡养费也不给", "family_privacy"),
        ("我的身份证号好像被人泄露了", "family_privacy"),
        ("老伴走了以后我每天都很孤独", "distress"),
        ("最近压力太大了，整个人快崩溃了", "distress"),
        ("能帮我叫个工作人员来吗", "ask_for_person"),
        ("I want to talk to a person", "ask_for_person"),
    ],
)
def test_handoffs(analyzer: Analyzer, question: str, rule: str) -> None:
    norm = analyzer.normalize(question)
    assert TRIAGE.emergency(norm) is None
    found = TRIAGE.handoff(norm)
    assert found is not None and found.id == rule


@pytest.mark.parametrize("question", ["工作人员几点上班", "投诉电话", "社保卡丢了怎么补"])
def test_handoff_rules_leave_ordinary_questions(analyzer: Analyzer, question: str) -> None:
    expected = {"投诉电话": "complaint"}.get(question)  # asking for the complaint line is a complaint
    found = TRIAGE.handoff(analyzer.normalize(question))
    assert (found.id if found else None) == expected


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("你是谁", "identity"),
        ("你是真人吗？", "identity"),
        ("Are you a robot?", "identity"),
        ("您好！", "greeting"),
        ("谢谢你啊", "thanks"),
        ("再见", "goodbye"),
        ("你好，社保卡丢了怎么办", None),
    ],
)
def test_small_talk(analyzer: Analyzer, question: str, kind: str | None) -> None:
    assert TRIAGE.small_talk(analyzer.normalize(question)) == kind


def test_rules_load_from_a_folder_and_reject_bad_patterns(tmp_path) -> None:
    from importlib import resources

    src = resources.files("appliance.triage")
    (tmp_path / "emergency.toml").write_text((src / "emergency.toml").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "intents.toml").write_text(
        '[[handoff]]\nid = "x"\nreason = "r"\npatterns = ["(unclosed"]\n', encoding="utf-8"
    )
    with pytest.raises(ValueError, match="handoff x"):
        Triage.load(tmp_path)
