"""Checking a knowledge base against real residents' questions: hit@k, MRR, and calibration.

A question file is JSON lines ``{"question": ..., "expected": "<document title>"}`` (or TSV
``question<TAB>title``). ``expected`` null or empty marks a question the base should *not* answer
(out of scope); those count towards the false-answer rate, not towards hit@k.

Definitions (Manning, Raghavan & Schütze, *Introduction to Information Retrieval*, ch. 8):
hit@k = share of answerable questions whose expected document is in the top k; MRR = mean of
1/rank of the expected document (0 when it is not in the top 10).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from appliance.knowledge.confidence import Calibration, calibration_metrics, cross_validate, fit_logistic
from appliance.knowledge.retrieval import Retriever


@dataclass(frozen=True)
class LabelledQuestion:
    """A question and the title of the document that answers it (None: out of scope)."""

    question: str
    expected: str | None


def load_questions(paths: Iterable[Path]) -> list[LabelledQuestion]:
    """Read question files (JSON lines or TSV, by content).

    Raises:
        ValueError: a line that is neither, with file and line number.
    """
    out: list[LabelledQuestion] = []
    for path in paths:
        for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line.lstrip().startswith("{"):
                try:
                    rec = json.loads(line)
                    out.append(LabelledQuestion(str(rec["question"]), rec.get("expected") or None))
                except (ValueError, KeyError) as exc:
                    raise ValueError(f"{path}:{n}: bad JSON line ({exc})") from exc
            elif "\t" in line:
                q, _, expected = line.partition("\t")
                out.append(LabelledQuestion(q.strip(), expected.strip() or None))
            else:
                raise ValueError(f"{path}:{n}: expected a JSON object or 'question<TAB>title'")
    return out


@dataclass
class EvalResult:
    """One question's outcome."""

    question: str
    expected: str | None
    rank: int | None
    top: str | None
    confidence: float
    features: dict[str, float]


@dataclass
class EvalReport:
    """Aggregate figures over a question set.

    Attributes:
        hit_at_1 / hit_at_5 / mrr: over answerable questions.
        answered: share of answerable questions with confidence ≥ threshold.
        answered_correct: of those answered, share whose top document is right.
        false_answer_rate: share of out-of-scope questions with confidence ≥ threshold.
        calibration: Brier score, ECE and accuracy of the confidence as P(top-1 right).
    """

    n: int
    n_out_of_scope: int
    hit_at_1: float
    hit_at_5: float
    mrr: float
    answered: float
    answered_correct: float
    false_answer_rate: float
    threshold: float
    calibration: dict[str, float]
    results: list[EvalResult] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        """The figures without the per-question results."""
        return {k: v for k, v in self.__dict__.items() if k != "results"}


def rank_of(keys: Sequence[str], expected: str) -> int | None:
    """The 1-based rank of ``expected`` among ``keys`` (best first), None when it is not there."""
    return keys.index(expected) + 1 if expected in keys else None


def rank_metrics(ranks: Sequence[int | None]) -> tuple[float, float, float]:
    """(hit@1, hit@5, MRR) of the expected documents' ranks (1-based; None: not retrieved)."""
    n = len(ranks) or 1
    return (
        sum(r == 1 for r in ranks) / n,
        sum(r is not None and r <= 5 for r in ranks) / n,
        sum(1.0 / r for r in ranks if r) / n,
    )


def run_questions(retriever: Retriever, questions: Sequence[LabelledQuestion], depth: int = 10) -> list[EvalResult]:
    """Search every question and note where the expected document ranks."""
    results = []
    for q in questions:
        response = retriever.search(q.question, k=depth)
        titles = [r.doc.title for r in response.results]
        rank = rank_of(titles, q.expected) if q.expected else None
        results.append(
            EvalResult(
                q.question, q.expected, rank, titles[0] if titles else None, response.confidence, response.features
            )
        )
    return results


def evaluate(retriever: Retriever, questions: Sequence[LabelledQuestion], threshold: float) -> EvalReport:
    """Search every question and compute the report."""
    results = run_questions(retriever, questions)
    pos = [r for r in results if r.expected]
    neg = [r for r in results if not r.expected]
    n = len(pos) or 1
    answered = [r for r in pos if r.confidence >= threshold]
    labels = [1.0 if r.expected and r.rank == 1 else 0.0 for r in results]
    hit_at_1, hit_at_5, mrr = rank_metrics([r.rank for r in pos])
    return EvalReport(
        n=len(pos),
        n_out_of_scope=len(neg),
        hit_at_1=hit_at_1,
        hit_at_5=hit_at_5,
        mrr=mrr,
        answered=len(answered) / n,
        answered_correct=(sum(r.rank == 1 for r in answered) / len(answered)) if answered else 0.0,
        false_answer_rate=(sum(r.confidence >= threshold for r in neg) / len(neg)) if neg else 0.0,
        threshold=threshold,
        calibration=calibration_metrics([r.confidence for r in results], labels),
        results=results,
    )


def calibrate(retriever: Retriever, questions: Sequence[LabelledQuestion], note: str = "") -> Calibration:
    """Fit the confidence model on labelled questions (label: the top document is the expected one).

    The returned model's ``metrics`` are 5-fold cross-validated (each question scored by a model
    fitted without it), never the in-sample fit; with too few questions to hold some out, they are
    only ``{"n", "cross_validated": 0}``.

    Raises:
        ValueError: too few right or wrong top results to fit (add out-of-scope questions).
    """
    results = run_questions(retriever, questions, depth=1)
    labels = [1 if r.expected and r.top == r.expected else 0 for r in results]
    features = retriever.calibration.features
    rows = [r.features for r in results]
    model = fit_logistic(rows, labels, features, note=note)
    try:
        _, model.metrics = cross_validate(rows, labels, features, folds=min(5, len(rows)))
    except ValueError:
        model.metrics = {"n": len(rows), "cross_validated": 0}  # too few to hold any out: no figures
    return model
