"""Calibrated retrieval confidence: P(the top document answers the question).

Raw BM25 and RRF scores are not probabilities and drift with the size of the collection, so the
answer engine cannot act on them directly. Instead a few bounded features of the top result are
mapped through a logistic model fitted on labelled questions (Platt scaling: J. Platt, "Probabilistic
Outputs for Support Vector Machines", 1999), which yields a probability the engine can threshold.

Features (all in [0, 1]); none needs the guide to have sample questions (常见问法), so a site's
own Word or PDF guides are judged like the demo's:

* ``coverage``: IDF-weighted share of the question's topic terms found in the top document. IDF is
  BM25's, ``ln(1 + (N - df + 0.5) / (df + 0.5))`` (Robertson & Zaragoza, "The Probabilistic
  Relevance Framework: BM25 and Beyond", 2009); a term absent from the whole knowledge base counts
  with the largest IDF, so questions about things the base does not cover score low.
* ``section_coverage``: the same share within the top document's best section and title alone: a
  question answered in one place, not pieced together from words scattered over a long document.
* ``title_coverage``: the same share within the title and the best section's headings.
* ``evidence``: the matched IDF mass in units of the largest possible IDF, saturating at three
  (``min(1, Σ_matched idf / (3 · idf_max))``): coverage alone rates a one-word question whose one
  word matches ("What time is it?" → "time") as fully covered; evidence says how much was matched.
* ``agreement``: the top document's fused score (:func:`~appliance.knowledge.retrieval.fuse`): 1
  when it is the best on every kind of evidence (whole document, section, sample question, vector).
* ``margin``: ``evidence · (f1 - f2) / f1`` over the fused scores of the top document and the best
  other one: how clearly it stands out, counted only as far as there is evidence.
* ``vector_sim``: cosine similarity of the best vector match in the top document (hybrid only).

The shipped parameters were fitted with :func:`fit_logistic` by ``kiosk bench answers --fit``
(:func:`appliance.bench_answers.calibration_examples`) on development data only (label: the
top document is the expected one): the demo's development questions (210 answerable, 60 out of
scope), the development half of the real Taipei City FAQ (432 questions, each answer a document;
and the same answers grouped eight to a long document), and out-of-scope questions from one
collection asked of the other (the Taipei questions of the demo knowledge base, the demo's
out-of-scope questions of the Taipei one): 1,626 questions. Their 5-fold cross-validated figures
are in :data:`DEFAULT_LEXICAL` and :data:`DEFAULT_HYBRID`. A site refits them on its own
questions with ``kiosk kb calibrate``, which reports cross-validated figures too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

LEXICAL_FEATURES = ("coverage", "section_coverage", "title_coverage", "evidence", "agreement", "margin")
HYBRID_FEATURES = (*LEXICAL_FEATURES, "vector_sim")


def bm25_idf(df: int, n: int) -> float:
    """BM25 inverse document frequency, ``ln(1 + (n - df + 0.5) / (df + 0.5))`` (always > 0)."""
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def char_bigrams(text: str) -> set[str]:
    """Character bigrams of ``text`` with spaces and punctuation removed (single char -> itself)."""
    chars = [c for c in text if c.isalnum()]
    if len(chars) == 1:
        return {chars[0]}
    return {chars[i] + chars[i + 1] for i in range(len(chars) - 1)}


def dice(a: set[str], b: set[str]) -> float:
    """Dice coefficient 2|A∩B| / (|A|+|B|) (0 for two empty sets)."""
    return 2 * len(a & b) / (len(a) + len(b)) if a or b else 0.0


@dataclass
class Calibration:
    """A logistic model over named features.

    Attributes:
        features: feature names, in the order of ``weights``.
        weights: one weight per feature.
        bias: intercept.
        fitted_on: a note on the data it was fitted on.
    """

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    fitted_on: str = ""
    metrics: dict[str, float] = field(default_factory=dict)

    def probability(self, values: dict[str, float]) -> float:
        """σ(bias + Σ wᵢ·xᵢ) for the model's features (a missing feature counts as 0)."""
        z = self.bias + sum(w * values.get(f, 0.0) for f, w in zip(self.features, self.weights, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def to_json(self) -> str:
        """Serialise (stored in the knowledge base's meta table)."""
        return json.dumps(
            {
                "features": list(self.features),
                "weights": list(self.weights),
                "bias": self.bias,
                "fitted_on": self.fitted_on,
                "metrics": self.metrics,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> Calibration:
        """Inverse of :meth:`to_json`."""
        d = json.loads(text)
        return cls(
            tuple(d["features"]),
            tuple(float(w) for w in d["weights"]),
            float(d["bias"]),
            d.get("fitted_on", ""),
            dict(d.get("metrics", {})),
        )


# Fitted on the development data described in the module docstring (lexical: no embedding model;
# hybrid: multilingual-e5-small-q4 vectors). Figures: 5-fold cross-validated on those 1,626
# questions (in sample they differ by under 0.002).
DEFAULT_LEXICAL = Calibration(
    features=LEXICAL_FEATURES,
    weights=(1.342, 1.131, 0.358, 1.209, 0.674, 1.938),
    bias=-3.390,
    fitted_on="development data: demo dev questions, Taipei FAQ dev half (short and long documents), "
    "cross-collection out-of-scope questions (1,626)",
    metrics={"brier": 0.1361, "ece": 0.0535, "accuracy": 0.802, "n": 1626, "cross_validated": 1},
)
DEFAULT_HYBRID = Calibration(
    features=HYBRID_FEATURES,
    weights=(1.336, 1.165, 0.264, 1.219, 0.996, 1.830, 0.152),
    bias=-3.549,
    fitted_on="development data as for the lexical model, with multilingual-e5-small-q4 vectors (1,626)",
    metrics={"brier": 0.134, "ece": 0.0585, "accuracy": 0.8075, "n": 1626, "cross_validated": 1},
)


def fit_logistic(
    rows: Sequence[dict[str, float]],
    labels: Sequence[int],
    features: Sequence[str],
    *,
    l2: float = 0.01,
    iterations: int = 500,
    note: str = "",
) -> Calibration:
    """Fit a logistic model by Newton's method (iteratively reweighted least squares) with a small
    L2 penalty on the weights (not the bias), so that separable data still gives finite weights.

    Args:
        rows: feature values per example.
        labels: 1 when the top result was right, else 0.
        features: which features to use, in order.

    Raises:
        ValueError: fewer than two examples of either label.
    """
    y = np.asarray(labels, dtype=np.float64)
    if y.sum() < 2 or (1 - y).sum() < 2:
        raise ValueError("calibration needs at least two right and two wrong top results")
    x = np.array([[r.get(f, 0.0) for f in features] for r in rows], dtype=np.float64)
    x = np.hstack([np.ones((len(x), 1)), x])
    theta = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2 * len(y))
    penalty[0] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ theta, -60, 60)))
        grad = x.T @ (p - y) + penalty * theta
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty) + 1e-9 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    cal = Calibration(tuple(features), tuple(float(w) for w in theta[1:]), float(theta[0]), note)
    probs = np.array([cal.probability(r) for r in rows])
    cal.metrics = calibration_metrics(probs, y)
    return cal


