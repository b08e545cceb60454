"""Playback: the queue of synthesised pieces, what was actually heard, and barge-in stop.

:class:`Playback` is the part every real-time sink shares. The audio backend (a sounddevice
callback in :mod:`voice.devices`, or :class:`SimulatedSpeaker`, a thread keeping the same pace
without a sound card) pulls blocks with :meth:`Playback.read`; the conversation loop queues
:class:`Clip` s and calls :meth:`Playback.stop` on barge-in. Because the backend reads block by
block, a stop takes effect at the next block: within one block (≈ 23 ms at 512 samples and
22 050 Hz) plus the device's own output latency.

Playback also remembers, per turn, how much of each clip was played, so the dialogue history can
keep only what the resident actually heard, and it keeps the last seconds of played audio with
their times, the reference signal for echo gating (:mod:`voice.echo`).

:class:`WavFileSink` has the same interface for file runs: nothing is real-time, every clip is
"heard" whole and appended to one WAV file.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from voice.audio import SAMPLE_RATE, resample, write_wav


@dataclass
class Clip:
    """One synthesised piece of an answer.

    Attributes:
        turn_id: the turn it belongs to.
        text: the piece's text as shown on screen (not the phonetic form sent to TTS).
        samples: float32 mono in [-1, 1] at the sink's rate.
        played: samples played so far.
    """

    turn_id: int
    text: str
    samples: np.ndarray
    played: int = 0

    @property
    def heard_text(self) -> str:
        """The part of the text heard so far, cut in proportion to the samples played."""
        if self.played >= self.samples.size:
            return self.text
        if self.played == 0:
            return ""
        return self.text[: int(len(self.text) * self.played / self.samples.size)] + "…"


class AudioSink(Protocol):
    """Where answers are played: a speaker (real time) or a WAV file."""

    realtime: bool
    sample_rate: int

    def play(self, clip: Clip) -> None:
        """Queue a clip (returns at once)."""
        ...

    def stop(self) -> None:
        """Barge-in: silence now and drop everything queued."""
        ...

    def is_playing(self) -> bool:
        """True while audio is queued or playing."""
        ...

    async def drain(self) -> None:
        """Wait until everything queued has been played (or stopped)."""
        ...

    def heard(self, turn_id: int) -> str:
        """The text of turn ``turn_id`` the resident has heard."""
        ...

    def first_audio(self, turn_id: int) -> float | None:
        """``time.monotonic()`` when turn ``turn_id``'s first sample went out, None before that."""
        ...

    def forget(self, turn_id: int) -> None:
        """Drop a finished turn's audio (a kiosk runs for days); its first-audio time is kept for
        the last :data:`KEEP_TURNS` turns. ``heard`` is empty afterwards."""
        ...

    def reference(self, t0: float, t1: float) -> np.ndarray:
        """Audio played between monotonic times t0 and t1, float32 mono 16 kHz (zeros where silent)."""
        ...

    def close(self) -> None:
        """Release the device or write the file."""
        ...


@dataclass
class _Turn:
    clips: list[Clip] = field(default_factory=list)
    first_audio: float | None = None


KEEP_TURNS = 32
"""Finished turns whose first-audio time a sink remembers."""


_LATIN_END = re.compile(r"[A-Za-z0-9.,;:!?)\]”’\"']$")
_LATIN_START = re.compile(r"^[A-Za-z0-9(\[“‘\"']")


def join_pieces(pieces: list[str]) -> str:
    """The spoken pieces of one answer as one text: Chinese pieces joined as they are, English
    ones with the space the sentence chunker took off between them ("Sorry," + "I could not" →
    "Sorry, I could not")."""
    out = ""
    for piece in pieces:
        if out and piece and _LATIN_END.search(out) and _LATIN_START.match(piece):
            out += " "
        out += piece
    return out


def _forget(turns: dict[int, _Turn], turn_id: int) -> None:
    """Drop a turn's clips; keep the bookkeeping of the last KEEP_TURNS turns only."""
    turn = turns.get(turn_id)
    if turn is not None:
        turn.clips.clear()
    while len(turns) > KEEP_TURNS:
        del turns[next(iter(turns))]


