"""Audio formats and WAV files: the pipeline's one internal format, and the file source and sink.

Inside the pipeline, audio is **float32 mono in [-1, 1] at 16 000 Hz**, cut into frames of
**512 samples (32 ms)**: the window Silero VAD v5/v6 takes at 16 kHz (silero-vad README, "Model
inputs"). Anything else (44.1 kHz, stereo, int16, float WAV) is converted on the way in: channels
are averaged and the rate is converted with soxr's streaming resampler, so a 10-minute file is read
block by block, never whole.

:class:`WavFileSource` has the same interface as the microphone (:mod:`voice.devices`), so every
run and every test works without a sound card.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

SAMPLE_RATE = 16_000
"""Pipeline sample rate, Hz (Whisper and Silero VAD both take 16 kHz)."""
FRAME_SAMPLES = 512
"""Samples per frame at 16 kHz: Silero VAD's window (32 ms)."""
FRAME_MS = FRAME_SAMPLES * 1000 / SAMPLE_RATE


class AudioError(RuntimeError):
    """Audio that cannot be read or a device that cannot be opened; the message says which and why."""


@dataclass(frozen=True)
class Frame:
    """One 32 ms frame of pipeline audio.

    Attributes:
        samples: float32 mono, shape (512,), in [-1, 1], 16 kHz.
        t: capture time, seconds on the source's clock (stream time for files, ``time.monotonic()``
            for devices), of the frame's first sample.
        index: frame number since the source started.
    """

    samples: np.ndarray
    t: float
    index: int


class AudioSource(Protocol):
    """A microphone or a file: 16 kHz mono frames of 512 samples.

    ``realtime`` is True when frames arrive at the pace they were captured (a device, or a paced
    file): only then can the appliance be interrupted while it speaks.
    """

    realtime: bool

    def frames(self) -> AsyncIterator[Frame]:
        """The frames, until the source ends or is closed."""
        ...

    def close(self) -> None:
        """Stop producing frames."""
        ...


def to_mono(block: np.ndarray) -> np.ndarray:
    """Average the channels of a (samples, channels) block: shape (samples,), float32."""
    if block.ndim == 1:
        return block.astype(np.float32, copy=False)
    return block.mean(axis=1, dtype=np.float32)


class Resampler:
    """Streaming sample-rate conversion to 16 kHz (soxr, "HQ" quality), identity at 16 kHz.

    Args:
        rate: the input rate, Hz.
    """

    def __init__(self, rate: int):
        self.rate = rate
        self._stream = None
        if rate != SAMPLE_RATE:
            import soxr

            self._stream = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")

    def __call__(self, mono: np.ndarray, last: bool = False) -> np.ndarray:
        """Convert a float32 mono block; ``last=True`` flushes the filter's tail."""
        if self._stream is None:
            return mono
        return self._stream.resample_chunk(np.ascontiguousarray(mono, dtype=np.float32), last=last)


class Framer:
    """Cuts a stream of blocks into 512-sample frames (the last one zero-padded)."""

    def __init__(self) -> None:
        self._pending = np.zeros(0, dtype=np.float32)

    def push(self, block: np.ndarray) -> Iterator[np.ndarray]:
        """Frames completed by ``block``."""
        data = np.concatenate([self._pending, block]) if self._pending.size else block
        n = data.size // FRAME_SAMPLES
        for i in range(n):
            yield data[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES]
        self._pending = data[n * FRAME_SAMPLES :].copy()

    def flush(self) -> Iterator[np.ndarray]:
        """The zero-padded last frame, if samples are left."""
        if self._pending.size:
            frame = np.zeros(FRAME_SAMPLES, dtype=np.float32)
            frame[: self._pending.size] = self._pending
            self._pending = np.zeros(0, dtype=np.float32)
            yield frame


