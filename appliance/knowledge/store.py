"""The knowledge base: one SQLite file of sources, documents, chunks, an FTS5 index and vectors.

Tables (plain SQLite, see :data:`SCHEMA`):

* ``sources``   one row per ingested file: path, sha256 of its bytes, when, how many documents;
* ``documents`` one row per guide: id, source path, title, language, category, sample questions;
* ``chunks``    the retrievable units: every section (or part of a long section) and every sample
  question, with the heading path and the section kind;
* ``chunks_fts`` FTS5 over the jieba-segmented title, heading and body of each chunk (BM25), with
  ``chunks_vocab`` (fts5vocab) for term document frequencies;
* ``docs_fts``  FTS5 over each whole document (title; every section and sample question as one
  body), for whole-document BM25;
* ``chunks_vec`` a sqlite-vec ``vec0`` table of chunk embeddings, present once a knowledge base
  has been embedded (at ingest with an embedding model, or by ``kiosk kb reindex``);
* ``vector_cache`` embeddings by model and sha256 of the embedded text, so that re-ingesting or
  re-embedding embeds only text that changed;
* ``meta``      schema version, knowledge-base version (bumped on every change), analyzer version,
  embedding model, origin (the shipped demo, or a site's own guides: :attr:`KnowledgeBase.origin`);
* ``tours``     guided explanations (:mod:`appliance.tours`), one per ``*.tour.toml`` file, the
  validated tour as JSON; ``tour_media`` their images. Not retrievable: tours are not documents.

Writes happen one source file per transaction (:meth:`KnowledgeBase.replace_source`), so a
failure leaves the previous state intact. A file of schema 1 is upgraded in place when opened for
writing (the whole-document index and the vector cache are added); a file indexed by another
:data:`~appliance.knowledge.text.ANALYZER_VERSION` has its lexical indexes rebuilt from the stored
text, in one transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from appliance.knowledge.db import Database, connect, sqlite_module
from appliance.knowledge.model import Document
from appliance.knowledge.origin import looks_like_demo
from appliance.knowledge.text import ANALYZER_VERSION, Analyzer

if TYPE_CHECKING:
    from appliance.tours import LoadedTour, Tour

log = logging.getLogger(__name__)

SCHEMA_VERSION = "2"
#: FTS5 bm25() column weights for chunks: (title, heading, body).
BM25_WEIGHTS = (2.0, 1.0, 1.0)
#: FTS5 bm25() column weights for whole documents: (doc_id (unindexed), title, body).
DOC_BM25_WEIGHTS = (0.0, 2.0, 1.0)
#: The weights above as each FTS5 table's rank function (retrieval orders by ``rank``).
FTS_RANK = "|".join(", ".join(str(w) for w in ws) for ws in (BM25_WEIGHTS, DOC_BM25_WEIGHTS))
#: Older schemas this version upgrades in place.
UPGRADABLE = ("1",)
QUESTION_HEADING = "常见问法"
#: The ``meta`` row recording where the content came from (see :attr:`KnowledgeBase.origin`).
ORIGIN_KEY = "origin"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources (
    path TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    ingested_at TEXT NOT NULL,
    n_docs INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    source TEXT NOT NULL REFERENCES sources(path) ON DELETE CASCADE,
    ord INTEGER NOT NULL,
    title TEXT NOT NULL,
    lang TEXT NOT NULL,
    category TEXT,
    questions TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_source ON documents(source);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    ord INTEGER NOT NULL,
    kind TEXT NOT NULL,
    heading_path TEXT NOT NULL,
    text TEXT NOT NULL,
    is_question INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    title, heading, body, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vocab USING fts5vocab(chunks_fts, 'row');
"""

SCHEMA_2 = """
CREATE VIRTUAL TABLE IF NOT EXISTS docs_fts USING fts5(
    doc_id UNINDEXED, title, body, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS vector_cache (
    model TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    embedding BLOB NOT NULL,
    PRIMARY KEY (model, sha256)
);
"""
"""Added by schema 2: whole-document BM25 and the embedding cache."""

TOUR_SCHEMA = """
CREATE TABLE IF NOT EXISTS tours (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL,
    title TEXT NOT NULL,
    lang TEXT NOT NULL,
    summary TEXT NOT NULL,
    body_json TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tour_media (
    tour_id TEXT NOT NULL REFERENCES tours(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    mime TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (tour_id, name)
);
"""
"""Added after schema 1 shipped; created in older files when they are opened for writing."""


class KnowledgeBaseError(RuntimeError):
    """A knowledge-base file that cannot be used as asked (wrong schema, embedding mismatch)."""


@dataclass(frozen=True)
class Chunk:
    """A retrievable unit as stored.

    Attributes:
        id: rowid shared by ``chunks``, ``chunks_fts`` and ``chunks_vec``.
        heading_path: document title first, then the headings down to this section.
        is_question: True for a sample question (its text is the question).
    """

    id: int
    doc_id: str
    ord: int
    kind: str
    heading_path: tuple[str, ...]
    text: str
    is_question: bool