class Playback:
    """The shared state of a real-time sink: queue, heard text, reference signal. Thread-safe.

    Args:
        sample_rate: output rate, Hz (the TTS voice's rate).
        reference_s: seconds of played audio kept for echo gating.

    Attributes:
        gain: linear output gain applied to every block read (the staff volume control; 1.0 =
            as synthesised). Set from any thread.
    """

    realtime = True

    def __init__(self, sample_rate: int, reference_s: float = 3.0):
        self.sample_rate = sample_rate
        self._lock = threading.Lock()
        self._queue: deque[Clip] = deque()
        self._turns: dict[int, _Turn] = {}
        self._history: deque[tuple[float, np.ndarray]] = deque()
        self._history_s = reference_s
        self._idle = threading.Event()
        self._idle.set()
        self.silenced_at: float | None = None
        self.silences: list[float] = []
        self._silence_pending = False
        self.gain = 1.0

    # -- producer side (the conversation loop) ----------------------------------------------
    def play(self, clip: Clip) -> None:
        with self._lock:
            self._turns.setdefault(clip.turn_id, _Turn()).clips.append(clip)
            self._queue.append(clip)
            self._idle.clear()

    def stop(self) -> None:
        """Drop everything queued; the next block read is silent.

        When audio was playing, ``silenced_at`` becomes the start time of the first silent block (what a barge-in latency measurement needs), also
        appended to ``silences``.
        """
        with self._lock:
            playing = bool(self._queue)
            self._queue.clear()
            self._idle.set()
            self._silence_pending = playing

    def is_playing(self) -> bool:
        return not self._idle.is_set()

    async def drain(self) -> None:
        while not self._idle.is_set():
            await asyncio.sleep(0.005)

    def heard(self, turn_id: int) -> str:
        with self._lock:
            turn = self._turns.get(turn_id)
            return join_pieces([c.heard_text for c in turn.clips]) if turn else ""

    def first_audio(self, turn_id: int) -> float | None:
        turn = self._turns.get(turn_id)
        return turn.first_audio if turn else None

    def forget(self, turn_id: int) -> None:
        with self._lock:
            _forget(self._turns, turn_id)

    # -- consumer side (the audio callback thread) ------------------------------------------
    def read(self, n: int, t: float | None = None) -> np.ndarray:
        """The next ``n`` samples to play (zeros when idle), float32.

        Args:
            t: ``time.monotonic()`` at which the block starts playing (default: now).
        """
        t = time.monotonic() if t is None else t
        out = np.zeros(n, np.float32)
        filled = 0
        with self._lock:
            if self._silence_pending:
                self.silenced_at, self._silence_pending = t, False
                self.silences.append(t)
            while filled < n and self._queue:
                clip = self._queue[0]
                if clip.played == 0:
                    turn = self._turns.get(clip.turn_id)
                    if turn is not None and turn.first_audio is None:
                        turn.first_audio = t + filled / self.sample_rate
                take = min(n - filled, clip.samples.size - clip.played)
                out[filled : filled + take] = clip.samples[clip.played : clip.played + take]
                clip.played += take
                filled += take
                if clip.played >= clip.samples.size:
                    self._queue.popleft()
            if not self._queue:
                self._idle.set()
            if self.gain != 1.0 and filled:
                np.multiply(out, self.gain, out=out)
                np.clip(out, -1.0, 1.0, out=out)
            self._history.append((t, out))
            while self._history and self._history[0][0] < t - self._history_s:
                self._history.popleft()
        return out

    def reference(self, t0: float, t1: float) -> np.ndarray:
        n16 = max(0, int(round((t1 - t0) * SAMPLE_RATE)))
        with self._lock:
            blocks = list(self._history)
        if not blocks or n16 == 0:
            return np.zeros(n16, np.float32)
        # Place the played blocks on a timeline at the sink rate, then convert to 16 kHz.
        n = int(round((t1 - t0) * self.sample_rate))
        line = np.zeros(n, np.float32)
        for bt, block in blocks:
            start = int(round((bt - t0) * self.sample_rate))
            lo, hi = max(0, start), min(n, start + block.size)
            if lo < hi:
                line[lo:hi] = block[lo - start : hi - start]
        line = resample(line, self.sample_rate)
        return line[:n16] if line.size >= n16 else np.pad(line, (0, n16 - line.size))

    def close(self) -> None:
        self.stop()


