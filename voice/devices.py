"""Sound devices through sounddevice (PortAudio): the microphone source and the speaker sink.

The microphone is opened at its own rate (or ``audio.capture_rate``), mono, and converted to the
pipeline's 16 kHz frames (:mod:`voice.audio`). The speaker is a :class:`voice.playback.Playback`
fed by PortAudio's callback, one ``output_block`` at a time, which is what bounds barge-in stop
latency. Devices are chosen by name (a substring, case-insensitive) or index; ``kiosk audio
devices`` lists them.

Importing sounddevice fails when the PortAudio library is missing (``libportaudio2`` on Debian,
installed by ``scripts/setup``); every function here turns that, and a missing device, into an
:class:`~voice.audio.AudioError` that says so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np

from voice.audio import AudioError, Frame, Framer, Resampler
from voice.playback import Playback


def _sd():
    try:
        import sounddevice
    except OSError as exc:  # "PortAudio library not found"
        raise AudioError(
            f"{exc}: install PortAudio (Debian: apt-get install libportaudio2; scripts/setup does)"
        ) from exc
    return sounddevice


@dataclass(frozen=True)
class Device:
    """One PortAudio device as ``kiosk audio devices`` shows it."""

    index: int
    name: str
    host_api: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float
    default_input: bool
    default_output: bool


def list_devices() -> list[Device]:
    """Every audio device PortAudio sees (possibly none on a headless machine).

    Raises:
        AudioError: PortAudio is not installed.
    """
    sd = _sd()
    try:
        devices = sd.query_devices()
        apis = sd.query_hostapis()
        default_in, default_out = sd.default.device
    except sd.PortAudioError as exc:
        raise AudioError(f"PortAudio cannot list devices: {exc}") from exc
    return [
        Device(
            i,
            d["name"],
            apis[d["hostapi"]]["name"],
            d["max_input_channels"],
            d["max_output_channels"],
            d["default_samplerate"],
            i == default_in,
            i == default_out,
        )
        for i, d in enumerate(devices)
    ]


def find_device(spec: str | int | None, kind: str) -> int | None:
    """The index of the device named (substring) or numbered by ``spec``; None for the default.

    Args:
        kind: 'input' or 'output'.

    Raises:
        AudioError: no such device, or none of that kind at all.
    """
    devices = list_devices()
    channels = (lambda d: d.max_input_channels) if kind == "input" else (lambda d: d.max_output_channels)
    usable = [d for d in devices if channels(d) > 0]
    if not usable:
        raise AudioError(f"no audio {kind} device found (see `kiosk audio devices`)")
    if spec is None:
        return None
    if isinstance(spec, int) or str(spec).isdigit():
        index = int(spec)
        if not any(d.index == index for d in usable):
            raise AudioError(f"audio {kind} device {index} does not exist or has no {kind} channels")
        return index
    matches = [d for d in usable if str(spec).lower() in d.name.lower()]
    if not matches:
        names = ", ".join(repr(d.name) for d in usable)
        raise AudioError(f"no audio {kind} device matches {spec!r}; available: {names}")
    return matches[0].index


class MicrophoneSource:
    """Live capture, converted to 16 kHz mono 512-sample frames, timestamped with ``time.monotonic()``.

    Args:
        device: name substring or index (None: the default input).
        rate: capture rate, Hz (None: the device's default).
        block: PortAudio block size, samples at the capture rate.

    Raises:
        AudioError: PortAudio missing, no such device, or the device cannot be opened.
    """

    realtime = True

    def __init__(self, device: str | int | None = None, rate: int | None = None, block: int = 1024):
        self.device = find_device(device, "input")
        sd = _sd()
        info = sd.query_devices(self.device, "input")
        self.rate = int(rate or info["default_samplerate"])
        self.block = block
        self._stream = None
        self._closed = False

    def close(self) -> None:
        self._closed = True
        if self._stream is not None:
            self._stream.close()

    async def frames(self) -> AsyncIterator[Frame]:
        sd = _sd()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[np.ndarray, float]] = asyncio.Queue()

        def callback(indata, frames, time_info, status):  # PortAudio thread
            loop.call_soon_threadsafe(queue.put_nowait, (indata[:, 0].copy(), time.monotonic() - frames / self.rate))

        try:
            self._stream = sd.InputStream(
                device=self.device,
                samplerate=self.rate,
                channels=1,
                dtype="float32",
                blocksize=self.block,
                callback=callback,
            )
            self._stream.start()
        except sd.PortAudioError as exc:
            raise AudioError(f"cannot open the microphone: {exc}") from exc
        resample, framer = Resampler(self.rate), Framer()
        index = 0
        t_next: float | None = None
        while not self._closed:
            block, t = await queue.get()
            t_next = t if t_next is None else t_next
            for samples in framer.push(resample(block)):
                yield Frame(samples, t_next, index)
                index += 1
                t_next += len(samples) / 16_000


class SpeakerSink(Playback):
    """Playback on a sound device; PortAudio's callback pulls one block at a time.

    Args:
        sample_rate: output rate, Hz (the voices' rate).
        device: name substring or index (None: the default output).
        block: samples per callback (bounds how fast a barge-in silences the speaker).

    Raises:
        AudioError: PortAudio missing, no such device, or the device cannot be opened.
    """

    def __init__(self, sample_rate: int, device: str | int | None = None, block: int = 512):
        super().__init__(sample_rate)
        sd = _sd()
        index = find_device(device, "output")

        def callback(outdata, frames, time_info, status):  # PortAudio thread
            outdata[:, 0] = self.read(frames, time.monotonic() + self.latency_s)

        try:
            self._stream = sd.OutputStream(
                device=index, samplerate=sample_rate, channels=1, dtype="float32", blocksize=block, callback=callback
            )
            self.latency_s = float(self._stream.latency)
            self._stream.start()
        except sd.PortAudioError as exc:
            raise AudioError(f"cannot open the speaker: {exc}") from exc

    def close(self) -> None:
        super().close()
        self._stream.close()
