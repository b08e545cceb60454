"""Hybrid retrieval: whole-document and passage BM25 (FTS5) and vector (sqlite-vec) evidence,
combined per document.

1. The question is normalised, expanded with official terms for colloquial words, segmented and
   stripped of stop words (:class:`~appliance.knowledge.text.Analyzer`).
2. Three lexical rankings, all FTS5 ``bm25()`` over the question's words and character bigrams:
   the **whole document** (``docs_fts``, columns weighted
   :data:`~appliance.knowledge.store.DOC_BM25_WEIGHTS`), its best **section** and its best
   **sample question** (``chunks_fts``, :data:`~appliance.knowledge.store.BM25_WEIGHTS`).
3. When the knowledge base holds vectors for every chunk, made by the configured embedding model,
   the question's embedding ranks chunks by cosine distance (``vec0`` k-nearest-neighbour query);
   a document's vector evidence is its best chunk's similarity.
4. Each kind of lexical evidence is divided by the best value any document got for this question
   (so each lies in [0, 1] whatever the collection's size), vector similarity is rescaled between
   the worst and the best candidate, and a document's score is their weighted mean with
   :data:`FUSION` (CombSUM over normalised scores: Fox & Shaw, "Combination of Multiple Searches",
   TREC-2, 1994; normalisation as in Lee, "Analyses of Multiple Evidence Combination", SIGIR 1997).
5. Each document reports its content section that best matches the question (what an answer
   quotes), and the top one gets a calibrated confidence (:mod:`appliance.knowledge.confidence`).

Why this shape, measured on development data only (the test splits of ``kiosk bench answers``
were not used): summing a document's best three chunk scores, as earlier versions did, favours
long documents with many loosely matching parts. On long documents without headings (real Taipei
FAQ answers grouped eight to a document) it gave hit@1 0.67, where whole-document BM25 alone gave
0.76 and the best section alone 0.76; the mean of whole-document, best-section and best-question
evidence gave 0.76 there, 0.58 on one-answer documents (whole-document BM25 alone: 0.57; the sum
of three: 0.55) and 0.88 on the demo's development questions, where sample questions matter (sum
of three: 0.84; whole document alone: 0.84).

Lexical-only when no embedding model (or incomplete vectors, or no sqlite-vec) is available.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from appliance.knowledge.confidence import DEFAULT_HYBRID, DEFAULT_LEXICAL, Calibration, bm25_idf
from appliance.knowledge.db import sqlite_module
from appliance.knowledge.store import Chunk, DocInfo, KnowledgeBase, text_sha256
from appliance.knowledge.text import detect_lang

log = logging.getLogger(__name__)

#: Matched IDF mass, in units of the largest IDF, at which the ``evidence`` feature saturates.
EVIDENCE_TERMS = 3.0


@dataclass(frozen=True)
class Fusion:
    """Weights of the max-normalised evidence summed into a document's score.

    Chosen on development data only (the Taipei FAQ's development half, the same answers grouped
    into long documents, and the demo's development questions); see the module docstring. With
    multilingual-e5-small vectors, min-max-scaled similarity weighted 2 against 1 for each lexical
    kind gave hit@1 0.62 / 0.80 / 0.89 on those three (lexical alone 0.58 / 0.76 / 0.88; weight 1:
    0.60 / 0.79 / 0.89; weight 3: 0.62 / 0.79 / 0.89; reciprocal rank fusion of the lexical and
    the vector ranking: 0.61 / 0.75 / 0.89).

    Across languages (hybrid mode, a knowledge base of guides in both languages): ``title`` weighs
    the question's similarity to a document's written title against its best chunk's (``vector``)
    for documents in the other language, and the documents in the question's language, when that
    language is the knowledge base's minority, have their score multiplied by ``coverage``-th power
    of the share of the question's IDF mass they contain (max-normalised evidence makes the best
    weak match look like a strong one). Chosen on 100 English development questions over the demo
    (40 about its English guides, 60 about Chinese-only ones, written by a helper who saw only the
    guides' titles): hit@1 0.57 without either; title 2, coverage 0.5: 0.82 (title 1 and coverage
    0.5: 0.79; coverage 1 alone: 0.77; title 4 and coverage 1: 0.77); Chinese development questions
    unchanged (0.859).
    """

    document: float = 1.0
    section: float = 1.0
    question: float = 1.0
    vector: float = 2.0
    title: float = 2.0
    coverage: float = 0.5


FUSION = Fusion()


class Embedder(Protocol):
    """What retrieval needs from an embedding model."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        """Embed texts: float32 array of shape (len(texts), dim), rows L2-normalised.

        ``query`` is True for a resident's question and False for knowledge-base passages (models
        such as e5 embed the two with different prefixes).
        """
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
        score: fused score in [0, 1], the weighted mean of max-normalised evidence (see :func:`fuse`).
        bm25: whole-document BM25 score (0 when it matched no word).
        section_bm25: its best section's BM25 score (0 when none matched).
        question_bm25: its best sample question's BM25 score (0 when none matched).
        vector_sim: its best chunk's cosine similarity (None in lexical mode or when not a candidate).
        section: the document's content section that best matches the question.
        hits: this document's matched chunks, best first.
    """

    doc: DocInfo
    score: float
    bm25: float
    section_bm25: float
    question_bm25: float
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
        mode: 'lexical' or 'hybrid'; 'chosen' for :meth:`Retriever.focus`.
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


