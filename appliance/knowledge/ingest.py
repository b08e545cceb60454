"""Ingest: files and folders in, knowledge-base rows out, one transaction per file.

For every file: size check, read, sha256; unchanged files (same path, same hash) are skipped;
otherwise the file is parsed, its chunks embedded (when an embedding model is given) and its
documents replace the ones the file had before, all in one transaction. A file that fails at any
step is skipped and reported with its reason; the database keeps its previous state for it.

The files are untrusted: ingest stays inside the folders it is given and reads regular files only
(:mod:`appliance.knowledge.files`), and parses them in a reader process with a time budget and a
memory cap (:mod:`appliance.knowledge.isolation`), under the format limits of
:class:`~appliance.knowledge.limits.ReadLimits`.

Tour files (``*.tour.toml``, :mod:`appliance.tours`) go the same way into the tour tables: checked
with their images (whose bytes are part of the hash), stored or replaced in one transaction.
"""

from __future__ import annotations

import hashlib
import logging
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from appliance.knowledge.files import Candidate, Folder, find_files
from appliance.knowledge.isolation import ReaderProcess
from appliance.knowledge.limits import ReadError, ReadLimits
from appliance.knowledge.readers import SUFFIXES, one_line, read_file
from appliance.knowledge.retrieval import Embedder, embed_titles, written_title
from appliance.knowledge.store import KnowledgeBase, KnowledgeBaseError, chunk_embedding_text, text_sha256
from appliance.tours import MAX_IMAGE_BYTES as MAX_TOUR_IMAGE_BYTES
from appliance.tours import TOUR_SUFFIX, TourError, is_tour_file, load_tour

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one file.

    Attributes:
        status: 'added', 'updated', 'unchanged', 'failed', or 'removed' (by :func:`appliance.bootstrap.ensure_demo`).
        documents: documents now stored from the file (0 when failed).
        reason: why it failed, in words for staff, on one line; None otherwise.
        tours: tours now stored from the file (1 for a tour file, else 0).
        trace: the traceback of an unexpected failure (a reader's or the store's own bug), for
            ``--verbose``; None otherwise.
    """

    path: str
    status: str
    documents: int = 0
    reason: str | None = None
    tours: int = 0
    trace: str | None = None


@dataclass
class IngestReport:
    """The outcome of one ingest run, file by file."""

    outcomes: list[FileOutcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        """How many files ended with ``status``."""
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failed(self) -> list[FileOutcome]:
        """The files that were skipped because of an error."""
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def documents(self) -> int:
        """Documents stored by this run (added or updated files)."""
        return sum(o.documents for o in self.outcomes if o.status in ("added", "updated"))

    @property
    def tours(self) -> int:
        """Tours stored by this run (added or updated tour files)."""
        return sum(o.tours for o in self.outcomes if o.status in ("added", "updated"))


def _supported(path: Path) -> bool:
    return path.suffix.lower() in SUFFIXES or is_tour_file(path)


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[FileOutcome]]:
    """Expand folders (recursively, hidden entries skipped) into supported files, sorted.

    Supported: the readers' :data:`~appliance.knowledge.readers.SUFFIXES` and tour files
    (``*.tour.toml``; other ``.toml`` files are not picked up from folders). Links are not
    followed out of the folder named, and only regular files are taken (see
    :func:`appliance.knowledge.files.find_files`).

    Returns:
        The files to ingest, and failed outcomes for paths that do not exist, that were named
        explicitly but have an unsupported type, or that were refused (links out of the folder,
        FIFOs, devices ...).
    """
    candidates, problems = _discover(paths)
    return [c.path for c in candidates], problems


def _discover(paths: Iterable[Path]) -> tuple[list[Candidate], list[FileOutcome]]:
    problems: list[FileOutcome] = []
    wanted: list[Path] = []
    for path in paths:
        if not path.exists() and not path.is_symlink():
            problems.append(FileOutcome(str(path), "failed", reason="no such file or folder"))
        elif not path.is_dir() and not _supported(path):
            hint = f" (a tour file is named *{TOUR_SUFFIX})" if path.suffix.lower() == ".toml" else ""
            problems.append(FileOutcome(str(path), "failed", reason=f"unsupported file type '{path.suffix}'{hint}"))
        else:
            wanted.append(path)
    found = find_files(wanted, _supported)
    problems.extend(FileOutcome(str(_source(p)), "failed", reason=reason) for p, reason in found.refused)
    return found.files, problems


def _source(path: Path) -> Path:
    """The source name of a file: its absolute path with folders resolved (a link keeps its name)."""
    from appliance.knowledge.files import located

    return located(path.absolute())


class Ingestor:
    """Puts files into a knowledge base.

    Args:
        kb: the knowledge base to write.
        embedder: embedding model for the vector table, or None for lexical-only.
        limits: reader caps (format limits, time budget and memory cap per file).
        max_file_bytes: files larger than this are refused before being read.
        isolate: parse in a reader process under ``limits.max_seconds`` and
            ``limits.max_memory_bytes`` (:class:`~appliance.knowledge.isolation.ReaderProcess`);
            False parses in this process, with the format limits only (for trusted files).
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        embedder: Embedder | None = None,
        limits: ReadLimits | None = None,
        max_file_bytes: int = 50 * 1024 * 1024,
        *,
        isolate: bool = True,
    ):
        self.kb = kb
        self.embedder = embedder
        self.limits = limits or ReadLimits()
        self.max_file_bytes = max_file_bytes
        self.isolate = isolate

    def ingest(
        self,
        paths: Sequence[Path],
        *,
        force: bool = False,
        on_file: Callable[[Path], None] | None = None,
        on_start: Callable[[int], None] | None = None,
    ) -> IngestReport:
        """Ingest files and folders.

        Args:
            force: re-ingest files even when unchanged.
            on_file: called after each file (progress display).
            on_start: called once with the number of files found.
        """
        files, problems = _discover(paths)
        report = IngestReport(outcomes=list(problems))
        if on_start:
            on_start(len(files))
        with ReaderProcess(self.limits) as reader:
            for candidate in files:
                report.outcomes.append(self._ingest(candidate, force, reader))
                if on_file:
                    on_file(candidate.path)
        return report

    def ingest_file(self, path: Path, *, force: bool = False) -> FileOutcome:
        """Ingest one file (confined to its own folder); never raises for a bad file (the outcome
        says what went wrong)."""
        files, problems = _discover([path])
        if problems or not files:
            return problems[0] if problems else FileOutcome(str(path), "failed", reason="not an ingest candidate")
        with ReaderProcess(self.limits) as reader:
            return self._ingest(files[0], force, reader)

    def _ingest(self, candidate: Candidate, force: bool, reader: ReaderProcess) -> FileOutcome:
        path, folder = candidate.path, candidate.folder
        source = str(path.resolve())
        try:
            data = folder.read(path, self.max_file_bytes)
            if is_tour_file(path):
                return self._ingest_tour(path, folder, source, data, force)
            digest = hashlib.sha256(data).hexdigest()
            previous = self.kb.source_hash(source)
            if previous == digest and not force:
                return FileOutcome(source, "unchanged", self.kb.source_document_count(source))
            docs = reader.read(path, data) if self.isolate else read_file(path, data, self.limits)
            vectors = None
            if self.embedder is not None:
                planned = self.kb.planned_chunks(docs)
                texts = [chunk_embedding_text(docs[i].title, hp, text, q) for i, _, _, hp, text, q in planned]
                vectors, _ = embed_cached(self.kb, self.embedder, texts)
            ids = self.kb.replace_source(
                source, digest, len(data), docs, vectors, self.embedder.name if self.embedder else None
            )
            return FileOutcome(source, "updated" if previous else "added", len(ids))
        except TourError as exc:
            return FileOutcome(source, "failed", reason=one_line(exc.detail))
        except ReadError as exc:
            return FileOutcome(source, "failed", reason=one_line(str(exc)), trace=exc.trace)
        except (KnowledgeBaseError, OSError) as exc:
            return FileOutcome(source, "failed", reason=one_line(str(exc)))
        except Exception as exc:  # a bug must not stop the batch; say what it was
            log.debug("unexpected error ingesting %s", source, exc_info=True)
            return FileOutcome(
                source,
                "failed",
                reason=f"unexpected error: {exc.__class__.__name__}: {one_line(str(exc))}",
                trace=traceback.format_exc(),
            )

    def _ingest_tour(self, path: Path, folder: Folder, source: str, data: bytes, force: bool) -> FileOutcome:
        """A tour file: checked with its images; skipped when it and they are unchanged."""
        loaded = load_tour(
            path, data, max_image_bytes=min(self.max_file_bytes, MAX_TOUR_IMAGE_BYTES), read_image=folder.read
        )
        previous = self.kb.tour_hash(source)
        if previous == loaded.sha256 and not force:
            return FileOutcome(source, "unchanged", tours=1)
        self.kb.replace_tour(source, loaded)
        return FileOutcome(source, "updated" if previous else "added", tours=1)


