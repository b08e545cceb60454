"""The voice loop with scripted stages: sentence streaming, cancellation, barge-in, echo, sessions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from appliance.answer.engine import AnswerEngine
from appliance.config import ConversationSettings
from appliance.conversation import Conversation
from appliance.dialogue import Session
from appliance.events import BargeIn, Heard, ModeDecided, Speaking, TurnDone
from appliance.journal import Journal, Redactor
from appliance.knowledge.retrieval import Retriever
from appliance.triage import Triage
from tests.scripted import EnergyVAD, ScriptedASR, ScriptedLLM, ToneVoice, burst, silence
from voice.audio import FRAME_SAMPLES, SAMPLE_RATE, ArraySource, Frame
from voice.endpoint import Endpointer
from voice.playback import SimulatedSpeaker, WavFileSink
from voice.tts import Voices

LONG_CITED = (
    "社保卡丢了要先挂失[1]。可以拨打12333电话挂失[1]，也可以在网上办理[1]。"
    "然后带上身份证去窗口补办新卡[1]。补卡一般需要几个工作日[1]。"
    "如果是别人代办，还要带代办人的身份证和委托书[1]。办好以后记得激活新卡[1]。"
)


class Recorder:
    """Collects the loop's events."""

    def __init__(self) -> None:
        self.events: list = []

    def __call__(self, event) -> None:
        self.events.append(event)

    def of(self, kind) -> list:
        return [e for e in self.events if isinstance(e, kind)]


def make_engine(demo_kb, site, llm=None, journal=None) -> AnswerEngine:
    return AnswerEngine(Retriever(demo_kb), site, Triage.load(), llm=llm, journal=journal)


def make_loop(engine, asr, sink, voice=None, settings=None, recorder=None, **session_kw) -> Conversation:
    voices = Voices({"zh": voice or ToneVoice()})
    return Conversation(
        Session(engine, **session_kw), asr, voices, sink, EnergyVAD(), Endpointer(), settings, recorder or Recorder()
    )


class Room:
    """A real-time microphone in a room: the resident's audio plus the speaker's leak.

    Args:
        resident: what the resident says, float32 16 kHz, played from the start.
        sink: the appliance's speaker (its played audio comes back delayed and attenuated).
        leak_gain / leak_delay_s: the speaker-to-microphone path.
    """

    realtime = True

    def __init__(
        self, resident: np.ndarray, sink: SimulatedSpeaker, leak_gain: float = 0.0, leak_delay_s: float = 0.05
    ):
        self.resident, self.sink = resident, sink
        self.leak_gain, self.leak_delay_s = leak_gain, leak_delay_s
        self._closed = False

    def close(self) -> None:
        self._closed = True

    async def frames(self) -> AsyncIterator[Frame]:
        start = time.monotonic()
        n = self.resident.size // FRAME_SAMPLES
        for i in range(n):
            t = start + i * FRAME_SAMPLES / SAMPLE_RATE
            delay = t + FRAME_SAMPLES / SAMPLE_RATE - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            samples = self.resident[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES].copy()
            if self.leak_gain:
                d = self.leak_delay_s
                samples += self.leak_gain * self.sink.reference(t - d, t - d + FRAME_SAMPLES / SAMPLE_RATE)
            yield Frame(samples, t, i)


# --- file runs ------------------------------------------------------------------------------------


