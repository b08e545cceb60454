"""Endpointing: from per-frame speech probabilities to utterances (turns).

A two-threshold state machine (hysteresis), the scheme of Silero VAD's own
``get_speech_timestamps`` (speech starts at ``threshold``, ends below ``threshold - 0.15``):

* **silence → speech** when a frame's probability reaches ``start_threshold``; the ``pre_roll_ms``
  of audio before it is kept so the first syllable (often quiet: an unvoiced consonant) is not cut.
* **speech → end of turn** after ``end_silence_ms`` of frames below ``end_threshold``; once
  speech has started, a frame at or above the lower ``end_threshold`` keeps it going.
* a turn with less than ``min_speech_ms`` of speech is discarded (a cough, a door, a click);
* a turn reaching ``max_utterance_s`` is ended there (someone talking to a friend in front of the
  kiosk must not fill the ASR with minutes of audio).

The endpointer is pure logic over (frame, probability) pairs, so it is tested with scripted
probabilities as well as with the real VAD. While the appliance is speaking, the conversation loop
raises ``start_threshold`` (see :meth:`Endpointer.set_speaking`) so the speaker's own leak into the
microphone does not start a turn.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from voice.audio import FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE, Frame

FRAME_S = FRAME_SAMPLES / SAMPLE_RATE


@dataclass(frozen=True)
class EndpointConfig:
    """Endpointing parameters.

    Attributes:
        start_threshold: probability at which speech starts (Silero's default 0.5).
        end_threshold: probability below which a frame counts as silence (Silero: threshold - 0.15).
        speaking_threshold: start threshold while the appliance itself is speaking.
        pre_roll_ms: audio kept from before the speech start, ms.
        min_speech_ms: shorter speech is discarded, ms.
        end_silence_ms: trailing silence that ends a turn, ms.
        max_utterance_s: a turn is cut at this length, seconds.
    """

    start_threshold: float = 0.5
    end_threshold: float = 0.35
    speaking_threshold: float = 0.8
    pre_roll_ms: float = 300.0
    min_speech_ms: float = 250.0
    end_silence_ms: float = 600.0
    max_utterance_s: float = 20.0

    def __post_init__(self) -> None:
        if not 0.0 < self.end_threshold <= self.start_threshold <= self.speaking_threshold <= 1.0:
            raise ValueError("need 0 < end_threshold <= start_threshold <= speaking_threshold <= 1")
        if self.end_silence_ms < FRAME_MS or self.max_utterance_s * 1000 <= self.min_speech_ms:
            raise ValueError("end_silence_ms must be at least one frame and max_utterance_s above min_speech_ms")


@dataclass(frozen=True)
class SpeechStarted:
    """A frame crossed the start threshold (not yet known to be a real turn).

    Attributes:
        t: source time of the first speech frame, seconds.
        prob: its speech probability.
    """

    t: float
    prob: float


@dataclass(frozen=True)
class SpeechDiscarded:
    """The speech that started was too short to be a turn.

    Attributes:
        speech_ms: how much speech there was.
    """

    t: float
    speech_ms: float


@dataclass(frozen=True)
class Utterance:
    """A finished turn.

    Attributes:
        audio: float32 mono 16 kHz: pre-roll, speech and the trailing silence.
        t_start: source time of the first speech frame, seconds.
        t_speech_end: source time at which the last speech frame ended, seconds.
        t_decision: source time at which the end of turn was decided (the end of the frame that
            completed the trailing silence), seconds.
        reason: 'silence', 'max_length' or 'end_of_stream'.
        speech_ms: speech duration from start to last speech frame, ms.
    """

    audio: np.ndarray
    t_start: float
    t_speech_end: float
    t_decision: float
    reason: str
    speech_ms: float

    @property
    def endpoint_ms(self) -> float:
        """Delay from the end of speech to the end-of-turn decision, ms (≈ ``end_silence_ms``)."""
        return (self.t_decision - self.t_speech_end) * 1e3

    def then(self, more: Utterance) -> Utterance:
        """This utterance and ``more``, which the resident said after a pause, as one turn: the
        audio joined (this one's trailing silence and ``more``'s pre-roll stand for the pause),
        timed from this one's start to ``more``'s end."""
        return Utterance(
            np.concatenate([self.audio, more.audio]),
            self.t_start,
            more.t_speech_end,
            more.t_decision,
            more.reason,
            self.speech_ms + more.speech_ms,
        )


Event = SpeechStarted | SpeechDiscarded | Utterance


class Endpointer:
    """Turns (frame, speech probability) pairs into speech events. See the module docstring."""

    def __init__(self, config: EndpointConfig | None = None):
        self.config = config or EndpointConfig()
        c = self.config
        self._pre_roll: deque[np.ndarray] = deque(maxlen=max(0, round(c.pre_roll_ms / FRAME_MS)))
        self._end_frames = max(1, math.ceil(c.end_silence_ms / FRAME_MS - 1e-9))
        self._min_frames = max(1, round(c.min_speech_ms / FRAME_MS))
        self._max_frames = max(self._min_frames + 1, round(c.max_utterance_s * 1000 / FRAME_MS))
        self._speaking = False
        self.reset()

    @property
    def in_speech(self) -> bool:
        """True between a speech start and the end (or discard) of that turn."""
        return self._frames is not None

    def set_speaking(self, speaking: bool) -> None:
        """Tell the endpointer whether the appliance is playing audio (raises the start threshold)."""
        self._speaking = speaking

    @property
    def start_threshold(self) -> float:
        """The threshold in force now."""
        return self.config.speaking_threshold if self._speaking else self.config.start_threshold

    def reset(self) -> None:
        """Drop any speech in progress (after a barge-in is handled, or a new session)."""
        self._pre_roll.clear()
        self._frames: list[np.ndarray] | None = None
        self._t_start = 0.0
        self._last_speech = 0  # frames since start, up to and including the last speech frame
        self._silence = 0

    def process(self, frame: Frame, prob: float) -> list[Event]:
        """Feed one frame and its speech probability; return the events it caused (often none)."""
        c = self.config
        if self._frames is None:
            if prob >= self.start_threshold:
                self._frames = [*self._pre_roll, frame.samples]
                self._pre_roll.clear()
                self._t_start = frame.t
                self._last_speech, self._silence = 1, 0
                return [SpeechStarted(frame.t, prob)]
            self._pre_roll.append(frame.samples)
            return []

        self._frames.append(frame.samples)
        n_speech_frames = self._last_speech + self._silence + 1  # frames since the start, this one included
        if prob >= c.end_threshold:
            self._silence = 0
            self._last_speech = n_speech_frames
        else:
            self._silence += 1
        t_end = frame.t + FRAME_S
        if self._silence >= self._end_frames:
            return [self._finish(t_end, "silence")]
        if n_speech_frames >= self._max_frames:
            return [self._finish(t_end, "max_length")]
        return []

    def flush(self, t: float) -> list[Event]:
        """End of the stream at source time ``t``: finish the turn in progress, if any."""
        if self._frames is None:
            return []
        return [self._finish(t, "end_of_stream")]

    def _finish(self, t_decision: float, reason: str) -> Event:
        frames = self._frames or []
        speech_frames = self._last_speech
        t_start = self._t_start
        self.reset()
        speech_ms = speech_frames * FRAME_MS
        if speech_frames < self._min_frames:
            return SpeechDiscarded(t_start, speech_ms)
        t_speech_end = t_start + speech_frames * FRAME_S
        return Utterance(np.concatenate(frames), t_start, t_speech_end, t_decision, reason, speech_ms)
