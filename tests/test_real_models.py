"""The answer engine with a real quantised LLM (Qwen2.5-Coder 0.5B instruct, Q4_K_M GGUF), as
``../shared/models/get-real-models`` lays it out; skipped, naming that command, when it is absent.

The tiny GGUF of the other tests writes gibberish that the grounding gate always refuses; this one
writes real answers, so the gate, the citation check and the extractive fallback meet real text.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from appliance.answer.engine import AnswerEngine
from appliance.knowledge.retrieval import Retriever
from appliance.triage import Triage

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
