"""``kiosk kb``: build, search, check and calibrate the knowledge base."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from appliance.cli.batch import Batch
from appliance.cli.common import (
    JSON_OPTION,
    KB_OPTION,
    err,
    fail,
    folded_table,
    note,
    out,
    print_json,
    settings,
    user_errors,
)
from appliance.tours import is_tour_file

app = typer.Typer(help="Build, search, check and calibrate the knowledge base.", no_args_is_help=True)


def _open(ctx: typer.Context, kb: Path | None):
    from appliance.bootstrap import load_site_for, make_analyzer
    from appliance.knowledge.store import KnowledgeBase

    s = settings(ctx)
    with user_errors():
        site = load_site_for(s)
        return KnowledgeBase.open(kb or s.kb_file, make_analyzer(s, site))


def _embedder(ctx: typer.Context, required: bool = False):
    from models.loader import load_embedder
    from models.store import ModelStore

    s = settings(ctx)
    embedder, message = load_embedder(s, ModelStore(s.models_path))
    if message:
        (fail if required else note)(message + ("" if required else "; keyword index only"))
    return embedder


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )


def _retriever(ctx: typer.Context, knowledge):
    from appliance.bootstrap import make_retriever

    if knowledge.is_empty():
        note(
            f"the knowledge base {knowledge.db.path} is empty: `kiosk kb ingest PATH` fills it "
            "(`kiosk ask` fills an empty one with the demo guides)"
        )
    s = settings(ctx)
    return make_retriever(s, knowledge, _embedder(ctx))


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[
        list[Path], typer.Argument(metavar="PATHS", help="files or folders (.md .txt .docx .pdf .html .jsonl)")
    ],
    kb: Annotated[Path | None, KB_OPTION] = None,
    force: Annotated[bool, typer.Option("--force", help="re-ingest files even when unchanged")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="with a skipped file's reason, the traceback of a reader's failure")
    ] = False,
) -> None:
    """Add or update service guides from files or folders.

    Unchanged files are skipped; a changed file replaces its old sections; a broken file is skipped
    and reported on one line ("guide.docx: skipped (docx reader: ...)"), and the rest of the
    knowledge base is untouched. Links out of the folders named, FIFOs and devices are not read;
    each file is read within the [ingest] limits. Exit code 1 when a file failed. It holds the
    knowledge base's build lock meanwhile, so a kiosk starting on a new data dir waits for it
    instead of building the demo beside a site's first guides.
    """
    from appliance.bootstrap import make_ingestor
    from appliance.knowledge.lock import building

    embedder = _embedder(ctx)
    with user_errors(), building(kb or settings(ctx).kb_file), _open(ctx, kb) as knowledge:
        if embedder is not None and knowledge.embedding_model not in (None, embedder.name):
            note(f"the knowledge base holds vectors of {knowledge.embedding_model}; switching to {embedder.name}")
            knowledge.begin_vectors(embedder.name, embedder.dim)
        ingestor = make_ingestor(settings(ctx), knowledge, embedder)
        with _progress() as progress:
            task = progress.add_task("ingesting", total=None)
            report = ingestor.ingest(
                paths,
                force=force,
                on_start=lambda n: progress.update(task, total=n),
                on_file=lambda p: progress.update(task, advance=1, description=p.name[:40]),
            )
        if embedder is not None and not knowledge.vectors_complete():
            _embed_missing(knowledge, embedder)
        counts = knowledge.counts()
    out.print(
        f"added {report.count('added')}, updated {report.count('updated')}, unchanged {report.count('unchanged')}, "
        f"failed {report.count('failed')} file(s); {report.documents} document(s) and {report.tours} tour(s) written. "
        f"Knowledge base: {counts['documents']} documents, {counts['sections']} sections, "
        f"{counts['questions']} sample questions, {counts['tours']} tour(s)."
    )
    if report.failed:
        _print_skipped(report.failed, verbose or bool(ctx.find_root().params.get("verbose")))
        raise typer.Exit(1)


def _print_skipped(failed, verbose: bool) -> None:
    """One line per skipped file with its reason; with ``verbose``, a reader failure's traceback under it."""
    out.print(f"{len(failed)} file(s) skipped; nothing of them was written:")
    for o in failed:
        out.print(f"  {o.path}: skipped ({o.reason})", markup=False)
        if verbose and o.trace:
            out.print("    " + o.trace.rstrip().replace("\n", "\n    "), markup=False)


