"""Audio input: WAV reading and resampling, Silero VAD on real recordings, endpointing, bad input."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voice.audio import FRAME_SAMPLES, SAMPLE_RATE, ArraySource, AudioError, Frame, WavFileSource, read_audio
from voice.endpoint import EndpointConfig, Endpointer, SpeechDiscarded, SpeechStarted, Utterance
from voice.vad import SileroVAD

SPEECH = ("zh_funasr_example.wav", "zh_aishell_BAC009S0724W0121.wav", "en_jfk.wav", "zh_living_room_light.wav")


@pytest.fixture(scope="module")
def vad() -> SileroVAD:
    return SileroVAD()


def frames_of(source) -> list[Frame]:
    async def collect():
        return [f async for f in source.frames()]

    return asyncio.run(collect())


def endpoint(audio: np.ndarray, vad: SileroVAD, config: EndpointConfig | None = None) -> list:
    """Run real VAD + endpointer over an array; return the events."""
    vad.reset()
    ep = Endpointer(config)
    events = []
    for frame in frames_of(ArraySource(audio)):
        events += ep.process(frame, vad(frame.samples))
    return events + ep.flush(len(audio) / SAMPLE_RATE)


def utterances(events) -> list[Utterance]:
    return [e for e in events if isinstance(e, Utterance)]


# --- reading and resampling -----------------------------------------------------------------


def test_resampling_keeps_duration_and_pitch(tmp_path: Path) -> None:
    """A 440 Hz stereo tone at 44.1 kHz becomes a 440 Hz mono tone at 16 kHz of the same length."""
    t = np.arange(int(44100 * 1.5)) / 44100
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    sf.write(tmp_path / "tone.wav", np.stack([tone, tone], axis=1), 44100)
    audio = read_audio(tmp_path / "tone.wav")
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.size - 1.5 * SAMPLE_RATE) <= 2
    spectrum = np.abs(np.fft.rfft(audio[4000:20000]))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / 16000
    assert abs(peak_hz - 440) < 3


@pytest.mark.parametrize("rate,channels", [(8000, 1), (22050, 1), (48000, 2), (16000, 3)])
def test_file_source_frames_any_rate_and_channels(tmp_path: Path, rate: int, channels: int) -> None:
    seconds = 1.0
    data = np.random.default_rng(0).uniform(-0.1, 0.1, (int(rate * seconds), channels)).astype(np.float32)
    path = tmp_path / f"x{rate}.wav"
    sf.write(path, data, rate, subtype="PCM_16")
    frames = frames_of(WavFileSource(path, tail_silence_ms=0))
    assert all(f.samples.shape == (FRAME_SAMPLES,) and f.samples.dtype == np.float32 for f in frames)
    assert abs(len(frames) - seconds * SAMPLE_RATE / FRAME_SAMPLES) <= 1.5
    assert [f.index for f in frames] == list(range(len(frames)))


def test_file_source_appends_trailing_silence(tmp_path: Path) -> None:
    sf.write(tmp_path / "a.wav", np.full(16000, 0.2, np.float32), 16000)
    frames = frames_of(WavFileSource(tmp_path / "a.wav", tail_silence_ms=640))
    assert len(frames) == 32 + 20  # 1 s of audio (31.25 frames, padded) + 640 ms of silence
    assert not np.any(frames[-1].samples)


def test_ten_minute_file_is_streamed(tmp_path: Path) -> None:
    """A 10-minute file is read block by block and its frames cover the whole duration."""
    path = tmp_path / "long.wav"
    with sf.SoundFile(path, "w", 16000, 1, subtype="PCM_16") as f:
        for _ in range(600):
            f.write(np.zeros(16000, np.float32))
    source = WavFileSource(path, tail_silence_ms=0)
    assert source.duration_s == pytest.approx(600)
    assert sum(1 for _ in source._chunks()) == 600 * 16000 // FRAME_SAMPLES


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "cannot read"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt garbage that is not audio" * 3, "cannot read"),
        (bytes(range(256)) * 40, "cannot read"),
    ],
)
def test_unreadable_files_are_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=message):
        WavFileSource(path)
    with pytest.raises(AudioError, match=message):
        read_audio(path)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="no audio samples"):
        WavFileSource(tmp_path / "empty.wav")
    with pytest.raises(AudioError, match="not found"):
        WavFileSource(tmp_path / "nowhere.wav")
    with pytest.raises(AudioError, match="limit"):
        sf.write(tmp_path / "two.wav", np.zeros(32000, np.float32), 16000)
        read_audio(tmp_path / "two.wav", max_seconds=1)


def test_truncated_file_is_read_as_far_as_it_goes(tmp_path: Path) -> None:
    """A WAV cut off mid-way (a copy interrupted) yields the audio it has, not a crash."""
    sf.write(tmp_path / "full.wav", np.full(32000, 0.1, np.float32), 16000, subtype="PCM_16")
    data = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2])
    try:
        audio = read_audio(tmp_path / "cut.wav")
    except AudioError as exc:  # some libsndfile versions refuse the header's length outright
        assert "cut.wav" in str(exc)
    else:
        assert 0 < audio.size <= 32000


def test_clipping_is_measured(tmp_path: Path) -> None:
    square = np.sign(np.sin(2 * np.pi * 200 * np.arange(16000) / 16000)).astype(np.float32)
    sf.write(tmp_path / "clipped.wav", square, 16000, subtype="FLOAT")
    source = WavFileSource(tmp_path / "clipped.wav")
    frames_of(source)
    assert source.clipped_fraction > 0.9


# --- VAD and endpointing on real recordings ---------------------------------------------------------


@pytest.mark.shared_data
@pytest.mark.parametrize("name", SPEECH)
def test_vad_finds_speech_and_trims_padding(shared_data: Path, vad: SileroVAD, name: str) -> None:
    """Speech padded with 1.5 s of silence before and 1.5 s after: one turn, starting where the
    speech starts (padding trimmed, pre-roll kept) and ending after the trailing silence."""
    speech = read_audio(shared_data / "speech" / name)
    pad = np.zeros(int(1.5 * SAMPLE_RATE), np.float32)
    audio = np.concatenate([pad, speech, pad])
    cfg = EndpointConfig(end_silence_ms=800, max_utterance_s=30)  # the recordings pause inside sentences
    events = endpoint(audio, vad, cfg)
    turns = utterances(events)
    assert len(turns) >= 1
    first, last = turns[0], turns[-1]
    assert 1.5 <= first.t_start < 1.5 + speech.size / SAMPLE_RATE
    assert last.t_speech_end <= 1.5 + speech.size / SAMPLE_RATE + 0.2
    assert last.reason == "silence"
    assert 800 - 1e-6 <= last.endpoint_ms <= 800 + 64
    # pre-roll: the utterance holds 300 ms before the first speech frame
    assert first.audio.size >= (first.speech_ms + 300) / 1000 * SAMPLE_RATE
    # the padding is not in the utterance: it is shorter than the padded audio by most of the padding
    assert sum(u.audio.size for u in turns) < audio.size - 1.5 * SAMPLE_RATE


@pytest.mark.shared_data
def test_vad_on_44k_stereo_file_through_resampling(shared_data: Path, vad: SileroVAD) -> None:
    path = shared_data / "speech" / "en_turn_on_the_living_room_lamp.wav"
    info = sf.info(path)
    assert info.samplerate == 44100 and info.channels == 2
    ep = Endpointer()
    vad.reset()
    events = []
    for frame in frames_of(WavFileSource(path)):
        events += ep.process(frame, vad(frame.samples))
    turns = utterances(events)
    assert len(turns) == 1
    assert 0.3 < turns[0].t_start < 1.0
    assert 1000 < turns[0].speech_ms < 2500  # "turn on the living room lamp"


@pytest.mark.shared_data
def test_endpoint_fires_after_trailing_silence(shared_data: Path, vad: SileroVAD) -> None:
    """The turn ends end_silence_ms after the last speech frame, for each configured value."""
    speech = read_audio(shared_data / "speech" / "zh_living_room_light.wav")
    audio = np.concatenate([speech, np.zeros(2 * SAMPLE_RATE, np.float32)])
    for silence in (400, 600, 1000):
        (turn,) = utterances(endpoint(audio, vad, EndpointConfig(end_silence_ms=silence)))
        assert silence - 1e-6 <= turn.endpoint_ms < silence + 64


def test_noise_and_silence_make_no_turn(vad: SileroVAD) -> None:
    rng = np.random.default_rng(1)
    white = rng.normal(0, 0.05, 5 * SAMPLE_RATE).astype(np.float32)
    hum = (0.3 * np.sin(2 * np.pi * 50 * np.arange(5 * SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)
    clipped_noise = np.clip(rng.normal(0, 2.0, 3 * SAMPLE_RATE), -1, 1).astype(np.float32)
    for audio in (np.zeros(5 * SAMPLE_RATE, np.float32), white, hum, clipped_noise):
        assert utterances(endpoint(audio, vad)) == []


def test_vad_rejects_wrong_frame_size(vad: SileroVAD) -> None:
    with pytest.raises(ValueError, match="512"):
        vad(np.zeros(480, np.float32))


# --- the endpointer's logic, with scripted probabilities ---------------------------------------------


def run_probs(probs: list[float], config: EndpointConfig | None = None, speaking: bool = False) -> list:
    ep = Endpointer(config)
    ep.set_speaking(speaking)
    events = []
    for i, p in enumerate(probs):
        samples = np.full(FRAME_SAMPLES, i, np.float32)  # frame i holds the value i
        events += ep.process(Frame(samples, i * FRAME_SAMPLES / SAMPLE_RATE, i), p)
    return events


def test_hysteresis_keeps_speech_between_thresholds() -> None:
    probs = [0.0] * 20 + [0.9] * 10 + [0.4] * 30 + [0.1] * 25
    (start, turn) = run_probs(probs)
    assert isinstance(start, SpeechStarted) and start.t == pytest.approx(20 * 0.032)
    assert isinstance(turn, Utterance)
    assert turn.speech_ms == pytest.approx(40 * 32)  # the 0.4 frames count as speech
    # pre-roll: round(300 / 32) = 9 frames before the start (values 11..19)
    assert turn.audio[0] == 11 and turn.audio.size == (9 + 40 + 19) * FRAME_SAMPLES


def test_short_speech_is_discarded_and_long_speech_cut() -> None:
    events = run_probs([0.0] * 5 + [0.9] * 5 + [0.0] * 30)
    assert isinstance(events[-1], SpeechDiscarded) and events[-1].speech_ms == pytest.approx(160)
    cfg = EndpointConfig(max_utterance_s=2.0)
    events = run_probs([0.9] * 200, cfg)
    cuts = [e for e in events if isinstance(e, Utterance)]
    assert cuts and all(u.reason == "max_length" for u in cuts)
    assert cuts[0].speech_ms == pytest.approx(round(2000 / 32) * 32)


def test_speaking_raises_the_start_threshold() -> None:
    probs = [0.7] * 20 + [0.0] * 30
    assert utterances(run_probs(probs)) != []
    assert run_probs(probs, speaking=True) == []


def test_end_of_stream_flushes_the_turn() -> None:
    ep = Endpointer()
    for i in range(20):
        ep.process(Frame(np.zeros(FRAME_SAMPLES, np.float32), i * 0.032, i), 0.9)
    (turn,) = ep.flush(0.64)
    assert turn.reason == "end_of_stream"


def test_invalid_thresholds_are_refused() -> None:
    with pytest.raises(ValueError):
        EndpointConfig(start_threshold=0.3, end_threshold=0.5)


def test_the_vad_settings_and_the_endpointer_hold_the_same_fields_passed_by_name() -> None:
    import dataclasses

    from appliance.bootstrap import endpoint_config
    from appliance.config import VadSettings
    from voice.endpoint import EndpointConfig

    assert list(VadSettings.model_fields) == [f.name for f in dataclasses.fields(EndpointConfig)]
    defaults = EndpointConfig()
    assert endpoint_config(VadSettings()) == defaults  # one set of defaults
    tuned = endpoint_config(VadSettings(end_silence_ms=900, pre_roll_ms=120))
    assert tuned.end_silence_ms == 900 and tuned.pre_roll_ms == 120 and tuned.min_speech_ms == defaults.min_speech_ms
