"""Turning bundle sources into a knowledge-base file, and checking it before anyone is answered from it.

Used on both sides: the street office validates a bundle by building it alone, a kiosk builds the
merge of its channels (later channels add to earlier ones and override a file of the same path
or a guide of the same id).
"""

from __future__ import annotations

import shutil
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from appliance.compat import tomllib
from appliance.config import Settings
from appliance.knowledge.db import sqlite_module
from appliance.knowledge.ingest import Ingestor, IngestReport, reindex
from appliance.knowledge.readers import SUFFIXES, ReadLimits
from appliance.knowledge.retrieval import Embedder, Retriever, written_title
from appliance.knowledge.store import KnowledgeBase, KnowledgeBaseError, text_sha256
from appliance.knowledge.text import Analyzer
from appliance.sync.bundle import FILES, Manifest, Question
from appliance.tours import IMAGE_TYPES, is_tour_file

__all__ = [
    "Built",
    "build_kb",
    "ids_by_file",
    "integrity_ok",
    "merge_sources",
    "merge_synonyms",
    "questions_of",
    "regression",
]

#: A kiosk's build may find this much less of a channel's own questions than its publisher did
#: (the other channel's guides compete for some): 0.05 = 5 points.
HIT_RATE_SLACK = 0.05


@dataclass
class Built:
    """A built knowledge base: its file, what the ingest did, and the regression result.

    Attributes:
        hit_rate: share of the regression questions whose guide ranked first.
        misses: (question, wanted title, found title or "") of those that did not.
    """

    path: Path
    report: IngestReport
    hit_rate: float
    misses: list[tuple[str, str, str]]


def merge_sources(staged: Sequence[tuple[Path, Manifest]], out: Path) -> dict[str, str]:
    """Copy the channels' files into one folder ``out``, in order: a later channel's file replaces
    an earlier one of the same path, and an earlier file any of whose document ids a later file
    stores is left out. ``synonyms.toml`` files are merged (:func:`merge_synonyms`); ``site.toml``
    is not copied (the caller validates it).

    Args:
        staged: (bundle folder as opened by :func:`~appliance.sync.bundle.open_bundle`, manifest),
            street first.

    Returns:
        Path inside ``out`` -> the channel it came from.
    """
    out.mkdir(parents=True, exist_ok=True)
    chosen: dict[str, tuple[Path, str]] = {}
    for i, (folder, manifest) in enumerate(staged):
        later_ids = {d for _, m in staged[i + 1 :] for f in m.files for d in f.ids}
        later_paths = {f.path for _, m in staged[i + 1 :] for f in m.files}
        for f in manifest.files:
            if f.path in ("site.toml", "synonyms.toml") or f.path in later_paths:
                continue
            if set(f.ids) & later_ids:
                continue  # a later channel overrides this guide by id
            chosen[f.path] = (folder / FILES / f.path, manifest.channel)
    for rel, (src, _) in chosen.items():
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    synonyms = [
        folder / FILES / "synonyms.toml" for folder, m in staged if any(f.path == "synonyms.toml" for f in m.files)
    ]
    if synonyms:
        merge_synonyms(synonyms, out / "synonyms.toml")
    return {rel: ch for rel, (_, ch) in chosen.items()}


