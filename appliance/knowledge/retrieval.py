"""Hybrid retrieval: BM25 (FTS5) and vector (sqlite-vec) rankings, aggregated to documents and
fused by reciprocal rank fusion.

1. The question is normalised, expanded with official terms for colloquial words, segmented and
   stripped of stop words (:class:`~appliance.knowledge.text.Analyzer`).
2. BM25 ranks chunks (sections and sample questions) with FTS5's ``bm25()`` over the question's
   words and character bigrams, title, heading and body columns weighted :data:`BM25_WEIGHTS`.
   A document's BM25 score is the sum of its best :data:`PASSAGES_PER_DOC` chunk scores (passage
   evidence summed to the document, cf. Callan, "Passage-level evidence in document retrieval",
   SIGIR 1994): one guide matching in its title, a sample question and a section beats one
   matching a single stray line.
3. When the knowledge base holds vectors made by the configured embedding model, the question's
   embedding ranks chunks by cosine distance (``vec0`` k-nearest-neighbour query); a document's
   vector score is its best chunk's similarity.
4. The two document rankings are fused by reciprocal rank fusion, ``score(d) = Σ 1 / (k + rank(d))``
   with k = 60 (Cormack, Clarke & Büttcher, "Reciprocal Rank Fusion outperforms Condorcet and
   individual Rank Learning Methods", SIGIR 2009).
5. Each document reports its content section that best matches the question, and the top one gets
   a calibrated confidence (:mod:`appliance.knowledge.confidence`).

Lexical-only when no embedding model (or no vectors, or no sqlite-vec) is available.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from appliance.knowledge.confidence import (
    DEFAULT_HYBRID,
    DEFAULT_LEXICAL,
    Calibration,
    bm25_idf,
    char_bigrams,
    dice,
)
from appliance.knowledge.store import Chunk, DocInfo, KnowledgeBase

#: FTS5 bm25() column weights for (title, heading, body).
BM25_WEIGHTS = (2.0, 1.0, 1.0)
#: Chunk scores summed into a document's BM25 score.
PASSAGES_PER_DOC = 3
#: Matched IDF mass, in units of the largest IDF, at which the ``evidence`` feature saturates.
EVIDENCE_TERMS = 3.0


class Embedder(Protocol):
    """What retrieval needs from an embedding model."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts: float32 array of shape (len(texts), dim), rows L2-normalised."""
        ...


@dataclass(frozen=True)
class ChunkHit:
    """One matched chunk.

    Attributes:
        bm25: BM25 score (higher is better; FTS5's bm25() negated), None when not matched lexically.
        vector_sim: cosine similarity to the question (1 - cosine distance), None when not among the
            vector candidates.
    """

    chunk: Chunk
    bm25: float | None
    vector_sim: float | None

    @property
    def sort_key(self) -> tuple[float, float]:
        """Best first: by BM25, then by similarity."""
        return (-(self.bm25 or 0.0), -(self.vector_sim or 0.0))


@dataclass(frozen=True)
class DocResult:
    """A retrieved document.

    Attributes:
        score: fused RRF score.
        bm25: the document's BM25 score (0 when it matched no word).
        vector_sim: its best chunk's cosine similarity (None in lexical mode or when not a candidate).
        section: the document's content section that best matches the question.
        hits: this document's matched chunks, best first.
    """

    doc: DocInfo
    score: float
    bm25: float
    vector_sim: float | None
    section: Chunk
    hits: tuple[ChunkHit, ...]


@dataclass
class SearchResponse:
    """What :meth:`Retriever.search` returns.

    Attributes:
        terms: the topic words searched for (after expansion and stop-word removal).
        bigrams: the character bigrams searched for.
        expansions: official terms added for colloquial words in the question.
        confidence: P(top document answers the question), calibrated; 0 when nothing was found.
        features: the confidence model's inputs, for logs and calibration.
        mode: 'lexical' or 'hybrid'.
        timings_ms: time per stage, milliseconds.
    """

    query: str
    terms: list[str]
    bigrams: list[str]
    expansions: list[str]
    results: list[DocResult]
    confidence: float
    features: dict[str, float]
    mode: str
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def top(self) -> DocResult | None:
        """The first result, if any."""
        return self.results[0] if self.results else None