@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[
        str, typer.Argument(metavar="QUERY", help="the question; '-' reads one per stdin line (JSON lines out)")
    ],
    kb: Annotated[Path | None, KB_OPTION] = None,
    as_json: Annotated[bool, JSON_OPTION] = False,
    k: Annotated[int, typer.Option("-k", help="documents to return", min=1, max=50)] = 5,
) -> None:
    """Search the knowledge base (with '-', one query per stdin line, JSON lines out).

    JSON: {"query", "confidence", "results": [{"doc_id", "title", "source", "section", "score", "text"}]}.
    With '-', a line that cannot be searched (nothing left once undecodable bytes and control
    characters are dropped, or the search failed) gives {"line", "query", "error"} and the batch
    goes on; exit code 1 after the last line when any line failed.
    """
    batch = Batch(query, "query", as_json=True)
    knowledge = _open(ctx, kb)
    with knowledge, user_errors():
        retriever = _retriever(ctx, knowledge)
        for line in batch:
            with batch.guard(line):
                _search_one(retriever, line.text, k, as_json or batch.from_stdin)
    batch.finish()


def _search_one(retriever, q: str, k: int, as_json: bool) -> None:
    """Search for ``q`` and print the ``k`` best documents: one JSON line, or a table."""
    response = retriever.search(q, k=k)
    results = [
        {
            "doc_id": r.doc.doc_id,
            "title": r.doc.title,
            "source": r.doc.source,
            "section": " / ".join(r.section.heading_path[1:]) or r.doc.title,
            "score": round(r.score, 6),
            "text": r.section.text,
        }
        for r in response.results
    ]
    if as_json:
        print_json({"query": q, "confidence": round(response.confidence, 4), "results": results})
        return
    table = folded_table(
        "#",
        "title",
        "matching section",
        "vs #1",
        "source",
        title=f"{q}  (confidence {response.confidence:.2f} that #1 answers it; {response.mode} search)",
    )
    top = results[0]["score"] if results else 0.0
    for i, r in enumerate(results, start=1):
        # the fused (RRF) score means nothing alone: how close each runner-up comes to the first
        share = f"{r['score'] / top:.0%}" if top > 0 else "-"
        table.add_row(str(i), r["title"], r["section"], share, r["source"])
    out.print(table)
    if response.expansions:
        out.print(f"[dim]expanded with: {'、'.join(response.expansions)}[/]", markup=True)


@app.command("eval")
def eval_(
    ctx: typer.Context,
    files: Annotated[
        list[Path], typer.Argument(metavar="FILES", help='JSON lines {"question", "expected"} or question<TAB>title')
    ],
    kb: Annotated[Path | None, KB_OPTION] = None,
    as_json: Annotated[bool, JSON_OPTION] = False,
    show_misses: Annotated[bool, typer.Option("--misses", help="list questions whose top result is wrong")] = False,
) -> None:
    """Report hit@1, hit@5 and MRR for questions labelled with their expected guide.

    Also how often the engine would answer (confidence ≥ threshold), how often out-of-scope
    questions would be answered, and how well calibrated the confidence is.
    """
    from appliance.knowledge.evaluation import evaluate, load_questions

    with user_errors():
        questions = load_questions(files)
    knowledge = _open(ctx, kb)
    with knowledge, user_errors():
        report = evaluate(_retriever(ctx, knowledge), questions, settings(ctx).retrieval.min_confidence)
    if as_json:
        print_json(report.summary())
        return
    out.print(
        f"{report.n} answerable question(s): hit@1 {report.hit_at_1:.3f}  hit@5 {report.hit_at_5:.3f}  "
        f"MRR {report.mrr:.3f}\n"
        f"answered at confidence ≥ {report.threshold:.2f}: {report.answered:.1%} of them, "
        f"{report.answered_correct:.1%} of those right\n"
        f"{report.n_out_of_scope} out-of-scope question(s): {report.false_answer_rate:.1%} would be answered\n"
        f"confidence calibration: Brier {report.calibration['brier']:.3f}, ECE {report.calibration['ece']:.3f}"
    )
    if show_misses:
        for r in report.results:
            if (r.expected and r.rank != 1) or (not r.expected and r.confidence >= report.threshold):
                out.print(
                    f"  {r.question}  → {r.top} (want {r.expected}, rank {r.rank}, conf {r.confidence:.2f})",
                    markup=False,
                )


