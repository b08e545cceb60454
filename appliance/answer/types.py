"""The answer engine's output: what every front end (terminal, voice, screen) consumes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from appliance.compat import StrEnum


class Mode(StrEnum):
    """What kind of answer the resident gets (``kiosk ask --json``'s ``mode``; README's table)."""

    ANSWER = "answer"
    EMERGENCY = "emergency"
    HANDOFF = "handoff"
    CLARIFY = "clarify"
    NO_ANSWER = "no_answer"


class Generator(StrEnum):
    """What wrote the answer's text: the LLM, sentences chosen from the guide, or a script."""

    LLM = "llm"
    EXTRACTIVE = "extractive"
    SCRIPTED = "scripted"


MODES = tuple(m.value for m in Mode)
GENERATORS = tuple(g.value for g in Generator)
#: Small talk the appliance answers from its scripts (``intents.toml``'s ``[smalltalk]``).
SMALL_TALK = ("identity", "greeting", "thanks", "goodbye")


@dataclass(frozen=True)
class Source:
    """A cited piece of the knowledge base.

    Attributes:
        section: the section's heading (the innermost one; the document title for an overview).
        source: the ingested file's path.
    """

    doc_id: str
    title: str
    section: str
    source: str


@dataclass
class Answer:
    """One answered question.

    Attributes:
        mode: a :class:`Mode` (a string given is converted; an unknown one raises ValueError).
        generator: a :class:`Generator` (likewise).
        sources: what the answer is based on (empty for scripted small talk).
        timings_ms: milliseconds per stage ('triage', 'retrieval', 'llm_first_token', 'llm',
            'total' ...).
        lang: 'zh' or 'en', the language answered in.
        confidence: calibrated retrieval confidence, when retrieval ran.
        reason: why this mode: the emergency or handoff category ('check:<category>' when the
            resident is asked whether they are in danger), 'low_confidence', 'clarify',
            'clarified' (answered from the topic the resident chose), or why an LLM answer was
            replaced ('llm_uncited', 'llm_copied', 'llm_empty', 'llm_unsupported_number', 'llm_error').
        suggestions: what the screen offers as buttons: the closest topics with a no_answer, the
            topics asked about with a clarify, the replies to an emergency check.
        spoken: the short form said by the voice, when it differs from ``answer`` (extractive
            answers: the most relevant items, then "详细内容在屏幕上"); None: ``answer`` is said.
        offered: (doc_id, title) of the topics a clarification asks about.
        intent: the small talk answered (one of :data:`SMALL_TALK`; 'goodbye' ends the session),
            else None.
    """

    question: str
    answer: str
    mode: str
    generator: str
    sources: list[Source] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    lang: str = "zh"
    confidence: float | None = None
    reason: str | None = None
    suggestions: list[str] = field(default_factory=list)
    spoken: str | None = None
    offered: list[tuple[str, str]] = field(default_factory=list)
    intent: str | None = None

    def __post_init__(self) -> None:
        self.mode = Mode(self.mode)
        self.generator = Generator(self.generator)
        if self.intent is not None and self.intent not in SMALL_TALK:
            raise ValueError(f"unknown intent {self.intent!r}: one of {', '.join(SMALL_TALK)}")

    @property
    def checked_category(self) -> str | None:
        """The emergency category of an "are you in danger?" check (reason ``check:<category>``),
        else None."""
        if self.mode == "emergency" and self.reason and self.reason.startswith("check:"):
            return self.reason.split(":", 1)[1]
        return None

    def to_json(self) -> dict[str, object]:
        """The JSON object printed by ``kiosk ask --json`` (timings rounded to 0.1 ms)."""
        out = asdict(self)
        out["mode"], out["generator"] = self.mode.value, self.generator.value
        out["timings_ms"] = {k: round(v, 1) for k, v in self.timings_ms.items()}
        if self.confidence is not None:
            out["confidence"] = round(self.confidence, 4)
        return out