@dataclass(frozen=True)
class DocInfo:
    """A document's catalogue entry."""

    doc_id: str
    title: str
    source: str
    lang: str
    category: str | None
    questions: tuple[str, ...]


def chunk_embedding_text(title: str, heading_path: Sequence[str], text: str, is_question: bool) -> str:
    """The text embedded for a chunk: a question as asked; a section with its title and heading."""
    if is_question:
        return text
    heading = " / ".join(h for h in heading_path[1:] if h)
    return f"{title}\n{heading}\n{text}" if heading else f"{title}\n{text}"


def text_sha256(text: str) -> str:
    """Hex sha256 of ``text`` as UTF-8: the vector cache's key."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class KnowledgeBase:
    """Reads and writes one knowledge-base file.

    Args:
        db: an open database (see :func:`appliance.knowledge.db.connect`).
        analyzer: the text analyzer; must be the same for ingest and search.

    Raises:
        KnowledgeBaseError: the file was written by another schema version.
    """

    def __init__(self, db: Database, analyzer: Analyzer):
        self.db = db
        self.conn = db.conn
        self.analyzer = analyzer
        self._doc_sets_cache: tuple[int, tuple[frozenset[str], dict[str, frozenset[str]]]] | None = None
        self._chunk_count: tuple[int, int] | None = None
        self._storing_demo = False  # see storing_demo()
        self._ensure_schema()

    @classmethod
    def open(cls, path: Path, analyzer: Analyzer, *, readonly: bool = False) -> KnowledgeBase:
        """Open (or create) the knowledge base at ``path``."""
        return cls(connect(path, readonly=readonly), analyzer)

    def close(self) -> None:
        """Close the underlying connection."""
        self.db.close()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema and meta ---------------------------------------------------------------------

    def _ensure_schema(self) -> None:
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" in tables:
            version = self.meta("schema_version")
            if version in UPGRADABLE:
                self._upgrade(version)
            elif version != SCHEMA_VERSION:
                raise KnowledgeBaseError(
                    f"{self.db.path}: knowledge-base schema {version!r}, this kiosk reads {SCHEMA_VERSION!r}; "
                    "rebuild it with `kiosk kb ingest` into a new file"
                )
            self._has_tours = "tours" in tables or self._add_tour_tables()
            if self.meta("analyzer_version") != ANALYZER_VERSION:
                self.rebuild_lexical_index()
            if self.meta("fts_rank") != FTS_RANK:
                self._set_rank()
            return
        self._has_tours = True
        with self.conn:
            self.conn.executescript(SCHEMA + SCHEMA_2 + TOUR_SCHEMA)
            # OR IGNORE: another process creating the same new file at the same moment wrote them first
            self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
            self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('kb_version', '0')")
            self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('created_at', ?)", (_now(),))
            self.set_meta("analyzer_version", ANALYZER_VERSION)
        self._set_rank()

    def _set_rank(self) -> None:
        """Make each FTS5 table's ``rank`` its weighted bm25() (see :data:`FTS_RANK`), so that
        ``ORDER BY rank`` sorts by it. Skipped when the file is read-only: an older file opened so
        ranks by FTS5's default, unweighted bm25() (the appliance always opens for writing)."""
        chunks, docs = FTS_RANK.split("|")
        try:
            with self.conn:
                self.conn.execute("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('rank', ?)", (f"bm25({chunks})",))
                self.conn.execute("INSERT INTO docs_fts(docs_fts, rank) VALUES ('rank', ?)", (f"bm25({docs})",))
                self.set_meta("fts_rank", FTS_RANK)
        except (sqlite3.Error, sqlite_module()[0].Error) as exc:
            log.debug("%s: rank function not set (%s)", self.db.path, exc)

    def _upgrade(self, version: str) -> None:
        """Bring a schema-1 file up to date: add the schema-2 tables, then index it (one transaction).

        Raises:
            KnowledgeBaseError: the file is opened read-only.
        """
        try:
            with self.conn:
                self.conn.executescript(SCHEMA_2)
                self.set_meta("schema_version", SCHEMA_VERSION)
                self.set_meta("analyzer_version", None)  # the whole-document index is still empty
        except (sqlite3.Error, sqlite_module()[0].Error) as exc:
            raise KnowledgeBaseError(
                f"{self.db.path}: knowledge-base schema {version!r} needs an upgrade to {SCHEMA_VERSION!r}, "
                f"which needs write access ({exc})"
            ) from exc
        log.info("%s: upgraded from schema %s to %s", self.db.path, version, SCHEMA_VERSION)

    def rebuild_lexical_index(self) -> None:
        """Re-tokenise every chunk and document from the stored text with this analyzer (both FTS5
        tables), in one transaction. Run when the analyzer version changed; the knowledge-base
        version is not bumped (the content is the same).

        Raises:
            KnowledgeBaseError: the file is opened read-only.
        """
        try:
            with self.conn:
                self.conn.execute("DELETE FROM chunks_fts")
                self.conn.execute("DELETE FROM docs_fts")
                titles = dict(self.conn.execute("SELECT doc_id, title FROM documents"))
                title_tokens = {d: self.analyzer.index_text(t) for d, t in titles.items()}
                bodies: dict[str, list[str]] = {d: [] for d in titles}
                rows = self.conn.execute(
                    "SELECT id, doc_id, heading_path, text, is_question FROM chunks ORDER BY doc_id, ord"
                ).fetchall()
                for cid, doc_id, heading_path, text, is_q in rows:
                    heading = "" if is_q else " ".join(json.loads(heading_path)[1:])
                    self.conn.execute(
                        "INSERT INTO chunks_fts (rowid, title, heading, body) VALUES (?, ?, ?, ?)",
                        (cid, title_tokens[doc_id], self.analyzer.index_text(heading), self.analyzer.index_text(text)),
                    )
                    bodies[doc_id].append(text)
                self.conn.executemany(
                    "INSERT INTO docs_fts (doc_id, title, body) VALUES (?, ?, ?)",
                    ((d, title_tokens[d], self.analyzer.index_text("\n".join(parts))) for d, parts in bodies.items()),
                )
                self.set_meta("analyzer_version", ANALYZER_VERSION)
        except (sqlite3.Error, sqlite_module()[0].Error) as exc:
            raise KnowledgeBaseError(
                f"{self.db.path}: the lexical index was built by another analyzer version and must be "
                f"rebuilt, which needs write access ({exc})"
            ) from exc
        log.info("%s: lexical index rebuilt (analyzer %s, %d chunks)", self.db.path, ANALYZER_VERSION, len(rows))

    def _add_tour_tables(self) -> bool:
        """Add the tour tables to a file made before them; False when it is opened read-only."""
        try:
            with self.conn:
                self.conn.executescript(TOUR_SCHEMA)
        except (sqlite3.Error, sqlite_module()[0].Error) as exc:
            log.debug("%s: no tour tables (%s)", self.db.path, exc)
            return False
        return True

    def meta(self, key: str) -> str | None:
        """A value from the ``meta`` table, or None."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str | None) -> None:
        """Set (or with None delete) a ``meta`` value, in the caller's transaction."""
        if value is None:
            self.conn.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @property
    def version(self) -> int:
        """Knowledge-base version: incremented by every change, shown on screens and in health."""
        return int(self.meta("kb_version") or 0)

    def _bump_version(self) -> None:
        self.set_meta("kb_version", str(self.version + 1))
        self.set_meta("updated_at", _now())

    @property
    def embedding_model(self) -> str | None:
        """Name of the model the stored vectors were made with, or None when there are none."""
        return self.meta("embedding_model")

    @property
    def has_vectors(self) -> bool:
        """True when chunk vectors exist and sqlite-vec is loaded, so vector search can run."""
        return self.db.has_vec and self.embedding_model is not None

    @property
    def origin(self) -> str | None:
        """Where this knowledge base's content has come from (the ``origin`` meta row):

        * ``'site'``: a guide or tour was stored from a file that is not the shipped demo's
          (:func:`appliance.knowledge.origin.looks_like_demo`) other than inside
          :meth:`storing_demo` (``kiosk kb ingest``, sync). Permanent: it stays ``'site'`` when
          every document is removed, so an emptied site knowledge base is never refilled with the
          fictional demo.
        * ``'demo'``: only the shipped demo has been stored (:func:`appliance.bootstrap.ensure_demo`,
          or its folder ingested by hand).
        * None: nothing stored yet, or a file written before this marker existed.
        """
        return self.meta(ORIGIN_KEY)

    def mark_origin(self, origin: str) -> None:
        """Record ``origin`` ('demo' or 'site') in the caller's transaction. 'site' is never
        replaced by 'demo'.

        Raises:
            ValueError: ``origin`` is neither.
        """
        if origin not in ("demo", "site"):
            raise ValueError(f"knowledge-base origin must be 'demo' or 'site', not {origin!r}")
        if origin == "demo" and self.origin == "site":
            return
        if self.origin != origin:
            self.set_meta(ORIGIN_KEY, origin)

    @contextmanager
    def storing_demo(self) -> Iterator[None]:
        """Within the block, stored guides and tours count as the demo's (see :attr:`origin`):
        a knowledge base with no origin becomes ``'demo'``; a ``'site'`` one stays ``'site'``."""
        self._storing_demo = True
        try:
            yield
        finally:
            self._storing_demo = False

    def _record_origin(self, source: str) -> None:
        """In a write transaction: note what was just stored from file ``source`` (see :attr:`origin`)."""
        self.mark_origin("demo" if self._storing_demo or looks_like_demo(source) else "site")

    # -- writing -------------------------------------------------------------------------------

    def source_hash(self, path: str) -> str | None:
        """The sha256 recorded for a source file, or None if it was never ingested."""
        row = self.conn.execute("SELECT sha256 FROM sources WHERE path = ?", (path,)).fetchone()
        return row[0] if row else None

    def source_document_count(self, path: str) -> int:
        """How many documents a source file has in the knowledge base."""
        return self.conn.execute("SELECT count(*) FROM documents WHERE source = ?", (path,)).fetchone()[0]

    def documents_per_source(self) -> dict[str, int]:
        """Source file path -> how many documents it has stored (files with none left out)."""
        return dict(self.conn.execute("SELECT source, count(*) FROM documents GROUP BY source"))

    def _doc_id(self, source: str, ordinal: int, doc: Document) -> str:
        if doc.key:
            return doc.key
        return hashlib.sha1(f"{source}#{ordinal}".encode()).hexdigest()[:16]

    def _ensure_vec_table(self, model: str, dim: int) -> None:
        current = self.embedding_model
        if current is not None and (current != model or int(self.meta("embedding_dim") or 0) != dim):
            raise KnowledgeBaseError(
                f"this knowledge base holds vectors from {current!r}; the configured embedding model is "
                f"{model!r}; run `kiosk kb reindex` to re-embed it"
            )
        if current is None:
            self.conn.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vec USING vec0(embedding float[{dim}] distance_metric=cosine)"
            )
            self.set_meta("embedding_model", model)
            self.set_meta("embedding_dim", str(dim))

    def _delete_source_rows(self, path: str) -> int:
        self.conn.execute(
            "DELETE FROM docs_fts WHERE doc_id IN (SELECT doc_id FROM documents WHERE source = ?)", (path,)
        )
        ids = [
            r[0]
            for r in self.conn.execute(
                "SELECT c.id FROM chunks c JOIN documents d ON c.doc_id = d.doc_id WHERE d.source = ?", (path,)
            )
        ]
        self._delete_chunk_index(ids)
        cur = self.conn.execute("DELETE FROM documents WHERE source = ?", (path,))
        self.conn.execute("DELETE FROM sources WHERE path = ?", (path,))
        return cur.rowcount

    def _delete_chunk_index(self, ids: list[int]) -> None:
        has_vec_table = self.embedding_model is not None
        for start in range(0, len(ids), 500):
            batch = ids[start : start + 500]
            marks = ",".join("?" * len(batch))
            self.conn.execute(f"DELETE FROM chunks_fts WHERE rowid IN ({marks})", batch)
            if has_vec_table:
                if not self.db.has_vec:
                    raise KnowledgeBaseError(
                        f"this knowledge base has vectors but sqlite-vec is unavailable here ({self.db.vec_error})"
                    )
                self.conn.execute(f"DELETE FROM chunks_vec WHERE rowid IN ({marks})", batch)

    def planned_chunks(self, docs: Sequence[Document]) -> list[tuple[int, int, str, tuple[str, ...], str, bool]]:
        """The chunks ``docs`` will be stored as: (doc index, ord, kind, heading path, text, is_question).

        Exposed so that ingest can embed exactly these texts before the write transaction.
        """
        out = []
        for i, doc in enumerate(docs):
            ordinal = 0
            for section in doc.sections:
                out.append((i, ordinal, section.kind, section.heading_path, section.text, False))
                ordinal += 1
            for question in doc.questions:
                out.append((i, ordinal, "question", (doc.title, QUESTION_HEADING), question, True))
                ordinal += 1
        return out

    def replace_source(
        self,
        path: str,
        sha256: str,
        size: int,
        docs: Sequence[Document],
        embeddings: np.ndarray | None = None,
        embedding_model: str | None = None,
    ) -> list[str]:
        """Replace everything from source ``path`` by ``docs``, in one transaction.

        Args:
            embeddings: float32 array of shape (n_chunks, dim), one row per entry of
                :meth:`planned_chunks` (docs), L2-normalised; None for no vectors. Without them, a
                knowledge base that has vectors is left with some chunks unembedded, and search
                stays lexical until ``kiosk kb reindex`` embeds them.
            embedding_model: the name recorded with the vectors (and in the vector cache).

        Returns:
            The stored document ids.

        Raises:
            KnowledgeBaseError: a document id is already used by another source, or the vectors come
                from another model than the ones already stored. Nothing is written in that case.
        """
        planned = self.planned_chunks(docs)
        if embeddings is not None and embeddings.shape[0] != len(planned):
            raise ValueError(f"{embeddings.shape[0]} embeddings for {len(planned)} chunks")
        doc_ids = [self._doc_id(path, i, d) for i, d in enumerate(docs)]
        dupes = {d for d in doc_ids if doc_ids.count(d) > 1}
        if dupes:
            raise KnowledgeBaseError(f"document id used twice in this file: {', '.join(sorted(dupes))}")
        with self.conn:
            for doc_id in doc_ids:
                row = self.conn.execute("SELECT source FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
                if row and row[0] != path:
                    raise KnowledgeBaseError(f"document id {doc_id!r} is already used by {row[0]}")
            self._delete_source_rows(path)
            if embeddings is not None and embedding_model:
                self._ensure_vec_table(embedding_model, int(embeddings.shape[1]))
            elif self.embedding_model is not None and planned and not self.db.has_vec:
                raise KnowledgeBaseError(
                    f"this knowledge base has vectors but sqlite-vec is unavailable here ({self.db.vec_error})"
                )
            self.conn.execute("INSERT INTO sources VALUES (?, ?, ?, ?, ?)", (path, sha256, size, _now(), len(docs)))
            self._record_origin(path)
            for i, (doc, doc_id) in enumerate(zip(docs, doc_ids, strict=True)):
                self.conn.execute(
                    "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (doc_id, path, i, doc.title, doc.lang, doc.category, json.dumps(doc.questions, ensure_ascii=False)),
                )
            title_tokens = [self.analyzer.index_text(d.title) for d in docs]
            for n, (i, ordinal, kind, heading_path, text, is_q) in enumerate(planned):
                cur = self.conn.execute(
                    "INSERT INTO chunks (doc_id, ord, kind, heading_path, text, is_question) VALUES (?, ?, ?, ?, ?, ?)",
                    (doc_ids[i], ordinal, kind, json.dumps(heading_path, ensure_ascii=False), text, int(is_q)),
                )
                rowid = cur.lastrowid
                heading = "" if is_q else " ".join(heading_path[1:])
                self.conn.execute(
                    "INSERT INTO chunks_fts (rowid, title, heading, body) VALUES (?, ?, ?, ?)",
                    (rowid, title_tokens[i], self.analyzer.index_text(heading), self.analyzer.index_text(text)),
                )
                if embeddings is not None and embedding_model:
                    blob = np.ascontiguousarray(embeddings[n], dtype=np.float32).tobytes()
                    self.conn.execute("INSERT INTO chunks_vec (rowid, embedding) VALUES (?, ?)", (rowid, blob))
                    sha = text_sha256(chunk_embedding_text(docs[i].title, heading_path, text, is_q))
                    self.conn.execute(
                        "INSERT OR REPLACE INTO vector_cache VALUES (?, ?, ?)", (embedding_model, sha, blob)
                    )
            for i, doc_id in enumerate(doc_ids):
                body = "\n".join(text for j, _, _, _, text, _ in planned if j == i)
                self.conn.execute(
                    "INSERT INTO docs_fts (doc_id, title, body) VALUES (?, ?, ?)",
                    (doc_id, title_tokens[i], self.analyzer.index_text(body)),
                )
            self._bump_version()
        return doc_ids

    def remove_source(self, path: str) -> int:
        """Delete a source file's documents (or its tour); returns how many were removed."""
        with self.conn:
            n = self._delete_source_rows(path) + self._delete_tour_rows(path)
            if n:
                self._bump_version()
        return n

    # -- tours ---------------------------------------------------------------------------------

    def tour_hash(self, path: str) -> str | None:
        """The sha256 recorded for a tour file (:attr:`appliance.tours.LoadedTour.sha256`), or None."""
        if not self._has_tours:
            return None
        row = self.conn.execute("SELECT sha256 FROM tours WHERE source = ?", (path,)).fetchone()
        return row[0] if row else None

    def _delete_tour_rows(self, path: str) -> int:
        if not self._has_tours:
            return 0
        ids = [r[0] for r in self.conn.execute("SELECT id FROM tours WHERE source = ?", (path,))]
        for tour_id in ids:
            self.conn.execute("DELETE FROM tour_media WHERE tour_id = ?", (tour_id,))
            self.conn.execute("DELETE FROM tours WHERE id = ?", (tour_id,))
        return len(ids)

    def replace_tour(self, path: str, loaded: LoadedTour) -> None:
        """Store the tour of file ``path`` with its images, replacing what the file had, in one
        transaction, and bump the version.

        Raises:
            KnowledgeBaseError: another file already holds a tour with this id, or the knowledge
                base was opened read-only. Nothing is written in that case.
        """
        if not self._has_tours:
            raise KnowledgeBaseError(f"{self.db.path} is read-only and has no tour tables")
        tour = loaded.tour
        with self.conn:
            row = self.conn.execute("SELECT source FROM tours WHERE id = ?", (tour.id,)).fetchone()
            if row and row[0] != path:
                raise KnowledgeBaseError(f"tour id {tour.id!r} is already used by {row[0]}")
            self._delete_tour_rows(path)
            self.conn.execute(
                "INSERT INTO tours VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    tour.id,
                    path,
                    loaded.sha256,
                    tour.title,
                    tour.lang,
                    tour.summary,
                    tour.model_dump_json(exclude_none=True),
                    _now(),
                ),
            )
            self.conn.executemany(
                "INSERT INTO tour_media VALUES (?, ?, ?, ?)", [(tour.id, m.name, m.mime, m.data) for m in loaded.media]
            )
            self._record_origin(path)
            self._bump_version()

    def _tour_from_json(self, tour_id: str, body: str) -> Tour | None:
        from pydantic import ValidationError

        from appliance.tours import Tour

        try:
            return Tour.model_validate_json(body)
        except ValidationError as exc:  # stored by a kiosk with other names or limits
            log.warning("%s: stored tour %r no longer validates, left out: %s", self.db.path, tour_id, exc)
            return None

    def tours(self) -> list[Tour]:
        """Every stored tour (that still validates), by language and title."""
        if not self._has_tours:
            return []
        rows = self.conn.execute("SELECT id, body_json FROM tours ORDER BY lang DESC, title, id").fetchall()
        return [t for t in (self._tour_from_json(r[0], r[1]) for r in rows) if t is not None]

    def tour(self, tour_id: str) -> Tour | None:
        """The tour with this id, or None."""
        if not self._has_tours:
            return None
        row = self.conn.execute("SELECT body_json FROM tours WHERE id = ?", (tour_id,)).fetchone()
        return self._tour_from_json(tour_id, row[0]) if row else None

    def tour_source(self, tour_id: str) -> str | None:
        """The file a tour was ingested from, or None."""
        if not self._has_tours:
            return None
        row = self.conn.execute("SELECT source FROM tours WHERE id = ?", (tour_id,)).fetchone()
        return row[0] if row else None

    def tour_media(self, tour_id: str, name: str) -> tuple[str, bytes] | None:
        """An image of a tour, by the name its step gives: (MIME type, bytes), or None."""
        if not self._has_tours:
            return None
        row = self.conn.execute(
            "SELECT mime, data FROM tour_media WHERE tour_id = ? AND name = ?", (tour_id, name)
        ).fetchone()
        return (row[0], bytes(row[1])) if row else None

    def begin_vectors(self, model: str, dim: int) -> None:
        """Make ``model`` the knowledge base's embedding model (one transaction).

        When another model's vectors are stored they are dropped, with the hybrid confidence model
        fitted to them; the vector cache keeps them, so switching back embeds nothing again. With
        ``model`` already in place this does nothing.

        Raises:
            KnowledgeBaseError: sqlite-vec is unavailable here.
        """
        if not self.db.has_vec:
            raise KnowledgeBaseError(f"vector search needs sqlite-vec, unavailable here ({self.db.vec_error})")
        if self.embedding_model == model and int(self.meta("embedding_dim") or 0) == dim:
            return
        with self.conn:
            self.conn.execute("DROP TABLE IF EXISTS chunks_vec")
            self.set_meta("embedding_model", None)
            self.set_meta("embedding_dim", None)
            self.set_meta("calibration_hybrid", None)  # fitted to the old vectors
            self._ensure_vec_table(model, dim)

    def drop_vectors(self) -> None:
        """Delete every chunk vector (the cache is kept); search becomes lexical."""
        with self.conn:
            self.conn.execute("DROP TABLE IF EXISTS chunks_vec")
            self.set_meta("embedding_model", None)
            self.set_meta("embedding_dim", None)
            self.set_meta("calibration_hybrid", None)
            self._bump_version()

    def chunks_without_vectors(self) -> list[tuple[int, str]]:
        """(chunk id, text to embed) of every chunk that has no vector yet, in id order."""
        if self.embedding_model is None:
            return self.all_chunk_texts()
        have = {r[0] for r in self.conn.execute("SELECT rowid FROM chunks_vec")}
        return [(cid, text) for cid, text in self.all_chunk_texts() if cid not in have]

    def cached_vectors(self, model: str, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectors already computed by ``model`` for these texts: sha256 of the text -> float32 vector."""
        shas = list(dict.fromkeys(text_sha256(t) for t in texts))
        out: dict[str, np.ndarray] = {}
        for start in range(0, len(shas), 500):
            batch = shas[start : start + 500]
            marks = ",".join("?" * len(batch))
            for sha, blob in self.conn.execute(
                f"SELECT sha256, embedding FROM vector_cache WHERE model = ? AND sha256 IN ({marks})", (model, *batch)
            ):
                out[sha] = np.frombuffer(blob, dtype=np.float32).copy()
        return out

    def seed_vector_cache(self, model: str, vectors: dict[str, np.ndarray]) -> None:
        """Add vectors computed elsewhere (sha256 of the embedded text -> float32 vector of
        ``model``) to the vector cache, keeping the ones it has; one transaction."""
        with self.conn:
            self.conn.executemany(
                "INSERT OR IGNORE INTO vector_cache VALUES (?, ?, ?)",
                ((model, sha, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for sha, v in vectors.items()),
            )

    def add_vectors(self, model: str, vectors: Sequence[tuple[int, str, np.ndarray]]) -> None:
        """Store vectors of chunks (chunk id, embedded text, float32 vector) made by ``model``, in
        one transaction, and in the vector cache. Chunks deleted meanwhile are skipped. When this
        completes the vectors, the knowledge-base version is bumped, so that running retrievers
        switch to hybrid search.

        Raises:
            KnowledgeBaseError: ``model`` is not the knowledge base's embedding model (see
                :meth:`begin_vectors`).
        """
        if self.embedding_model != model:
            raise KnowledgeBaseError(f"vectors of {model!r} offered to a knowledge base of {self.embedding_model!r}")
        with self.conn:
            existing = set(self.chunk_owners([cid for cid, _, _ in vectors]))
            for cid, text, vec in vectors:
                blob = np.ascontiguousarray(vec, dtype=np.float32).tobytes()
                self.conn.execute(
                    "INSERT OR REPLACE INTO vector_cache VALUES (?, ?, ?)", (model, text_sha256(text), blob)
                )
                if cid in existing:
                    self.conn.execute("DELETE FROM chunks_vec WHERE rowid = ?", (cid,))
                    self.conn.execute("INSERT INTO chunks_vec (rowid, embedding) VALUES (?, ?)", (cid, blob))
            if self.vectors_complete():
                self._bump_version()

    def vector_counts(self) -> tuple[int, int]:
        """(chunks with a vector, chunks): vector search is used only when the two are equal."""
        chunks = self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        if self.embedding_model is None or not self.db.has_vec:
            return 0, chunks
        return self.conn.execute("SELECT count(*) FROM chunks_vec").fetchone()[0], chunks

    def chunk_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """Every stored chunk vector, in one scan of ``chunks_vec``.

        Returns:
            (chunk ids: int64 array of shape (n,), vectors: float32 array of shape (n, dim));
            empty arrays when the knowledge base has no vectors.
        """
        if not self.has_vectors:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        ids: list[int] = []
        blobs: list[bytes] = []
        for rowid, blob in self.conn.execute("SELECT rowid, embedding FROM chunks_vec"):
            ids.append(rowid)
            blobs.append(blob)
        if not ids:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), -1)
        return np.asarray(ids, dtype=np.int64), matrix

    def vectors_complete(self) -> bool:
        """True when every chunk has a vector of the knowledge base's embedding model."""
        if self.embedding_model is None or not self.db.has_vec:
            return False
        have, total = self.vector_counts()
        return have == total

    # -- reading -------------------------------------------------------------------------------

    def source_paths(self) -> list[str]:
        """Every ingested file's path, sorted: the guides' sources and the tours' files."""
        paths = {r[0] for r in self.conn.execute("SELECT path FROM sources")}
        if self._has_tours:
            paths.update(r[0] for r in self.conn.execute("SELECT source FROM tours"))
        return sorted(paths)

    def is_empty(self) -> bool:
        """True when no document is stored."""
        return self.conn.execute("SELECT 1 FROM documents LIMIT 1").fetchone() is None

    def counts(self) -> dict[str, int]:
        """Numbers of sources (guide files), documents, sections, sample questions and tours."""
        q = self.conn.execute
        return {
            "sources": q("SELECT count(*) FROM sources").fetchone()[0],
            "documents": q("SELECT count(*) FROM documents").fetchone()[0],
            "sections": q("SELECT count(*) FROM chunks WHERE is_question = 0").fetchone()[0],
            "questions": q("SELECT count(*) FROM chunks WHERE is_question = 1").fetchone()[0],
            "tours": q("SELECT count(*) FROM tours").fetchone()[0] if self._has_tours else 0,
        }

    def documents(self) -> list[DocInfo]:
        """All documents, by source and order."""
        rows = self.conn.execute(
            "SELECT doc_id, title, source, lang, category, questions FROM documents ORDER BY source, ord"
        ).fetchall()
        return [self._doc_info(r) for r in rows]

    @staticmethod
    def _doc_info(row: Sequence[Any]) -> DocInfo:
        return DocInfo(row[0], row[1], row[2], row[3], row[4], tuple(json.loads(row[5])))

    def docs_by_id(self, doc_ids: Sequence[str]) -> dict[str, DocInfo]:
        """Catalogue entries of the given documents."""
        if not doc_ids:
            return {}
        marks = ",".join("?" * len(doc_ids))
        rows = self.conn.execute(
            f"SELECT doc_id, title, source, lang, category, questions FROM documents WHERE doc_id IN ({marks})",
            list(doc_ids),
        ).fetchall()
        return {r[0]: self._doc_info(r) for r in rows}

    @staticmethod
    def _chunk(row: Sequence[Any]) -> Chunk:
        return Chunk(row[0], row[1], row[2], row[3], tuple(json.loads(row[4])), row[5], bool(row[6]))

    def chunks_by_id(self, ids: Sequence[int]) -> dict[int, Chunk]:
        """Chunks by rowid."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(
            f"SELECT id, doc_id, ord, kind, heading_path, text, is_question FROM chunks WHERE id IN ({marks})",
            list(ids),
        ).fetchall()
        return {r[0]: self._chunk(r) for r in rows}

    def chunk_owners(self, ids: Sequence[int]) -> dict[int, tuple[str, bool]]:
        """(document id, is a sample question) of each chunk id (ids no longer stored are left out)."""
        out: dict[int, tuple[str, bool]] = {}
        for start in range(0, len(ids), 500):
            batch = list(ids[start : start + 500])
            marks = ",".join("?" * len(batch))
            rows = self.conn.execute(f"SELECT id, doc_id, is_question FROM chunks WHERE id IN ({marks})", batch)
            out.update((r[0], (r[1], bool(r[2]))) for r in rows)
        return out

    def chunk_texts(self) -> Iterator[str]:
        """The text of every chunk (sections and sample questions), in one query."""
        return (r[0] for r in self.conn.execute("SELECT text FROM chunks"))

    def doc_chunks(self, doc_id: str) -> list[Chunk]:
        """All chunks of a document in order (sections first, then sample questions)."""
        rows = self.conn.execute(
            "SELECT id, doc_id, ord, kind, heading_path, text, is_question FROM chunks WHERE doc_id = ? ORDER BY ord",
            (doc_id,),
        ).fetchall()
        return [self._chunk(r) for r in rows]

    def documents_with_questions(self) -> frozenset[str]:
        """Ids of the documents that have sample questions (cached per knowledge-base version)."""
        return self._doc_sets()[0]

    def documents_in(self, lang: str) -> frozenset[str]:
        """Ids of the documents in language ``lang`` ('zh' or 'en'; cached per knowledge-base version)."""
        return self._doc_sets()[1].get(lang, frozenset())

    def _doc_sets(self) -> tuple[frozenset[str], dict[str, frozenset[str]]]:
        version = self.version
        if self._doc_sets_cache is None or self._doc_sets_cache[0] != version:
            rows = self.conn.execute("SELECT doc_id, lang, questions != '[]' FROM documents").fetchall()
            by_lang: dict[str, set[str]] = {}
            for doc_id, lang, _ in rows:
                by_lang.setdefault(lang, set()).add(doc_id)
            sets = (frozenset(r[0] for r in rows if r[2]), {k: frozenset(v) for k, v in by_lang.items()})
            self._doc_sets_cache = (version, sets)
        return self._doc_sets_cache[1]

    def chunk_terms(self, chunk_id: int) -> tuple[set[str], set[str], set[str]]:
        """The index terms of one chunk's title, heading path and body, as stored (no re-analysis)."""
        row = self.conn.execute("SELECT title, heading, body FROM chunks_fts WHERE rowid = ?", (chunk_id,)).fetchone()
        if row is None:
            return set(), set(), set()
        return set(row[0].split()), set(row[1].split()), set(row[2].split())

    def doc_terms(self, doc_id: str) -> set[str]:
        """Every index term of a document (title, headings, sections, questions), from its chunks'
        index rows (found through the chunks' document index; ``docs_fts`` has no index on its
        ``doc_id`` column)."""
        terms: set[str] = set()
        for title, heading, body in self.conn.execute(
            "SELECT f.title, f.heading, f.body FROM chunks c JOIN chunks_fts f ON f.rowid = c.id WHERE c.doc_id = ?",
            (doc_id,),
        ):
            terms.update(title.split())
            terms.update(heading.split())
            terms.update(body.split())
        return terms

    def document_frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """Chunk frequency of each term and the number of chunks (for IDF)."""
        version = self.version
        if self._chunk_count is None or self._chunk_count[0] != version:
            self._chunk_count = (version, self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0])
        total = self._chunk_count[1]
        if not terms:
            return {}, total
        marks = ",".join("?" * len(terms))
        rows = self.conn.execute(f"SELECT term, doc FROM chunks_vocab WHERE term IN ({marks})", list(terms))
        return {t: n for t, n in rows}, total

    def all_chunk_texts(self) -> list[tuple[int, str]]:
        """(chunk id, text to embed) for every chunk, for re-embedding."""
        rows = self.conn.execute(
            "SELECT c.id, d.title, c.heading_path, c.text, c.is_question FROM chunks c JOIN documents d USING (doc_id)"
        ).fetchall()
        return [(r[0], chunk_embedding_text(r[1], json.loads(r[2]), r[3], bool(r[4]))) for r in rows]
