"""A learned emergency detector beside the rules: a linear model over character n-grams.

The regular expressions in ``emergency.toml`` are exact and explainable, but residents describe a
live danger in more ways than any list of patterns ("我爸卡在两层楼中间下不来", "隔壁男的又在打老婆").
This detector reads the same normalised text and gives, for every emergency category, a
probability; the triage combines the two (rules first, see :mod:`appliance.triage`).

Model: multinomial logistic regression (softmax) over binary, L2-normalised features, trained with
scikit-learn on ``exemplars.jsonl`` (Chinese and English descriptions of live emergencies per
category, and ordinary questions labelled ``none``, many on the same topics). Features are the
character 1- to 3-grams of the normalised text, with spaces marking word edges, plus the stemmed
English words and word pairs: character n-grams carry Chinese without a segmenter and survive
speech-recognition typos (for n-gram text classification see Joulin et al., "Bag of Tricks for
Efficient Text Classification", EACL 2017).

At run time the model is a vocabulary (n-gram -> column) and a weight matrix, stored in
``detector.json`` beside this file, and scoring is a few dictionary look-ups and one softmax:
tens of microseconds, no scikit-learn needed. ``python -m appliance.triage.training`` retrains it
from the exemplars (see there for the cross-validated figures) and a test checks that the shipped
model was trained on the shipped exemplars.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from appliance.knowledge.text import stem

NONE = "none"
_EN_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_SPACES = re.compile(r"[\s\W_]+")


def features(text: str) -> set[str]:
    """The detector's features of normalised text (see :meth:`Analyzer.normalize`).

    Returns:
        The set of character 1- to 3-grams (``c:`` prefix; runs of spaces and punctuation become one
        space, and the text is padded with spaces so that grams mark word edges) and stemmed English
        words and word pairs (``w:`` prefix).
    """
    squeezed = " " + _SPACES.sub(" ", text).strip() + " "
    out = {"c:" + squeezed[i : i + n] for n in (1, 2, 3) for i in range(len(squeezed) - n + 1)}
    out.discard("c: ")
    words = [stem(w.replace("'", "")) for w in _EN_WORD.findall(text)]
    out.update("w:" + w for w in words)
    out.update(f"w:{a}_{b}" for a, b in zip(words, words[1:], strict=False))
    return out


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


class EmergencyDetector:
    """Scores normalised text for each emergency category.

    Args:
        classes: class labels, 'none' among them.
        vocabulary: feature -> column index.
        weights: one row per class, one weight per column.
        bias: one intercept per class.
        trained_on: sha256 of the exemplar file the model was trained on.
        notes: how it was trained and its cross-validated figures.
    """

    def __init__(
        self,
        classes: list[str],
        vocabulary: dict[str, int],
        weights: list[list[float]],
        bias: list[float],
        trained_on: str = "",
        notes: dict[str, object] | None = None,
    ):
        if NONE not in classes:
            raise ValueError("the detector needs a 'none' class")
        if len(weights) != len(classes) or len(bias) != len(classes):
            raise ValueError("one weight row and one bias per class")
        self.classes = classes
        self.vocabulary = vocabulary
        # Column-major: the weights of one feature for every class, for cheap sparse scoring.
        self._columns = [tuple(row[j] for row in weights) for j in range(len(vocabulary))]
        self.bias = bias
        self.trained_on = trained_on
        self.notes = notes or {}
        self._none = classes.index(NONE)

    def probabilities(self, text: str) -> dict[str, float]:
        """P(class | text) for every class (they sum to 1), for normalised ``text``."""
        present = [self.vocabulary[f] for f in features(text) if f in self.vocabulary]
        scale = 1.0 / math.sqrt(len(present)) if present else 0.0
        z = list(self.bias)
        for j in present:
            for c, w in enumerate(self._columns[j]):
                z[c] += w * scale
        top = max(z)
        e = [math.exp(v - top) for v in z]
        total = sum(e)
        return {label: v / total for label, v in zip(self.classes, e, strict=True)}

    def detect(self, text: str) -> Detection:
        """The most probable emergency category of normalised ``text`` and how likely an emergency is."""
        probs = self.probabilities(text)
        category = max((c for c in self.classes if c != NONE), key=lambda c: probs[c])
        return Detection(category, 1.0 - probs[NONE], probs[category])

    # -- storage -----------------------------------------------------------------------------

    def to_json(self) -> str:
        """The model as JSON (``detector.json``); weights rounded to 5 decimals."""
        n = len(self.vocabulary)
        weights = [[round(self._columns[j][c], 5) for j in range(n)] for c in range(len(self.classes))]
        return json.dumps(
            {
                "classes": self.classes,
                "vocabulary": sorted(self.vocabulary, key=self.vocabulary.__getitem__),
                "weights": weights,
                "bias": [round(b, 5) for b in self.bias],
                "trained_on": self.trained_on,
                "notes": self.notes,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> EmergencyDetector:
        """Inverse of :meth:`to_json`.

        Raises:
            ValueError: not a detector file, or inconsistent shapes.
        """
        try:
            d = json.loads(text)
            vocabulary = {f: i for i, f in enumerate(d["vocabulary"])}
            if any(len(row) != len(vocabulary) for row in d["weights"]):
                raise ValueError("a weight row does not match the vocabulary")
            return cls(
                list(d["classes"]), vocabulary, d["weights"], list(d["bias"]), d.get("trained_on", ""), d.get("notes")
            )
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not an emergency detector file: {exc}") from exc

    @classmethod
    def load(cls, path: Path | None = None) -> EmergencyDetector:
        """Load ``detector.json`` (default: the shipped one beside this module).

        Raises:
            ValueError: the file is not a detector; OSError: it cannot be read.
        """
        if path is None:
            return cls.from_json(resources.files("appliance.triage").joinpath("detector.json").read_text("utf-8"))
        return cls.from_json(path.read_text(encoding="utf-8"))


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
