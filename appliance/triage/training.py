"""Training the learned detectors from the exemplar files: the emergency detector
(:mod:`appliance.triage.detector`, ``detector.json.gz``), its embedding reader
(:mod:`appliance.triage.vector`, ``detector-e5.json.gz``) and the domain detector
(:mod:`appliance.triage.domain`, ``domain.json.gz``).

    python -m appliance.triage.training            # cross-validate, train, write every file
    python -m appliance.triage.training --model domain   # only one of them
    python -m appliance.triage.training --check    # exit 1 unless each matches its exemplars

Needs scikit-learn (a development dependency; the appliance itself only reads the JSON files).
Regularisation strengths and decision thresholds are chosen by stratified 5-fold cross-validation
on the exemplars alone, never on the held-out test questions (``appliance/demo/eval/test/``,
written separately, reported by ``kiosk bench answers``).

Emergency detector, trained on ``exemplars*.jsonl``:

* ``alarm``: the lowest probability at which out-of-fold ``none`` texts raise at most
  :data:`MAX_FALSE_ALARM` false alarms;
* ``ask``: the lowest probability at which out-of-fold ``none`` texts raise at most
  :data:`MAX_ASK` of "are you in danger?" questions; between ``ask`` and ``alarm`` the kiosk shows
  the emergency numbers at once and asks;
* ``veto``: the highest probability of :data:`VETO_GRID` below which at most :data:`MAX_VETOED` of
  the live emergencies a rule matches (out of fold; self-harm is never vetoed) would be turned
  from an alarm into a check: a rule's match that the detector is that sure of not being a live
  emergency (a past fire, "what should I do if I ever get stuck in a lift?", "嗓子都说冒烟了") is
  asked about, not alarmed.

Embedding detector (:mod:`appliance.triage.vector`, ``detector-e5.json.gz``), trained on the same
exemplars' multilingual-e5-small question embeddings (needs the ``embeddings`` extra; about two
minutes on two cores): its C, its weight ``w`` in the pool with the n-gram detector and the pool's
own ``alarm`` and ``ask`` thresholds by the same folds, maximising out-of-fold alarm plus alarm-or-ask
recall at the same false-alarm and ask limits.

Domain detector, trained on ``domain-exemplars.jsonl`` (questions labelled ``in`` or ``off`` the
community-service domain) with every live emergency and every demo question of the emergency
exemplars as ``in``:

* ``off``: the lowest probability at which out-of-fold ``in`` questions are called off the domain
  at most :data:`MAX_IN_DOMAIN_REFUSED` of the time (a resident's real question refused is the
  costly error; an off-domain one let through still meets retrieval's own confidence).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from appliance.knowledge.text import Analyzer
from appliance.triage import NEVER_VETOED, Triage
from appliance.triage.detector import NONE, EmergencyDetector, Exemplar, features, load_exemplars
from appliance.triage.domain import IN, OFF, DomainDetector
from appliance.triage.vector import VectorDetector

#: Largest share of ordinary texts (out of fold) allowed to raise an alarm.
MAX_FALSE_ALARM = 0.005
#: Largest share of ordinary texts (out of fold) allowed to be asked "are you in danger?".
MAX_ASK = 0.02
#: Regularisation strengths tried (scikit-learn's C, inverse of the L2 penalty).
C_GRID = (10.0, 30.0, 100.0)
#: Features seen in fewer exemplars than this are dropped (smaller model, less noise).
MIN_COUNT = 2
#: Largest share of the live emergencies a rule matches (out of fold) the detector may veto.
MAX_VETOED = 0.002
#: Veto thresholds tried (on P(emergency)); the highest within :data:`MAX_VETOED` is kept.
VETO_GRID = (0.01, 0.02, 0.03, 0.05, 0.1, 0.2)
#: The embedding detector's regularisation strengths and pool weights tried.
VECTOR_C_GRID = (30.0, 100.0, 300.0)
VECTOR_WEIGHTS = (0.3, 0.5, 0.7)
#: The embedding model the shipped embedding detector reads (the default ``[embedding] model``).
VECTOR_MODEL = "multilingual-e5-small-q4"
#: Largest share of in-domain questions (out of fold) the domain detector may call off the domain.
MAX_IN_DOMAIN_REFUSED = 0.01
#: The emergency exemplar files whose texts are all in the domain: their live emergencies, and
#: every line of the demo file (the demo guides' sample questions and development questions).
IN_DOMAIN_FILE = "exemplars-demo.jsonl"


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
    return _here() / EmergencyDetector.shipped_file


def domain_paths(folder: Path | None = None) -> list[Path]:
    """The domain detector's training files: ``domain-exemplars.jsonl`` and the emergency exemplar
    files it takes its ``in`` questions from (see :func:`domain_exemplars`), sorted."""
    base = folder or _here()
    return sorted([*base.glob("domain-exemplars*.jsonl"), *exemplar_paths(base)])


def vector_path() -> Path:
    """The shipped embedding detector file."""
    return _here() / VectorDetector.shipped_file


def domain_path() -> Path:
    """The shipped domain detector file."""
    return _here() / DomainDetector.shipped_file


def domain_exemplars(paths: Sequence[Path]) -> list[Exemplar]:
    """The domain detector's exemplars from :func:`domain_paths`: the ``in``/``off`` lines of the
    domain files as labelled, and from the emergency files every live emergency and every line of
    :data:`IN_DOMAIN_FILE` as ``in`` (their other ``none`` lines mix everyday chatter with
    off-domain requests, so they are left out).

    Raises:
        ValueError: a bad line, or a domain line labelled other than ``in`` or ``off``.
    """
    out: list[Exemplar] = []
    for path in paths:
        lines = load_exemplars(path.read_text(encoding="utf-8").splitlines(), str(path))
        if path.name.startswith("domain-"):
            bad = sorted({e.label for e in lines} - {IN, OFF})
            if bad:
                raise ValueError(f"{path}: labels must be '{IN}' or '{OFF}', not {', '.join(bad)}")
            out.extend(lines)
        else:
            out.extend(Exemplar(e.text, IN, e.lang) for e in lines if e.label != NONE or path.name == IN_DOMAIN_FILE)
    return out


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


def out_of_fold(texts: Sequence[str], labels: Sequence[str], c: float, folds: int = 5, seed: int = 0):
    """Each text's class probabilities from a model trained on the other folds (stratified k-fold).

    Returns:
        (classes in the models' column order, float64 array of shape (len(texts), len(classes))).
    """
    import numpy as np

    classes = sorted(set(labels))
    out = np.zeros((len(texts), len(classes)))
    for train, test in _folds(labels, folds, seed):
        vocabulary, model = _fit([texts[i] for i in train], [labels[i] for i in train], c)
        columns = [classes.index(cl) for cl in model.classes_]
        out[np.ix_(test, columns)] = model.predict_proba(_matrix([texts[i] for i in test], vocabulary))
    return classes, out


def _folds(labels: Sequence[str], folds: int, seed: int):
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return splitter.split(list(range(len(labels))), labels)


def out_of_fold_vectors(vectors, labels: Sequence[str], c: float, folds: int = 5, seed: int = 0):
    """As :func:`out_of_fold`, for softmax regression over embeddings (float array of shape
    (len(labels), dim)); the folds are the same as :func:`out_of_fold`'s for the same labels."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    classes = sorted(set(labels))
    y = np.array([classes.index(label) for label in labels])
    out = np.zeros((len(labels), len(classes)))
    for train_idx, test_idx in _folds(labels, folds, seed):
        model = LogisticRegression(C=c, max_iter=3000).fit(vectors[train_idx], y[train_idx])
        out[np.ix_(test_idx, model.classes_)] = model.predict_proba(vectors[test_idx])
    return classes, out


def readings_of(classes: Sequence[str], probs) -> list[tuple[str, float]]:
    """(most probable emergency category, 1 - P(none)) for each row of class probabilities."""
    none = classes.index(NONE)
    emergency = [j for j, cl in enumerate(classes) if cl != NONE]
    out: list[tuple[str, float]] = []
    for row in probs:
        j = max(emergency, key=lambda k: row[k])
        out.append((classes[j], 1.0 - float(row[none])))
    return out


def cross_validate(texts: Sequence[str], labels: Sequence[str], c: float, folds: int = 5, seed: int = 0):
    """Out-of-fold (category, P(emergency)) for every exemplar: the detector's reading of it when it
    was trained on the other folds (see :meth:`EmergencyDetector.detect`)."""
    classes, probs = out_of_fold(texts, labels, c, folds, seed)
    return readings_of(classes, probs)


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


def _judge(labels: Sequence[str], readings: Sequence[tuple[str, float]]) -> tuple[float, float, dict, float]:
    """Out-of-fold readings judged at their own thresholds: (alarm, ask, :func:`summarise`'s figures,
    score = alarm recall + alarm-or-ask recall, what the grids maximise)."""
    neg = [p for lab, (_, p) in zip(labels, readings, strict=True) if lab == NONE]
    alarm, ask = _threshold(neg, MAX_FALSE_ALARM), _threshold(neg, MAX_ASK)
    summary = summarise(labels, readings, alarm, ask)
    return alarm, ask, summary, summary["all"]["alarm_or_ask"] + summary["all"]["alarm"]  # type: ignore[index]


def choose_veto(texts: Sequence[str], labels: Sequence[str], readings: Sequence[tuple[str, float]]) -> dict:
    """The veto threshold for out-of-fold ``readings`` of normalised ``texts`` (see the module
    docstring), with what it does on the exemplars the rules match.

    Returns:
        ``{"veto", "rule_alarms", "vetoed", "rule_false_alarms", "false_vetoed"}``: the threshold,
        the live emergencies the rules match and how many of them it would veto, the ordinary
        texts the rules match and how many of those it would veto.
    """
    rules = Triage.load(detector=False)
    pos, neg = [], []
    for text, label, (_, p) in zip(texts, labels, readings, strict=True):
        ruled = rules.emergency(text)
        if ruled is not None and ruled.id not in NEVER_VETOED:
            (neg if label == NONE else pos).append(p)
    veto = 0.0
    for tau in VETO_GRID:
        if sum(p < tau for p in pos) <= MAX_VETOED * len(pos):
            veto = tau
    return {
        "veto": veto,
        "rule_alarms": len(pos),
        "vetoed": sum(p < veto for p in pos),
        "rule_false_alarms": len(neg),
        "false_vetoed": sum(p < veto for p in neg),
    }


def train(exemplars: Sequence[Exemplar], analyzer: Analyzer, trained_on: str, log=print) -> EmergencyDetector:
    """Choose C and the thresholds by cross-validation, then fit on all exemplars."""
    texts = [analyzer.normalize(e.text) for e in exemplars]
    labels = [e.label for e in exemplars]
    best = None
    for c in C_GRID:
        readings = cross_validate(texts, labels, c)
        alarm, ask, summary, score = _judge(labels, readings)
        log(f"C={c}: alarm>={alarm:.3f} ask>={ask:.3f} {summary['all']}")
        if best is None or score > best[0]:
            best = (score, c, alarm, ask, summary, readings)
    assert best is not None
    _, c, alarm, ask, summary, readings = best
    veto = choose_veto(texts, labels, readings)
    log(f"veto: {veto}")
    vocabulary, model = _fit(texts, labels, c)
    classes = list(model.classes_)
    notes = {
        "C": c,
        "alarm": round(alarm, 4),
        "ask": round(ask, 4),
        "veto": veto.pop("veto"),
        "veto_cross_validated": veto,
        "exemplars": len(exemplars),
        "cross_validated": summary,
        "method": "softmax regression (scikit-learn LogisticRegression, lbfgs), binary L2-normalised "
        "char 1-3-grams + stemmed English words and pairs; C and thresholds by stratified 5-fold CV",
    }
    return EmergencyDetector(classes, vocabulary, model.coef_.tolist(), model.intercept_.tolist(), trained_on, notes)


def train_vector(
    exemplars: Sequence[Exemplar], analyzer: Analyzer, embedder, ngram_c: float, trained_on: str, log=print
) -> VectorDetector:
    """Embed the exemplars as questions, choose C, the pool weight and the pool's thresholds by
    cross-validation together with the n-gram detector's out-of-fold reading (its C ``ngram_c``),
    then fit on all exemplars.

    Args:
        embedder: the embedding model (``name``, ``embed(texts, query=True)``).
    """
    import time

    import numpy as np
    from sklearn.linear_model import LogisticRegression

    texts = [analyzer.normalize(e.text) for e in exemplars]
    labels = [e.label for e in exemplars]
    t0 = time.perf_counter()
    vectors = np.asarray(embedder.embed(texts, query=True), dtype=np.float32)
    log(f"embedded {len(texts)} exemplars with {embedder.name} in {time.perf_counter() - t0:.0f} s")
    classes, ngram = out_of_fold(texts, labels, ngram_c)
    alone = _judge(labels, readings_of(classes, ngram))[2]
    log(f"n-grams alone (C={ngram_c}): {alone['all']}")
    best = None
    for c in VECTOR_C_GRID:
        _, vec = out_of_fold_vectors(vectors, labels, c)
        for w in VECTOR_WEIGHTS:
            alarm, ask, summary, score = _judge(labels, readings_of(classes, (1.0 - w) * ngram + w * vec))
            log(f"C={c} w={w}: alarm>={alarm:.3f} ask>={ask:.3f} {summary['all']}")
            if best is None or score > best[0]:
                best = (score, c, w, alarm, ask, summary)
    assert best is not None
    _, c, w, alarm, ask, summary = best
    model = LogisticRegression(C=c, max_iter=3000).fit(vectors, np.array([classes.index(x) for x in labels]))
    notes = {
        "C": c,
        "weight": w,
        "alarm": round(alarm, 4),
        "ask": round(ask, 4),
        "exemplars": len(exemplars),
        "ngram_alone": alone,
        "cross_validated": summary,
        "method": f"softmax regression (scikit-learn LogisticRegression, lbfgs) over {embedder.name} question "
        "embeddings, pooled (1-w)*ngram + w*vector; C, w and thresholds by stratified 5-fold CV",
    }
    return VectorDetector(
        [classes[j] for j in model.classes_], embedder.name, model.coef_, model.intercept_, trained_on, notes
    )


def train_domain(exemplars: Sequence[Exemplar], analyzer: Analyzer, trained_on: str, log=print) -> DomainDetector:
    """Choose C and the ``off`` threshold by cross-validation (the most off-domain questions caught
    with at most :data:`MAX_IN_DOMAIN_REFUSED` in-domain ones refused), then fit on all exemplars.

    Raises:
        ValueError: fewer than 5 exemplars of either label.
    """
    texts = [analyzer.normalize(e.text) for e in exemplars]
    labels = [e.label for e in exemplars]
    if min(labels.count(IN), labels.count(OFF)) < 5:
        raise ValueError("the domain detector needs at least 5 'in' and 5 'off' exemplars")
    best = None
    for c in C_GRID:
        classes, probs = out_of_fold(texts, labels, c)
        p_off = probs[:, classes.index(OFF)]
        inside = [p for p, lab in zip(p_off, labels, strict=True) if lab == IN]
        outside = [p for p, lab in zip(p_off, labels, strict=True) if lab == OFF]
        threshold = _threshold(inside, MAX_IN_DOMAIN_REFUSED)
        summary = {
            "in_n": len(inside),
            "off_n": len(outside),
            "in_refused": round(float(sum(p >= threshold for p in inside)) / len(inside), 4),
            "off_caught": round(float(sum(p >= threshold for p in outside)) / len(outside), 4),
        }
        log(f"C={c}: off>={threshold:.3f} {summary}")
        if best is None or summary["off_caught"] > best[0]:
            best = (summary["off_caught"], c, threshold, summary)
    assert best is not None
    _, c, threshold, summary = best
    vocabulary, model = _fit(texts, labels, c)
    notes = {
        "C": c,
        "off": round(threshold, 4),
        "exemplars": len(exemplars),
        "cross_validated": summary,
        "method": "logistic regression (scikit-learn LogisticRegression, lbfgs), binary L2-normalised "
        "char 1-3-grams + stemmed English words and pairs; C and threshold by stratified 5-fold CV",
    }
    weights = model.coef_.tolist()
    bias = model.intercept_.tolist()
    if len(weights) == 1:  # scikit-learn keeps one row for two classes: P(classes_[1]) = σ(w·x + b)
        weights, bias = [[0.0] * len(weights[0]), weights[0]], [0.0, bias[0]]  # the same as a softmax
    return DomainDetector(list(model.classes_), vocabulary, weights, bias, trained_on, notes)


def _out_of_date(path: Path, digest: str, kind: type[EmergencyDetector | DomainDetector | VectorDetector]) -> bool:
    current = kind.load(path).trained_on if path.exists() else ""
    if current != digest:
        print(f"{path} is out of date: run python -m appliance.triage.training", file=sys.stderr)
        return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: train and write the detector files, or ``--check`` that they are up to date."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 unless the files were trained on the exemplars")
    parser.add_argument("--model", choices=("all", "emergency", "vector", "domain"), default="all")
    parser.add_argument("--exemplars", type=Path, default=None, help="folder of the exemplar files")
    parser.add_argument("--out", type=Path, default=None, help="emergency detector file (default: the shipped one)")
    parser.add_argument("--domain-out", type=Path, default=None, help="domain detector file (default: the shipped one)")
    parser.add_argument(
        "--vector-out", type=Path, default=None, help="embedding detector file (default: the shipped one)"
    )
    args = parser.parse_args(argv)
    jobs = []
    if args.model in ("all", "emergency"):
        paths = exemplar_paths(args.exemplars)
        jobs.append((EmergencyDetector, args.out or detector_path(), paths))
    if args.model in ("all", "vector"):
        jobs.append((VectorDetector, args.vector_out or vector_path(), exemplar_paths(args.exemplars)))
    if args.model in ("all", "domain"):
        jobs.append((DomainDetector, args.domain_out or domain_path(), domain_paths(args.exemplars)))
    stale = False
    for kind, out, paths in jobs:
        digest = files_sha256(paths)
        if args.check:
            stale |= _out_of_date(out, digest, kind)
            continue
        analyzer = Analyzer()
        if kind is not DomainDetector:
            exemplars = [e for p in paths for e in load_exemplars(p.read_text(encoding="utf-8").splitlines(), str(p))]
        if kind is EmergencyDetector:
            model = train(exemplars, analyzer, digest)
        elif kind is VectorDetector:
            from models.sentence import E5Embedder

            ngram_c = float(EmergencyDetector.load(args.out or detector_path()).notes["C"])  # type: ignore[arg-type]
            model = train_vector(exemplars, analyzer, E5Embedder(VECTOR_MODEL), ngram_c, digest)
        else:
            model = train_domain(domain_exemplars(paths), analyzer, digest)
        model.save(out)
        size = len(model.vocabulary) if isinstance(model, EmergencyDetector | DomainDetector) else model.dim
        print(f"wrote {out}: {size} features, {len(model.classes)} classes")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
