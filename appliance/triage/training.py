"""Training the emergency detector (:mod:`appliance.triage.detector`) from the exemplar files.

    python -m appliance.triage.training            # cross-validate, train, write detector.json
    python -m appliance.triage.training --check    # exit 1 unless detector.json matches the exemplars

Needs scikit-learn (a development dependency; the appliance itself only reads ``detector.json``).
The regularisation strength and the two decision thresholds are chosen by stratified 5-fold
cross-validation on the exemplars alone, never on the held-out test questions
(``appliance/demo/eval/test/emergency.jsonl``, written separately, reported by ``kiosk bench
answers``):

* ``alarm``: the lowest probability at which out-of-fold ``none`` texts raise at most
  :data:`MAX_FALSE_ALARM` false alarms;
* ``ask``: the lowest probability at which out-of-fold ``none`` texts raise at most
  :data:`MAX_ASK` of "are you in danger?" questions; between ``ask`` and ``alarm`` the kiosk shows
  the emergency numbers at once and asks.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from appliance.knowledge.text import Analyzer
from appliance.triage.detector import NONE, EmergencyDetector, Exemplar, features, load_exemplars

#: Largest share of ordinary texts (out of fold) allowed to raise an alarm.
MAX_FALSE_ALARM = 0.005
#: Largest share of ordinary texts (out of fold) allowed to be asked "are you in danger?".
MAX_ASK = 0.02
#: Regularisation strengths tried (scikit-learn's C, inverse of the L2 penalty).
C_GRID = (10.0, 30.0, 100.0)
#: Features seen in fewer exemplars than this are dropped (smaller model, less noise).
MIN_COUNT = 2


def _here() -> Path:
    return Path(str(resources.files("appliance.triage")))


def exemplar_paths(folder: Path | None = None) -> list[Path]:
    """The exemplar files: ``exemplars*.jsonl`` in ``folder`` (default: beside this module), sorted.

    ``exemplars.jsonl`` holds live emergencies per category and hard negatives;
    ``exemplars-ordinary.jsonl`` everyday questions and replies; ``exemplars-demo.jsonl`` the demo
    guides' sample questions and the demo's development questions (not the test questions), all
    labelled ``none``.
    """
    return sorted((folder or _here()).glob("exemplars*.jsonl"))


def detector_path() -> Path:
    """The shipped detector file."""
    return _here() / "detector.json"


def files_sha256(paths: Sequence[Path]) -> str:
    """Hex sha256 over the files' names and bytes (recorded in the detector as what it was trained on)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _matrix(texts: Sequence[str], vocabulary: dict[str, int]):
    import numpy as np
    from scipy.sparse import csr_matrix

    rows, cols = [], []
    for i, text in enumerate(texts):
        present = sorted({vocabulary[f] for f in features(text) if f in vocabulary})
        rows.extend([i] * len(present))
        cols.extend(present)
    x = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(texts), len(vocabulary)))
    norms = np.sqrt(np.asarray(x.sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return csr_matrix(x.multiply(1.0 / norms[:, None]))


def _vocabulary(texts: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for text in texts:
        for f in features(text):
            counts[f] = counts.get(f, 0) + 1
    kept = sorted(f for f, n in counts.items() if n >= MIN_COUNT)
    return {f: i for i, f in enumerate(kept)}


def _fit(texts: Sequence[str], labels: Sequence[str], c: float):
    from sklearn.linear_model import LogisticRegression

    vocabulary = _vocabulary(texts)
    model = LogisticRegression(C=c, max_iter=3000)
    model.fit(_matrix(texts, vocabulary), list(labels))
    return vocabulary, model


def _threshold(scores: Sequence[float], max_share: float) -> float:
    """The smallest threshold t with share(scores >= t) <= max_share (scores of ordinary texts)."""
    ordered = sorted(scores, reverse=True)
    allowed = int(max_share * len(ordered))
    return min(1.0, ordered[allowed] + 1e-6) if allowed < len(ordered) else 0.0


def cross_validate(texts: Sequence[str], labels: Sequence[str], c: float, folds: int = 5, seed: int = 0):
    """Out-of-fold (category, P(emergency)) for every exemplar: the detector's reading of it when it
    was trained on the other folds (see :meth:`EmergencyDetector.detect`)."""
    from sklearn.model_selection import StratifiedKFold

    out: list[tuple[str, float]] = [("", 0.0)] * len(texts)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(texts, labels):
        vocabulary, model = _fit([texts[i] for i in train], [labels[i] for i in train], c)
        probs = model.predict_proba(_matrix([texts[i] for i in test], vocabulary))
        classes = list(model.classes_)
        none = classes.index(NONE)
        emergency = [j for j, cl in enumerate(classes) if cl != NONE]
        for row, i in zip(probs, test, strict=True):
            j = max(emergency, key=lambda k: row[k])
            out[i] = (classes[j], 1.0 - float(row[none]))
    return out


def summarise(labels: Sequence[str], readings: Sequence[tuple[str, float]], alarm: float, ask: float) -> dict:
    """Recall (alarm, and alarm or ask, with the right category for the alarm) per category and
    overall, and the shares of ordinary texts alarmed or asked, at the two thresholds."""
    cats = sorted({lab for lab in labels if lab != NONE})
    out: dict[str, object] = {}
    pos = [(lab, r) for lab, r in zip(labels, readings, strict=True) if lab != NONE]
    neg = [r for lab, r in zip(labels, readings, strict=True) if lab == NONE]
    for cat in cats:
        rs = [r for lab, r in pos if lab == cat]
        out[cat] = {
            "n": len(rs),
            "alarm": round(sum(c == cat and p >= alarm for c, p in rs) / len(rs), 4),
            "alarm_or_ask": round(sum(p >= ask for _, p in rs) / len(rs), 4),
        }
    out["all"] = {
        "n": len(pos),
        "alarm": round(sum(p >= alarm for _, (_, p) in pos) / len(pos), 4),
        "alarm_or_ask": round(sum(p >= ask for _, (_, p) in pos) / len(pos), 4),
        "none_n": len(neg),
        "none_alarmed": round(sum(p >= alarm for _, p in neg) / len(neg), 4),
        "none_asked": round(sum(ask <= p < alarm for _, p in neg) / len(neg), 4),
    }
    return out


def train(exemplars: Sequence[Exemplar], analyzer: Analyzer, trained_on: str, log=print) -> EmergencyDetector:
    """Choose C and the thresholds by cross-validation, then fit on all exemplars."""
    texts = [analyzer.normalize(e.text) for e in exemplars]
    labels = [e.label for e in exemplars]
    best = None
    for c in C_GRID:
        readings = cross_validate(texts, labels, c)
        neg = [p for lab, (_, p) in zip(labels, readings, strict=True) if lab == NONE]
        alarm, ask = _threshold(neg, MAX_FALSE_ALARM), _threshold(neg, MAX_ASK)
        summary = summarise(labels, readings, alarm, ask)
        score = summary["all"]["alarm_or_ask"] + summary["all"]["alarm"]  # type: ignore[index]
        log(f"C={c}: alarm>={alarm:.3f} ask>={ask:.3f} {summary['all']}")
        if best is None or score > best[0]:
            best = (score, c, alarm, ask, summary)
    assert best is not None
    _, c, alarm, ask, summary = best
    vocabulary, model = _fit(texts, labels, c)
    classes = list(model.classes_)
    notes = {
        "C": c,
        "alarm": round(alarm, 4),
        "ask": round(ask, 4),
        "exemplars": len(exemplars),
        "cross_validated": summary,
        "method": "softmax regression (scikit-learn LogisticRegression, lbfgs), binary L2-normalised "
        "char 1-3-grams + stemmed English words and pairs; C and thresholds by stratified 5-fold CV",
    }
    return EmergencyDetector(classes, vocabulary, model.coef_.tolist(), model.intercept_.tolist(), trained_on, notes)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: train and write ``detector.json``, or ``--check`` that it is up to date."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 unless detector.json was trained on the exemplars")
    parser.add_argument("--exemplars", type=Path, default=None, help="folder of exemplars*.jsonl files")
    parser.add_argument("--out", type=Path, default=detector_path())
    args = parser.parse_args(argv)
    paths = exemplar_paths(args.exemplars)
    digest = files_sha256(paths)
    if args.check:
        current = EmergencyDetector.load(args.out).trained_on if args.out.exists() else ""
        if current != digest:
            print(f"{args.out} is out of date: run python -m appliance.triage.training", file=sys.stderr)
            return 1
        return 0
    exemplars = [e for p in paths for e in load_exemplars(p.read_text(encoding="utf-8").splitlines(), str(p))]
    detector = train(exemplars, Analyzer(), digest)
    args.out.write_text(detector.to_json() + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {len(detector.vocabulary)} features, {len(detector.classes)} classes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
