"""``kiosk bench retrieval``: ingest throughput, query latency at scale, and cold start.

Figures, not assertions: the benchmark prints what it measured on this machine. Scale tests use
synthetic guides whose sentences are drawn from the demo guides (and the Guangdong guides when
``../shared/data`` is present), five sections each; queries are the demo's held-out evaluation
questions.

Hybrid latency uses :class:`HashingEmbedder`, a 512-dimensional (bge-small-zh's size) feature
hashing of character bigrams that costs microseconds, so the figure is the pipeline's own cost:
FTS5, the sqlite-vec k-nearest-neighbour scan at the real dimension, fusion and confidence. The
time a real embedding model takes to embed the question is measured separately when one is
installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from appliance.bootstrap import demo_kb_dir
from appliance.knowledge.evaluation import load_questions
from appliance.knowledge.ingest import Ingestor
from appliance.knowledge.retrieval import Embedder, Retriever
from appliance.knowledge.store import KnowledgeBase
from appliance.knowledge.text import Analyzer

HEADINGS = ("办理条件", "所需材料", "办理流程", "办理地点和时间", "咨询电话", "温馨提示")


class HashingEmbedder:
    """A stand-in embedder for benchmarks: character bigrams hashed into ``dim`` buckets (the
    "hashing trick", Weinberger et al., ICML 2009), L2-normalised. Not a semantic model."""

    def __init__(self, dim: int = 512):
        self.dim = dim
        self.name = f"hashing-bigram-{dim}"

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        """float32 (len(texts), dim), rows L2-normalised (``query`` is ignored)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for j in range(len(text) - 1):
                h = int.from_bytes(hashlib.blake2b(text[j : j + 2].encode(), digest_size=4).digest(), "little")
                out[i, h % self.dim] += 1.0 if h & 0x80000000 else -1.0
            norm = np.linalg.norm(out[i])
            if norm:
                out[i] /= norm
        return out


class RealQueryEmbedder:
    """For latency at scale with a real model: questions are embedded by ``model`` (the real cost
    per question), the synthetic passages by :class:`HashingEmbedder` at the model's dimension
    (embedding 10,000 sections for real would take an hour; the k-nearest-neighbour scan costs the
    same whatever the vectors hold). The rankings mean nothing; the times are the real ones."""

    def __init__(self, model: Embedder):
        self.model = model
        self.dim = model.dim
        self.name = f"{model.name}+hashed-passages"
        self._passages = HashingEmbedder(model.dim)

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        """float32 (len(texts), dim): the model's vectors for questions, hashed ones for passages."""
        return self.model.embed(texts, query=True) if query else self._passages.embed(texts)


def _sentence_pool(extra_jsonl: Path | None) -> list[str]:
    pool: list[str] = []
    for md in demo_kb_dir().rglob("*.md"):
        for line in md.read_text(encoding="utf-8").splitlines():
            line = re.sub(r"^\s*(?:[-*]|\d+\.)\s*", "", line).strip()
            if len(line) >= 12 and not line.startswith(("#", "---", "id:", "category:", "updated:", "lang:")):
                pool.append(line)
    if extra_jsonl and extra_jsonl.is_file():
        for raw in extra_jsonl.read_text(encoding="utf-8").splitlines()[:3000]:
            rec = json.loads(raw)
            text = str(rec.get("accept_standard") or "")
            pool.extend(s for s in re.split(r"(?<=[。；])", text) if len(s) >= 12)
    return pool