def test_file_run_answers_each_turn_and_follow_ups(demo_kb, site, tmp_path: Path) -> None:
    audio = np.concatenate([silence(0.5), burst(1.0), silence(2.0), burst(0.8, seed=1), silence(1.0)])
    asr = ScriptedASR(["我社保卡掉了怎么办", "那要带什么材料"])
    sink = WavFileSink(tmp_path / "answers.wav", SAMPLE_RATE)
    rec = Recorder()
    voice = ToneVoice()
    loop = make_loop(make_engine(demo_kb, site), asr, sink, voice=voice, recorder=rec)
    results = asyncio.run(loop.run(ArraySource(audio)))
    sink.close()

    assert [r.transcript.text for r in results] == ["我社保卡掉了怎么办", "那要带什么材料"]
    first, second = results
    assert first.answer.sources[0].title == "社会保障卡挂失与补办"
    assert second.query and "社会保障卡挂失与补办" in second.query  # the follow-up kept the topic
    assert "身份证" in second.answer.answer
    # the ASR got the utterances, not the silence between them (pre-roll 300 ms + speech + 600 ms)
    assert all(0.9 <= a.size / SAMPLE_RATE <= 2.1 for a in asr.heard)
    # every answer was spoken: the file holds both answers and a gap
    written, rate = sf.read(tmp_path / "answers.wav")
    spoken_chars = sum(len(t) for t in voice.texts)
    assert len(voice.texts) == len(rec.of(Speaking))
    assert rate == SAMPLE_RATE
    assert written.size / rate == pytest.approx(spoken_chars * 0.060 + 0.5, abs=0.2)
    for r in results:
        t = r.timings
        assert 600 <= t.endpoint < 600 + 33
        assert t.endpoint <= t.asr <= t.first_text <= t.first_audio <= t.total
        assert t.overhead is not None and t.overhead < 1000
    assert [type(e).__name__ for e in rec.events if isinstance(e, Heard | ModeDecided)] == ["Heard", "ModeDecided"] * 2


def test_hallucination_is_dropped_not_answered(demo_kb, site, tmp_path: Path) -> None:
    class NoEngine:
        def __getattr__(self, name):
            raise AssertionError("the engine must not be asked")

    audio = np.concatenate([burst(1.0), silence(1.0)])
    sink = WavFileSink(tmp_path / "a.wav", SAMPLE_RATE)
    voice = ToneVoice()
    loop = make_loop(make_engine(demo_kb, site), ScriptedASR([None]), sink, voice=voice)
    loop.session.engine = NoEngine()
    (result,) = asyncio.run(loop.run(ArraySource(audio)))
    assert result.transcript.dropped and result.answer is None
    assert voice.texts == [] and sink.seconds == 0


def test_emergency_is_spoken_without_the_model(demo_kb, site, tmp_path: Path) -> None:
    llm = ScriptedLLM("不该用到模型[1]。")
    sink = WavFileSink(tmp_path / "a.wav", SAMPLE_RATE)
    voice = ToneVoice()
    loop = make_loop(make_engine(demo_kb, site, llm=llm), ScriptedASR(["电梯里困住了，救命"]), sink, voice=voice)
    (result,) = asyncio.run(loop.run(ArraySource(np.concatenate([burst(1.0), silence(1.0)]))))
    assert result.answer.mode == "emergency"
    assert llm.prompts == []
    assert voice.texts and any(site.property_hotline[-4:] in "".join(voice.texts) or "幺" in t for t in voice.texts)