class SimulatedSpeaker(Playback):
    """A real-time sink with no sound card: a thread reads :class:`Playback` at the device's pace.

    What it "played" is kept (``output``) so tests can feed it back into a simulated microphone
    (the speaker's leak into the room) and check what was heard.

    Args:
        sample_rate: output rate, Hz.
        block: samples per read (512 at 22 050 Hz ≈ 23 ms, a typical PortAudio buffer).
        keep_output: keep every block played (tests); off for the bench's long runs.
    """

    def __init__(self, sample_rate: int, block: int = 512, keep_output: bool = True):
        super().__init__(sample_rate)
        self.block = block
        self._keep = keep_output
        self._out: list[tuple[float, np.ndarray]] = []
        self._running = True
        self._thread = threading.Thread(target=self._run, name="simulated-speaker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        period = self.block / self.sample_rate
        next_t = time.monotonic()
        while self._running:
            block = self.read(self.block, next_t)
            if self._keep:
                self._out.append((next_t, block))
            next_t += period
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    @property
    def output(self) -> list[tuple[float, np.ndarray]]:
        """(monotonic start time, block) for every block played so far."""
        return list(self._out)

    def close(self) -> None:
        self._running = False
        self.stop()
        self._thread.join(timeout=1.0)


class WavFileSink:
    """Writes every clip, whole and in order, to one WAV file (at close), with a pause between turns.

    Args:
        path: the output file; None keeps nothing (a file run whose answers are not wanted as audio).
        sample_rate: the clips' rate, Hz (the TTS voice's rate).
        gap_ms: silence written between turns, ms.
    """

    realtime = False

    def __init__(self, path: Path | None, sample_rate: int, gap_ms: float = 500.0):
        self.path = path
        self._closed = False
        self.sample_rate = sample_rate
        self._gap = np.zeros(int(sample_rate * gap_ms / 1000), np.float32)
        self._parts: list[np.ndarray] = []
        self._turns: dict[int, _Turn] = {}
        self._last_turn: int | None = None

    def play(self, clip: Clip) -> None:
        turn = self._turns.setdefault(clip.turn_id, _Turn())
        if turn.first_audio is None:
            turn.first_audio = time.monotonic()
        if self._last_turn is not None and clip.turn_id != self._last_turn:
            self._parts.append(self._gap)
        self._last_turn = clip.turn_id
        clip.played = clip.samples.size
        turn.clips.append(clip)
        if self.path is not None:
            self._parts.append(clip.samples)

    def stop(self) -> None:
        pass  # nothing is ever "playing"

    def is_playing(self) -> bool:
        return False

    async def drain(self) -> None:
        return None

    def heard(self, turn_id: int) -> str:
        turn = self._turns.get(turn_id)
        return join_pieces([c.text for c in turn.clips]) if turn else ""

    def first_audio(self, turn_id: int) -> float | None:
        turn = self._turns.get(turn_id)
        return turn.first_audio if turn else None

    def forget(self, turn_id: int) -> None:
        _forget(self._turns, turn_id)

    def reference(self, t0: float, t1: float) -> np.ndarray:
        return np.zeros(max(0, int(round((t1 - t0) * SAMPLE_RATE))), np.float32)

    @property
    def seconds(self) -> float:
        """Audio written so far, seconds."""
        return sum(p.size for p in self._parts) / self.sample_rate

    def close(self) -> None:
        """Write the file (once; later calls do nothing)."""
        if self._closed or self.path is None:
            return
        self._closed = True
        audio = np.concatenate(self._parts) if self._parts else np.zeros(0, np.float32)
        write_wav(self.path, audio, self.sample_rate)