def write_synthetic_guides(
    folder: Path, n_sections: int, extra: Path | None, seed: int = 7, docs_per_file: int = 200
) -> int:
    """Write ``n_sections`` synthetic sections (five per guide) as JSON-lines files; returns the
    number of guides."""
    rng = random.Random(seed)
    pool = _sentence_pool(extra)
    words = sorted({w for s in pool for w in re.findall(r"[\u4e00-\u9fff]{2,4}", s)})
    n_docs = max(1, n_sections // 5)
    folder.mkdir(parents=True, exist_ok=True)
    for start in range(0, n_docs, docs_per_file):
        with (folder / f"synthetic-{start:07d}.jsonl").open("w", encoding="utf-8") as fh:
            for d in range(start, min(n_docs, start + docs_per_file)):
                title = "".join(rng.sample(words, 3)) + f"办理{d}"
                body = "\n\n".join(f"## {h}\n" + "\n".join(rng.sample(pool, 3)) for h in rng.sample(HEADINGS, 5))
                fh.write(json.dumps({"id": f"syn-{d}", "title": title, "body": body}, ensure_ascii=False) + "\n")
    return n_docs


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation (numpy's default method)."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


@dataclass
class Figures:
    """One benchmark row."""

    label: str
    sections: int
    docs: int
    ingest_s: float | None
    docs_per_s: float | None
    p50_ms: float
    p95_ms: float
    mode: str
    stages_p50_ms: dict[str, float] = field(default_factory=dict)


Step = Callable[[str, int, int], None]
"""Progress of a long bench step: (what, done, total); the CLI draws it as a progress bar."""


def _no_step(what: str, done: int, total: int) -> None:
    pass


class _FileCounter:
    """An ingest's ``on_file`` that reports (what, files done, ``total``) to a :data:`Step`."""

    def __init__(self, step: Step, what: str, total: int):
        self.step, self.what, self.total, self.done = step, what, total, 0

    def __call__(self, _path: Path) -> None:
        self.done += 1
        self.step(self.what, self.done, self.total)


def _latencies(
    retriever: Retriever, queries: Sequence[str], repeat: int, step: Step = _no_step, what: str = "searching"
) -> tuple[list[float], dict[str, float]]:
    """(per-query wall times, ms; p50 of each stage of :attr:`SearchResponse.timings_ms`, ms)."""
    for q in queries[:10]:
        retriever.search(q)  # warm caches
    times = []
    stages: dict[str, list[float]] = {}
    total = repeat * len(queries)
    for r in range(repeat):
        for i, q in enumerate(queries):
            step(what, r * len(queries) + i, total)
            t = time.perf_counter()
            response = retriever.search(q)
            times.append((time.perf_counter() - t) * 1e3)
            for stage, ms in response.timings_ms.items():
                if stage != "total":
                    stages.setdefault(stage, []).append(ms)
    return times, {stage: percentile(ms, 50) for stage, ms in stages.items()}


def bench_scale(
    analyzer: Analyzer,
    sizes: Sequence[int],
    queries: Sequence[str],
    workdir: Path,
    extra: Path | None,
    report: Callable[[Figures], None],
    hybrid: bool = True,
    real: Embedder | None = None,
    step: Step = _no_step,
) -> None:
    """Ingest synthetic knowledge bases of each size and time queries against them: lexical,
    hybrid with :class:`HashingEmbedder` (the pipeline's own cost), and, given ``real``, hybrid
    with that model embedding every question (:class:`RealQueryEmbedder`). ``step`` hears how far
    each ingest and each round of questions has got."""
    for size in sizes:
        folder = workdir / f"syn-{size}"
        step(f"synthetic {size:,}: writing guides", 0, 0)
        n_docs = write_synthetic_guides(folder, size, extra)
        modes = ["lexical"] + (["hybrid"] if hybrid else []) + ([f"hybrid, {real.name} questions"] if real else [])
        for n_mode, mode in enumerate(modes):
            embedder: Embedder | None = None
            if mode == "hybrid":
                embedder = HashingEmbedder()
            elif mode != "lexical" and real is not None:
                embedder = RealQueryEmbedder(real)
            kb = KnowledgeBase.open(workdir / f"kb-{size}-{n_mode}.sqlite", analyzer)
            label = f"synthetic {size:,} {mode}"
            t = time.perf_counter()
            files = sum(1 for p in folder.iterdir() if p.is_file())  # guides are JSON lines, many a file
            Ingestor(kb, embedder).ingest([folder], on_file=_FileCounter(step, f"{label}: ingesting", files))
            ingest_s = time.perf_counter() - t
            sections = kb.counts()["sections"]
            repeat = 1 if size >= 100_000 else 2
            lat, stages = _latencies(Retriever(kb, embedder), queries, repeat, step, f"{label}: searching")
            report(
                Figures(
                    f"synthetic {size:,}",
                    sections,
                    n_docs,
                    ingest_s,
                    n_docs / ingest_s,
                    percentile(lat, 50),
                    percentile(lat, 95),
                    mode,
                    stages,
                )
            )
            kb.close()


def bench_guangdong(
    analyzer: Analyzer, path: Path, workdir: Path, report: Callable[[Figures], None], step: Step = _no_step
) -> float:
    """Ingest the real Guangdong guides; time title-paraphrase queries; return title hit@1."""
    kb = KnowledgeBase.open(workdir / "kb-guangdong.sqlite", analyzer)
    step("Guangdong guides: ingesting", 0, 0)
    t = time.perf_counter()
    Ingestor(kb).ingest([path])
    ingest_s = time.perf_counter() - t
    docs = kb.documents()
    rng = random.Random(3)
    sample = rng.sample(docs, min(300, len(docs)))
    queries = [f"{d.title}需要什么材料" for d in sample]
    retriever = Retriever(kb)
    lat, stages = _latencies(retriever, queries, 1, step, "Guangdong guides: searching")
    hits = sum(
        1
        for d, q in zip(sample, queries, strict=True)
        if (r := retriever.search(q, k=1).top) and r.doc.title == d.title
    )
    c = kb.counts()
    report(
        Figures(
            "Guangdong guides",
            c["sections"],
            c["documents"],
            ingest_s,
            c["documents"] / ingest_s,
            percentile(lat, 50),
            percentile(lat, 95),
            "lexical",
            stages,
        )
    )
    kb.close()
    return hits / len(sample)


def cold_start(runs: int = 5) -> list[float]:
    """Wall time of ``kiosk ask --json`` in a fresh process (knowledge base already built, no LLM),
    in seconds, one per run; the first, untimed run builds the knowledge base."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "KIOSK_DATA_DIR": tmp,
            "KIOSK_LLM__ENABLED": "false",
            "KIOSK_EMBEDDING__ENABLED": "false",
            "KIOSK_CONFIG": "",
        }
        cmd = [sys.executable, "-m", "appliance", "ask", "--json", "我社保卡掉了怎么办"]
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, capture_output=True)
            times.append(time.perf_counter() - t)
        return times


def demo_queries() -> list[str]:
    """The demo's held-out evaluation questions (answerable and out-of-scope)."""
    folder = Path(str(demo_kb_dir().parent / "eval"))
    return [q.question for q in load_questions(sorted(folder.glob("*.jsonl")))]


def statistics_line(values: Sequence[float]) -> str:
    """ "min / median / max" of seconds."""
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f} s"
