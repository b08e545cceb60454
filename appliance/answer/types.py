"""The answer engine's output: what every front end (terminal, voice, screen) consumes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

MODES = ("answer", "emergency", "handoff", "no_answer")
GENERATORS = ("llm", "extractive", "scripted")


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
        mode: 'answer', 'emergency', 'handoff' or 'no_answer'.
        generator: 'llm', 'extractive' or 'scripted'.
        sources: what the answer is based on (empty for scripted small talk).
        timings_ms: milliseconds per stage ('triage', 'retrieval', 'llm_first_token', 'llm',
            'total' ...).
        lang: 'zh' or 'en', the language answered in.
        confidence: calibrated retrieval confidence, when retrieval ran.
        reason: why this mode: the emergency or handoff category, 'low_confidence', or why an LLM
            answer was replaced ('llm_uncited', 'llm_unsupported_number', 'llm_error').
        suggestions: closest topics offered with a no_answer.
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

    def to_json(self) -> dict[str, object]:
        """The JSON object printed by ``kiosk ask --json`` (timings rounded to 0.1 ms)."""
        out = asdict(self)
        out["timings_ms"] = {k: round(v, 1) for k, v in self.timings_ms.items()}
        if self.confidence is not None:
            out["confidence"] = round(self.confidence, 4)
        return out
