"""The real model code paths end to end: tiny Whisper in faster-whisper, tiny Piper in piper-tts, the
tiny GGUF in llama-cpp-python, Silero VAD, installed from the tiny models archive and run by the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from models.tiny import TINY_SETTINGS_TOML, write_tiny_models_archive
from models.tiny_whisper import write_tiny_whisper
from voice.asr import Guard, WhisperASR, build_initial_prompt, prompt_share, repetition

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the tiny models imported through `kiosk models import`, and a config using them."""
    root = tmp_path_factory.mktemp("tiny-site")
    archive = write_tiny_models_archive(root / "tiny.tar.gz")
    (root / "kiosk.toml").write_text(f'data_dir = "{root / "data"}"\n\n' + TINY_SETTINGS_TOML, encoding="utf-8")
    kiosk(root, "models", "import", str(archive))
    return root


def kiosk(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root), "KIOSK_CONFIG": str(root / "kiosk.toml")}
    proc = subprocess.run(
        [sys.executable, "-m", "appliance", *args], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"kiosk {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_whisper_asr_simplifies_and_guards(tmp_path: Path) -> None:
    """The real faster-whisper path: Traditional output converted to Simplified; a hallucination dropped."""
    folder = write_tiny_whisper(tmp_path / "w", "我社保卡掉了怎麼辦")
    prompt = build_initial_prompt(["社会保障卡挂失与补办", "居住证办理"], ["共有产权保障住房"])
    asr = WhisperASR(folder, "tiny", language="auto", threads=1, initial_prompt=prompt)
    noise = np.random.default_rng(0).normal(0, 0.1, 32000).astype(np.float32)
    t = asr.transcribe(noise)
    assert t.text == "我社保卡掉了怎么办" and t.dropped is None
    assert t.language == "zh" and t.language_prob > 0.5 and t.duration_ms > 0
    assert asr.compute_type == "int8" and asr.device == "cpu"

    credits = write_tiny_whisper(tmp_path / "h", "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目")
    t = WhisperASR(credits, "tiny", threads=1).transcribe(noise)
    assert t.text == "" and "hallucination" in (t.dropped or "")
    assert t.rejected_segments and "点赞" in t.rejected_segments[0][0]


def test_guard_rules() -> None:
    g = Guard()
    assert g.reject("你好", no_speech_prob=0.9, avg_logprob=-1.5, compression_ratio=1.0)
    assert g.reject("你好", no_speech_prob=0.9, avg_logprob=-0.2, compression_ratio=1.0) is None
    assert g.reject("的的的的的的的的", 0.0, -0.1, 3.0)
    assert g.reject("字幕由Amara.org社区提供", 0.0, -0.1, 1.0)
    assert g.reject("……", 0.0, -0.1, 1.0) == "no words"
    assert g.reject("我想办居住证", 0.1, -0.3, 1.2) is None


def test_a_short_loop_is_dropped_though_its_compression_ratio_is_low() -> None:
    g = Guard()
    # real Whisper base on a synthetic cough: cut by the token bound, compression ratio 1.7
    cough = "证明开具、房屋漏水与邻里纸文化,房屋漏水与邻里纸文化,房屋漏水与邻里纸文"
    assert repetition(cough) == ("房屋漏水与邻里纸文化", 2, pytest.approx(29 / 33))
    assert "repetitive" in g.reject(cough, 0.63, -0.51, 1.73)
    assert "repetitive" in g.reject("剧剧剧剧剧剧剧剧", 0.9, -0.2, 1.5)
    assert "repetitive" in g.reject("thank you thank you thank you", 0.3, -0.3, 1.5)
    for speech in ("我想问我想问，社保卡怎么补办", "no, no, no", "谢谢谢谢", "010-0000-0000", "好好好"):
        assert g.reject(speech, 0.1, -0.3, 1.2) is None, speech


def test_a_copy_of_the_vocabulary_prompt_is_dropped_unless_it_sounds_like_speech() -> None:
    g, prompt = Guard(), "社区服务咨询：社会保障卡挂失与补办、居住证办理、共有产权保障住房申请。"
    # what real Whisper base wrote for a door slam and for 50 Hz hum (no_speech_prob 0.74-0.98)
    assert "echo" in g.reject(
        "社区服务咨询:社会保障卡挂失与补办、居住证办理", 0.85, -0.3, 1.1, prompt=prompt, language="zh"
    )
    assert "echo" in g.reject("社会保障卡挂失与补办", 0.2, -0.3, 1.1, prompt=prompt, language="en")  # Han under en
    # a resident who says just a service's name, clearly (speech-like no_speech_prob), is heard
    assert g.reject("社会保障卡挂失与补办", 0.1, -0.3, 1.1, prompt=prompt, language="zh") is None
    # a question that shares a few words with the prompt is not a copy
    assert g.reject("我的社会保障卡丢了，要去哪里补办呀", 0.7, -0.3, 1.1, prompt=prompt, language="zh") is None
    assert g.reject("社区服务咨询", 0.9, -0.3, 1.1) is None  # no prompt given: no echo to find
    # two of the prompt's items strung together, however confident: the prompt read back
    assert "2 of its items" in g.reject("居住证办理、社会保障卡挂失", 0.1, -0.3, 1.1, prompt=prompt, language="zh")
    assert prompt_share("居住证办理", prompt) == (1.0, 1) and prompt_share("", prompt) == (0.0, 0)
    assert prompt_share("我想办居住证", prompt) == (pytest.approx(3 / 6), 1)  # no run across 补办、居住证


def test_prompt_is_capped_and_deduplicated() -> None:
    prompt = build_initial_prompt(["居住证办理"] * 3 + [f"服务事项{i}" for i in range(100)], max_chars=60)
    assert prompt.startswith("社区服务咨询：居住证办理、服务事项0") and len(prompt) <= 61
    assert prompt.count("居住证办理") == 1
    assert build_initial_prompt([]) == ""


@pytest.mark.slow
def test_kiosk_run_no_ui_end_to_end(installed: Path, shared_data: Path, tmp_path: Path) -> None:
    """The issue's command, with the tiny models: transcript, answer, sources, timings, answer.wav."""
    out = tmp_path / "answer.wav"
    wav = shared_data / "speech" / "zh_funasr_question.wav"
    proc = kiosk(
        installed, "run", "--no-ui", "--audio-in", str(wav), "--audio-out", str(out), "--json", "--robot", "sim"
    )
    turns = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert turns, proc.stdout + proc.stderr
    first = turns[0]
    assert first["transcript"] == "我社保卡掉了怎么办" and first["language"] == "zh"
    assert first["answer"]["mode"] == "answer"
    assert first["answer"]["sources"][0]["title"] == "社会保障卡挂失与补办"
    t = first["timings_ms"]
    assert t["endpoint"] <= t["asr"] <= t["first_audio"] <= t["total"]
    assert "first_token" in t  # the tiny GGUF ran (its gibberish was refused; the answer is extractive)
    assert first["answer"]["generator"] == "extractive" and first["answer"]["reason"] == "llm_uncited"
    audio, rate = sf.read(out)
    assert rate == 22050 and audio.size > rate and np.sqrt(np.mean(audio**2)) > 0.01
    assert "tiny-whisper" in proc.stderr and "Piper voice tiny-piper-zh" in proc.stderr
    body = [line.split("〕", 1)[1] for line in proc.stderr.splitlines() if "〔机器人〕" in line]
    assert body.index("face listening") < body.index("face thinking") < body.index("face speaking"), body


def test_run_without_asr_names_the_install_command(tmp_path: Path) -> None:
    (tmp_path / "kiosk.toml").write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    wav = tmp_path / "q.wav"
    sf.write(wav, np.zeros(16000, np.float32), 16000)
    proc = kiosk(tmp_path, "run", "--no-ui", "--audio-in", str(wav), check=False)
    assert proc.returncode == 2
    assert "kiosk models pull faster-whisper-small" in proc.stderr


def test_run_with_bad_audio_is_a_clear_error(installed: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF....WAVEjunk" * 10)
    proc = kiosk(installed, "run", "--no-ui", "--audio-in", str(bad), check=False)
    assert proc.returncode == 2 and "cannot read" in proc.stderr and "Traceback" not in proc.stderr


def test_silent_file_answers_nothing(installed: Path, tmp_path: Path) -> None:
    """Silence and noise reach neither ASR nor the engine: the parrot Whisper would otherwise 'hear' a question."""
    quiet = tmp_path / "quiet.wav"
    noise = np.random.default_rng(2).normal(0, 0.02, 5 * 16000).astype(np.float32)
    sf.write(quiet, noise, 16000)
    proc = kiosk(installed, "run", "--no-ui", "--audio-in", str(quiet), "--json")
    assert [line for line in proc.stdout.splitlines() if line.startswith("{")] == []
    assert "no speech found" in proc.stderr


def test_audio_devices_on_a_headless_machine(installed: Path) -> None:
    proc = kiosk(installed, "audio", "devices")
    assert "no audio devices found" in proc.stdout or "Hz" in proc.stdout


@pytest.mark.slow
def test_bench_voice_prints_figures(installed: Path, shared_data: Path) -> None:
    speech = installed / "speech"
    speech.mkdir(exist_ok=True)
    for name in ("zh_funasr_example.wav", "zh_paddlespeech.wav"):
        (speech / name).write_bytes((shared_data / "speech" / name).read_bytes())
    manifest = (shared_data / "speech" / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()
    (speech / "MANIFEST.tsv").write_text("\n".join([manifest[0], *(r for r in manifest if r.startswith("zh_"))]))
    proc = kiosk(
        installed,
        "bench",
        "voice",
        "--speech",
        str(speech),
        "--barge-in-trials",
        "1",
        "--no-llm",
        "--round-trips",
        "1",
        "--spoken-questions",
        "1",
        "--pauses",
        "1.2",
    )
    text = proc.stdout
    assert "zh_funasr_example.wav#1" in text and "overhead" in text and "first_text" in text
    assert "VAD:" in text and "ms per 32 ms frame" in text
    assert "barge-in trial 1:" in text
    assert "split as recorded: 0 of 2" in text and "split rate with pauses:" in text
    # the tiny Whisper hears its one phrase in everything: far from the manifest's transcripts
    rates = re.search(r"character error rate, zh recordings with a transcript: mean ([\d.]+) over 2", text)
    assert rates and float(rates.group(1)) > 0.5, text
    assert re.search(r"plain Whisper on the file \(own language detection, no prompt\): mean [\d.]+", text), text
    assert re.search(r"round trip, zh \(tiny-piper-zh\), \d+ answers: error rate median", text), text
    # the tiny voices speak tones, which Silero does not take for speech: the question makes no turn
    assert "held-out demo questions spoken by the voices" in text and "asked: 俺家娃是脑瘫" in text, text
    assert "zh question 1: no turn (the VAD found no speech" in text, text
    assert re.search(r"memory: resident \d+ MiB, peak \d+ MiB, with ASR tiny-whisper", text), text


class _FakeWhisper:
    """Stands in for faster_whisper.WhisperModel: a fixed language ranking, and the options it got."""

    def __init__(self, ranking: list[tuple[str, float]]):
        self.ranking, self.calls = ranking, []

    def detect_language(self, audio):
        return self.ranking[0][0], self.ranking[0][1], self.ranking

    def transcribe(self, audio, **options):
        from types import SimpleNamespace

        self.calls.append(options)
        seg = SimpleNamespace(text="hello", no_speech_prob=0.0, avg_logprob=-0.1, compression_ratio=1.0)
        return iter([seg]), SimpleNamespace(language=options["language"] or "ja", language_probability=0.9)


def _asr_with(model: _FakeWhisper, **attrs) -> WhisperASR:
    from opencc import OpenCC

    asr = WhisperASR.__new__(WhisperASR)
    asr._model, asr._t2s, asr.guard, asr.beam_size, asr.initial_prompt = model, OpenCC("t2s"), Guard(), 1, ""
    asr.name, asr.language, asr.languages = "fake", "site", ("zh", "en")
    for k, v in attrs.items():
        setattr(asr, k, v)
    return asr


def test_each_turns_language_is_one_of_the_sites() -> None:
    model = _FakeWhisper([("ja", 0.6), ("en", 0.3), ("zh", 0.1)])
    t = _asr_with(model).transcribe(np.zeros(48000, np.float32))
    assert model.calls[-1]["language"] == "en" and t.language == "en"
    assert t.language_prob == pytest.approx(0.75)  # 0.3 of the 0.4 the site's languages have
    _asr_with(model, language="auto").transcribe(np.zeros(16000, np.float32))
    assert model.calls[-1]["language"] is None  # auto: Whisper's own pick, any language
    _asr_with(model, languages=("zh",)).transcribe(np.zeros(16000, np.float32))
    assert model.calls[-1]["language"] == "zh"  # one site language: no identification
    assert _asr_with(_FakeWhisper([("ja", 1.0)])).identify(np.zeros(16000, np.float32)) == ("zh", 0.0)


def test_an_english_decode_gets_no_chinese_prompt() -> None:
    model = _FakeWhisper([("en", 0.9), ("zh", 0.1)])
    asr = _asr_with(model, initial_prompt="社会保障卡挂失与补办")
    asr.transcribe(np.zeros(16000, np.float32))
    assert model.calls[-1]["language"] == "en" and model.calls[-1]["initial_prompt"] is None
    asr = _asr_with(_FakeWhisper([("zh", 0.9)]), initial_prompt="社会保障卡挂失与补办")
    asr.transcribe(np.zeros(16000, np.float32))
    assert asr._model.calls[-1]["initial_prompt"] == "社会保障卡挂失与补办"


def test_the_encoder_memo_answers_only_the_same_input() -> None:
    from voice.asr import EncoderMemo

    calls: list[np.ndarray] = []
    memo = EncoderMemo(lambda f: calls.append(f) or float(f.sum()))
    a = np.ones((80, 3000), np.float32)
    assert memo(a) == memo(a.copy()) == 240000.0 and len(calls) == 1 and memo.hits == 1
    b = a.copy()
    b[0, -1] = 0.0  # one frame's value differs: encoded anew
    assert memo(b) == 239999.0 and len(calls) == 2


def test_decoding_is_bounded_by_the_length_of_the_audio() -> None:
    model = _FakeWhisper([("zh", 1.0)])
    asr = _asr_with(model)
    asr.transcribe(np.zeros(16000 * 2, np.float32))
    short = model.calls[-1]
    asr.transcribe(np.zeros(16000 * 10, np.float32))
    long = model.calls[-1]
    assert short["max_new_tokens"] < long["max_new_tokens"] <= 10 * 12 + 16
    asr.transcribe(np.zeros(16000 * 45, np.float32))  # a long turn: each 30 s window has its bound
    assert model.calls[-1]["max_new_tokens"] <= 216  # Whisper's 448-token context, half for the prompt
    assert len(short["temperature"]) <= 2  # at most one fallback decode
