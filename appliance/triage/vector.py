"""The emergency detector's second reader: softmax regression over the question's sentence
embedding, mixed with the n-gram detector when the kiosk has the embedding model it was trained on.

Character n-grams (:mod:`appliance.triage.detector`) know the words they were trained on; a
sentence encoder places a phrasing nobody wrote down ("我爸在电梯里出不来了", "there's someone
lying on the stairs and he won't answer") near the exemplars that mean the same. The two readings
are averaged class by class: ``P = (1 - w) · P_ngram + w · P_vector`` (a linear opinion pool:
Stone, "The Opinion Pool", Ann. Math. Statist. 1961), with ``w`` and the mixture's own alarm and
ask thresholds chosen by cross-validation on the exemplars (:mod:`appliance.triage.training`),
never on the held-out test sets.

Measured out of fold on the exemplars with multilingual-e5-small (stratified 5-fold, thresholds at
the same 0.5 % false alarms and 2 % checks on ordinary texts): n-grams alone raise the alarm for
0.840 of live emergencies and alarm or ask for 0.940; mixed, 0.918 and 0.981. Leaving out one
writer's whole file at a time instead: 0.611 / 0.793 alone, 0.726 / 0.886 mixed.

The model is the shipped ``detector-e5.json.gz``: the class labels, the embedding model's name and
dimension, one weight row per class and the mixture's settings. Scoring is one (classes × dim)
matrix-vector product.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from appliance.triage.detector import Thresholds
from appliance.triage.stored import StoredModel

if TYPE_CHECKING:
    from typing import Self  # Python 3.11+; annotations are not evaluated


class VectorDetector(StoredModel):
    """Softmax regression over an L2-normalised sentence embedding.

    Args:
        classes: class labels (the n-gram detector's: emergency categories and ``none``).
        model: name of the embedding model whose question embeddings (``query=True``) it reads.
        weights: float array-like of shape (len(classes), dim).
        bias: one intercept per class.
        trained_on: sha256 of the exemplar files it was trained on.
        notes: how it was trained; ``weight`` (w in the mixture, in [0, 1]), ``alarm``, ``ask`` and
            ``veto`` (the mixture's :class:`~appliance.triage.detector.Thresholds`) are read by the
            triage.

    Raises:
        ValueError: the shapes do not agree, or ``weight`` lies outside [0, 1].
    """

    shipped_file = "detector-e5.json.gz"
    kind = "an embedding emergency detector"

    def __init__(
        self,
        classes: list[str],
        model: str,
        weights,
        bias,
        trained_on: str = "",
        notes: dict[str, object] | None = None,
    ):
        w = np.asarray(weights, dtype=np.float32)
        b = np.asarray(bias, dtype=np.float32)
        if w.ndim != 2 or w.shape[0] != len(classes) or b.shape != (len(classes),):
            raise ValueError("one weight row and one bias per class")
        self.classes = list(classes)
        self.model = model
        self.weights = w
        self.bias = b
        self.trained_on = trained_on
        self.notes = notes or {}
        self.weight = float(self.notes.get("weight", 0.5))  # type: ignore[arg-type]
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"the mixture weight must lie in [0, 1], not {self.weight}")
        self.thresholds = Thresholds.of(self.notes)

    @property
    def dim(self) -> int:
        """The embedding's dimension."""
        return int(self.weights.shape[1])

    def probabilities(self, vector: np.ndarray) -> dict[str, float]:
        """P(class | embedding) for every class (they sum to 1).

        Args:
            vector: float array of shape (dim,), the question's embedding.

        Raises:
            ValueError: the vector has another shape.
        """
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        if v.shape[0] != self.dim:
            raise ValueError(f"expected a {self.dim}-dimensional embedding, got {v.shape[0]}")
        z = self.weights @ v + self.bias
        e = np.exp(z - z.max())
        p = e / e.sum()
        return {label: float(x) for label, x in zip(self.classes, p, strict=True)}

    def mix(self, ngram: dict[str, float], vector: dict[str, float]) -> dict[str, float]:
        """The pooled probabilities ``(1 - w) · ngram + w · vector`` (same classes in both)."""
        w = self.weight
        return {c: (1.0 - w) * ngram[c] + w * vector.get(c, 0.0) for c in ngram}

    def to_dict(self) -> dict:
        """The model as a JSON object; weights rounded to 5 decimals."""
        return {
            "classes": self.classes,
            "model": self.model,
            "weights": [[round(float(x), 5) for x in row] for row in self.weights],
            "bias": [round(float(x), 5) for x in self.bias],
            "trained_on": self.trained_on,
            "notes": self.notes,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Self:
        """The model of a parsed :meth:`to_json` object (see :meth:`StoredModel.from_json`)."""
        return cls(
            list(d["classes"]), str(d["model"]), d["weights"], d["bias"], d.get("trained_on", ""), d.get("notes")
        )