def _normalised(values: dict[str, float]) -> dict[str, float]:
    """Each value divided by the largest (all in [0, 1]); empty when nothing is positive."""
    top = max(values.values(), default=0.0)
    return {k: v / top for k, v in values.items() if v > 0} if top > 0 else {}


def _min_max(values: dict[str, float]) -> dict[str, float]:
    """Values rescaled to [0, 1] between the smallest and the largest (all 1 when they are equal).

    Used for cosine similarities, which sentence encoders crowd into a narrow band (e5: about
    0.75–0.9 for any two texts of the same language), so that dividing by the largest alone would
    leave every candidate near 1.
    """
    if not values:
        return {}
    lo, hi = min(values.values()), max(values.values())
    return {k: (v - lo) / (hi - lo) if hi > lo else 1.0 for k, v in values.items()}


def fuse(
    document: dict[str, float],
    section: dict[str, float],
    question: dict[str, float],
    vector: dict[str, float] | None,
    with_questions: Set[str],
    weights: Fusion = FUSION,
    other_language: Set[str] = frozenset(),
    title: dict[str, float] | None = None,
) -> dict[str, float]:
    """Documents' fused scores: the weighted mean of each kind of evidence divided by its best value.

    The mean is over the kinds of evidence a document can have: a guide without sample questions
    is not penalised for matching none (a site's own Word or PDF guides rarely have them), and
    vector evidence counts only in hybrid mode.

    Args:
        document / section / question: doc id -> BM25 (whole document, best section, best sample
            question); missing or 0 = not matched.
        vector: doc id -> best chunk cosine similarity among the vector candidates, rescaled
            between the worst and the best candidate; None in lexical mode.
        with_questions: the documents that have sample questions.
        weights: one weight per kind of evidence.
        other_language: documents in another language than the question (hybrid mode): words
            cannot match across languages, so their score is their vector evidence alone (with
            ``title``, pooled with their title's similarity), and an English question finds the
            Chinese guide when no English one answers it.
        title: doc id -> cosine similarity of the question to the document's written title (used,
            rescaled between the worst and the best title, for the documents in
            ``other_language``; None: not used).

    Returns:
        doc id -> score in [0, 1], for every document with some evidence.
    """
    parts = [
        (weights.document, _normalised(document), None),
        (weights.section, _normalised(section), None),
        (weights.question, _normalised(question), with_questions),
    ]
    base = weights.document + weights.section
    if vector is not None:
        parts.append((weights.vector, _min_max(vector), None))
        base += weights.vector
    fused: dict[str, float] = {}
    for weight, values, _ in parts:
        for doc_id, value in values.items():
            fused[doc_id] = fused.get(doc_id, 0.0) + weight * value
    out = {d: v / (base + (weights.question if d in with_questions else 0.0)) for d, v in fused.items()}
    if vector is not None and other_language:
        scaled = _min_max(vector)
        if title and weights.title > 0:
            titled = _min_max(title)
            w = weights.vector + weights.title
            scaled = {
                d: (weights.vector * scaled.get(d, 0.0) + weights.title * titled.get(d, 0.0)) / w
                for d in set(scaled) | set(titled)
            }
        out.update({d: scaled[d] for d in other_language if d in scaled})
    return out


def written_title(doc: DocInfo) -> bool:
    """True when the document's title was written (a heading or front matter), not its file name."""
    return doc.title != Path(doc.source).stem