def embed_cached(kb: KnowledgeBase, embedder: Embedder, texts: Sequence[str]) -> tuple[np.ndarray, int]:
    """Passage embeddings of ``texts``, taken from the knowledge base's vector cache where this
    model already embedded the same text, computed for the rest.

    Returns:
        (float32 array of shape (len(texts), dim), how many texts were embedded now).
    """
    if not texts:
        return np.zeros((0, embedder.dim), np.float32), 0
    cached = kb.cached_vectors(embedder.name, texts)
    shas = [text_sha256(t) for t in texts]
    missing = [i for i, sha in enumerate(shas) if sha not in cached]
    out = np.zeros((len(texts), embedder.dim), np.float32)
    if missing:
        fresh = embedder.embed([texts[i] for i in missing], query=False)
        for i, vec in zip(missing, fresh, strict=True):
            cached[shas[i]] = vec
    for i, sha in enumerate(shas):
        out[i] = cached[sha]
    return out, len(missing)


@dataclass(frozen=True)
class ReindexReport:
    """What :func:`reindex` did.

    Attributes:
        embedded: chunks whose text was embedded now.
        reused: chunks whose vector came from the cache (same model, same text).
        total: chunks in the knowledge base.
    """

    model: str | None
    embedded: int
    reused: int
    total: int


