"""The confidence model: fitting, serialising, and behaving like a probability."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.knowledge.confidence import (
    DEFAULT_HYBRID,
    DEFAULT_LEXICAL,
    Calibration,
    bm25_idf,
    calibration_metrics,
    char_bigrams,
    dice,
    fit_logistic,
)


def test_fit_recovers_a_known_logistic_model() -> None:
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1, size=(4000, 2))
    true_w, true_b = np.array([4.0, -2.0]), -0.5
    p = 1 / (1 + np.exp(-(x @ true_w + true_b)))
    y = (rng.uniform(size=len(p)) < p).astype(int)
    rows = [{"a": a, "b": b} for a, b in x]
    cal = fit_logistic(rows, y, ("a", "b"), l2=0.0)
    assert cal.weights == pytest.approx(true_w, abs=0.4)
    assert cal.bias == pytest.approx(true_b, abs=0.3)
    assert cal.metrics["ece"] < 0.05  # calibrated on its own data


def test_separable_data_still_gives_finite_weights() -> None:
    rows = [{"a": 0.0}] * 5 + [{"a": 1.0}] * 5
    cal = fit_logistic(rows, [0] * 5 + [1] * 5, ("a",))
    assert np.isfinite(cal.weights[0]) and cal.probability({"a": 1.0}) > 0.9 > 0.1 > cal.probability({"a": 0.0})
    with pytest.raises(ValueError, match="at least two"):
        fit_logistic(rows[:3], [1, 1, 1], ("a",))


def test_probability_is_monotone_in_the_evidence_and_round_trips() -> None:
    low = DEFAULT_LEXICAL.probability({"coverage": 0.2, "question_sim": 0.1, "evidence": 0.1, "margin": 0.0})
    high = DEFAULT_LEXICAL.probability({"coverage": 1.0, "question_sim": 0.8, "evidence": 1.0, "margin": 0.7})
    assert 0 < low < 0.5 < high < 1
    assert Calibration.from_json(DEFAULT_LEXICAL.to_json()) == DEFAULT_LEXICAL
    assert DEFAULT_HYBRID.features[-1] == "vector_sim"


def test_helpers() -> None:
    assert bm25_idf(0, 100) > bm25_idf(50, 100) > 0
    assert char_bigrams("社保卡") == {"社保", "保卡"} and char_bigrams("卡") == {"卡"}
    assert dice({"a", "b"}, {"b", "c"}) == 0.5 and dice(set(), set()) == 0.0
    m = calibration_metrics([0.9, 0.1, 0.8, 0.3], [1, 0, 1, 0])
    assert m["accuracy"] == 1.0 and m["brier"] == pytest.approx((0.01 + 0.01 + 0.04 + 0.09) / 4)