def test_voice_turn_is_journaled_with_its_timings(demo_kb, site, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite", Redactor([]))
    sink = WavFileSink(None, SAMPLE_RATE)
    loop = make_loop(make_engine(demo_kb, site, journal=journal), ScriptedASR(["居住证怎么办"]), sink)
    asyncio.run(loop.run(ArraySource(np.concatenate([burst(1.0), silence(1.0)]))))
    (question, timings) = journal.conn.execute("SELECT question, timings FROM turns").fetchone()
    journal.close()
    assert question == "居住证怎么办"
    for key in ("voice_endpoint", "voice_asr", "voice_first_audio", "voice_total", "retrieval"):
        assert key in timings


# --- real time: streaming, barge-in, echo ------------------------------------------------------------------


def test_first_audio_plays_while_the_llm_is_still_generating(demo_kb, site) -> None:
    llm = ScriptedLLM(LONG_CITED, piece=4, delay_s=0.03)
    sink = SimulatedSpeaker(SAMPLE_RATE)
    asr = ScriptedASR(["社保卡丢了怎么办"])
    loop = make_loop(make_engine(demo_kb, site, llm=llm), asr, sink, voice=ToneVoice(ms_per_char=20))
    try:
        (result,) = asyncio.run(loop.run(Room(np.concatenate([burst(0.8), silence(1.0)]), sink)))
    finally:
        sink.close()
    assert result.answer.generator == "llm"
    t = result.timings
    assert t.first_audio is not None and t.llm_done is not None
    assert t.first_audio < t.llm_done
    assert sink.first_audio(result.turn_id) < llm.stopped_at  # spoken while it was still being written


def test_barge_in_stops_audio_cancels_generation_and_keeps_what_was_heard(demo_kb, site) -> None:
    llm = ScriptedLLM(LONG_CITED, piece=4, delay_s=0.1)  # 2.9 s to generate the whole answer
    sink = SimulatedSpeaker(SAMPLE_RATE)
    rec = Recorder()
    engine = make_engine(demo_kb, site, llm=llm)
    loop = make_loop(engine, ScriptedASR(["社保卡丢了怎么办", "谢谢"]), sink, recorder=rec)
    # The resident asks, waits 2.5 s into the answer, then talks over it.
    resident = np.concatenate([burst(0.8), silence(2.5), burst(0.8, seed=3), silence(1.5)])
    try:
        results = asyncio.run(loop.run(Room(resident, sink)))
    finally:
        sink.close()

    (barge,) = rec.of(BargeIn)
    first = results[0]
    assert barge.turn_id == first.turn_id and first.interrupted
    # generation was cancelled: the model was not drained to the end (the thanks needs no model)
    assert len(llm.prompts) == 1 and llm.pieces_sent < len(LONG_CITED) / 4 and llm.finished_at is None
    # playback stopped within 150 ms of the decision, and nothing of turn 1 played afterwards
    t_detect = loop.barge_ins[0]["t_detect"]
    assert sink.silenced_at is not None and sink.silenced_at - t_detect <= 0.150
    after = [b for t, b in sink.output if t >= sink.silenced_at and t < sink.silenced_at + 0.5]
    assert after and not np.any(np.concatenate(after)[: SAMPLE_RATE // 4])  # silent until turn 2 starts
    # history holds only what was heard: a non-empty strict part of the answer
    heard = loop.session.exchanges[0].heard
    assert first.heard == heard
    assert 0 < len(heard.rstrip("…")) < len(first.answer.answer.replace("[1]", ""))
    assert loop.session.history()[1] == {"role": "assistant", "content": heard}
    # the interruption was itself answered
    assert results[1].transcript.text == "谢谢" and results[1].answer.mode == "answer"


def test_speaker_echo_does_not_interrupt_but_the_resident_does(demo_kb, site) -> None:
    def run(resident_extra: np.ndarray) -> tuple[list, Recorder]:
        sink = SimulatedSpeaker(SAMPLE_RATE)
        rec = Recorder()
        asr = ScriptedASR(["社保卡丢了怎么办", "等一下"])
        loop = make_loop(make_engine(demo_kb, site), asr, sink, voice=ToneVoice(ms_per_char=12), recorder=rec)
        resident = np.concatenate([burst(0.8), resident_extra])
        try:
            results = asyncio.run(loop.run(Room(resident, sink, leak_gain=0.5, leak_delay_s=0.04)))
        finally:
            sink.close()
        return results, rec

    # Only the leak: the loud echo of the answer reaches the microphone, yet no barge-in.
    results, rec = run(silence(4.0))
    assert rec.of(BargeIn) == [] and not results[0].interrupted
    # The resident speaks over the same leak (louder than it, as a person at the kiosk is): barge-in.
    results, rec = run(np.concatenate([silence(1.5), burst(1.0, seed=5, level=0.6), silence(1.5)]))
    assert len(rec.of(BargeIn)) == 1 and results[0].interrupted


def test_half_duplex_ignores_speech_while_answering(demo_kb, site) -> None:
    sink = SimulatedSpeaker(SAMPLE_RATE)
    rec = Recorder()
    settings = ConversationSettings(duplex="half")
    asr = ScriptedASR(["社保卡丢了怎么办", "x"])
    loop = make_loop(make_engine(demo_kb, site), asr, sink, ToneVoice(ms_per_char=15), settings, rec)
    resident = np.concatenate([burst(0.8), silence(1.2), burst(0.8, seed=3), silence(1.0)])
    try:
        results = asyncio.run(loop.run(Room(resident, sink)))
    finally:
        sink.close()
    assert rec.of(BargeIn) == []
    assert len(results) == 1 and not results[0].interrupted


def test_cancelled_turn_produces_no_more_audio(demo_kb, site) -> None:
    """interrupt() (the screen's stop button) mid-answer: nothing of the turn is queued afterwards."""
    llm = ScriptedLLM(LONG_CITED, piece=4, delay_s=0.06)  # its three sentences take about 1.7 s
    sink = SimulatedSpeaker(SAMPLE_RATE)
    rec = Recorder()
    loop = make_loop(make_engine(demo_kb, site, llm=llm), ScriptedASR(["社保卡丢了怎么办"]), sink, recorder=rec)

    async def scenario():
        task = asyncio.create_task(loop.run(Room(np.concatenate([burst(0.8), silence(3.0)]), sink)))
        while not rec.of(Speaking):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        loop.interrupt()
        spoken_at_cancel = len(rec.of(Speaking))
        results = await task
        return results, spoken_at_cancel

    try:
        (result,), spoken_at_cancel = asyncio.run(scenario())
    finally:
        sink.close()
    assert result.interrupted
    assert len(rec.of(Speaking)) <= spoken_at_cancel + 1  # at most the piece already in synthesis
    assert result.answer.reason == "cancelled"
    assert not any(c.turn_id == result.turn_id for c in list(sink._queue))


# --- sessions ------------------------------------------------------------------------------------------------


def test_session_times_out_and_goodbye_ends_it(demo_kb, site) -> None:
    now = [0.0]
    session = Session(make_engine(demo_kb, site), timeout_s=30, clock=lambda: now[0])
    answer, _ = session.ask("我社保卡掉了怎么办")
    session.add(answer, answer.answer)
    assert session.topic and session.topic[1] == "社会保障卡挂失与补办"
    now[0] = 10.0
    assert session.resolve("那要带什么材料")
    now[0] = 100.0
    answer, query = session.ask("那要带什么材料")
    assert query is None and session.number == 2  # a new resident: no topic carried over
    session.add(answer, answer.answer)
    answer, _ = session.ask("谢谢你")
    session.add(answer, answer.answer)
    assert (answer.intent, answer.reason) == ("thanks", None) and not session.expired()
    answer, _ = session.ask("再见")
    session.add(answer, answer.answer)
    assert answer.intent == "goodbye" and answer.reason is None  # its own intent, not a reason
    assert session.expired()


def test_follow_up_does_not_override_a_new_topic(demo_kb, site) -> None:
    session = Session(make_engine(demo_kb, site))
    answer, _ = session.ask("我社保卡掉了怎么办")
    session.add(answer, answer.answer)
    answer, query = session.ask("居住证怎么办理")
    assert query is None and answer.sources[0].title != "社会保障卡挂失与补办"


def test_turn_done_is_reported_for_every_turn(demo_kb, site, tmp_path: Path) -> None:
    rec = Recorder()
    loop = make_loop(
        make_engine(demo_kb, site), ScriptedASR(["你好", None]), WavFileSink(None, SAMPLE_RATE), recorder=rec
    )
    audio = np.concatenate([burst(0.6), silence(2.0), burst(0.6, seed=2), silence(1.0)])
    asyncio.run(loop.run(ArraySource(audio)))
    assert [e.result.turn_id for e in rec.of(TurnDone)] == [1, 2]


def test_push_to_talk_listens_only_after_the_button(demo_kb, site) -> None:
    settings = ConversationSettings(duplex="half", push_to_talk=True)
    asr = ScriptedASR(["居住证怎么办", "社保卡丢了怎么办"])
    loop = make_loop(make_engine(demo_kb, site), asr, WavFileSink(None, SAMPLE_RATE), settings=settings)
    audio = np.concatenate([burst(0.8), silence(1.0), burst(0.8, seed=2), silence(1.0)])
    assert asyncio.run(loop.run(ArraySource(audio))) == []  # nobody pressed the button
    loop.push_to_talk()
    results = asyncio.run(loop.run(ArraySource(audio)))
    assert [r.transcript.text for r in results] == ["居住证怎么办"]  # one utterance per press


# --- turn-taking: a pause is not the end of a thought --------------------------------------------------


def _file_run(demo_kb, site, audio: np.ndarray, texts: list[str | None], **settings):
    asr = ScriptedASR(texts)
    rec = Recorder()
    cfg = ConversationSettings(**settings)
    loop = make_loop(make_engine(demo_kb, site), asr, WavFileSink(None, SAMPLE_RATE), settings=cfg, recorder=rec)
    return asyncio.run(loop.run(ArraySource(audio))), asr, loop, rec


def test_speech_resuming_after_a_short_pause_joins_the_turn(demo_kb, site) -> None:
    first, rest = burst(0.8), burst(1.2, seed=4)
    audio = np.concatenate([first, silence(1.0), rest, silence(2.5)])
    results, asr, loop, rec = _file_run(demo_kb, site, audio, ["我在冰海星区", "我在冰海星区有房，社保卡丢了怎么办"])
    (result,) = results  # one turn, answered once
    assert loop.joins == 1 and result.transcript.text.endswith("社保卡丢了怎么办")
    assert result.answer.sources[0].title == "社会保障卡挂失与补办"
    assert len(asr.heard) == 2 and asr.heard[1].size / SAMPLE_RATE >= 0.8 + 1.2  # the whole thought, heard again
    assert [e.result.turn_id for e in rec.of(TurnDone)] == [result.turn_id]
    # switched off, the same audio is two turns
    results, _, _, _ = _file_run(demo_kb, site, audio, ["我在冰海星区", "社保卡丢了怎么办"], merge_window_ms=0)
    assert len(results) == 2


def test_an_open_ending_waits_longer_than_a_complete_one(demo_kb, site) -> None:
    audio = np.concatenate([burst(0.8), silence(2.2), burst(1.0, seed=4), silence(3.0)])
    # "我想问" leaves the thought open: 2.2 s later the rest still belongs to it
    results, _, loop, _ = _file_run(demo_kb, site, audio, ["我想问", "我想问社保卡丢了怎么补办"])
    assert len(results) == 1 and loop.joins == 1
    # a complete question followed 2.2 s later by another: two turns
    results, _, loop, _ = _file_run(demo_kb, site, audio, ["社保卡丢了怎么补办", "居住证怎么办理"])
    assert [r.transcript.text for r in results] == ["社保卡丢了怎么补办", "居住证怎么办理"] and loop.joins == 0


def test_an_open_ending_with_nothing_after_it_is_still_answered(demo_kb, site) -> None:
    results, _, loop, _ = _file_run(demo_kb, site, np.concatenate([burst(0.8), silence(4.0)]), ["我想问"])
    (result,) = results
    assert result.answer is not None and loop.joins == 0


def test_a_cough_after_a_question_does_not_swallow_it(demo_kb, site) -> None:
    audio = np.concatenate([burst(1.0), silence(0.9), burst(0.1, seed=6), silence(3.0)])  # 100 ms: not speech
    results, _, loop, _ = _file_run(demo_kb, site, audio, ["社保卡丢了怎么补办", "社保卡丢了怎么补办"])
    (result,) = results
    assert result.answer.sources[0].title == "社会保障卡挂失与补办" and loop.joins == 0


def test_live_speech_resuming_cancels_the_answer_being_prepared(demo_kb, site) -> None:
    llm = ScriptedLLM(LONG_CITED, piece=4, delay_s=0.1)  # the first answer is still being written
    sink = SimulatedSpeaker(SAMPLE_RATE)
    rec = Recorder()
    asr = ScriptedASR(["我社保卡", "我社保卡掉了怎么办"])
    loop = make_loop(make_engine(demo_kb, site, llm=llm), asr, sink, ToneVoice(ms_per_char=10), recorder=rec)
    resident = np.concatenate([burst(0.8), silence(0.9), burst(1.0, seed=3), silence(6.0)])
    try:
        results = asyncio.run(loop.run(Room(resident, sink)))
    finally:
        sink.close()
    (result,) = results
    assert loop.joins == 1 and result.transcript.text == "我社保卡掉了怎么办" and not result.interrupted
    assert rec.of(BargeIn) == []  # nothing was heard of the cancelled answer: no barge-in, a join
    assert {s.turn_id for s in rec.of(Speaking)} <= {result.turn_id}


def test_each_turn_gives_its_freed_memory_back(demo_kb, site, monkeypatch) -> None:
    import platform

    import appliance.conversation as conversation
    from appliance.heap import release_free_heap

    assert release_free_heap() is (platform.libc_ver()[0] == "glibc")  # elsewhere a no-op, never an error
    calls: list[int] = []
    monkeypatch.setattr(conversation, "release_free_heap", lambda: calls.append(1) or True)
    audio = np.concatenate([burst(0.8), silence(2.5), burst(1.0, seed=4), silence(2.5)])
    results, _, _, _ = _file_run(demo_kb, site, audio, ["社保卡丢了怎么补办", "居住证怎么办理"])
    assert len(results) == 2 and len(calls) == 2