def fts_match_expression(terms: Sequence[str]) -> str:
    """An FTS5 MATCH expression OR-ing the terms, each as a quoted string."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


class Retriever:
    """Searches one knowledge base.

    Args:
        kb: the knowledge base (its analyzer is used for questions too).
        embedder: the embedding model, or None for lexical-only search. Vectors are used only when
            the knowledge base's vectors were made by a model of the same name.
        candidates: chunks taken from each ranker before aggregation to documents.
        rrf_k: the RRF constant.
        calibration: confidence model; default: the one stored in the knowledge base, else the
            shipped one for the search mode.
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        embedder: Embedder | None = None,
        *,
        candidates: int = 100,
        rrf_k: int = 60,
        calibration: Calibration | None = None,
    ):
        self.kb = kb
        self.analyzer = kb.analyzer
        self.candidates = candidates
        self.rrf_k = rrf_k
        use_vectors = embedder is not None and kb.has_vectors and kb.embedding_model == embedder.name
        self.embedder = embedder if use_vectors else None
        self.mode = "hybrid" if self.embedder else "lexical"
        stored = kb.meta(f"calibration_{self.mode}")
        default = DEFAULT_HYBRID if self.embedder else DEFAULT_LEXICAL
        self.calibration = calibration or (Calibration.from_json(stored) if stored else default)

    # -- rankers ---------------------------------------------------------------------------------

    def _bm25(self, tokens: Sequence[str]) -> list[tuple[int, float]]:
        if not tokens:
            return []
        rows = self.kb.conn.execute(
            "SELECT rowid, bm25(chunks_fts, ?, ?, ?) AS s FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY s LIMIT ?",
            (*BM25_WEIGHTS, fts_match_expression(tokens), self.candidates),
        ).fetchall()
        return [(r[0], -float(r[1])) for r in rows]

    def _vector(self, text: str) -> list[tuple[int, float]]:
        assert self.embedder is not None
        vec = self.embedder.embed([text])[0]
        rows = self.kb.conn.execute(
            "SELECT rowid, distance FROM chunks_vec WHERE embedding MATCH ? AND k = ?",
            (np.ascontiguousarray(vec, dtype=np.float32).tobytes(), self.candidates),
        ).fetchall()
        return [(r[0], 1.0 - float(r[1])) for r in rows]

    # -- search ----------------------------------------------------------------------------------

    def search(self, query: str, k: int = 5) -> SearchResponse:
        """Rank documents for ``query`` and return the best ``k`` with a calibrated confidence."""
        t0 = time.perf_counter()
        terms = self.analyzer.query_terms(query)
        bigrams = self.analyzer.query_bigrams(query)
        expansions = self.analyzer.expansions_for(query)
        t1 = time.perf_counter()
        lexical = self._bm25(list(dict.fromkeys(terms + bigrams)))
        t2 = time.perf_counter()
        semantic = self._vector(self.analyzer.normalize(query)) if self.embedder and query.strip() else []
        t3 = time.perf_counter()

        scores: dict[int, list[float | None]] = {}
        for cid, score in lexical:
            scores.setdefault(cid, [None, None])[0] = score
        for cid, sim in semantic:
            scores.setdefault(cid, [None, None])[1] = sim
        chunks = self.kb.chunks_by_id(list(scores))
        by_doc: dict[str, list[ChunkHit]] = {}
        for cid, (bm25, sim) in scores.items():
            if cid in chunks:
                by_doc.setdefault(chunks[cid].doc_id, []).append(ChunkHit(chunks[cid], bm25, sim))
        doc_bm25 = {
            d: sum(sorted((h.bm25 for h in hits if h.bm25 is not None), reverse=True)[:PASSAGES_PER_DOC])
            for d, hits in by_doc.items()
        }
        doc_sim = {
            d: max(h.vector_sim for h in hits if h.vector_sim is not None)
            for d, hits in by_doc.items()
            if any(h.vector_sim is not None for h in hits)
        }
        fused: dict[str, float] = dict.fromkeys(by_doc, 0.0)
        for ranking in (
            sorted((d for d in doc_bm25 if doc_bm25[d] > 0), key=lambda d: (-doc_bm25[d], d)),
            sorted(doc_sim, key=lambda d: (-doc_sim[d], d)),
        ):
            for rank, doc_id in enumerate(ranking, start=1):
                fused[doc_id] += 1.0 / (self.rrf_k + rank)
        order = sorted(fused, key=lambda d: (-fused[d], -doc_bm25.get(d, 0.0), d))
        infos = self.kb.docs_by_id(order[:k])
        results = []
        for doc_id in order[:k]:
            hits = sorted(by_doc[doc_id], key=lambda h: h.sort_key)
            results.append(
                DocResult(
                    infos[doc_id],
                    fused[doc_id],
                    doc_bm25.get(doc_id, 0.0),
                    doc_sim.get(doc_id),
                    self._best_section(doc_id, hits),
                    tuple(hits),
                )
            )
        t4 = time.perf_counter()
        runner_up_bm25 = max((v for d, v in doc_bm25.items() if not results or d != results[0].doc.doc_id), default=0.0)
        features = self.features(query, terms, results, runner_up_bm25)
        confidence = self.calibration.probability(features) if results else 0.0
        t5 = time.perf_counter()
        return SearchResponse(
            query=query,
            terms=terms,
            bigrams=bigrams,
            expansions=expansions,
            results=results,
            confidence=confidence,
            features=features,
            mode=self.mode,
            timings_ms={
                "analyze": (t1 - t0) * 1e3,
                "bm25": (t2 - t1) * 1e3,
                "vector": (t3 - t2) * 1e3,
                "fuse": (t4 - t3) * 1e3,
                "confidence": (t5 - t4) * 1e3,
                "total": (t5 - t0) * 1e3,
            },
        )

    def _best_section(self, doc_id: str, hits: Sequence[ChunkHit]) -> Chunk:
        for hit in hits:
            if not hit.chunk.is_question:
                return hit.chunk
        sections = [c for c in self.kb.doc_chunks(doc_id) if not c.is_question]
        return sections[0]

    def features(
        self, query: str, terms: Sequence[str], results: Sequence[DocResult], runner_up_bm25: float
    ) -> dict[str, float]:
        """The confidence model's inputs for the top result (see :mod:`~appliance.knowledge.confidence`).

        Args:
            runner_up_bm25: the best BM25 document score among the other documents.
        """
        if not results:
            return {name: 0.0 for name in self.calibration.features}
        top = results[0]
        df, n = self.kb.document_frequencies(list(terms))
        max_idf = bm25_idf(0, n)
        weights = {t: bm25_idf(df[t], n) if df.get(t) else max_idf for t in terms}
        doc_terms = self.kb.doc_terms(top.doc.doc_id)
        total = sum(weights.values())
        matched = sum(w for t, w in weights.items() if t in doc_terms)
        coverage = matched / total if total else 0.0
        evidence = min(1.0, matched / (EVIDENCE_TERMS * max_idf)) if max_idf > 0 else 0.0

        grams = char_bigrams(self.analyzer.normalize(query))
        candidates = [top.doc.title, *top.doc.questions]
        question_sim = max((dice(grams, char_bigrams(self.analyzer.normalize(c))) for c in candidates), default=0.0)

        separation = max(0.0, (top.bm25 - runner_up_bm25) / top.bm25) if top.bm25 > 0 else 0.0
        margin = evidence * separation
        out = {"coverage": coverage, "question_sim": question_sim, "evidence": evidence, "margin": margin}
        if self.mode == "hybrid":
            out["vector_sim"] = max(0.0, top.vector_sim or 0.0)
        return out