def reindex(
    kb: KnowledgeBase,
    embedder: Embedder | None,
    batch: int = 32,
    on_batch: Callable[[int, int], None] | None = None,
) -> ReindexReport:
    """Give every chunk a vector of ``embedder`` (or, with None, drop all vectors).

    Only chunks without a vector of this model are embedded, and of those only the ones whose text
    the vector cache does not hold: after a changed file is re-ingested, its unchanged sections cost
    nothing. In a knowledge base with guides in both languages the documents' titles are embedded
    into the vector cache too (what cross-language search compares a question with). Vectors are
    written one batch per transaction, so the kiosk keeps answering (by
    keywords) while this runs, an interrupted run keeps what it finished, and the next run goes on
    from there. Search turns hybrid when the last batch lands.

    Args:
        batch: chunks per transaction.
        on_batch: called with (chunks done, chunks to do) after each batch (progress display).

    Raises:
        KnowledgeBaseError: sqlite-vec is unavailable here.
    """
    if embedder is None:
        kb.drop_vectors()
        return ReindexReport(None, 0, 0, kb.vector_counts()[1])
    kb.begin_vectors(embedder.name, embedder.dim)
    todo = kb.chunks_without_vectors()
    total = kb.vector_counts()[1]
    embedded = reused = 0
    if on_batch:
        on_batch(0, len(todo))
    for start in range(0, len(todo), batch):
        part = todo[start : start + batch]
        vectors, fresh = embed_cached(kb, embedder, [t for _, t in part])
        kb.add_vectors(embedder.name, [(cid, t, vec) for (cid, t), vec in zip(part, vectors, strict=True)])
        embedded += fresh
        reused += len(part) - fresh
        if on_batch:
            on_batch(min(start + batch, len(todo)), len(todo))
    if kb.documents_in("zh") and kb.documents_in("en"):
        # guides in two languages: cross-language search reads the titles' vectors too
        embed_titles(kb, embedder, [d.title for d in kb.documents() if written_title(d)])
    return ReindexReport(embedder.name, embedded, reused, total)