def resample(audio: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """One-shot rate conversion of a whole float32 mono array (soxr, "HQ"); identity when equal."""
    if rate == target:
        return audio
    import soxr

    return soxr.resample(audio, rate, target).astype(np.float32)


def open_wav(path: Path):
    """Open an audio file with libsndfile (soundfile).

    Raises:
        AudioError: missing, empty, or not an audio file libsndfile can read.
    """
    import soundfile as sf

    if not path.is_file():
        raise AudioError(f"audio file not found: {path}")
    try:
        f = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioError(f"cannot read {path} as audio: {exc}") from exc
    if f.frames == 0 or f.samplerate <= 0:
        f.close()
        raise AudioError(f"{path} has no audio samples")
    return f


def read_audio(path: Path, *, max_seconds: float | None = None) -> np.ndarray:
    """A whole file as pipeline audio: float32 mono 16 kHz, shape (n,).

    Args:
        max_seconds: refuse longer files (AudioError) instead of reading them.

    Raises:
        AudioError: see :func:`open_wav`, or the file is longer than ``max_seconds``.
    """
    import soundfile as sf

    with open_wav(path) as f:
        if max_seconds is not None and f.frames > max_seconds * f.samplerate:
            raise AudioError(f"{path} is {f.frames / f.samplerate:.0f} s long; the limit is {max_seconds:.0f} s")
        resample = Resampler(f.samplerate)
        parts = []
        try:
            for block in f.blocks(blocksize=f.samplerate, dtype="float32", always_2d=True):
                parts.append(resample(to_mono(block)))
        except sf.LibsndfileError as exc:
            raise AudioError(f"{path} is damaged: {exc}") from exc
        parts.append(resample(np.zeros(0, np.float32), last=True))
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write float32 mono samples in [-1, 1] as a 16-bit PCM WAV file."""
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(samples, -1.0, 1.0), sample_rate, subtype="PCM_16")


class _FrameSource:
    """Shared pacing and timestamping for sources that produce frames from a sync iterator."""

    realtime: bool = False

    def __init__(self) -> None:
        self._closed = False

    def close(self) -> None:
        """Stop producing frames (the iteration ends at the next frame)."""
        self._closed = True

    def _chunks(self) -> Iterator[np.ndarray]:
        raise NotImplementedError

    async def frames(self) -> AsyncIterator[Frame]:
        """Frames of 512 samples, paced in real time when ``realtime``."""
        start = time.monotonic()
        for index, samples in enumerate(self._chunks()):
            if self._closed:
                return
            t = index * FRAME_SAMPLES / SAMPLE_RATE
            if self.realtime:
                delay = start + t - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                t += start
            else:
                await asyncio.sleep(0)  # let the rest of the loop run between frames
            yield Frame(samples, t, index)


class WavFileSource(_FrameSource):
    """Frames from an audio file (any rate, any channel count libsndfile reads), streamed.

    Args:
        path: the file.
        pace: False (default) yields frames as fast as they are consumed, timestamped in stream
            time (seconds from the file's start); True yields them at the real-time rate,
            timestamped with ``time.monotonic()`` like a microphone (barge-in tests, the bench).
        tail_silence_ms: silence appended after the file, so a recording that stops right at the
            last word still ends its turn (the endpointer needs trailing silence).

    Attributes:
        clipped_fraction: share of samples at full scale, known once the file has been read.

    Raises:
        AudioError: on opening (see :func:`open_wav`) or when the file is damaged mid-way.
    """

    def __init__(self, path: Path, *, pace: bool = False, tail_silence_ms: float = 1000.0):
        super().__init__()
        self.path = path
        self.realtime = pace
        self.tail_frames = int(np.ceil(tail_silence_ms / FRAME_MS))
        self.clipped_fraction = 0.0
        with open_wav(path) as f:  # fail now, not in the middle of the loop
            self.duration_s = f.frames / f.samplerate

    def _chunks(self) -> Iterator[np.ndarray]:
        import soundfile as sf

        framer = Framer()
        clipped = total = 0
        with open_wav(self.path) as f:
            resample = Resampler(f.samplerate)
            blocks = f.blocks(blocksize=4096, dtype="float32", always_2d=True)
            while True:
                try:
                    block = next(blocks, None)
                except sf.LibsndfileError as exc:
                    raise AudioError(f"{self.path} is damaged: {exc}") from exc
                if block is None:
                    break
                clipped += int(np.count_nonzero(np.abs(block) >= 0.999))
                total += block.size
                yield from framer.push(resample(to_mono(block)))
            yield from framer.push(resample(np.zeros(0, np.float32), last=True))
            yield from framer.flush()
        self.clipped_fraction = clipped / total if total else 0.0
        for _ in range(self.tail_frames):
            yield np.zeros(FRAME_SAMPLES, np.float32)


class ArraySource(_FrameSource):
    """Frames from an array already in pipeline format (tests, the bench).

    Args:
        samples: float32 mono 16 kHz, shape (n,).
        pace: as for :class:`WavFileSource`.
    """

    def __init__(self, samples: np.ndarray, *, pace: bool = False):
        super().__init__()
        self.samples = np.asarray(samples, dtype=np.float32)
        self.realtime = pace

    def _chunks(self) -> Iterator[np.ndarray]:
        framer = Framer()
        yield from framer.push(self.samples)
        yield from framer.flush()