@app.command()
def calibrate(
    ctx: typer.Context,
    files: Annotated[
        list[Path],
        typer.Argument(metavar="FILES", help="labelled questions, as for `kb eval` (include out-of-scope ones)"),
    ],
    kb: Annotated[Path | None, KB_OPTION] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the fit without storing it")] = False,
) -> None:
    """Fit the confidence model to this knowledge base and labelled questions.

    The fit is stored in the knowledge base and used from then on by search and ask. The figures
    printed are 5-fold cross-validated, not the fit on the same questions.
    """
    from appliance.knowledge.evaluation import calibrate as fit
    from appliance.knowledge.evaluation import load_questions

    with user_errors():
        questions = load_questions(files)
    knowledge = _open(ctx, kb)
    with knowledge, user_errors():
        retriever = _retriever(ctx, knowledge)
        cal = fit(retriever, questions, note=f"{len(questions)} questions from {', '.join(f.name for f in files)}")
        out.print(
            f"{retriever.mode} confidence model: bias {cal.bias:.3f}, "
            + ", ".join(f"{f} {w:.3f}" for f, w in zip(cal.features, cal.weights, strict=True))
        )
        if cal.metrics.get("cross_validated"):
            out.print(
                f"5-fold cross-validated on these questions: Brier {cal.metrics['brier']:.3f}, "
                f"ECE {cal.metrics['ece']:.3f}, accuracy {cal.metrics['accuracy']:.3f} (n={cal.metrics['n']})"
            )
        else:
            out.print(
                f"too few questions ({cal.metrics['n']}) to cross-validate: no figures; label more questions, "
                "with at least ten right and ten wrong top results"
            )
        if not dry_run:
            with knowledge.conn:
                knowledge.set_meta(f"calibration_{retriever.mode}", cal.to_json())
            out.print(f"stored in {knowledge.db.path}")


@app.command("list")
def list_(
    ctx: typer.Context, kb: Annotated[Path | None, KB_OPTION] = None, as_json: Annotated[bool, JSON_OPTION] = False
) -> None:
    """List the documents in the knowledge base."""
    knowledge = _open(ctx, kb)
    with knowledge:
        docs = knowledge.documents()
        if as_json:
            for d in docs:
                print_json(
                    {
                        "doc_id": d.doc_id,
                        "title": d.title,
                        "source": d.source,
                        "lang": d.lang,
                        "category": d.category,
                        "questions": len(d.questions),
                    }
                )
            return
        table = folded_table(
            "doc_id", "title", "lang", "category", "source", title=f"{len(docs)} documents (kb v{knowledge.version})"
        )
        for d in docs:
            table.add_row(d.doc_id, d.title, d.lang, d.category or "", d.source)
        out.print(table)


