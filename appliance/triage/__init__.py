"""Triage before retrieval: emergencies, matters for a person, and small talk.

Rules are data (``emergency.toml``, ``intents.toml`` beside this file): regular expressions over
the normalised question, reviewed like the knowledge base. Matching is a few dozen compiled
regular expressions (microseconds), so an emergency is recognised and answered before any
retrieval or model runs.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class EmergencyCategory:
    """One kind of emergency and its scripted guidance.

    Attributes:
        numbers: site fields (``fire``, ``property_hotline`` ...) whose numbers the guidance says.
        guidance / guidance_en: scripted text with ``{placeholders}`` filled from the site profile.
    """

    id: str
    label: str
    label_en: str
    informational_ok: bool
    patterns: tuple[re.Pattern[str], ...]
    exclude: tuple[re.Pattern[str], ...]
    numbers: tuple[str, ...]
    guidance: str
    guidance_en: str


@dataclass(frozen=True)
class HandoffRule:
    """A kind of matter that needs a person; ``reason`` is recorded in the journal."""

    id: str
    reason: str
    patterns: tuple[re.Pattern[str], ...]


@dataclass(frozen=True)
class Triage:
    """The compiled rules. Build with :meth:`load`; pass normalised text to the methods
    (see :meth:`appliance.knowledge.text.Analyzer.normalize`)."""

    emergencies: tuple[EmergencyCategory, ...]
    urgent: tuple[str, ...]
    past: tuple[str, ...]
    personal: tuple[str, ...]
    informational: tuple[str, ...]
    handoffs: tuple[HandoffRule, ...]
    smalltalk: dict[str, tuple[re.Pattern[str], ...]]

    @classmethod
    def load(cls, folder: Path | None = None) -> Triage:
        """Load ``emergency.toml`` and ``intents.toml`` from ``folder`` (default: the shipped ones).

        Raises:
            ValueError: a file is not valid TOML or a pattern is not a valid regular expression
                (the message names the category).
        """
        base = folder or Path(str(resources.files("appliance.triage")))
        em = tomllib.loads((base / "emergency.toml").read_text(encoding="utf-8"))
        it = tomllib.loads((base / "intents.toml").read_text(encoding="utf-8"))

        def compile_all(patterns: list[str], where: str) -> tuple[re.Pattern[str], ...]:
            try:
                return tuple(re.compile(p) for p in patterns)
            except re.error as exc:
                raise ValueError(f"bad pattern in {where}: {exc}") from exc

        emergencies = tuple(
            EmergencyCategory(
                id=c["id"],
                label=c["label"],
                label_en=c.get("label_en", c["label"]),
                informational_ok=bool(c.get("informational_ok", True)),
                patterns=compile_all(c["patterns"], f"emergency {c['id']}"),
                exclude=compile_all(c.get("exclude", []), f"emergency {c['id']}"),
                numbers=tuple(c.get("numbers", [])),
                guidance=c["guidance"].strip(),
                guidance_en=c.get("guidance_en", c["guidance"]).strip(),
            )
            for c in em["category"]
        )
        handoffs = tuple(
            HandoffRule(h["id"], h["reason"], compile_all(h["patterns"], f"handoff {h['id']}"))
            for h in it.get("handoff", [])
        )
        smalltalk = {k: compile_all(v, f"smalltalk {k}") for k, v in it.get("smalltalk", {}).items()}
        words = {k: tuple(em.get(k, [])) for k in ("urgent", "past", "personal", "informational")}
        return cls(emergencies, handoffs=handoffs, smalltalk=smalltalk, **words)

    def is_informational(self, text: str) -> bool:
        """True when the question reads as a general question about a topic, not a live situation
        (urgent words, then past, then a concrete person, then hypothetical words; see emergency.toml)."""
        if any(w in text for w in self.urgent):
            return False
        if any(w in text for w in self.past):
            return True
        if any(w in text for w in self.personal):
            return False
        return any(w in text for w in self.informational)

    def emergency(self, text: str) -> EmergencyCategory | None:
        """The first emergency category the question matches, or None."""
        informational: bool | None = None
        for category in self.emergencies:
            if not any(p.search(text) for p in category.patterns):
                continue
            if any(p.search(text) for p in category.exclude):
                continue
            if category.informational_ok:
                if informational is None:
                    informational = self.is_informational(text)
                if informational:
                    continue
            return category
        return None

    def handoff(self, text: str) -> HandoffRule | None:
        """The first matter-for-a-person rule the question matches, or None."""
        for rule in self.handoffs:
            if any(p.search(text) for p in rule.patterns):
                return rule
        return None

    def small_talk(self, text: str) -> str | None:
        """'identity', 'greeting', 'thanks' or 'goodbye' when the question is that, else None."""
        for kind, patterns in self.smalltalk.items():
            if any(p.search(text) for p in patterns):
                return kind
        return None
