"""The tiny Whisper (models.tiny_whisper) through the real faster-whisper: any audio gives the phrase."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("faster_whisper")
pytest.importorskip("ctranslate2")

from faster_whisper import WhisperModel  # noqa: E402
from faster_whisper.transcribe import Segment, TranscriptionInfo  # noqa: E402

from models.tiny_whisper import write_tiny_whisper  # noqa: E402

PHRASE = "我社保卡掉了怎麼辦"
PROMPT = "社会保障卡 居住证 共有产权保障住房"
SR = 16000


def _load(folder: Path) -> WhisperModel:
    # One thread: the model is tiny and CTranslate2's default thread pool only adds overhead.
    return WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=1)


def _noise(seconds: float) -> np.ndarray:
    return (np.random.default_rng(7).standard_normal(int(SR * seconds)) * 0.2).astype(np.float32)


def _tone(seconds: float) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * 440 * np.arange(int(SR * seconds)) / SR)).astype(np.float32)


def _transcribe(
    model: WhisperModel, audio: np.ndarray, **options: object
) -> tuple[str, list[Segment], TranscriptionInfo]:
    """The joined text, the segments and the info of a transcription without VAD."""
    generator, info = model.transcribe(audio, vad_filter=False, **options)
    segments = list(generator)
    return "".join(s.text for s in segments), segments, info


@pytest.fixture(scope="module")
def tiny_zh(tmp_path_factory: pytest.TempPathFactory) -> WhisperModel:
    return _load(write_tiny_whisper(tmp_path_factory.mktemp("tiny-whisper-zh")))


def test_files_and_size(tmp_path: Path) -> None:
    folder = write_tiny_whisper(tmp_path / "new" / "tiny-whisper")
    names = {p.name for p in folder.iterdir()}
    assert {"model.bin", "config.json", "vocabulary.json", "tokenizer.json", "preprocessor_config.json"} <= names
    assert sum(p.stat().st_size for p in folder.iterdir()) < 20_000_000
    model = _load(folder)
    assert model.model.is_multilingual
    assert model.model.num_languages == 100
    assert model.model.n_mels == 80


@pytest.mark.parametrize("audio", [_noise(3.0), _tone(1.0), _tone(30.0)], ids=["noise-3s", "tone-1s", "tone-30s"])
@pytest.mark.parametrize(
    "options",
    [{}, {"without_timestamps": True, "initial_prompt": PROMPT}, {"beam_size": 1, "initial_prompt": PROMPT}],
    ids=["default", "no-timestamps-prompt", "greedy-prompt"],
)
def test_any_audio_gives_the_phrase(tiny_zh: WhisperModel, audio: np.ndarray, options: dict) -> None:
    text, segments, info = _transcribe(tiny_zh, audio, language="zh", **options)
    assert text == PHRASE
    assert len(segments) == 1
    segment = segments[0]
    assert segment.temperature == 0.0  # no fallback: confident and not repetitive
    assert segment.avg_logprob > -0.1
    assert segment.no_speech_prob < 0.1
    if options.get("without_timestamps"):
        assert segment.start == 0.0
    else:  # <|0.00|> phrase <|1.00|>
        assert (segment.start, segment.end) == (0.0, 1.0)


def test_language_detection(tiny_zh: WhisperModel) -> None:
    for audio in (_noise(2.0), _tone(5.0)):
        text, segments, info = _transcribe(tiny_zh, audio)
        assert info.language == "zh"
        assert info.language_probability > 0.5
        assert text == PHRASE
        assert segments[0].no_speech_prob < 0.1


def test_other_phrases(tmp_path: Path) -> None:
    hallucination = "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目"
    model = _load(write_tiny_whisper(tmp_path / "zh", hallucination))
    assert _transcribe(model, _noise(4.0))[0] == hallucination
    assert _transcribe(model, _tone(2.0), without_timestamps=True, initial_prompt=PROMPT)[0] == hallucination

    english = "Hello, how can I help you today?"
    model = _load(write_tiny_whisper(tmp_path / "en", english, language="en"))
    text, segments, info = _transcribe(model, _noise(2.0))
    assert (text, info.language) == (english, "en")
    assert _transcribe(model, _tone(1.5), language="en", without_timestamps=True)[0] == english


def test_repeated_pieces(tmp_path: Path) -> None:
    phrase = "哈哈哈，好好好"  # every character repeats: the pieces are merged until unique
    model = _load(write_tiny_whisper(tmp_path, phrase))
    assert _transcribe(model, _noise(1.0))[0] == phrase
    assert _transcribe(model, _noise(1.0), without_timestamps=True)[0] == phrase


@pytest.mark.parametrize(
    ("phrase", "language"),
    [("", "zh"), ("   ", "zh"), ("a", "en"), ("哈" * 200, "zh"), (PHRASE, "xx")],
    ids=["empty", "blank", "one-byte", "repetitive", "bad-language"],
)
def test_unencodable_phrase_raises(tmp_path: Path, phrase: str, language: str) -> None:
    with pytest.raises(ValueError):
        write_tiny_whisper(tmp_path, phrase, language=language)
