"""The answer engine with a real quantised LLM (Qwen2.5-Coder 0.5B instruct, Q4_K_M GGUF), as
``../shared/models/get-real-models`` lays it out; skipped, naming that command, when it is absent.

The tiny GGUF of the other tests writes gibberish that the grounding gate always refuses; this one
writes real answers, so the gate, the citation check and the extractive fallback meet real text.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from appliance.answer.engine import AnswerEngine
from appliance.knowledge.retrieval import Retriever
from appliance.triage import Triage
from tests.sounds import NON_SPEECH

REAL = Path(os.environ.get("KIOSK_REAL_MODELS", Path.home() / ".cache" / "kiosk-real-models"))
QWEN = REAL / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"

pytestmark = pytest.mark.skipif(
    not QWEN.is_file(), reason=f"real model weights not found at {REAL}: run ../shared/models/get-real-models"
)


def test_the_real_models_install_from_the_scripts_folder(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from appliance.cli import app

    env = {"KIOSK_DATA_DIR": str(tmp_path / "data")}
    r = CliRunner().invoke(app, ["models", "import", str(REAL)], env=env)
    assert r.exit_code == 0, r.stdout
    for name in ("faster-whisper-base", "qwen2.5-coder-0.5b-instruct-q4_k_m", "piper-en_US-joe-medium"):
        assert f"{name}: installed (verified against the catalogue)" in r.stdout
    listing = CliRunner().invoke(app, ["models", "list"], env=env).stdout
    assert re.search(r"faster-whisper-base\s+asr\s+143\.3 MB\s+installed", listing), listing


@pytest.fixture(scope="module")
def qwen():
    from models.llm import LlamaChatModel

    return LlamaChatModel(QWEN, "qwen2.5-coder-0.5b-instruct-q4_k_m", n_ctx=2048, seed=7)


def test_a_real_llm_answer_is_grounded_or_replaced_by_the_guide(demo_kb, site, qwen) -> None:
    engine = AnswerEngine(Retriever(demo_kb), site, Triage.load(), llm=qwen)
    streamed: list[str] = []
    answer = engine.ask("社保卡丢了要怎么补办", on_text=streamed.append)
    assert answer.mode == "answer" and answer.sources[0].title == "社会保障卡挂失与补办"
    assert answer.generator in ("llm", "extractive")
    assert "llm_first_token" in answer.timings_ms  # the model did run
    if answer.generator == "llm":
        assert answer.reason is None or answer.reason.startswith("llm_cut")
        assert "".join(streamed) == answer.answer  # what was shown is what was kept
        assert "[1]" not in answer.answer and answer.answer.count("。") <= 4  # no markers read out; short
    else:  # refused by the gate: the guide's own lines instead, with why
        assert answer.reason in ("llm_uncited", "llm_copied", "llm_empty", "llm_unsupported_number")
        assert "12333" in answer.answer


def test_with_a_real_llm_loaded_emergencies_and_clarifications_never_wait_for_it(demo_kb, site, qwen) -> None:
    engine = AnswerEngine(Retriever(demo_kb), site, Triage.load(), llm=qwen)
    fire = engine.ask("楼道里着火了")
    assert fire.mode == "emergency" and "llm" not in fire.timings_ms and "retrieval" not in fire.timings_ms
    vague = engine.ask("我想领点补助")
    assert vague.mode in ("clarify", "no_answer") and "llm" not in vague.timings_ms


@pytest.fixture(scope="module")
def whisper_base():
    from voice.asr import WhisperASR

    return WhisperASR(REAL / "whisper-base", "faster-whisper-base", language="site", languages=("zh", "en"))


def _edits(a: str, b: str) -> int:
    """Levenshtein distance between two strings (characters)."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, start=1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


@pytest.mark.parametrize(
    ("name", "lang", "words"),
    [
        ("en_jfk.wav", "en", "ask not what your country"),
        ("zh_funasr_example.wav", "zh", "欢迎大家来体验达摩院推出的语音识别模型"),
    ],
)
def test_real_whisper_hears_each_site_language(whisper_base, shared_data: Path, name: str, lang: str, words: str):
    from opencc import OpenCC

    from voice.audio import read_audio

    audio = read_audio(shared_data / "speech" / name, max_seconds=60)
    t = whisper_base.transcribe(audio)
    assert t.language == lang
    if lang == "en":
        assert words in t.text.lower()
    else:  # the manifest's transcript; Whisper base's character error rate here is 0.0-0.15 by version
        heard = "".join(ch for ch in t.text if "\u4e00" <= ch <= "\u9fff")
        assert _edits(heard, words) / len(words) <= 0.25, t.text
        assert OpenCC("t2s").convert(t.text) == t.text  # Simplified, as the guides are written


@pytest.fixture(scope="module")
def whisper_with_prompt(demo_kb_file: Path, analyzer):
    """Whisper base as the appliance runs it: the demo knowledge base's vocabulary prompt."""
    from appliance.knowledge.store import KnowledgeBase
    from voice.asr import WhisperASR, build_initial_prompt

    kb = KnowledgeBase.open(demo_kb_file, analyzer)
    try:
        prompt = build_initial_prompt([d.title for d in kb.documents() if d.lang != "en"])
    finally:
        kb.close()
    return WhisperASR(
        REAL / "whisper-base", "faster-whisper-base", language="site", languages=("zh", "en"), initial_prompt=prompt
    )