def embed_titles(kb: KnowledgeBase, embedder: Embedder, titles: Sequence[str]) -> np.ndarray:
    """Passage embeddings of document titles: float32 array of shape (len(titles), dim), taken from
    the knowledge base's vector cache where this model already embedded the same text; the rest are
    embedded now and added to the cache (kept in memory only when the file cannot be written)."""
    if not titles:
        return np.zeros((0, embedder.dim), np.float32)
    cached = kb.cached_vectors(embedder.name, titles)
    missing = sorted({t for t in titles if text_sha256(t) not in cached})
    if missing:
        fresh = {text_sha256(t): v for t, v in zip(missing, embedder.embed(missing, query=False), strict=True)}
        cached.update(fresh)
        try:
            kb.seed_vector_cache(embedder.name, fresh)
        except (sqlite3.Error, sqlite_module()[0].Error) as exc:  # read-only: embedded again next time
            log.warning("title vectors not cached in %s: %s", kb.db.path, exc)
    return np.stack([np.asarray(cached[text_sha256(t)], dtype=np.float32) for t in titles])


class Retriever:
    """Searches one knowledge base.

    Args:
        kb: the knowledge base (its analyzer is used for questions too).
        embedder: the embedding model, or None for lexical-only search. Vectors are used only when
            every chunk has one made by a model of the same name (while ``kiosk kb reindex`` is
            still embedding, search stays lexical).
        candidates: chunks (and documents) taken from each ranker before fusion.
        fusion: evidence weights.
        calibration: confidence model; default: the one stored in the knowledge base, else the
            shipped one for the search mode.
        vector_memory_mb: the chunk vectors are scanned from a copy in memory when they fit in
            this many MiB (float32; 64 MiB holds about 43,000 vectors of 384 dimensions), else by
            sqlite-vec's ``vec0`` query; 0: always ``vec0``. Both are exact (brute-force) scans
            and rank alike; ``vec0`` reads every vector through SQLite's pages on each question
            (measured at 10,000 chunks of 384 dimensions on a 2-core machine: p50 12–13 ms), the
            copy in memory is scanned in 1.5–2 ms.
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        embedder: Embedder | None = None,
        *,
        candidates: int = 100,
        fusion: Fusion = FUSION,
        calibration: Calibration | None = None,
        vector_memory_mb: float = 64.0,
    ):
        self.kb = kb
        self.vector_memory_mb = vector_memory_mb
        self._chunk_vectors: tuple[int, tuple[np.ndarray, np.ndarray] | None] | None = None  # (kb version, ids/matrix)
        #: How the last vector search scanned the chunk vectors: 'memory' (the copy in memory),
        #: 'vec0' (sqlite-vec's query), None before any vector search.
        self.vector_scan: str | None = None
        self.analyzer = kb.analyzer
        self.candidates = candidates
        self.fusion = fusion
        self._model = embedder
        self._fixed_calibration = calibration
        self._version = -1
        self._titles: tuple[int, list[str], np.ndarray] | None = None  # (kb version, doc ids, vectors)
        self.embedder: Embedder | None = None
        self.mode = "lexical"
        self.calibration = calibration or DEFAULT_LEXICAL
        self.refresh()

    def set_calibration(self, calibration: Calibration | None) -> None:
        """Use ``calibration`` from now on (None: the stored or shipped one again)."""
        self._fixed_calibration = calibration
        self.refresh()

    def refresh(self) -> None:
        """Choose lexical or hybrid search, and the confidence model, for the knowledge base as it
        is now; runs again by itself at the first search after the knowledge base changed (for
        instance when ``kiosk kb reindex``, in another process, has embedded the last chunk)."""
        kb, model = self.kb, self._model
        self._version = kb.version
        use_vectors = model is not None and kb.has_vectors and kb.embedding_model == model.name
        self.embedder = model if use_vectors and kb.vectors_complete() else None
        self.mode = "hybrid" if self.embedder else "lexical"
        stored = kb.meta(f"calibration_{self.mode}")
        default = DEFAULT_HYBRID if self.embedder else DEFAULT_LEXICAL
        self.calibration = self._fixed_calibration or (Calibration.from_json(stored) if stored else default)

    # -- rankers ---------------------------------------------------------------------------------

    def _bm25_chunks(self, match: str) -> list[tuple[int, str, bool, float]]:
        """(chunk id, doc id, is a sample question, BM25) of the best-matching chunks."""
        rows = self.kb.conn.execute(
            "SELECT rowid, rank FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?",
            (match, 2 * self.candidates),
        ).fetchall()
        owners = self.kb.chunk_owners([r[0] for r in rows])
        return [(r[0], *owners[r[0]], -float(r[1])) for r in rows if r[0] in owners]

    def _bm25_documents(self, match: str) -> dict[str, float]:
        rows = self.kb.conn.execute(
            "SELECT doc_id, rank FROM docs_fts WHERE docs_fts MATCH ? ORDER BY rank LIMIT ?",
            (match, self.candidates),
        ).fetchall()
        return {r[0]: -float(r[1]) for r in rows}

    def _title_vectors(self) -> tuple[list[str], np.ndarray]:
        """(doc ids, float32 array of shape (n, dim)): the written titles (not a file name standing
        in for one) embedded as passages, once per knowledge-base version; from the vector cache
        (``kiosk kb reindex`` fills it for a knowledge base in two languages), the rest embedded
        now and cached."""
        assert self.embedder is not None
        if self._titles is None or self._titles[0] != self.kb.version:
            docs = [d for d in self.kb.documents() if written_title(d)]
            vectors = embed_titles(self.kb, self.embedder, [d.title for d in docs])
            self._titles = (self.kb.version, [d.doc_id for d in docs], vectors)
        return self._titles[1], self._titles[2]

    def _title_similarity(self, vec: np.ndarray) -> dict[str, float]:
        """Cosine similarity of the question's embedding ``vec`` to every written title.

        Multiplied out element-wise rather than by ``matrix @ vec``: a BLAS call wakes OpenBLAS's
        threads, which then spin on the two cores the embedding model's OpenMP threads need for
        the next question (measured: e5 question embeddings went from ~40 to ~95 ms p50)."""
        ids, matrix = self._title_vectors()
        return dict(zip(ids, (matrix * vec).sum(axis=1).tolist(), strict=True)) if ids else {}

    def _vectors_in_memory(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(chunk ids, float32 matrix of shape (n, dim) with unit rows): the knowledge base's chunk
        vectors, read once per knowledge-base version; None when they exceed
        ``vector_memory_mb``."""
        assert self.embedder is not None
        if self._chunk_vectors is None or self._chunk_vectors[0] != self.kb.version:
            version = self.kb.version
            have, _ = self.kb.vector_counts()
            loaded = None
            if have * self.embedder.dim * 4 <= self.vector_memory_mb * 2**20:
                ids, matrix = self.kb.chunk_vectors()
                norms = np.linalg.norm(matrix, axis=1, keepdims=True) if len(ids) else np.ones((0, 1), np.float32)
                loaded = (ids, np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0))
            self._chunk_vectors = (version, loaded)
        return self._chunk_vectors[1]

    def _vector(self, text: str) -> tuple[np.ndarray, list[tuple[int, float]]]:
        """The question's embedding and its ``candidates`` nearest chunks (chunk id, cosine similarity),
        nearest first."""
        assert self.embedder is not None
        vec = np.ascontiguousarray(self.embedder.embed([text], query=True)[0], dtype=np.float32)
        in_memory = self._vectors_in_memory() if self.vector_memory_mb > 0 else None
        self.vector_scan = "memory" if in_memory is not None else "vec0"
        if in_memory is not None:
            ids, matrix = in_memory
            if not len(ids):
                return vec, []
            norm = float(np.linalg.norm(vec))
            # einsum, not ``matrix @ vec``: no BLAS threads left spinning (see _title_similarity)
            sims = np.einsum("ij,j->i", matrix, vec / norm if norm > 0 else vec)
            k = min(self.candidates, len(ids))
            top = np.argpartition(-sims, k - 1)[:k]
            top = top[np.argsort(-sims[top], kind="stable")]
            return vec, [(int(ids[i]), float(sims[i])) for i in top]
        rows = self.kb.conn.execute(
            "SELECT rowid, distance FROM chunks_vec WHERE embedding MATCH ? AND k = ?",
            (vec.tobytes(), self.candidates),
        ).fetchall()
        return vec, [(r[0], 1.0 - float(r[1])) for r in rows]

    # -- search ----------------------------------------------------------------------------------

    def search(self, query: str, k: int = 5) -> SearchResponse:
        """Rank documents for ``query`` and return the best ``k`` with a calibrated confidence."""
        t0 = time.perf_counter()
        if self.kb.version != self._version:
            self.refresh()
        terms, bigrams, tokens = self._tokens(query)
        expansions = self.analyzer.expansions_for(query)
        df, n_chunks = self.kb.document_frequencies(tokens)
        t1 = time.perf_counter()
        match = fts_match_expression(self._discriminating(tokens, df, n_chunks)) if tokens else ""
        lexical = self._bm25_chunks(match) if match else []
        doc_bm25 = self._bm25_documents(match) if match else {}
        t2 = time.perf_counter()
        qvec, semantic = (None, [])
        if self.embedder and query.strip():
            qvec, semantic = self._vector(self.analyzer.normalize(query))
        other = self._other_language(query) if self.embedder else frozenset()
        titles = None
        if qvec is not None and other and self.fusion.title > 0:
            titles = self._title_similarity(qvec)
        t3 = time.perf_counter()

        scores: dict[int, list[float | None]] = {}
        owner: dict[int, str] = {}
        section: dict[str, float] = {}
        question: dict[str, float] = {}
        vector: dict[str, float] = {}
        for cid, doc_id, is_q, score in lexical:
            scores[cid] = [score, None]
            owner[cid] = doc_id
            best = question if is_q else section
            best[doc_id] = max(best.get(doc_id, 0.0), score)
        owners = {c: d for c, (d, _) in self.kb.chunk_owners([c for c, _ in semantic if c not in owner]).items()}
        for cid, sim in semantic:
            doc_id = owner.get(cid) or owners.get(cid)
            if doc_id is None:
                continue  # deleted meanwhile
            owner[cid] = doc_id
            scores.setdefault(cid, [None, None])[1] = sim
            vector[doc_id] = max(vector.get(doc_id, -1.0), sim)
        fused = fuse(
            doc_bm25,
            section,
            question,
            vector if self.embedder else None,
            self.kb.documents_with_questions(),
            self.fusion,
            other,
            titles,
        )
        # the question's language is the knowledge base's minority
        minority = len(other) > len(self.kb.documents_in(detect_lang(query)))
        if self.fusion.coverage > 0 and other & fused.keys() and minority:
            self._weigh_by_coverage(fused, other, terms, (df, n_chunks))
        order = sorted(fused, key=lambda d: (-fused[d], -doc_bm25.get(d, 0.0), d))[:k]
        infos = self.kb.docs_by_id(order)
        chosen = set(order)
        chunks = self.kb.chunks_by_id([cid for cid, d in owner.items() if d in chosen])
        by_doc: dict[str, list[ChunkHit]] = {}
        for cid, chunk in chunks.items():
            by_doc.setdefault(chunk.doc_id, []).append(ChunkHit(chunk, *scores[cid]))
        results = []
        for doc_id in order:
            hits = sorted(by_doc.get(doc_id, []), key=lambda h: h.sort_key)
            results.append(
                DocResult(
                    infos[doc_id],
                    fused[doc_id],
                    doc_bm25.get(doc_id, 0.0),
                    section.get(doc_id, 0.0),
                    question.get(doc_id, 0.0),
                    vector.get(doc_id),
                    self._best_section(doc_id, hits),
                    tuple(hits),
                )
            )
        t4 = time.perf_counter()
        features = self.features(query, terms, results, fused, (df, n_chunks))
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

    def _weigh_by_coverage(
        self,
        fused: dict[str, float],
        other: Set[str],
        terms: Sequence[str],
        frequencies: tuple[dict[str, int], int],
        top: int = 10,
    ) -> None:
        """Multiply the ``top`` best documents in the question's language by the share of the
        question's IDF mass they contain, to the power :attr:`Fusion.coverage` (see there)."""
        df, n = frequencies
        max_idf = bm25_idf(0, n)
        weights = {t: bm25_idf(df[t], n) if df.get(t) else max_idf for t in terms}
        total = sum(weights.values())
        if not total:
            return
        for d in sorted((d for d in fused if d not in other), key=lambda d: -fused[d])[:top]:
            doc_terms = self.kb.doc_terms(d)
            fused[d] *= (sum(w for t, w in weights.items() if t in doc_terms) / total) ** self.fusion.coverage

    def _tokens(self, query: str) -> tuple[list[str], list[str], list[str]]:
        """The question's topic words, its bigrams, and both without repeats (what FTS5 matches)."""
        terms = self.analyzer.query_terms(query)
        bigrams = self.analyzer.query_bigrams(query)
        return terms, bigrams, list(dict.fromkeys(terms + bigrams))

    def _other_language(self, query: str) -> frozenset[str]:
        """The documents not in the question's language."""
        lang = detect_lang(query)
        other = "en" if lang == "zh" else "zh"
        return self.kb.documents_in(other)

    def focus(self, query: str, doc_id: str) -> SearchResponse:
        """One document, chosen by the resident (from a clarification), with its section that best
        matches ``query``; confidence 1.0 (the resident said which guide they mean).

        Raises:
            KeyError: no such document.
        """
        t0 = time.perf_counter()
        info = self.kb.docs_by_id([doc_id]).get(doc_id)
        if info is None:
            raise KeyError(doc_id)
        terms, bigrams, tokens = self._tokens(query)
        hits: list[ChunkHit] = []
        if tokens:
            rows = self.kb.conn.execute(
                "SELECT rowid, rank FROM chunks_fts WHERE chunks_fts MATCH ? "
                "AND rowid IN (SELECT id FROM chunks WHERE doc_id = ?) ORDER BY rank",
                (fts_match_expression(tokens), doc_id),
            ).fetchall()
            chunks = self.kb.chunks_by_id([r[0] for r in rows])
            hits = [ChunkHit(chunks[r[0]], -float(r[1]), None) for r in rows if r[0] in chunks]
        result = DocResult(info, 1.0, 0.0, 0.0, 0.0, None, self._best_section(doc_id, hits), tuple(hits))
        return SearchResponse(
            query=query,
            terms=terms,
            bigrams=bigrams,
            expansions=self.analyzer.expansions_for(query),
            results=[result],
            confidence=1.0,
            features={},
            mode="chosen",
            timings_ms={"total": (time.perf_counter() - t0) * 1e3},
        )

    def _best_section(self, doc_id: str, hits: Sequence[ChunkHit]) -> Chunk:
        for hit in hits:
            if not hit.chunk.is_question:
                return hit.chunk
        sections = [c for c in self.kb.doc_chunks(doc_id) if not c.is_question]
        return sections[0]

    @staticmethod
    def _discriminating(tokens: Sequence[str], df: dict[str, int], n: int) -> list[str]:
        """The tokens worth matching: those in at most half the chunks. FTS5's BM25 gives a term
        in more than half the rows an IDF of almost nothing (it floors ``ln((N - n + 0.5) / (n +
        0.5))`` at 1e-6), so leaving it out changes no score but spares scoring every row that
        has it ("需要", "材料" in a large base of guides). At least the rarest token is kept."""
        kept = [t for t in tokens if df.get(t, 0) <= n / 2]
        return kept or sorted(tokens, key=lambda t: df.get(t, 0))[:1]

    def features(
        self,
        query: str,
        terms: Sequence[str],
        results: Sequence[DocResult],
        fused: dict[str, float],
        frequencies: tuple[dict[str, int], int] | None = None,
    ) -> dict[str, float]:
        """The confidence model's inputs for the top result (see :mod:`~appliance.knowledge.confidence`).

        None of them needs the guide to have sample questions.

        Args:
            fused: every candidate document's fused score (for the margin to the runner-up).
            frequencies: the terms' chunk frequencies and the number of chunks, when already read.
        """
        if not results:
            return {name: 0.0 for name in self.calibration.features}
        top = results[0]
        df, n = frequencies or self.kb.document_frequencies(list(terms))
        max_idf = bm25_idf(0, n)
        weights = {t: bm25_idf(df[t], n) if df.get(t) else max_idf for t in terms}
        total = sum(weights.values())

        def share(found: Set[str]) -> float:
            return sum(w for t, w in weights.items() if t in found) / total if total else 0.0

        doc_terms = self.kb.doc_terms(top.doc.doc_id)
        matched = sum(w for t, w in weights.items() if t in doc_terms)
        title_terms, heading_terms, body_terms = self.kb.chunk_terms(top.section.id)
        section_terms = title_terms | body_terms
        topic_terms = title_terms | heading_terms
        runner_up = max((v for d, v in fused.items() if d != top.doc.doc_id), default=0.0)
        separation = max(0.0, (top.score - runner_up) / top.score) if top.score > 0 else 0.0
        evidence = min(1.0, matched / (EVIDENCE_TERMS * max_idf)) if max_idf > 0 else 0.0
        out = {
            "coverage": share(doc_terms),
            "section_coverage": share(section_terms),
            "title_coverage": share(topic_terms),
            "evidence": evidence,
            "agreement": top.score,
            "margin": evidence * separation,
        }
        if self.mode == "hybrid":
            out["vector_sim"] = max(0.0, top.vector_sim or 0.0)
        return out
