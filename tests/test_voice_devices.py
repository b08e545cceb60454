"""Device code against a stand-in PortAudio (this machine has no sound card): device choice, the
capture callback's resampling and timestamps, and the playback callback feeding Playback."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import types

import numpy as np
import pytest

from voice.audio import FRAME_SAMPLES, AudioError
from voice.playback import Clip


class FakeStream:
    """Calls the callback from a thread, like PortAudio, in blocks of ``blocksize`` frames."""

    def __init__(self, *, device, samplerate, channels, dtype, blocksize, callback, source=None):
        self.rate, self.block, self.callback = samplerate, blocksize, callback
        self.source = source
        self.latency = 0.01
        self._running = False
        self.written: list[np.ndarray] = []

    def start(self) -> None:
        self._running = True
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        pos = 0
        while self._running:
            if self.source is not None:  # input
                block = self.source[pos : pos + self.block]
                if block.size < self.block:
                    return
                pos += self.block
                self.callback(block[:, None].astype(np.float32), self.block, None, None)
            else:  # output
                out = np.zeros((self.block, 1), np.float32)
                self.callback(out, self.block, None, None)
                self.written.append(out[:, 0].copy())
            time.sleep(self.block / self.rate / 4)  # faster than real time

    def close(self) -> None:
        self._running = False


@pytest.fixture
def fake_sd(monkeypatch: pytest.MonkeyPatch):
    sd = types.ModuleType("sounddevice")
    sd.PortAudioError = type("PortAudioError", (Exception,), {})
    devices = [
        {
            "name": "USB Mic Array",
            "hostapi": 0,
            "max_input_channels": 4,
            "max_output_channels": 0,
            "default_samplerate": 48000.0,
        },
        {
            "name": "Lobby Speaker",
            "hostapi": 0,
            "max_input_channels": 0,
            "max_output_channels": 2,
            "default_samplerate": 44100.0,
        },
    ]
    sd.query_devices = lambda device=None, kind=None: devices if device is None else devices[device]
    sd.query_hostapis = lambda: [{"name": "ALSA"}]
    sd.default = types.SimpleNamespace(device=(0, 1))
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(48000) / 48000)).astype(np.float32)
    sd.InputStream = lambda **kw: FakeStream(source=tone, **kw)
    sd.streams = []

    def output(**kw):
        stream = FakeStream(**kw)
        sd.streams.append(stream)
        return stream

    sd.OutputStream = output
    monkeypatch.setitem(sys.modules, "sounddevice", sd)
    return sd


def test_devices_are_found_by_name_or_index(fake_sd) -> None:
    from voice.devices import find_device, list_devices

    found = list_devices()
    assert [d.name for d in found] == ["USB Mic Array", "Lobby Speaker"]
    assert found[0].default_input and found[1].default_output
    assert find_device("mic", "input") == 0 and find_device(1, "output") == 1 and find_device(None, "input") is None
    with pytest.raises(AudioError, match="Lobby Speaker"):
        find_device("headset", "output")
    with pytest.raises(AudioError, match="no input channels"):
        find_device(1, "input")


def test_microphone_frames_are_16k_and_timestamped(fake_sd) -> None:
    from voice.devices import MicrophoneSource

    mic = MicrophoneSource("USB", block=1024)
    assert mic.rate == 48000

    async def take(n):
        frames = []
        async for f in mic.frames():
            frames.append(f)
            if len(frames) == n:
                mic.close()
        return frames

    frames = asyncio.run(take(20))
    assert all(f.samples.shape == (FRAME_SAMPLES,) for f in frames)
    steps = np.diff([f.t for f in frames])
    assert np.allclose(steps, 0.032)
    peak_hz = np.argmax(np.abs(np.fft.rfft(np.concatenate([f.samples for f in frames[5:15]])))) * 16000 / 5120
    assert abs(peak_hz - 440) < 5  # 48 kHz → 16 kHz kept the pitch


def test_speaker_plays_clips_and_stops(fake_sd) -> None:
    from voice.devices import SpeakerSink

    sink = SpeakerSink(22050, "Lobby", block=512)
    sink.play(Clip(1, "您好", np.full(22050, 0.25, np.float32)))
    deadline = time.monotonic() + 5
    while sink.is_playing() and time.monotonic() < deadline:
        time.sleep(0.01)
    sink.close()
    played = np.concatenate(fake_sd.streams[0].written)
    assert np.count_nonzero(played) == 22050 and sink.heard(1) == "您好"


def test_missing_portaudio_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_portaudio(name, *args, **kwargs):
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_portaudio)
    from voice.devices import list_devices

    with pytest.raises(AudioError, match="libportaudio2"):
        list_devices()
