"""The end-of-turn judge: which transcripts are evidently unfinished."""

from __future__ import annotations

import pytest

from voice.turn_end import open_ending


@pytest.mark.parametrize(
    ("text", "ending"),
    [
        ("我想问", "我想问"),
        ("我想问一下那个", "那个"),
        ("社保卡丢了，然后", "然后"),
        ("我想问，", "，"),
        ("如果我不在本地的话", "的话"),
        ("嗯", "嗯"),
        ("好的，呃", "呃"),
        ("I want to ask", "i want to ask"),
        ("Where is the office and", "and"),
        ("My card is lost, so...", "..."),
    ],
)
def test_open_endings(text: str, ending: str) -> None:
    assert open_ending(text) == ending


@pytest.mark.parametrize(
    "text",
    [
        "我在冰海星区有房。",
        "社保卡丢了怎么办",
        "补贴金额是多少",  # 额 ends a word here, not a filler
        "在哪里啊",  # a question's final particle
        "志愿活动怎么参与",
        "还有什么材料？",
        "Do you know where the office is?",
        "What is it for",
        "",
        "。",
    ],
)
def test_complete_turns_are_never_held(text: str) -> None:
    assert open_ending(text) is None
