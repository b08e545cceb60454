"""One reading-time model for narration without a voice (appliance/reading.py)."""

from __future__ import annotations

import threading

import pytest

from appliance.reading import EN_WORDS_PER_S, ZH_CHARS_PER_S, reading_seconds, speed_for


def test_chinese_is_counted_in_characters_and_english_in_words() -> None:
    assert reading_seconds("社区服务中心在一楼", "zh") == pytest.approx(9 / ZH_CHARS_PER_S)
    assert reading_seconds("The service centre is on the ground floor", "en") == pytest.approx(8 / EN_WORDS_PER_S)
    # The same speed scales both languages: 6 characters a second is 4/3 of reading aloud.
    speed = speed_for(6.0)
    assert reading_seconds("十二个字十二个字十二个字", "zh", speed) == pytest.approx(2.0)
    assert reading_seconds("five words in English here", "en", speed) == pytest.approx(5 / EN_WORDS_PER_S * 0.75)
    with pytest.raises(ValueError, match="positive"):
        reading_seconds("x", "zh", 0)


class _Wait(threading.Event):
    """An event that records how long it was asked to wait, and does not."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.asked.append(timeout or 0.0)
        return False


def test_the_text_conversation_and_the_tour_narrator_use_the_same_model() -> None:
    from appliance.dialogue import Session
    from appliance.text_conversation import TextConversation
    from appliance.tours import ReadingNarrator

    english = "Welcome to the community service centre on Xingfu Road " * 3
    waited = _Wait()
    with TextConversation(Session(engine=None), reading_cps=ZH_CHARS_PER_S, min_reading_s=0.0) as conversation:
        conversation.say(english, "en", waited)  # narration only: the engine is not asked
    ReadingNarrator(lambda text: None, 1.0).say(english, "en", waited)
    assert waited.asked[0] == pytest.approx(waited.asked[1]) == pytest.approx(27 / EN_WORDS_PER_S)
