"""The events the conversation and the guided explanations emit, for every front end.

The voice loop (:mod:`appliance.conversation`), the typed conversation
(:mod:`appliance.text_conversation`) and the tour runner (:mod:`appliance.tours`) emit these; the
terminal, the touchscreen, the robot's body and the journal consume them. They live here, apart
from the loops, so that a text-only path (``kiosk ask``, ``kiosk run --text``, the touchscreen
without a microphone) imports them without the audio pipeline. All are frozen dataclasses except
the turn's result and timings, which the loop fills in as the turn goes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.answer.types import Answer, Mode
    from appliance.tours import Tour, TourStep
    from voice.asr import Transcript


# The conversation (voice or typed) --------------------------------------------------------------


@dataclass(frozen=True)
class Listening:
    """The loop is waiting for speech."""


@dataclass(frozen=True)
class UserSpeaking:
    """Speech started (t: source time, seconds)."""

    t: float


@dataclass(frozen=True)
class Heard:
    """A turn's transcript (dropped is set when it will not be answered)."""

    turn_id: int
    transcript: Transcript


@dataclass(frozen=True)
class ModeDecided:
    """The answer's mode is known (before any text)."""

    turn_id: int
    mode: Mode


@dataclass(frozen=True)
class Speaking:
    """A piece of the answer is about to be played (its display text)."""

    turn_id: int
    text: str


@dataclass(frozen=True)
class BargeIn:
    """The resident interrupted turn ``turn_id``.

    Attributes:
        detect_ms: from the first frame of the interrupting speech to the decision, ms.
    """

    turn_id: int
    detect_ms: float


@dataclass(frozen=True)
class TurnDone:
    """A turn is over (answered, interrupted or dropped)."""

    result: TurnResult


@dataclass(frozen=True)
class SessionEnded:
    """The resident's session ended (goodbye or silence timeout)."""

    number: int


Event = Listening | UserSpeaking | Heard | ModeDecided | Speaking | BargeIn | TurnDone | SessionEnded


# Turns and their timings ----------------------------------------------------------------------


@dataclass
class TurnTimings:
    """Milliseconds from the end of the resident's speech (None: the stage did not happen).

    Attributes:
        endpoint: end-of-turn decision (the trailing silence waited for, ≈ ``end_silence_ms``).
        asr: transcript ready.
        first_token: the LLM's first token (LLM answers only).
        first_text: the first answer text released to the front ends.
        first_audio: the first sample of the answer handed to the speaker.
        llm_done: the LLM finished (LLM answers only).
        total: everything synthesised and queued (file runs: written).
        asr_model / tts_model / llm_model / retrieval: time inside each model, ms (TTS summed
            over pieces).
        spoken_ms: length of the answer's synthesised audio, ms (tts_model / spoken_ms is the
            voice's real-time factor).
        overhead: time on the path to the first audio not spent inside a model: end of
            endpointing → ASR → engine → first TTS piece → speaker, minus ASR, retrieval, the LLM
            up to its first released text, and the first piece's synthesis.
    """

    endpoint: float = 0.0
    asr: float | None = None
    first_token: float | None = None
    first_text: float | None = None
    first_audio: float | None = None
    llm_done: float | None = None
    total: float | None = None
    asr_model: float = 0.0
    tts_model: float = 0.0
    llm_model: float = 0.0
    retrieval: float = 0.0
    spoken_ms: float = 0.0
    overhead: float | None = None

    def as_dict(self) -> dict[str, float]:
        """The timings that happened, rounded to 0.1 ms (journal and JSON output)."""
        return {k: round(v, 1) for k, v in self.__dict__.items() if v is not None}


@dataclass
class TurnResult:
    """What happened in one turn.

    Attributes:
        transcript: the ASR result (None if cancelled before ASR finished).
        answer: the engine's answer (None when dropped or cancelled before answering).
        heard: the answer text the resident heard (all of it unless interrupted).
        interrupted: True when a barge-in cut the turn.
        query: the completed follow-up query, when the session used one.
        held_ms: how much later than at once a live run answers it, because its transcript ended
            open (``hold_open_ms`` from the end of speech, less what ASR took anyway), ms.
    """

    turn_id: int
    transcript: Transcript | None = None
    answer: Answer | None = None
    heard: str = ""
    interrupted: bool = False
    query: str | None = None
    timings: TurnTimings = field(default_factory=TurnTimings)
    utterance_ms: float = 0.0
    held_ms: float = 0.0


# Guided explanations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TourStarted:
    """The tour began (before its first step)."""

    tour: Tour


@dataclass(frozen=True)
class StepStarted:
    """A step (re)starts: show its slide and image. ``index`` is 0-based, of ``total`` steps."""

    tour_id: str
    index: int
    total: int
    step: TourStep


@dataclass(frozen=True)
class TourPaused:
    """The tour waits: ``reason`` is 'staff' (paused) or 'question' (a resident asked)."""

    tour_id: str
    index: int
    reason: str


@dataclass(frozen=True)
class TourResumed:
    """The tour goes on: step ``index`` is told again from its start."""

    tour_id: str
    index: int


@dataclass(frozen=True)
class TourFinished:
    """The tour ended: ``completed`` when it ran (or was skipped) past its last step, False when
    stopped; ``steps_done`` counts the steps whose narration was told to the end."""

    tour_id: str
    completed: bool
    steps_done: int


TourEvent = TourStarted | StepStarted | TourPaused | TourResumed | TourFinished
