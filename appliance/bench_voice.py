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
from voice.audio import FRAME_SAMPLES, SAMPLE_RATE, ArraySource, Frame, Framer, WavFileSource, read_audio
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


def with_pause(audio: np.ndarray, pause_s: float, frame_ms: float = 20.0) -> np.ndarray:
    """``audio`` with ``pause_s`` of silence inserted mid-thought: at the quietest speech frame
    (20 ms, above a tenth of the loudest frame's RMS) of the middle 30–70 % of its speech: a dip
    between two words, not a pause already there (which the insertion would only lengthen).

    Args:
        audio: float32 mono 16 kHz, shape (n,).

    Returns:
        float32, shape (n + pause_s · 16000,).
    """
    n = int(SAMPLE_RATE * frame_ms / 1000)
    frames = audio[: audio.size // n * n].reshape(-1, n)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    loud = np.flatnonzero(rms > 0.1 * rms.max()) if rms.size else np.array([], int)
    if loud.size < 2:
        cut = audio.size // 2
    else:
        lo, hi = loud[0], loud[-1]
        middle = loud[(loud >= lo + 0.3 * (hi - lo)) & (loud <= lo + 0.7 * (hi - lo))]
        middle = middle if middle.size else loud
        cut = int(middle[np.argmin(rms[middle])]) * n + n // 2
    gap = np.zeros(int(round(pause_s * SAMPLE_RATE)), np.float32)
    return np.concatenate([audio[:cut], gap, audio[cut:]]).astype(np.float32)


@dataclass
class TurnTakingFigures:
    """Turn-taking on recordings of one complete utterance each, as recorded and with pauses.

    Attributes:
        clips: recordings used.
        split_as_recorded: recordings answered as more than one turn.
        split_with_pause: per inserted pause (s), the recordings answered as more than one turn.
        held_ms: per answered turn of the recordings as recorded, how much later a live run answers
            it because its transcript ended open, ms.
        transcripts: per (recording, pause or None), the transcripts of its turns.
    """

    clips: int
    split_as_recorded: int
    split_with_pause: dict[float, int]
    held_ms: list[float]
    transcripts: dict[tuple[str, float | None], list[str]]


def turn_taking(appliance: Appliance, models: VoiceModels, files: list[Path], pauses: list[float]) -> TurnTakingFigures:
    """Each recording as one file run, as recorded and with each pause inserted (:func:`with_pause`),
    through the real VAD, endpointer, ASR and answer engine; counts the turns it became."""
    tail = np.zeros(4 * SAMPLE_RATE, np.float32)  # as long as a held turn can wait: it ends by itself
    split = dict.fromkeys(pauses, 0)
    as_recorded, held, transcripts = 0, [], {}
    for path in files:
        audio = speech_of(path)
        for pause in [None, *pauses]:
            clip = audio if pause is None else with_pause(audio, pause)
            loop = build_conversation(appliance, models, WavFileSink(None, models.voices.sample_rate))
            turns = [r for r in asyncio.run(loop.run(ArraySource(np.concatenate([clip, tail])))) if r.answer]
            transcripts[(path.name, pause)] = [r.transcript.text for r in turns if r.transcript]
            if pause is None:
                as_recorded += len(turns) > 1
                held += [r.held_ms for r in turns]
            elif len(turns) > 1:
                split[pause] += 1
    return TurnTakingFigures(len(files), as_recorded, split, held, transcripts)


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
