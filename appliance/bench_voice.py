"""The voice benchmark: the real pipeline on real recordings, per-stage timings and barge-in latency.

Used by ``kiosk bench voice``. Every figure comes from the loop's own :class:`TurnTimings` (the
same ones ``kiosk run`` prints and the journal stores), so the bench measures the product, not a
copy of it:

* **per turn**: endpoint, ASR, first LLM token, first audio, LLM finished, total, all from the end
  of speech, and the pipeline overhead on the path to the first audio;
* **VAD cost** per 32 ms frame;
* **barge-in**: a recording played as the resident's question, then, while the answer is playing
  on a real-time simulated speaker, a second recording talking over it. Measured: speech onset to
  the barge-in decision, and the decision to the first silent output block.
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
from voice.audio import SAMPLE_RATE, ArraySource, Framer, WavFileSource, read_audio
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


def barge_in_trial(
    appliance: Appliance, models: VoiceModels, question: np.ndarray, interruption: np.ndarray, after_s: float = 1.5
) -> BargeInFigures | None:
    """Ask with ``question``, then say ``interruption`` ``after_s`` seconds into the answer's audio.

    Runs in real time on a simulated speaker (no sound card). None when the answer was over
    before the interruption (nothing to interrupt).
    """
    sink = SimulatedSpeaker(models.voices.sample_rate, appliance.settings.audio.output_block, keep_output=False)
    loop = build_conversation(appliance, models, sink)
    gap = np.zeros(int(SAMPLE_RATE * (appliance.settings.vad.end_silence_ms / 1000 + after_s)), np.float32)
    # The interruption is placed after_s after the answer starts; the answer starts roughly when
    # the first turn's processing ends, which the gap approximates (ASR + first TTS piece).
    tail = np.zeros(SAMPLE_RATE * 2, np.float32)
    resident = np.concatenate([question, gap, interruption, tail])
    try:
        results = asyncio.run(loop.run(ArraySource(resident, pace=True)))
    finally:
        sink.close()
    if not loop.barge_ins or sink.silenced_at is None or not results or results[0].answer is None:
        return None
    b = loop.barge_ins[0]
    first = results[0]
    return BargeInFigures(
        b["detect_ms"], (sink.silenced_at - b["t_detect"]) * 1e3, len(first.heard), len(first.answer.answer)
    )


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
