"""The voice benchmark: the real pipeline on real recordings, per-stage timings and barge-in latency.

Used by ``kiosk bench voice``. Every figure comes from the loop's own :class:`TurnTimings` (the
same ones ``kiosk run`` prints and the journal stores), so the bench measures the product, not a
copy of it:

* **per turn**: endpoint, ASR, first LLM token, first audio, LLM finished, total, all from the end
  of speech, and the pipeline overhead on the path to the first audio;
* **VAD cost** per 32 ms frame;
* **barge-in**: a recording played as the resident's question, then, once the answer has been
  playing for a second on a real-time simulated speaker, a second recording talking over it.
  Measured: speech onset to the barge-in decision, and the decision to the first silent output
  block (the stop takes effect at the next block the audio device asks for).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.bootstrap import Appliance, VoiceModels, build_conversation
from appliance.conversation import TurnResult
from voice.audio import FRAME_SAMPLES, SAMPLE_RATE, Frame, Framer, WavFileSource, read_audio
from voice.playback import SimulatedSpeaker, WavFileSink


def run_file(appliance: Appliance, models: VoiceModels, path: Path) -> list[TurnResult]:
    """Every turn of one recording, answered as ``kiosk run --no-ui --audio-in`` answers it."""
    sink = WavFileSink(None, models.voices.sample_rate)
    loop = build_conversation(appliance, models, sink)
    return asyncio.run(loop.run(WavFileSource(path)))


def vad_cost_ms(vad, audio: np.ndarray) -> float:
    """Mean milliseconds the VAD takes per 512-sample frame of ``audio``."""
    frames = list(Framer().push(audio))
    vad.reset()
    t = time.perf_counter()
    for f in frames:
        vad(f)
    return (time.perf_counter() - t) * 1e3 / max(1, len(frames))


@dataclass
class BargeInFigures:
    """One barge-in trial.

    Attributes:
        detect_ms: from the first frame of the interrupting speech to the barge-in decision.
        stop_ms: from the decision to the first silent output block (playback stopped).
        heard_chars / answer_chars: how much of the answer was heard before the interruption.
    """

    detect_ms: float
    stop_ms: float
    heard_chars: int
    answer_chars: int


class InterruptingSource:
    """A real-time microphone for one barge-in trial: the question, silence until the answer has
    been playing for ``after_s``, then the interruption, then ``tail_s`` of silence.

    Args:
        sink: the speaker whose playback is watched.
    """

    realtime = True

    def __init__(self, question: np.ndarray, interruption: np.ndarray, sink, after_s: float, tail_s: float = 2.0):
        self.question, self.interruption, self.sink = question, interruption, sink
        self.after_s, self.tail_s = after_s, tail_s
        self._closed = False
        self.interrupted_at: float | None = None

    def close(self) -> None:
        self._closed = True

    async def frames(self):
        frame_s = FRAME_SAMPLES / SAMPLE_RATE
        start = time.monotonic()
        index = 0

        async def emit(samples: np.ndarray):
            nonlocal index
            t = start + index * frame_s
            delay = t + frame_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            index += 1
            return Frame(samples, t, index - 1)

        for samples in Framer().push(self.question):
            yield await emit(samples)
        silent = np.zeros(FRAME_SAMPLES, np.float32)
        deadline = time.monotonic() + 60.0  # give up if no answer is ever played
        playing_since: float | None = None
        while not self._closed and time.monotonic() < deadline:
            if playing_since is None and self.sink.is_playing():
                playing_since = time.monotonic()
            if playing_since is not None and time.monotonic() - playing_since >= self.after_s:
                break
            yield await emit(silent)
        self.interrupted_at = time.monotonic()
        for samples in [*Framer().push(self.interruption), *[silent] * int(self.tail_s / frame_s)]:
            if self._closed:
                return
            yield await emit(samples)


def barge_in_trial(
    appliance: Appliance, models: VoiceModels, question: np.ndarray, interruption: np.ndarray, after_s: float = 1.0
) -> BargeInFigures | None:
    """Ask with ``question``; ``after_s`` seconds after the answer starts playing, say ``interruption``.

    Runs in real time on a simulated speaker (no sound card). None when there was no barge-in
    during playback (the answer was over, or never played).
    """
    sink = SimulatedSpeaker(models.voices.sample_rate, appliance.settings.audio.output_block, keep_output=False)
    loop = build_conversation(appliance, models, sink)
    try:
        results = asyncio.run(loop.run(InterruptingSource(question, interruption, sink, after_s)))
    finally:
        sink.close()
    during = [b for b in loop.barge_ins if b["during_playback"]]
    if not during:
        return None
    b = during[0]
    silences = [t for t in sink.silences if t >= b["t_detect"]]
    cut = next((r for r in results if r.turn_id == b["turn_id"]), None)
    if not silences or cut is None:
        return None
    answer = cut.answer.answer if cut.answer else ""
    return BargeInFigures(b["detect_ms"], (silences[0] - b["t_detect"]) * 1e3, len(cut.heard), len(answer))


def recordings(folder: Path) -> list[Path]:
    """The WAV files of a speech folder, sorted."""
    return sorted(folder.glob("*.wav"))


def speech_of(path: Path) -> np.ndarray:
    """A recording as pipeline audio."""
    return read_audio(path, max_seconds=120)


def summarise(values: list[float], fmt: Callable[[float], str] = lambda v: f"{v:.0f}") -> str:
    """'median / p95 / max' of a list ('-' when empty)."""
    if not values:
        return "-"
    v = np.asarray(values)
    return f"{fmt(float(np.median(v)))} / {fmt(float(np.percentile(v, 95)))} / {fmt(float(v.max()))}"
