"""A learned emergency detector beside the rules: a linear model over character n-grams.

The regular expressions in ``emergency.toml`` are exact and explainable, but residents describe a
live danger in more ways than any list of patterns ("我爸卡在两层楼中间下不来", "隔壁男的又在打老婆").
This detector reads the same normalised text and gives, for every emergency category, a
probability; the triage combines the two (rules first, see :mod:`appliance.triage`).

The model is an :class:`~appliance.triage.ngram.NgramClassifier` (softmax regression over
character n-grams and English words) with one class per emergency category and ``none``, trained
with scikit-learn on ``exemplars*.jsonl`` (Chinese and English descriptions of live emergencies
per category, and ordinary questions labelled ``none``, many on the same topics) and stored in
``detector.json.gz`` beside this file. ``python -m appliance.triage.training`` retrains it from the
exemplars (see there for the cross-validated figures) and a test checks that the shipped model was
trained on the shipped exemplars.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from appliance.triage.ngram import NgramClassifier, features

__all__ = ["NONE", "Detection", "EmergencyDetector", "Exemplar", "Thresholds", "features", "load_exemplars"]

NONE = "none"


@dataclass(frozen=True)
class Detection:
    """The detector's reading of one text.

    Attributes:
        category: the most probable emergency category (never 'none').
        probability: the probability that the text describes a live emergency of any category
            (1 - P(none)), in [0, 1]: what the triage thresholds.
        p_category: the probability of ``category`` itself.
    """

    category: str
    probability: float
    p_category: float

    @classmethod
    def of(cls, probs: dict[str, float]) -> Detection:
        """The reading of class probabilities (emergency categories and ``none``, summing to 1)."""
        category = max((c for c in probs if c != NONE), key=lambda c: probs[c])
        return cls(category, 1.0 - probs[NONE], probs[category])


class EmergencyDetector(NgramClassifier):
    """Scores normalised text for each emergency category (classes: the category ids and 'none').

    Raises:
        ValueError: no 'none' class, or the shapes do not agree (see :class:`NgramClassifier`).
    """

    shipped_file = "detector.json.gz"
    kind = "an emergency detector"

    def __init__(self, classes: list[str], *args, **kwargs):
        if NONE not in classes:
            raise ValueError("the detector needs a 'none' class")
        super().__init__(classes, *args, **kwargs)

    def detect(self, text: str) -> Detection:
        """The most probable emergency category of normalised ``text`` and how likely an emergency is."""
        return Detection.of(self.probabilities(text))


@dataclass(frozen=True)
class Thresholds:
    """Where a detector's P(emergency) (1 - P(none)) is cut.

    Attributes:
        alarm: at or above it, an alarm.
        ask: at or above it (and below ``alarm``), a check: the numbers and "您现在有危险吗？".
        veto: below it, a rule's match is only a check (the detector is sure it is not a live
            emergency: a past fire, a hypothetical, "嗓子都说冒烟了"); 0 = never.
    """

    alarm: float = 1.0
    ask: float = 1.0
    veto: float = 0.0

    @classmethod
    def of(cls, notes: dict[str, object]) -> Thresholds:
        """The thresholds a model file's ``notes`` record (``alarm``, ``ask``, ``veto``)."""
        alarm = float(notes.get("alarm", 1.0))  # type: ignore[arg-type]
        return cls(alarm, float(notes.get("ask", alarm)), float(notes.get("veto", 0.0)))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Exemplar:
    """One training line: a text, its label (a category id or 'none') and its language."""

    text: str
    label: str
    lang: str


def load_exemplars(lines: Iterable[str], source: str = "exemplars.jsonl") -> list[Exemplar]:
    """Parse JSON lines ``{"text", "label", "lang"}``.

    Raises:
        ValueError: a line that is not such an object, with its line number.
    """
    out = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            out.append(Exemplar(str(rec["text"]), str(rec["label"]), str(rec.get("lang", "zh"))))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{source}:{n}: bad exemplar line ({exc})") from exc
    return out
