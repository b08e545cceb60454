"""Audio output: sentence streaming, speakable text, playback bookkeeping, echo gating, TTS voices."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from tests.scripted import burst
from voice.chunker import SentenceChunker
from voice.echo import EchoGate
from voice.playback import Clip, Playback, SimulatedSpeaker
from voice.speakable import speakable
from voice.tts import EspeakTTS, PiperTTS, TTSError


def stream(text: str, step: int, **kw) -> list[str]:
    chunker = SentenceChunker(**kw)
    out: list[str] = []
    for i in range(0, len(text), step):
        out += chunker.feed(text[i : i + step])
    return out + list(chunker.flush())


@pytest.mark.parametrize("step", [1, 3, 1000])
def test_chunker_cuts_at_sentences_whatever_the_fragment_size(step: int) -> None:
    text = "您好，社保卡丢了要先挂失[1]。费用是3.5元，电话010-0000-1234！Bring your ID. Then wait 1,000 days"
    pieces = stream(text, step)
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")
    assert "费用是3.5元，电话010-0000-1234！" in pieces  # no cut inside 3.5 or the phone number
    assert "Bring your ID." in pieces and pieces[-1] == "Then wait 1,000 days"


def test_first_clause_is_released_early() -> None:
    pieces = stream("社保卡丢了的话，请先打电话挂失，然后去窗口补办。", 1)
    assert pieces[0] == "社保卡丢了的话，"  # spoken while the rest is generated
    assert pieces[1] == "请先打电话挂失，然后去窗口补办。"  # later clauses wait for the sentence end


def test_list_numbers_and_long_runs() -> None:
    assert stream("办理步骤：1. 先挂失；2. 再补办。", 2, first_min_chars=100) == [
        "办理步骤：1. 先挂失；",
        "2. 再补办。",
    ]
    long = "这是一个很长的句子，" * 10
    pieces = stream(long, 5, max_chars=30)
    assert all(len(p) <= 30 for p in pieces) and "".join(pieces) == long


def test_speakable_reads_numbers_as_digits_and_drops_marks() -> None:
    assert speakable("请拨打010-0000-1234[1]，费用3.5元。") == "请拨打零幺零，零零零零，幺二三四，费用3.5元。"
    assert speakable("《居住证办理》**注意**") == "居住证办理注意"
    assert speakable("Call 12345 [2].", "en") == "Call 1 2 3 4 5."


def test_spoken_pieces_join_with_the_space_english_needs() -> None:
    from voice.playback import join_pieces

    assert join_pieces(["Sorry,", "I could not find it.", "Please ask the staff."]) == (
        "Sorry, I could not find it. Please ask the staff."
    )
    assert join_pieces(["社保卡丢了，", "请先挂失。", "Call 12333."]) == "社保卡丢了，请先挂失。Call 12333."
    assert join_pieces([]) == ""


@pytest.mark.parametrize(
    ("text", "lang", "said"),
    [  # opening hours as the demo guides write them: no digit strings, a "to" for each dash
        ("周一至周五8:30–12:00、13:30–17:00", "zh", "周一至周五8点半至12点、13点半至17点"),
        ("Mon–Fri 9:00–17:00: 010-0000-2345", "en", "Monday to Friday 9 a.m. to 5 p.m.: 0 1 0, 0 0 0 0, 2 3 4 5"),
        ("7:00–9:00 and 18:05-20:00; 12:00, 0:00", "en", "7 a.m. to 9 a.m. and 6:05 p.m. to 8 p.m.; 12 noon, midnight"),
        ("更新：2026-10-15", "zh", "更新：2026年10月15日"),
        ("updated: 2026-10-15", "en", "updated: October 15, 2026"),
        ("每人每月100–500元，1-3个工作日", "zh", "每人每月100至500元，1至3个工作日"),
        ("比例为20%（其中8.5%记入个人账户）", "zh", "比例为百分之20（其中百分之8.5记入个人账户）"),
        ("The fee is ¥20, 20% off", "en", "The fee is 20 yuan, 20 percent off"),
        ("6234-5678或12333", "zh", "六二三四，五六七八或幺二三三三"),  # a phone number is no range
        ("第12-1号", "zh", "第12-1号"),  # a falling pair is no range either
    ],
)
def test_speakable_says_times_dates_ranges_and_symbols(text: str, lang: str, said: str) -> None:
    assert speakable(text, lang) == said


# --- playback ---------------------------------------------------------------------------------------


def test_playback_tracks_what_was_heard_and_stops_at_once() -> None:
    pb = Playback(16000)
    pb.play(Clip(1, "第一句。", np.ones(1000, np.float32)))
    pb.play(Clip(1, "第二句很长。", np.ones(4000, np.float32)))
    assert pb.is_playing()
    t = time.monotonic()
    block = pb.read(3000, t)
    assert block.sum() == 3000 and pb.first_audio(1) == t
    pb.stop()
    assert not pb.is_playing()
    assert not pb.read(512).any()  # the very next block is silent
    assert pb.silenced_at is not None
    assert pb.heard(1) == "第一句。第二句…"  # 2000 of 4000 samples of a 6-character piece: half of it


def test_reference_returns_what_was_played_at_16k() -> None:
    pb = Playback(22050)
    tone = np.sin(2 * np.pi * 500 * np.arange(22050) / 22050).astype(np.float32)
    pb.play(Clip(1, "x", tone))
    t0 = 100.0
    for i in range(0, 22050, 512):
        pb.read(512, t0 + i / 22050)
    ref = pb.reference(t0 + 0.25, t0 + 0.5)
    assert ref.size == 4000
    assert np.sqrt(np.mean(ref**2)) == pytest.approx(np.sqrt(0.5), rel=0.05)
    assert not pb.reference(t0 + 5, t0 + 5.1).any()


def test_simulated_speaker_plays_in_real_time() -> None:
    sp = SimulatedSpeaker(16000, block=320)
    try:
        sp.play(Clip(1, "x", np.full(8000, 0.5, np.float32)))  # 0.5 s
        t = time.monotonic()
        while sp.is_playing() and time.monotonic() - t < 3:
            time.sleep(0.01)
        elapsed = time.monotonic() - t
    finally:
        sp.close()
    assert 0.4 < elapsed < 1.0
    assert sp.heard(1) == "x"


# --- echo gating ---------------------------------------------------------------------------------------


def test_echo_gate_tells_the_speaker_from_the_resident() -> None:
    gate = EchoGate(max_delay_ms=250)
    played = burst(0.5, seed=1)
    window = played[:4512]
    for delay in (0, 800, 3000):  # 0, 50 and 190 ms
        echo = 0.3 * window[delay : delay + 512]
        assert gate.is_echo(echo, window)
    resident = burst(0.1, seed=9)[:512]
    assert not gate.is_echo(resident, window)
    assert not gate.is_echo(resident + 0.1 * window[800:1312], window)  # resident louder than the echo
    assert not gate.is_echo(0.3 * window[800:1312], np.zeros(4512, np.float32))  # nothing played: not echo


# --- voices ---------------------------------------------------------------------------------------------


def test_piper_voice_through_piper_tts(tmp_path: Path) -> None:
    from models.tiny_piper import write_tiny_piper_voice

    onnx = write_tiny_piper_voice(tmp_path, "zh")
    voice = PiperTTS(onnx, "tiny", "zh", length_scale=1.0)
    short = voice.synthesize("您好。")
    long = voice.synthesize("您好，社保卡挂失请带身份证。然后去窗口补办。")
    assert voice.sample_rate == 22050 and short.dtype == np.float32
    assert 0 < short.size < long.size and np.abs(long).max() <= 1.0
    assert voice.synthesize("  ").size == 0
    slow = PiperTTS(onnx, "tiny", "zh", length_scale=2.0).synthesize("您好。")
    assert slow.size == pytest.approx(2 * short.size, rel=0.1)


def test_piper_voice_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(TTSError, match="onnx.json"):
        PiperTTS(tmp_path / "none.onnx", "x", "zh")
    (tmp_path / "bad.onnx").write_bytes(b"not onnx")
    (tmp_path / "bad.onnx.json").write_text("{}")
    with pytest.raises(TTSError, match="cannot load"):
        PiperTTS(tmp_path / "bad.onnx", "x", "zh")


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (scripts/setup installs it)")
def test_espeak_fallback_speaks_both_languages() -> None:
    for lang, text in (("zh", "您好，请带身份证。"), ("en", "Please bring your ID card.")):
        audio = EspeakTTS(lang).synthesize(text)
        assert audio.size > 0.5 * 22050 and np.sqrt(np.mean(audio**2)) > 0.01


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (scripts/setup installs it)")
def test_espeak_reads_chinese_as_mandarin_not_as_english_letters() -> None:
    """espeak-ng's plain ``cmn`` voice spells Chinese as pinyin in English letters on some versions;
    the phonemes of the chosen voice must stay Mandarin (no switch to "(en)")."""
    voice = EspeakTTS("zh").voice
    phonemes = subprocess.run(
        ["espeak-ng", "-q", "-x", "-v", voice, speakable("您好，请带身份证，8:30–17:00，20%。")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert phonemes.strip() and "(en)" not in phonemes, phonemes


def test_loader_falls_back_and_names_the_install_command(settings) -> None:
    from models.loader import load_voices
    from models.store import ModelStore

    voices = load_voices(settings, ModelStore(settings.models_path))
    assert any("kiosk models pull piper-zh_CN-huayan-medium" in n for n in voices.notes)
    if shutil.which("espeak-ng"):
        assert isinstance(voices.for_lang("zh"), EspeakTTS)
    no_espeak = settings.model_copy(update={"tts": settings.tts.model_copy(update={"espeak_fallback": False})})
    voices = load_voices(no_espeak, ModelStore(settings.models_path))
    assert voices.for_lang("zh") is None and all("text only" in n for n in voices.notes)


def test_finished_turns_release_their_audio() -> None:
    """A kiosk runs for days: finished turns keep no audio, and only the last turns' bookkeeping."""
    from voice.playback import KEEP_TURNS

    pb = Playback(16000)
    for turn_id in range(1, KEEP_TURNS + 10):
        pb.play(Clip(turn_id, "x", np.ones(100, np.float32)))
        pb.read(100, float(turn_id))
        pb.forget(turn_id)
    assert len(pb._turns) == KEEP_TURNS
    assert all(not t.clips for t in pb._turns.values())
    assert pb.first_audio(KEEP_TURNS + 9) == float(KEEP_TURNS + 9) and pb.first_audio(1) is None
