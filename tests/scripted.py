"""Scripted stand-ins for the models, so the loop's own logic is tested fast and exactly.

Each one behaves like the real stage at its interface (same call, same types) and records how it
was used. The real models run in their own tests (tiny Whisper, tiny Piper, tiny GGUF, Silero).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import numpy as np

from voice.asr import Transcript
from voice.audio import SAMPLE_RATE


class ScriptedLLM:
    """A chat model that replies with a fixed text, piece by piece, and records its prompts.

    Args:
        delay_s: pause before each piece (a model generating at a given speed).
    """

    name = "scripted"

    def __init__(self, reply: str, piece: int = 3, fail: bool = False, delay_s: float = 0.0):
        self.reply, self.piece, self.fail, self.delay_s = reply, piece, fail, delay_s
        self.prompts: list[Sequence[dict[str, str]]] = []
        self.pieces_sent = 0
        self.finished_at: float | None = None
        self.stopped_at: float | None = None

    def stream_chat(self, messages, *, max_tokens: int, temperature: float) -> Iterator[str]:
        self.prompts.append(messages)
        if self.fail:
            raise RuntimeError("model crashed")
        try:
            for i in range(0, len(self.reply), self.piece):
                if self.delay_s:
                    time.sleep(self.delay_s)
                self.pieces_sent += 1
                yield self.reply[i : i + self.piece]
            self.finished_at = time.monotonic()
        finally:
            self.stopped_at = time.monotonic()  # the whole reply sent, or the consumer closed the stream


class ScriptedASR:
    """Returns the next scripted text for each utterance (or a dropped transcript for None)."""

    name = "scripted-asr"

    def __init__(self, texts: Sequence[str | None], lang: str = "zh"):
        self.texts = list(texts)
        self.lang = lang
        self.heard: list[np.ndarray] = []

    def transcribe(self, audio: np.ndarray, language: str | None = None) -> Transcript:
        self.heard.append(audio)
        text = self.texts.pop(0) if self.texts else None
        if text is None:
            return Transcript("", self.lang, 1.0, dropped="known hallucination ('字幕')", duration_ms=1.0)
        return Transcript(text, self.lang, 1.0, duration_ms=1.0)


class ToneVoice:
    """A synthesiser speaking ``ms_per_char`` of tone per character, at 16 kHz."""

    def __init__(self, lang: str = "zh", ms_per_char: float = 60.0, freq: float = 330.0):
        self.name, self.lang, self.sample_rate = "tone", lang, SAMPLE_RATE
        self.ms_per_char, self.freq = ms_per_char, freq
        self.texts: list[str] = []

    def synthesize(self, text: str) -> np.ndarray:
        self.texts.append(text)
        n = int(len(text) * self.ms_per_char / 1000 * SAMPLE_RATE)
        return (0.3 * np.sin(2 * np.pi * self.freq * np.arange(n) / SAMPLE_RATE)).astype(np.float32)


class EnergyVAD:
    """Speech probability from frame energy: 0.95 above ``rms`` (full scale 1), else 0.02."""

    def __init__(self, rms: float = 0.02):
        self.rms = rms

    def __call__(self, frame: np.ndarray) -> float:
        return 0.95 if float(np.sqrt(np.mean(frame**2))) > self.rms else 0.02

    def reset(self) -> None:
        pass


def burst(seconds: float, seed: int = 0, level: float = 0.2) -> np.ndarray:
    """Band-limited noise standing in for a resident's voice (uncorrelated with any tone)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, level, int(seconds * SAMPLE_RATE))
    return np.convolve(x, np.ones(4) / 4, mode="same").astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), np.float32)