@pytest.mark.parametrize("language", ["site", "zh"])
@pytest.mark.parametrize("sound", sorted(NON_SPEECH))
def test_real_whisper_hears_no_words_in_sounds_that_are_not_speech(whisper_with_prompt, sound: str, language: str):
    """With the vocabulary prompt, Whisper base writes the prompt back, or loops ("剧剧剧…"), for
    silence, hum, noise, a cough or a door slam: the guard drops every one (and the language
    forced to Chinese, as on a one-language site, is the harder case: no English detour)."""
    import ctranslate2

    ctranslate2.set_random_seed(11)  # the 0.4 temperature fallback samples
    whisper_with_prompt.language = language
    t = whisper_with_prompt.transcribe(NON_SPEECH[sound]())
    assert t.text == "" and t.dropped, (t.text, t.rejected_segments)


def test_real_whisper_with_the_prompt_still_hears_the_recordings(whisper_with_prompt, shared_data: Path) -> None:
    from voice.audio import read_audio

    whisper_with_prompt.language = "zh"
    for name, words in (("zh_paddlespeech.wav", "跑步最重要的"), ("zh_living_room_light.wav", "客厅的灯")):
        t = whisper_with_prompt.transcribe(read_audio(shared_data / "speech" / name, max_seconds=60))
        assert words in t.text, (name, t.text, t.rejected_segments)


def test_no_turn_is_answered_for_lobby_sounds_through_the_voice_loop(whisper_with_prompt, demo_kb, site) -> None:
    """The sounds as turns: an energy VAD (cruder than Silero, which scores them 0.02-0.13 and
    lets none through) makes each one an utterance, and real Whisper must leave all unanswered."""
    import asyncio

    from appliance.conversation import Conversation
    from appliance.dialogue import Session
    from tests.scripted import EnergyVAD
    from tests.scripted import silence as pause
    from tests.test_conversation import Recorder, make_engine
    from voice.audio import SAMPLE_RATE, ArraySource
    from voice.endpoint import Endpointer
    from voice.playback import WavFileSink
    from voice.tts import Voices

    whisper_with_prompt.language = "zh"
    sounds = [NON_SPEECH[name]() for name in ("white-noise", "pink-noise", "hum-50Hz", "cough", "door-slam")]
    audio = np.concatenate([x for s in sounds for x in (s, pause(1.5))])
    rec = Recorder()
    loop = Conversation(
        Session(make_engine(demo_kb, site)),
        whisper_with_prompt,
        Voices({}),
        WavFileSink(None, SAMPLE_RATE),
        EnergyVAD(rms=0.01),
        Endpointer(),
        None,
        rec,
    )
    results = asyncio.run(loop.run(ArraySource(audio)))
    assert len(results) >= len(sounds) - 1  # the VAD did make turns of them (a cough may pass as too short)
    assert [r.transcript.text for r in results if r.answer is not None] == []
    assert all(r.transcript.dropped for r in results), [
        (r.transcript.text, r.transcript.rejected_segments) for r in results
    ]


PIPER_EN = REAL / "en_US-joe-medium.onnx"


def test_the_round_trip_hears_what_the_english_voice_said(whisper_base) -> None:
    """Real Piper (joe) → real Whisper base: an answer with a time range, a date and a phone
    number comes back nearly word for word once the speakable step has said them as words;
    read raw, espeak-ng's front end says "nine zero zero" and drops the dash."""
    from appliance.bench_voice import round_trip
    from voice.tts import PiperTTS, Voices

    voices = Voices({"en": PiperTTS(PIPER_EN, "piper-en_US-joe-medium", "en")})
    text = "The centre is open Mon–Fri 9:00–17:00. Call 010-0000-1234 before 2026-10-15."
    trip = round_trip(text, "en", voices, whisper_base)
    assert trip is not None and trip.said.startswith("The centre is open Monday to Friday 9 a.m. to 5 p.m.")
    assert trip.error <= 0.25, (trip.said, trip.heard)  # Whisper base drops some of 0000; Piper samples noise
    assert round_trip("好的", "zh", Voices({}), whisper_base) is None  # no voice for the language: nothing to check


def test_a_turn_is_encoded_once_though_its_language_is_identified_first(whisper_base, shared_data: Path) -> None:
    from voice.audio import read_audio

    audio = read_audio(shared_data / "speech" / "zh_paddlespeech.wav", max_seconds=60)
    memo = whisper_base._model.encode
    hits = memo.hits
    t = whisper_base.transcribe(audio)
    assert memo.hits == hits + 1  # the decode reused the identification's encoder pass
    forced = whisper_base.transcribe(np.concatenate([audio, np.zeros(160, np.float32)]), language="zh")
    assert t.language == "zh" and t.text == forced.text  # the same words as a decode encoded anew