def calibration_metrics(probs: Iterable[float], labels: Iterable[float], bins: int = 10) -> dict[str, float]:
    """Brier score, expected calibration error (equal-width bins) and accuracy at 0.5."""
    p = np.asarray(list(probs), dtype=np.float64)
    y = np.asarray(list(labels), dtype=np.float64)
    if len(p) == 0:
        return {"brier": 0.0, "ece": 0.0, "accuracy": 0.0, "n": 0}
    ece = 0.0
    edges = np.linspace(0, 1, bins + 1)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        mask = (p >= lo) & ((p < hi) if hi < 1 else (p <= hi))
        if mask.any():
            ece += mask.mean() * abs(p[mask].mean() - y[mask].mean())
    return {
        "brier": float(np.mean((p - y) ** 2)),
        "ece": float(ece),
        "accuracy": float(np.mean((p >= 0.5) == (y == 1))),
        "n": int(len(p)),
    }


def cross_validate(
    rows: Sequence[dict[str, float]],
    labels: Sequence[int],
    features: Sequence[str],
    *,
    folds: int = 5,
    seed: int = 0,
) -> tuple[list[float], dict[str, float]]:
    """Out-of-fold probabilities and their calibration figures: each example is scored by a model
    fitted on the other folds (k-fold cross-validation; examples shuffled with ``seed``).

    Returns:
        (probability per example, :func:`calibration_metrics` of them with ``"cross_validated": 1``).

    Raises:
        ValueError: a training fold has fewer than two examples of either label, or fewer
            examples than folds.
    """
    if len(rows) < folds:
        raise ValueError(f"cross-validation needs at least {folds} examples")
    order = list(range(len(rows)))
    np.random.default_rng(seed).shuffle(order)
    probs = [0.0] * len(rows)
    for k in range(folds):
        held = set(order[k::folds])
        train = [i for i in order if i not in held]
        model = fit_logistic([rows[i] for i in train], [labels[i] for i in train], features)
        for i in held:
            probs[i] = model.probability(rows[i])
    metrics = calibration_metrics(probs, labels)
    metrics["cross_validated"] = 1
    return probs, metrics