def merge_synonyms(files: Sequence[Path], out: Path) -> dict[str, list[str]]:
    """Merge the ``[terms]`` tables of synonyms files (a later file's entry for a term replaces an
    earlier one's) into ``out``.

    Raises:
        ValueError: a file is not valid TOML.
    """
    terms: dict[str, list[str]] = {}
    for f in files:
        try:
            data = tomllib.loads(f.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{f.name}: {exc}") from exc
        for k, v in (data.get("terms") or {}).items():
            terms[str(k)] = [str(x) for x in v] if isinstance(v, list) else [str(v)]
    lines = ["[terms]"] + [f"{_toml_str(k)} = [{', '.join(_toml_str(x) for x in v)}]" for k, v in sorted(terms.items())]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return terms


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_kb(folder: Path, out: Path, analyzer: Analyzer, settings: Settings) -> tuple[KnowledgeBase, IngestReport]:
    """Ingest ``folder`` into a new knowledge base at ``out`` (which must not exist), with the
    ingest limits of ``settings`` and each file parsed in the reader process.

    Raises:
        FileExistsError: ``out`` exists.
    """
    if out.exists():
        raise FileExistsError(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    kb = KnowledgeBase.open(out, analyzer)
    ingest = settings.ingest
    report = Ingestor(kb, None, ReadLimits.from_settings(ingest), int(ingest.max_file_mb * 2**20)).ingest([folder])
    return kb, report


#: Chunks per embedding call when a sync embeds the guides that changed: the answering thread
#: shares the model (one lock), so a question waits at most one such call (multilingual-e5-small
#: on 2 cores, the demo's sections: median 0.53 s, at most 0.73 s) rather than reindex's 32.
SYNC_EMBED_BATCH = 4

#: At most this many chunks are embedded by a sync before the swap (about 35 s at the figure
#: above): a first sync, or a large new release, is installed at once, searching by keywords, and
#: ``kiosk kb reindex`` embeds the rest.
SYNC_EMBED_MAX = 256


def carry_vectors(
    previous: Path, kb: KnowledgeBase, embedder: Embedder | None, max_embed: int = SYNC_EMBED_MAX
) -> str | None:
    """Give the new build ``kb`` vectors of the model the knowledge base in use (``previous``)
    searches with, so that a sync does not turn a hybrid kiosk into a keyword-only one.

    A chunk or title whose text the previous base already embedded gets that vector (from its
    vector cache: a guide that did not change costs nothing); the rest are embedded with
    ``embedder`` when it is that model and they are at most ``max_embed``,
    :data:`SYNC_EMBED_BATCH` chunks a call. Otherwise they stay without vectors, and search stays
    lexical until ``kiosk kb reindex`` embeds just them.

    Returns:
        a line for the sync report; None when the previous base has no vectors (nothing to carry).

    Raises:
        KnowledgeBaseError: the new build cannot hold vectors (sqlite-vec unavailable).
    """
    if not previous.exists():
        return None
    try:
        old = KnowledgeBase.open(previous, kb.analyzer, readonly=True)
    except (KnowledgeBaseError, sqlite3.Error, sqlite_module()[0].Error):
        return None
    try:
        model, dim = old.embedding_model, int(old.meta("embedding_dim") or 0)
        if model is None or not dim:
            return None
        texts = [t for _, t in kb.all_chunk_texts()] + [d.title for d in kb.documents() if written_title(d)]
        kb.seed_vector_cache(model, old.cached_vectors(model, texts))
    finally:
        old.close()
    kb.begin_vectors(model, dim)
    todo = kb.chunks_without_vectors()
    cached = kb.cached_vectors(model, [t for _, t in todo])
    found = [(cid, t, cached[sha]) for cid, t in todo if (sha := text_sha256(t)) in cached]
    kb.add_vectors(model, found)
    carried = len(found)
    embedded = 0
    need = len(todo) - carried  # the embedder is consulted (a lazy one loaded) only when there is work
    if need and need <= max_embed and embedder is not None and embedder.name == model and embedder.dim == dim:
        embedded = reindex(kb, embedder, batch=SYNC_EMBED_BATCH).embedded
    have, total = kb.vector_counts()
    line = f"vectors of {model}: {carried} carried over from the previous version, {embedded} embedded now"
    if have < total:
        line += f"; {total - have} chunks have none: searching by keywords until `kiosk kb reindex` embeds them"
    return line


def ids_by_file(kb: KnowledgeBase, folder: Path) -> dict[str, list[str]]:
    """Path inside ``folder`` -> the ids of the documents that file stored."""
    root = folder.resolve()
    out: dict[str, list[str]] = {}
    for doc in kb.documents():
        src = Path(doc.source)
        if src.is_relative_to(root):
            out.setdefault(src.relative_to(root).as_posix(), []).append(doc.doc_id)
    return out


def questions_of(kb: KnowledgeBase) -> list[Question]:
    """Every guide's own sample questions (常见问法), with its title."""
    return [Question(q, doc.title) for doc in kb.documents() for q in doc.questions]


def regression(kb: KnowledgeBase, questions: Sequence[Question]) -> tuple[float, list[tuple[str, str, str]]]:
    """Ask each question of ``kb`` (lexical search) and count those whose guide comes first.

    Returns:
        (hit rate, 1.0 with no questions; the misses as (question, wanted title, found title)).
    """
    if not questions:
        return 1.0, []
    retriever = Retriever(kb)
    misses = []
    for q in questions:
        top = retriever.search(q.question, k=1).top
        found = top.doc.title if top is not None else ""
        if found != q.title:
            misses.append((q.question, q.title, found))
    return 1.0 - len(misses) / len(questions), misses


def integrity_ok(kb: KnowledgeBase) -> str:
    """``PRAGMA integrity_check`` of a knowledge base: "ok", or the first problem it reports."""
    try:
        (result,) = kb.conn.execute("PRAGMA integrity_check").fetchone()
        return str(result)
    except sqlite3.DatabaseError as exc:
        return str(exc)


#: Files a bundle may carry besides guides and tours: the tours' images, the synonyms and the
#: site profile.
EXTRA_SUFFIXES = frozenset(IMAGE_TYPES)
CARRIED_NAMES = frozenset({"site.toml", "synonyms.toml"})


def _carried(rel: str) -> bool:
    path = Path(rel)
    return (
        rel in CARRIED_NAMES
        or path.suffix.lower() in SUFFIXES
        or is_tour_file(path)
        or path.suffix.lower() in EXTRA_SUFFIXES
    )


def make_bundle(src: Path, out: Path, *, channel: str, version: int, settings: Settings, workdir: Path) -> Manifest:
    """Validate the sources in ``src`` and write them as a bundle at ``out``.

    Validation, all of which must pass: every entry is a regular file inside ``src`` of a kind a
    bundle carries (guides, tours, their images, ``synonyms.toml``, ``site.toml``); ``site.toml``
    and ``synonyms.toml`` parse; every guide and tour ingests; every guide with sample questions
    is found first by at least one of them. The manifest records the questions and the share
    found first, which a kiosk's build must match.

    Raises:
        BundleError: what failed, file by file.
    """
    from appliance.site import SiteError, load_site, load_synonyms
    from appliance.sync.bundle import BundleError, collect, write_bundle

    collected = collect(src)
    problems = [f"{p}: {reason}" for p, reason in collected.refused]
    problems += [f"{rel}: not a kind of file a bundle carries" for rel in collected.files if not _carried(rel)]
    synonyms: dict[str, list[str]] = {}
    try:
        if "synonyms.toml" in collected.files:
            synonyms = load_synonyms(collected.files["synonyms.toml"])
        if "site.toml" in collected.files:
            load_site(collected.files["site.toml"])
    except SiteError as exc:
        problems.append(str(exc))
    if problems:
        raise BundleError("the bundle was not made:\n  " + "\n  ".join(problems))
    analyzer = Analyzer(synonyms, cache_dir=settings.cache_dir)
    kb, report = build_kb(src, workdir / "check.sqlite", analyzer, settings)
    try:
        failed = [f"{o.path}: {o.reason}" for o in report.failed]
        questions = questions_of(kb)
        rate, misses = regression(kb, questions)
        asked = Counter(q.title for q in questions)
        missed = Counter(title for _, title, _ in misses)
        lost = sorted(title for title, n in asked.items() if missed[title] >= n)
        failed += [f"guide 《{title}》 is not found first by any of its own sample questions" for title in lost]
        if failed:
            raise BundleError("the bundle was not made:\n  " + "\n  ".join(failed))
        ids = ids_by_file(kb, src)
    finally:
        kb.close()
    return write_bundle(
        out, collected.files, channel=channel, version=version, ids=ids, questions=questions, hit_rate=round(rate, 4)
    )