@app.command()
def remove(
    ctx: typer.Context,
    sources: Annotated[
        list[Path], typer.Argument(metavar="SOURCES", help="ingested file paths whose documents to delete")
    ],
    kb: Annotated[Path | None, KB_OPTION] = None,
) -> None:
    """Delete the documents that came from the given files."""
    knowledge = _open(ctx, kb)
    with knowledge, user_errors():
        for src in sources:
            n = knowledge.remove_source(str(src.resolve()))
            if not n:
                out.print(f"{src}: not in the knowledge base")
            else:
                out.print(f"{src}: {'tour' if is_tour_file(src) else f'{n} document(s)'} removed")


def _embed_missing(knowledge, embedder):
    """Embed the chunks that have no vector yet, with a progress bar; returns the report."""
    from appliance.knowledge.ingest import reindex as run_reindex

    with _progress() as progress:
        task = progress.add_task(f"embedding with {embedder.name}", total=None)
        return run_reindex(
            knowledge, embedder, on_batch=lambda done, total: progress.update(task, completed=done, total=total)
        )


@app.command()
def reindex(ctx: typer.Context, kb: Annotated[Path | None, KB_OPTION] = None) -> None:
    """Embed every section with the configured embedding model (after installing or changing it).

    Only chunks without a vector of this model are embedded, and text this model embedded before is
    taken from the cache. The kiosk keeps answering by keywords meanwhile and switches to hybrid
    search when every chunk has its vector; an interrupted run goes on where it stopped.
    """
    knowledge = _open(ctx, kb)
    embedder = _embedder(ctx, required=True)
    with knowledge, user_errors():
        report = _embed_missing(knowledge, embedder)
    out.print(
        f"{embedder.name}: {report.embedded} chunk(s) embedded, {report.reused} taken from the cache, "
        f"{report.total} in the knowledge base"
    )
    out.print(
        "Now fit the confidence model to the new vectors: `kiosk kb calibrate QUESTIONS.jsonl` "
        "(labelled residents' questions, including some the knowledge base should not answer)."
    )


@app.command()
def stats(ctx: typer.Context, kb: Annotated[Path | None, KB_OPTION] = None) -> None:
    """Counts, version, vectors and where the file is."""
    knowledge = _open(ctx, kb)
    with knowledge:
        c = knowledge.counts()
        out.print(
            f"{knowledge.db.path}\nversion {knowledge.version}, updated {knowledge.meta('updated_at') or '-'}\n"
            f"{c['sources']} files, {c['documents']} documents, {c['sections']} sections, "
            f"{c['questions']} sample questions, {c['tours']} tour(s)\n"
            f"vectors: {knowledge.embedding_model or 'none'}"
            + ("" if not knowledge.embedding_model else " ({}/{} chunks)".format(*knowledge.vector_counts()))
            + ("" if knowledge.db.has_vec else f" (sqlite-vec unavailable: {knowledge.db.vec_error})")
        )


@app.command("versions")
def versions(ctx: typer.Context) -> None:
    """The knowledge-base versions sync installed and kept (newest first; * = in use), and how the
    last sync went."""
    from appliance.sync.client import kb_versions

    state, kept = kb_versions(settings(ctx))
    if not kept:
        out.print("no synced versions (the knowledge base is built locally; see `kiosk sync`)", markup=False)
    for entry, used in kept:
        out.print(
            f"{'*' if used else ' '} {entry.file}  {entry.describe()}  installed {entry.installed_at}", markup=False
        )
    out.print(f"last sync: {state.last_success or 'never'}; last error: {state.last_error or 'none'}", markup=False)


@app.command("rollback")
def rollback(
    ctx: typer.Context,
    version: Annotated[
        str | None, typer.Argument(metavar="VERSION", help="a kept version's file name (default: the one before)")
    ] = None,
) -> None:
    """Go back to an older synced knowledge base (a running kiosk switches between conversations);
    sync installs only something newer than what was rolled back from."""
    from appliance.sync.client import SyncError
    from appliance.sync.client import rollback as do_rollback

    try:
        entry = do_rollback(settings(ctx), version)
    except SyncError as exc:
        fail(str(exc))
    out.print(f"now using {entry.file} ({entry.describe()})", markup=False)
