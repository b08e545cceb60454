"""A linear text classifier over character n-grams: the shared core of the learned detectors.

Both learned readers of a resident's words are this model with different classes: the emergency
detector (:mod:`appliance.triage.detector`: one class per emergency category and ``none``) and the
domain detector (:mod:`appliance.triage.domain`: ``in`` or ``off`` the community-service domain).

Model: multinomial logistic regression (softmax) over binary, L2-normalised features of the
normalised text (see :meth:`appliance.knowledge.text.Analyzer.normalize`): its character 1- to
3-grams, with spaces marking word edges, plus stemmed English words and word pairs. Character
n-grams carry Chinese without a segmenter and survive speech-recognition typos (for n-gram text
classification see Joulin et al., "Bag of Tricks for Efficient Text Classification", EACL 2017).

At run time a model is a vocabulary (feature -> column) and a weight matrix stored as JSON, and
scoring is a few dictionary look-ups and one softmax: tens of microseconds, no scikit-learn
needed (training is in :mod:`appliance.triage.training`).
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from appliance.knowledge.text import stem
from appliance.triage.stored import StoredModel

if TYPE_CHECKING:
    from typing import Self  # Python 3.11+; annotations are not evaluated

_EN_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_SPACES = re.compile(r"[\s\W_]+")


def features(text: str) -> set[str]:
    """The classifiers' features of normalised text (see :meth:`Analyzer.normalize`).

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


class NgramClassifier(StoredModel):
    """Softmax regression over :func:`features`.

    Args:
        classes: class labels, one per weight row.
        vocabulary: feature -> column index.
        weights: one row per class, one weight per column.
        bias: one intercept per class.
        trained_on: sha256 of the exemplar files the model was trained on.
        notes: how it was trained, its thresholds and its cross-validated figures.

    Raises:
        ValueError: the shapes do not agree.
    """

    kind = "an n-gram classifier"

    def __init__(
        self,
        classes: list[str],
        vocabulary: dict[str, int],
        weights: list[list[float]],
        bias: list[float],
        trained_on: str = "",
        notes: dict[str, object] | None = None,
    ):
        if len(weights) != len(classes) or len(bias) != len(classes):
            raise ValueError("one weight row and one bias per class")
        if any(len(row) != len(vocabulary) for row in weights):
            raise ValueError("a weight row does not match the vocabulary")
        self.classes = classes
        self.vocabulary = vocabulary
        # Column-major: the weights of one feature for every class, for cheap sparse scoring.
        self._columns = list(zip(*weights, strict=True)) if vocabulary else []
        self.bias = bias
        self.trained_on = trained_on
        self.notes = notes or {}

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

    # -- storage -----------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """The model as a JSON object; weights rounded to 5 decimals."""
        n = len(self.vocabulary)
        weights = [[round(self._columns[j][c], 5) for j in range(n)] for c in range(len(self.classes))]
        return {
            "classes": self.classes,
            "vocabulary": sorted(self.vocabulary, key=self.vocabulary.__getitem__),
            "weights": weights,
            "bias": [round(b, 5) for b in self.bias],
            "trained_on": self.trained_on,
            "notes": self.notes,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Self:
        """The model of a parsed :meth:`to_json` object (see :meth:`StoredModel.from_json`)."""
        vocabulary = {f: i for i, f in enumerate(d["vocabulary"])}
        return cls(
            list(d["classes"]), vocabulary, d["weights"], list(d["bias"]), d.get("trained_on", ""), d.get("notes")
        )
