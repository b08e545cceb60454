"""The tiny Piper voice loads and synthesises through the real piper-tts code path."""

from __future__ import annotations

import json
import logging
import wave
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from piper import AudioChunk, PiperVoice, SynthesisConfig

from models.tiny_piper import write_tiny_piper_voice

ZH = "您好，社保卡挂失请带身份证。"
EN = "Hello. Please bring your ID card."
TEXTS = {"zh": ZH, "en": EN}


@pytest.fixture(scope="module")
def voice_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("piper")
    return {lang: write_tiny_piper_voice(folder, lang) for lang in TEXTS}


@pytest.fixture(scope="module")
def voices(voice_files: dict[str, Path]) -> dict[str, PiperVoice]:
    return {lang: PiperVoice.load(path) for lang, path in voice_files.items()}


def _audio(chunks: list[AudioChunk]) -> np.ndarray:
    return np.concatenate([c.audio_int16_array for c in chunks])


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


def test_files_are_shaped_like_the_installed_voices(voice_files: dict[str, Path]) -> None:
    zh, en = voice_files["zh"], voice_files["en"]
    assert (zh.name, en.name) == ("zh_CN-tiny-medium.onnx", "en_US-tiny-medium.onnx")
    for path, espeak_voice in ((zh, "cmn"), (en, "en-us")):
        config = json.loads(Path(f"{path}.json").read_text(encoding="utf-8"))
        assert config["espeak"] == {"voice": espeak_voice}
        assert config["phoneme_type"] == "espeak"
        assert config["audio"]["sample_rate"] == 22050
        assert config["num_speakers"] == 1 and config["num_symbols"] == 256
        assert set(config["inference"]) == {"noise_scale", "length_scale", "noise_w"}
        assert {"_", "^", "$", " ", "ɕ", "ʂ", "ɹ", "ˈ", "5"} <= set(config["phoneme_id_map"])
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        inputs = {i.name: (i.type, i.shape) for i in session.get_inputs()}
        assert inputs == {
            "input": ("tensor(int64)", ["batch_size", "phonemes"]),
            "input_lengths": ("tensor(int64)", ["batch_size"]),
            "scales": ("tensor(float)", [3]),
        }
        [output] = session.get_outputs()
        assert (output.name, output.type, output.shape[1:]) == ("output", "tensor(float)", [1, "time"])


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_synthesises_audible_int16_at_the_voice_rate(
    voices: dict[str, PiperVoice], lang: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="piper"):
        chunks = list(voices[lang].synthesize(TEXTS[lang]))
    assert "Missing phoneme" not in caplog.text  # the id map covers what eSpeak emits
    assert chunks and all((c.sample_rate, c.sample_width, c.sample_channels) == (22050, 2, 1) for c in chunks)
    audio = _audio(chunks)
    assert audio.dtype == np.int16
    assert _rms(audio) > 5000
    assert 0.1 < len(audio) / 22050 < 10
    assert all(len(c.audio_float_array) == 256 * len(c.phoneme_ids) for c in chunks)


def test_chunks_follow_piper_sentence_splitting(voices: dict[str, PiperVoice]) -> None:
    cases = {"zh": [(ZH, 1), ("您好。请带身份证！", 2)], "en": [(EN, 2), ("Hello, world", 1)]}
    for lang, texts in cases.items():
        for text, sentences in texts:
            assert len(voices[lang].phonemize(text)) == sentences, text
            assert len(list(voices[lang].synthesize(text))) == sentences, text


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_longer_text_gives_longer_audio(voices: dict[str, PiperVoice], lang: str) -> None:
    short = _audio(list(voices[lang].synthesize(TEXTS[lang])))
    longer = _audio(list(voices[lang].synthesize(f"{TEXTS[lang]} {TEXTS[lang]}")))
    assert len(longer) > 1.8 * len(short)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_length_scale_two_doubles_the_duration(voices: dict[str, PiperVoice], lang: str) -> None:
    normal = _audio(list(voices[lang].synthesize(TEXTS[lang])))
    slow = _audio(list(voices[lang].synthesize(TEXTS[lang], syn_config=SynthesisConfig(length_scale=2.0))))
    assert len(slow) / len(normal) == pytest.approx(2.0, rel=0.05)


def test_wav_output_and_custom_rate_and_name(tmp_path: Path) -> None:
    path = write_tiny_piper_voice(tmp_path / "voices", "en", sample_rate=16000, name="custom")
    assert path == tmp_path / "voices" / "custom.onnx" and Path(f"{path}.json").is_file()
    voice = PiperVoice.load(path, config_path=f"{path}.json")
    with wave.open(str(tmp_path / "out.wav"), "wb") as wav:
        voice.synthesize_wav(EN, wav)
    with wave.open(str(tmp_path / "out.wav"), "rb") as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (16000, 2, 1)
        assert wav.getnframes() > 0


def test_rejects_unknown_language_and_bad_rate(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="language"):
        write_tiny_piper_voice(tmp_path, "fr")
    with pytest.raises(ValueError, match="sample_rate"):
        write_tiny_piper_voice(tmp_path, "en", sample_rate=0)
