"""``kiosk bench answers``: retrieval, answer policy and emergency triage on data the project did not
write, side by side with plain whole-document BM25.

Data sets (each a knowledge base and labelled questions; ``dev`` splits are the ones the ranking
and the confidence model were tuned on, ``test`` splits were fitted on by nothing):

* ``demo-dev`` / ``demo-test``: the shipped demo guides; questions in ``appliance/demo/eval`` (dev)
  and ``appliance/demo/eval/test`` (test: written by someone who saw the guides without their
  sample questions), with out-of-scope questions;
* ``taipei-dev`` / ``taipei-test``: ``../shared/data/kb/taipei_faq_dev.jsonl``, real Taipei City
  FAQ entries (Traditional Chinese): each answer is its own ``.txt`` document, the questions are
  split in two halves by a hash of their id;
* ``taipei-long-dev`` / ``-test``: the same answers grouped by department, eight to a document with
  no headings (long policy-like documents, where a passage answers the question);
* ``guangdong``: ``../shared/data/kb/guangdong_services.jsonl``, 2,262 real provincial guides,
  with 300 known-item queries made from their titles (a scale check, not a paraphrase test);
* ``python-faq-dev`` / ``-test``: the Python FAQ (the PSF's, 169 entries with an answer of 80
  characters or more, from Debian's ``python3-doc``, which ``scripts/setup`` installs): each
  answer a document without its question, searched with two paraphrases of each question
  (``appliance/demo/eval/outside/python-faq-paraphrases.jsonl``, written by a helper who saw the
  questions only, never the answers), split by the same hash of the question: real English text
  the project did not write;
* ``english``: an optional JSON-lines FAQ (``--english FILE``: ``{"id", "question", "answer"}``),
  each answer a document, questions split by the same hash.

Per data set: hit@1, hit@5 and MRR of the expected document; the answer policy at the configured
thresholds (answer rate and precision of the answered, clarification rate and how often the right
topic was among those offered, refusals, out-of-scope questions answered or clarified); and, in
the same run, hit@1, hit@5 and MRR of ``rank_bm25`` (Okapi BM25, k1 1.5, b 0.75) over jieba words
of each whole document, the baseline a user would otherwise pick. Emergencies: recall and false
alarms of the triage (rules and detector) on ``appliance/demo/eval/test/emergency.jsonl``, beside
the rules alone.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from appliance import demo_vectors
from appliance.answer.engine import clarify_offers, decide_mode, policy_mode
from appliance.bootstrap import demo_kb_dir
from appliance.config import RetrievalSettings
from appliance.knowledge.evaluation import LabelledQuestion, load_questions, rank_metrics, rank_of
from appliance.knowledge.ingest import Ingestor, reindex
from appliance.knowledge.retrieval import Embedder, Retriever
from appliance.knowledge.store import DocInfo, KnowledgeBase
from appliance.knowledge.text import Analyzer
from appliance.triage import Triage


def split_of(key: str) -> str:
    """'dev' or 'test': a stable half split by the sha1 of ``key`` (an entry's id)."""
    return "dev" if int(hashlib.sha1(key.encode("utf-8")).hexdigest(), 16) % 2 == 0 else "test"


@dataclass
class Dataset:
    """A knowledge base and its labelled questions.

    Attributes:
        name: shown in the table.
        split: 'dev' (tuned on) or 'test' (nothing fitted on it).
        build: writes the documents into a folder and returns what to ingest.
        questions: the questions; ``expected`` None marks an out-of-scope one.
        key: how a document is matched against ``expected``: 'title' or 'stem' (its file name).
        cache: identifies the built knowledge base between runs (same documents, same key).
    """

    name: str
    split: str
    build: Callable[[Path], list[Path]]
    questions: list[LabelledQuestion]
    key: str = "title"
    cache: str = ""

    def doc_key(self, doc: DocInfo) -> str:
        """The value compared with a question's ``expected``."""
        return Path(doc.source).stem if self.key == "stem" else doc.title


def demo_datasets() -> list[Dataset]:
    """The demo guides with the development and the test questions."""
    folder = demo_kb_dir()
    evals = folder.parent / "eval"
    out = []
    for split, files in (
        ("dev", sorted(evals.glob("*.jsonl"))),
        ("test", sorted(p for p in (evals / "test").glob("*.jsonl") if p not in emergency_sets())),
    ):
        out.append(Dataset(f"demo-{split}", split, lambda _w, f=folder: [f], load_questions(files), cache="demo"))
    return out


def _faq_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def faq_datasets(path: Path, name: str, *, long: bool = False) -> list[Dataset]:
    """A FAQ file (``{"id", "question", "answer", "dept"?}`` per line) as two data sets (dev and test
    questions) over one knowledge base: each answer its own document, or with ``long`` the answers
    of one department grouped eight to a document."""
    return faq_rows_datasets(_faq_rows(path), name, long=long)


def faq_rows_datasets(rows: Sequence[dict], name: str, *, long: bool = False) -> list[Dataset]:
    """As :func:`faq_datasets`, for rows already read (several rows may share an id: one answer
    asked in several ways)."""
    docs: dict[str, str] = {}
    target: dict[str, str] = {}
    if long:
        by_dept: dict[str, list[dict]] = {}
        for r in rows:
            by_dept.setdefault(str(r.get("dept", "")), []).append(r)
        for dept, group in sorted(by_dept.items()):
            for i in range(0, len(group), 8):
                name_ = hashlib.sha1(f"{dept}#{i}".encode()).hexdigest()[:12]
                docs[name_] = "\n".join(str(r["answer"]) for r in group[i : i + 8])
                for r in group[i : i + 8]:
                    target[str(r["id"])] = name_
    else:
        for r in rows:
            docs[str(r["id"])] = str(r["answer"])
            target[str(r["id"])] = str(r["id"])

    def build(workdir: Path) -> list[Path]:
        folder = workdir / "docs"
        folder.mkdir(parents=True, exist_ok=True)
        for stem, text in docs.items():
            (folder / f"{stem}.txt").write_text(text, encoding="utf-8")
        return [folder]

    digest = hashlib.sha1(json.dumps(docs, sort_keys=True).encode()).hexdigest()[:12]
    out = []
    for split in ("dev", "test"):
        qs = [
            LabelledQuestion(str(r["question"]), target[str(r["id"])]) for r in rows if split_of(str(r["id"])) == split
        ]
        out.append(Dataset(f"{name}-{split}", split, build, qs, key="stem", cache=f"{name}-{digest}"))
    return out


#: The paraphrased Python FAQ questions, in ``appliance/demo/eval/outside``.
PARAPHRASES = "python-faq-paraphrases.jsonl"
#: Where Debian's ``python3-doc`` keeps the Python FAQ pages.
PYTHON_FAQ_GLOB = "/usr/share/doc/python3*/html/faq"


def python_faq_entries(folder: Path) -> dict[str, str]:
    """The Python FAQ's questions and answers from its HTML pages in ``folder``: question -> answer
    text (the blocks under a heading that ends with "?", up to the next heading), for answers of
    80 characters or more. Read with the knowledge base's own streaming HTML reader."""
    from appliance.knowledge.html_blocks import page_text

    out: dict[str, str] = {}
    for page in sorted(folder.glob("*.html")):
        if page.name == "index.html":
            continue
        text = page_text(page.read_text(encoding="utf-8", errors="replace"), 5_000_000, " ".join)
        question, answer = None, []
        for block in [*text.blocks, None]:
            if block is None or block.tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
                body = "\n".join(answer)
                if question and len(body) >= 80:
                    out[question] = body[:4000]
                title = block.text.replace("¶", "").strip() if block else ""
                question, answer = (title if title.endswith("?") else None), []
            elif question:
                answer.append(block.text)
    return out


def python_faq_datasets(folder: Path, paraphrases: Path) -> tuple[list[Dataset], int]:
    """The Python FAQ in ``folder`` searched with ``paraphrases`` (JSON lines ``{"faq": the FAQ's
    question, "question": a paraphrase}``): dev and test data sets, and how many paraphrases name
    a question this version of the FAQ does not have (skipped)."""
    entries = python_faq_entries(folder)
    rows, missing = [], 0
    for line in paraphrases.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        p = json.loads(line)
        if p["faq"] not in entries:
            missing += 1
            continue
        key = hashlib.sha1(p["faq"].encode("utf-8")).hexdigest()[:12]
        rows.append({"id": key, "question": p["question"], "answer": entries[p["faq"]]})
    return faq_rows_datasets(rows, "python-faq"), missing


def python_faq_folder() -> Path | None:
    """Debian's Python FAQ pages, if ``python3-doc`` is installed."""
    import glob

    found = sorted(glob.glob(PYTHON_FAQ_GLOB))
    return Path(found[-1]) if found else None


def guangdong_dataset(path: Path, n: int = 300, seed: int = 3) -> Dataset:
    """The Guangdong guides with known-item queries made from ``n`` sampled titles."""
    titles = [str(json.loads(line).get("matter_name") or "") for line in path.read_text(encoding="utf-8").splitlines()]
    unique = sorted({t for t in titles if t and titles.count(t) == 1})
    rng = random.Random(seed)
    asks = ("需要什么材料", "在哪里办", "怎么申请", "办理条件是什么")
    qs = [LabelledQuestion(f"{t}{rng.choice(asks)}", t) for t in rng.sample(unique, min(n, len(unique)))]
    return Dataset("guangdong", "dev", lambda _w: [path], qs, cache="guangdong")


def all_datasets(
    shared: Path | None, english: Path | None = None, python_faq: Path | None = None
) -> tuple[list[Dataset], list[str]]:
    """Every data set that can be built here, and notes on the ones that cannot (``python_faq``: the
    Python FAQ's pages, default :func:`python_faq_folder`)."""
    sets = demo_datasets()
    notes = []
    taipei = shared / "kb" / "taipei_faq_dev.jsonl" if shared else None
    if taipei and taipei.is_file():
        sets += faq_datasets(taipei, "taipei") + faq_datasets(taipei, "taipei-long", long=True)
    else:
        notes.append(f"Taipei FAQ not found ({taipei}): taipei data sets skipped")
    guangdong = shared / "kb" / "guangdong_services.jsonl" if shared else None
    if guangdong and guangdong.is_file():
        sets.append(guangdong_dataset(guangdong))
    else:
        notes.append(f"Guangdong guides not found ({guangdong}): skipped")
    faq = python_faq or python_faq_folder()
    if faq is not None and faq.is_dir():
        found, missing = python_faq_datasets(faq, demo_kb_dir().parent / "eval" / "outside" / PARAPHRASES)
        sets += found
        if missing:
            notes.append(f"{missing} Python FAQ paraphrases name questions {faq} does not have: skipped")
    else:
        notes.append(f"the Python FAQ ({faq or 'Debian python3-doc'}) not found: python-faq data sets skipped")
    if english is not None:
        sets += faq_datasets(english, "english")
    return sets, notes


# ------------------------------------------------------------------------------------------------


@dataclass
class Figures:
    """One data set's figures (rates are shares in [0, 1]; None where they do not apply)."""

    name: str
    split: str
    mode: str
    n: int
    n_out_of_scope: int
    hit_at_1: float
    hit_at_5: float
    mrr: float
    answered: float
    precision: float | None
    clarified: float
    clarify_hit: float | None
    refused: float
    oos_answered: float | None
    oos_clarified: float | None
    bm25_hit_at_1: float
    bm25_hit_at_5: float
    bm25_mrr: float
    p95_ms: float
    rows: list[dict] = field(default_factory=list)


class BM25Baseline:
    """Okapi BM25 (``rank_bm25.BM25Okapi``, its defaults k1 = 1.5, b = 0.75) over the jieba words of
    each whole document (title, every section and sample question), Traditional Chinese converted
    to Simplified and lower-cased: the plain baseline.

    Raises:
        RuntimeError: ``rank_bm25`` is not installed (a development dependency).
    """

    def __init__(self, kb: KnowledgeBase):
        try:
            from rank_bm25 import BM25Okapi
        except ImportError as exc:  # pragma: no cover - a dev dependency
            raise RuntimeError("the BM25 baseline needs rank_bm25: pip install -e '.[dev]'") from exc
        import jieba
        import opencc

        self._t2s = opencc.OpenCC("t2s")
        self._jieba = jieba.dt  # the analyzers' tokenizer: its dictionary is loaded once a process
        self.docs = kb.documents()
        texts = []
        for d in self.docs:
            texts.append("\n".join([d.title, *(c.text for c in kb.doc_chunks(d.doc_id))]))
        self.bm25 = BM25Okapi([self.tokens(t) for t in texts])

    def tokens(self, text: str) -> list[str]:
        """jieba words of normalised text, whitespace and punctuation dropped."""
        norm = self._t2s.convert(text).lower()
        return [w for w in self._jieba.lcut(norm) if w.strip() and any(ch.isalnum() for ch in w)]

    def rank(self, question: str, k: int = 10) -> list[DocInfo]:
        """The ``k`` best documents for ``question``."""
        scores = self.bm25.get_scores(self.tokens(question))
        order = np.argsort(-scores, kind="stable")[:k]
        return [self.docs[i] for i in order if scores[i] > 0]


def build_kb(ds: Dataset, analyzer: Analyzer, workdir: Path, embedder: Embedder | None) -> KnowledgeBase:
    """The data set's knowledge base, built once in ``workdir`` and reused (vectors included)."""
    folder = workdir / ds.cache
    folder.mkdir(parents=True, exist_ok=True)
    kb = KnowledgeBase.open(folder / "kb.sqlite", analyzer)
    if kb.is_empty():
        Ingestor(kb).ingest(ds.build(folder))
    if embedder is not None and not (kb.embedding_model == embedder.name and kb.vectors_complete()):
        demo_vectors.seed(kb, embedder.name)  # the demo's shipped vectors: nothing to embed for it
        reindex(kb, embedder)
    return kb


def evaluate(
    ds: Dataset,
    kb: KnowledgeBase,
    settings: RetrievalSettings,
    embedder: Embedder | None = None,
    baseline: BM25Baseline | None = None,
    triage: Triage | None = None,
) -> Figures:
    """Run every question of ``ds`` through retrieval and the answer policy, and the baseline.

    With ``triage``, the answer engine's gate applies (:func:`decide_mode`: the out-of-scope rules,
    and the domain detector where the policy would clarify); a refused question's rank still
    counts for hit@k, which measure retrieval alone."""
    retriever = Retriever(kb, embedder, candidates=settings.candidates, vector_memory_mb=settings.vector_memory_mb)
    pos = [q for q in ds.questions if q.expected]
    neg = [q for q in ds.questions if not q.expected]
    rows, times = [], []
    for q in ds.questions:
        t = time.perf_counter()
        response = retriever.search(q.question, k=10)
        times.append((time.perf_counter() - t) * 1e3)
        keys = [ds.doc_key(r.doc) for r in response.results]
        mode, why = policy_mode(response, settings), None
        if triage is not None:
            mode, why = decide_mode(response, settings, triage, kb.analyzer.normalize(q.question))
        refused = why == "out_of_scope"
        offered = [ds.doc_key(r.doc) for r in clarify_offers(response)] if mode == "clarify" else []
        row = {
            "question": q.question,
            "expected": q.expected,
            "rank": rank_of(keys, q.expected) if q.expected else None,
            "top": keys[0] if keys else None,
            "confidence": round(response.confidence, 4),
            "mode": mode,
            "out_of_scope": refused,
            "offered_right": bool(q.expected and q.expected in offered),
            "features": response.features,
        }
        if baseline is not None and q.expected:
            row["bm25_rank"] = rank_of([ds.doc_key(d) for d in baseline.rank(q.question)], q.expected)
        rows.append(row)
    prow = [r for r in rows if r["expected"]]
    nrow = [r for r in rows if not r["expected"]]
    n = len(prow) or 1

    def share(pred, items) -> float:
        return sum(1 for r in items if pred(r)) / (len(items) or 1)

    answered = [r for r in prow if r["mode"] == "answer"]
    clarified = [r for r in prow if r["mode"] == "clarify"]
    hit_at_1, hit_at_5, mrr = rank_metrics([r["rank"] for r in prow])
    bm25_hit_at_1, bm25_hit_at_5, bm25_mrr = rank_metrics([r.get("bm25_rank") for r in prow])
    return Figures(
        name=ds.name,
        split=ds.split,
        mode=retriever.mode,
        n=len(pos),
        n_out_of_scope=len(neg),
        hit_at_1=hit_at_1,
        hit_at_5=hit_at_5,
        mrr=mrr,
        answered=len(answered) / n,
        precision=share(lambda r: r["rank"] == 1, answered) if answered else None,
        clarified=len(clarified) / n,
        clarify_hit=share(lambda r: r["offered_right"], clarified) if clarified else None,
        refused=share(lambda r: r["mode"] == "no_answer", prow),
        oos_answered=share(lambda r: r["mode"] == "answer", nrow) if nrow else None,
        oos_clarified=share(lambda r: r["mode"] == "clarify", nrow) if nrow else None,
        bm25_hit_at_1=bm25_hit_at_1,
        bm25_hit_at_5=bm25_hit_at_5,
        bm25_mrr=bm25_mrr,
        p95_ms=float(np.percentile(times, 95)) if times else 0.0,
        rows=rows,
    )


# ------------------------------------------------------------------------------------------------


@dataclass
class EmergencyFigures:
    """Triage on labelled emergencies and ordinary questions.

    Attributes:
        recall: share of emergencies raising the alarm.
        recall_with_check: share raising the alarm or the "are you in danger?" check.
        right_category: share of emergencies alarmed with the labelled category.
        false_alarms: share of ordinary questions raising the alarm.
        checks: share of ordinary questions asked "are you in danger?".
        missed: the emergencies neither alarmed nor checked.
        alarmed_ordinary: the ordinary questions that raised the alarm.
    """

    name: str
    n: int
    n_ordinary: int
    recall: float
    recall_with_check: float
    right_category: float
    false_alarms: float
    checks: float
    missed: list[str] = field(default_factory=list)
    alarmed_ordinary: list[str] = field(default_factory=list)


def emergency_sets() -> list[Path]:
    """The held-out emergency sets, ``appliance/demo/eval/test/emergency*.jsonl``, sorted: each
    written apart from the exemplars the detector is trained on (``emergency-fresh.jsonl`` also
    after the detector's last change of exemplars, by a writer who saw neither;
    ``emergency-third.jsonl`` by a writer who saw neither the exemplars nor the other sets)."""
    return sorted((demo_kb_dir().parent / "eval" / "test").glob("emergency*.jsonl"))


def load_emergency_questions(path: Path) -> list[tuple[str, str | None]]:
    """``{"question", "emergency": category or null}`` per line.

    Raises:
        ValueError: a bad line, with its number.
    """
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            out.append((str(rec["question"]), rec.get("emergency") or None))
        except (ValueError, KeyError) as exc:
            raise ValueError(f"{path}:{n}: bad line ({exc})") from exc
    return out


def evaluate_triage(
    name: str, triage: Triage, analyzer: Analyzer, items: Sequence[tuple[str, str | None]], *, rules_only: bool = False
) -> EmergencyFigures:
    """Triage every question (the rules alone with ``rules_only``) and count alarms and checks."""
    pos = [(q, c) for q, c in items if c]
    neg = [q for q, c in items if not c]
    alarm = check = right = 0
    missed = []
    for q, cat in pos:
        norm = analyzer.normalize(q)
        if rules_only:
            found = triage.emergency(norm)
            level, got = ("alarm", found.id) if found else (None, None)
        else:
            a = triage.assess(norm)
            level, got = (a.level, a.category.id) if a else (None, None)
        alarm += level == "alarm"
        check += level is not None
        right += level == "alarm" and got == cat
        if level is None:
            missed.append(q)
    false_alarms, checks, alarmed = 0, 0, []
    for q in neg:
        norm = analyzer.normalize(q)
        if rules_only:
            level = "alarm" if triage.emergency(norm) else None
        else:
            a = triage.assess(norm)
            level = a.level if a else None
        false_alarms += level == "alarm"
        checks += level == "check"
        if level == "alarm":
            alarmed.append(q)
    n, m = len(pos) or 1, len(neg) or 1
    return EmergencyFigures(
        name, len(pos), len(neg), alarm / n, check / n, right / n, false_alarms / m, checks / m, missed, alarmed
    )


#: Categories of guides whose questions may describe a live emergency ("电梯卡住了里面有人").
SAFETY_CATEGORIES = frozenset({"安全应急", "Safety and emergencies"})


def ordinary_questions(sets: Sequence[Dataset], analyzer: Analyzer, workdir: Path) -> list[tuple[str, None]]:
    """The demo test questions (answerable and out of scope) that are not about a safety or
    emergency guide: none of them should raise an alarm."""
    out: list[tuple[str, None]] = []
    for ds in sets:
        if ds.name != "demo-test":
            continue
        kb = build_kb(ds, analyzer, workdir, None)
        try:
            safety = {d.title for d in kb.documents() if d.category in SAFETY_CATEGORIES}
        finally:
            kb.close()
        out += [(q.question, None) for q in ds.questions if q.expected not in safety]
    return out


def calibration_examples(
    sets: Sequence[Dataset], analyzer: Analyzer, workdir: Path, embedder: Embedder | None
) -> tuple[list[dict[str, float]], list[int]]:
    """The examples the shipped confidence models are fitted on (development data only): every
    question of the ``dev`` splits of the demo and the two Taipei sets (label 1 when the top
    document is the expected one), and out-of-scope questions asked of the other collection (the
    Taipei dev questions of the demo guides, the demo's dev out-of-scope questions of the Taipei
    answers), all labelled 0.

    Returns:
        (feature values per question, labels).

    Raises:
        ValueError: a development set is missing (the Taipei FAQ needs ``../shared``).
    """
    by_name = {d.name: d for d in sets}
    names = ("demo-dev", "taipei-dev", "taipei-long-dev")
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ValueError(
            f"fitting needs the development sets {', '.join(missing)} (is the shared data there? $KIOSK_SHARED_DATA, else ../shared/data)"
        )
    rows: list[dict[str, float]] = []
    labels: list[int] = []

    def run(ds: Dataset, questions: Sequence[LabelledQuestion]) -> None:
        kb = build_kb(ds, analyzer, workdir, embedder)
        try:
            retriever = Retriever(kb, embedder)
            for q in questions:
                response = retriever.search(q.question, k=10)
                top = ds.doc_key(response.results[0].doc) if response.results else None
                rows.append(response.features)
                labels.append(int(bool(q.expected) and top == q.expected))
        finally:
            kb.close()

    demo, taipei = by_name["demo-dev"], by_name["taipei-dev"]
    for name in names:
        run(by_name[name], by_name[name].questions)
    run(demo, [LabelledQuestion(q.question, None) for q in taipei.questions])
    run(taipei, [LabelledQuestion(q.question, None) for q in demo.questions if not q.expected])
    return rows, labels
