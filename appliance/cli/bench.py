"""``kiosk bench``: benchmarks that print measured figures."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from appliance.cli.common import out, settings, user_errors
from appliance.outside_data import guangdong_guides, shared_data_dir, speech_dir

app = typer.Typer(help="Benchmarks that print figures measured on this machine.", no_args_is_help=True)


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def _embedding_time(s, queries: list[str]) -> None:
    """Time the configured embedding model on the questions, when it is installed."""
    from appliance import bench
    from models.loader import load_embedder
    from models.store import ModelStore

    embedder, message = load_embedder(s, ModelStore(s.models_path))
    if embedder is None:
        out.print(f"  question embedding: not measured ({message or 'embeddings disabled'})")
        return
    times = []
    for q in queries[:100]:
        t = time.perf_counter()
        embedder.embed([q])
        times.append((time.perf_counter() - t) * 1e3)
    out.print(
        f"  question embedding with {embedder.name}: p50 {bench.percentile(times, 50):.2f} ms, "
        f"p95 {bench.percentile(times, 95):.2f} ms (add to the hybrid figures)"
    )


@contextmanager
def _progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar on stderr for a bench's long steps (:data:`appliance.bench.Step`), gone when done;
    the figures go on printing above it."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=None)

        def step(what: str, done: int, total: int) -> None:
            progress.update(task, description=what, completed=done, total=total or None)

        yield step


@app.command()
def retrieval(
    ctx: typer.Context,
    sizes: Annotated[
        str, typer.Option(help="synthetic knowledge-base sizes, sections, comma-separated")
    ] = "1000,10000,100000",
    guangdong: Annotated[
        Path | None,
        typer.Option(help="Guangdong guides JSONL (default: the shared data's kb/guangdong_services.jsonl)"),
    ] = None,
    hybrid: Annotated[bool, typer.Option(help="also time hybrid retrieval (512-dim hashing embedder)")] = True,
    cold_start_runs: Annotated[int, typer.Option(help="fresh `kiosk ask` processes to time (0: skip)")] = 5,
    questions: Annotated[
        int, typer.Option(help="time only the first N demo evaluation questions (0: all of them)", min=0)
    ] = 0,
) -> None:
    """Ingest throughput, query latency p50/p95 and cold start of `kiosk ask`.

    At each synthetic size and on the real Guangdong guides; hybrid with a 512-dim hashing embedder
    (the pipeline's own cost) and, when the configured embedding model loads, with that model
    embedding every question. Targets on a 2-core machine: p95 ≤ 20 ms lexical, ≤ 60 ms hybrid with
    the real embedder at 10k sections; cold start ≤ 1.5 s without an LLM.
    """
    from appliance import bench
    from appliance.bootstrap import load_site_for, make_analyzer

    s = settings(ctx)
    with user_errors():
        analyzer = make_analyzer(s, load_site_for(s))
        queries = bench.demo_queries()
    if questions:
        queries = queries[:questions]
    size_list = [int(x) for x in sizes.split(",") if x.strip()]
    shared = guangdong or guangdong_guides()
    out.print(f"machine: {_machine()}\nqueries: {len(queries)} demo evaluation questions")

    def report(f: bench.Figures) -> None:
        out.print(
            f"  {f.label} {f.mode}: {f.sections:,} sections, ingest {f.ingest_s:.1f} s "
            f"({f.docs_per_s:.0f} guides/s), p50 {f.p50_ms:.2f} ms, p95 {f.p95_ms:.2f} ms"
        )
        if f.stages_p50_ms:
            out.print("    stages, p50: " + ", ".join(f"{k} {v:.2f} ms" for k, v in f.stages_p50_ms.items()))

    real = None
    if hybrid:
        from models.loader import load_embedder
        from models.store import ModelStore

        real, _ = load_embedder(s, ModelStore(s.models_path))
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-") as tmp, _progress_bar() as step:
        work = Path(tmp)
        bench.bench_scale(
            analyzer, size_list, queries, work, shared if shared.is_file() else None, report, hybrid, real, step
        )
        if shared.is_file():
            hit = bench.bench_guangdong(analyzer, shared, work, report, step)
            out.print(f"  Guangdong: title-paraphrase hit@1 {hit:.3f}")
        else:
            out.print(f"  Guangdong guides not found at {shared}: skipped")
    _embedding_time(s, queries)
    if cold_start_runs:
        times = bench.cold_start(cold_start_runs)
        out.print(f"cold start of `kiosk ask` (no LLM), min / median / max: {bench.statistics_line(times)}")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


@app.command()
def answers(
    ctx: typer.Context,
    shared: Annotated[
        Path | None, typer.Option(help="the shared data folder (default: $KIOSK_SHARED_DATA, else ../shared/data)")
    ] = None,
    english: Annotated[
        Path | None, typer.Option(help='an English FAQ, JSON lines {"id", "question", "answer"}')
    ] = None,
    python_faq: Annotated[
        Path | None,
        typer.Option(
            help="the Python FAQ's HTML pages (default: Debian's python3-doc, /usr/share/doc/python3/html/faq)"
        ),
    ] = None,
    hybrid: Annotated[
        bool, typer.Option(help="also with the configured embedding model (embeds every data set once, cached)")
    ] = False,
    workdir: Annotated[
        Path | None, typer.Option(help="where the data sets' knowledge bases are kept between runs")
    ] = None,
    split: Annotated[str, typer.Option(help="'all', 'dev' or 'test'")] = "all",
    hybrid_max_chunks: Annotated[
        int, typer.Option(help="skip hybrid runs of data sets with more chunks than this (embedding time)")
    ] = 5000,
    misses: Annotated[Path | None, typer.Option(help="write every question's outcome here (JSON lines)")] = None,
    fit: Annotated[
        bool,
        typer.Option(
            "--fit",
            help="instead, fit the confidence models on the development sets and print them with "
            "5-fold cross-validated figures (how the shipped ones were made)",
        ),
    ] = False,
) -> None:
    """Retrieval, answer policy and emergencies on outside data, beside plain whole-document BM25.

    Per data set: hit@1, hit@5, MRR; answer rate and precision at the configured threshold;
    clarification rate (and how often the right topic was offered); refusals; out-of-scope
    questions answered or clarified; the same hit@1/hit@5/MRR for rank_bm25 in the same run; query
    p95. Then emergency recall and false alarms, triage beside the rules alone. 'dev' sets were
    tuned on; 'test' sets were fitted on by nothing.
    """
    from appliance import bench_answers as ba
    from appliance.bootstrap import load_site_for, make_analyzer
    from appliance.cli.common import note
    from appliance.triage import Triage
    from models.loader import load_embedder
    from models.memo import QueryMemo
    from models.store import ModelStore

    s = settings(ctx)
    with user_errors():
        analyzer = make_analyzer(s, load_site_for(s))
        analyzer.warm_up()
    base = shared or shared_data_dir()
    sets, notes = ba.all_datasets(base if base.is_dir() else None, english, python_faq)
    for n in notes:
        note(n)
    if split != "all":
        sets = [d for d in sets if d.split == split]
    embedders: list = [None]
    if hybrid:
        embedder, message = load_embedder(s, ModelStore(s.models_path))
        if embedder is None:
            note(f"hybrid: {message or 'embeddings are disabled'}; lexical only")
        else:
            embedders.append(embedder)
    if fit:
        _fit_calibrations(sets, analyzer, workdir, embedders)
        return
    out.print(f"machine: {_machine()}")
    r = s.retrieval
    out.print(f"policy: answer at confidence ≥ {r.min_confidence}, clarify ≥ {r.clarify_confidence}, else no_answer")
    head = (
        f"{'data set':18s}{'mode':>8s}{'n':>6s}{'hit@1':>7s}{'hit@5':>7s}{'MRR':>7s}{'answ':>7s}{'prec':>7s}"
        f"{'clar':>7s}{'c-hit':>7s}{'refus':>7s}{'oos-a':>7s}{'oos-c':>7s}  {'BM25 hit@1':>10s}{'hit@5':>7s}"
        f"{'MRR':>7s}{'p95 ms':>8s}"
    )
    out.print(head, markup=False)
    dump = misses.open("w", encoding="utf-8") if misses else None
    triage = Triage.load()
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-answers-") as tmp:
        work = workdir or Path(tmp)
        for embedder in embedders:
            for ds in sets:
                if embedder is not None:
                    lexical = ba.build_kb(ds, analyzer, work / "lexical", None)
                    chunks = lexical.vector_counts()[1]
                    lexical.close()
                    if chunks > hybrid_max_chunks:
                        note(f"{ds.name}: {chunks} chunks to embed, more than --hybrid-max-chunks; hybrid skipped")
                        continue
                kb = ba.build_kb(ds, analyzer, work / ("hybrid" if embedder else "lexical"), embedder)
                try:
                    f = ba.evaluate(ds, kb, r, embedder, ba.BM25Baseline(kb), triage)
                finally:
                    kb.close()
                oos = f" ({f.n_out_of_scope} oos)" if f.n_out_of_scope else ""
                out.print(
                    f"{f.name:18s}{f.mode:>8s}{f.n:6d}{f.hit_at_1:7.3f}{f.hit_at_5:7.3f}{f.mrr:7.3f}"
                    f"{f.answered:7.3f}{_pct(f.precision):>7s}{f.clarified:7.3f}{_pct(f.clarify_hit):>7s}"
                    f"{f.refused:7.3f}{_pct(f.oos_answered):>7s}{_pct(f.oos_clarified):>7s}  "
                    f"{f.bm25_hit_at_1:10.3f}{f.bm25_hit_at_5:7.3f}{f.bm25_mrr:7.3f}{f.p95_ms:8.1f}{oos}",
                    markup=False,
                )
                if dump:
                    for row in f.rows:
                        dump.write(json.dumps({"set": f.name, "mode_search": f.mode, **row}, ensure_ascii=False) + "\n")
    if dump:
        dump.close()
    out.print(
        "answ/clar/refus: shares of answerable questions answered, clarified, refused; prec: right among the "
        "answered; c-hit: right topic among those offered; oos-a/oos-c: out-of-scope questions answered/clarified"
    )
    if split != "dev":
        ordinary = ba.ordinary_questions(sets, analyzer, work / "lexical")
        readers = [("rules+detector", triage, False), ("rules only", triage, True)]
        # one memo for both sets' lines: the ordinary demo questions are read by each
        pooled = triage.with_embedder(QueryMemo(embedders[-1], size=4096) if embedders[-1] else None)
        if pooled is not triage:
            readers.insert(1, ("rules+det+vec", pooled, False))
        for path in ba.emergency_sets():
            _print_triage(out, path, readers, analyzer, ordinary)


def _print_triage(out, path: Path, readers: list, analyzer, ordinary: list) -> None:
    """One held-out emergency set's figures for each (label, triage, rules only) reader: rules with
    the n-gram detector, pooled with the embedding detector when hybrid, and the rules alone."""
    from appliance import bench_answers as ba

    items = ba.load_emergency_questions(path)
    out.print(
        f"emergencies ({path.name}: {sum(1 for _, c in items if c)} emergencies, "
        f"{sum(1 for _, c in items if not c)} ordinary; demo FA: false alarms on the {len(ordinary)} demo test "
        "questions not about a safety or emergency guide):"
    )
    out.print(
        f"  {'triage':14s}{'recall':>8s}{'+check':>8s}{'category':>9s}{'false al.':>10s}{'checks':>8s}{'demo FA':>9s}",
        markup=False,
    )
    for label, triage, rules_only in readers:
        e = ba.evaluate_triage("emergency", triage, analyzer, items, rules_only=rules_only)
        o = ba.evaluate_triage("ordinary", triage, analyzer, ordinary, rules_only=rules_only)
        out.print(
            f"  {label:14s}{e.recall:8.3f}{e.recall_with_check:8.3f}{e.right_category:9.3f}"
            f"{e.false_alarms:10.3f}{e.checks:8.3f}{o.false_alarms:9.3f}",
            markup=False,
        )


def _fit_calibrations(sets: list, analyzer, workdir: Path | None, embedders: list) -> None:
    """``bench answers --fit``: one confidence model per search mode, fitted on development data."""
    from appliance import bench_answers as ba
    from appliance.cli.common import fail
    from appliance.knowledge.confidence import HYBRID_FEATURES, LEXICAL_FEATURES, cross_validate, fit_logistic

    with tempfile.TemporaryDirectory(prefix="kiosk-bench-fit-") as tmp:
        work = workdir or Path(tmp)
        for embedder in embedders:
            try:
                rows, labels = ba.calibration_examples(
                    sets, analyzer, work / ("hybrid" if embedder else "lexical"), embedder
                )
            except ValueError as exc:
                fail(str(exc))
            features = HYBRID_FEATURES if embedder else LEXICAL_FEATURES
            model = fit_logistic(rows, labels, features, note=f"development data ({len(rows):,})")
            _, model.metrics = cross_validate(rows, labels, features)
            mode = f"hybrid ({embedder.name})" if embedder else "lexical"
            out.print(f"{mode}: {len(rows)} questions, {sum(labels)} with the right top document", markup=False)
            out.print(model.to_json(), markup=False)


@app.command()
def voice(
    ctx: typer.Context,
    speech: Annotated[
        Path | None, typer.Option(help="folder of WAV recordings (default: the shared data's speech/)")
    ] = None,
    barge_in_trials: Annotated[int, typer.Option(help="real-time barge-in trials (0: skip)")] = 3,
    no_llm: Annotated[bool, typer.Option("--no-llm", help="answer extractively even if an LLM is installed")] = False,
    with_llm: Annotated[
        bool, typer.Option("--with-llm", help="load the configured LLM even where [llm] enabled = auto leaves it off")
    ] = False,
    spoken_questions: Annotated[
        int, typer.Option(help="held-out demo questions per language spoken by the voices and answered (0: skip)")
    ] = 3,
    round_trips: Annotated[
        int, typer.Option(help="round trip: held-out demo answers per language, spoken and heard back (0: skip)")
    ] = 8,
    pauses: Annotated[
        str, typer.Option(help="turn-taking: pauses to insert mid-recording, seconds, comma-separated ('': skip)")
    ] = "0.8,1.0,1.2,1.5",
) -> None:
    """The voice pipeline on real recordings: per-stage times from the end of speech, pipeline
    overhead, VAD cost, barge-in latency and turn-taking, with the installed models.

    Turn-taking: each recording (one utterance) as recorded and with a pause inserted mid-thought,
    counted as split when it is answered as more than one turn; and how much later a live run
    answers a recording because its transcript ended open.

    Held-out demo questions, spoken by the installed voices, are answered the same way: the
    shared recordings ask nothing the guides answer, these time the answer path.

    Recognition: the character (Chinese) or word (English) error rate of each recording's first
    turn against the folder's MANIFEST.tsv. Speech out: the real-time factor of ASR (time in the
    model / audio heard) and of TTS (time in the voice / audio spoken), and the round trip: each
    answer's spoken text synthesised by the voice, transcribed by the ASR (forced to the answer's
    language, no vocabulary prompt) and scored against what was said; on the recordings' answers
    and on held-out demo answers in each language, the worst shown. Memory: resident and peak,
    with the models that were loaded (--with-llm to count the LLM on a CPU-only machine).

    Targets: overhead ≤ 30 ms per turn; first audio ≤ 1.8 s after the end of speech for an
    extractive answer, ≤ 3.0 s when the LLM speaks first; first audio before the LLM finishes;
    barge-in stops the audio ≤ 150 ms after the speech onset is detected; no recording split,
    ≤ 5 % split with the pauses, ≤ 150 ms median added latency; CER ≤ 0.15 on the Chinese
    recordings, 0 word errors on the English ones; resident memory ≤ 2 GB.
    """
    from appliance import bench_voice as bv
    from appliance.bootstrap import VoiceUnavailable, build_appliance, load_voice_models
    from appliance.cli.common import fail, note

    s = settings(ctx)
    folder = speech or speech_dir()
    files = bv.recordings(folder) if folder.is_dir() else []
    if not files:
        fail(f"no recordings (*.wav) in {folder}; give --speech DIR")
    if with_llm and not no_llm:
        s = s.model_copy(update={"llm": s.llm.model_copy(update={"enabled": True})})
    with user_errors():
        appliance = build_appliance(s, use_llm=not no_llm, journal=False)
    with appliance:
        try:
            models = load_voice_models(appliance)
        except VoiceUnavailable as exc:
            fail(str(exc))
        out.print(f"machine: {_machine()}")
        for n in models.notes:
            note(n)
        llm = appliance.engine.llm
        out.print(
            f"models: ASR {models.asr.name}, LLM {llm.name if llm else 'none (extractive)'}, VAD {models.vad.name}"
        )
        out.print("per turn, ms from the end of speech (endpoint = trailing silence waited for):")
        keys = ("endpoint", "asr", "first_token", "first_text", "first_audio", "llm_done", "total", "overhead")
        out.print("  " + f"{'recording':42s}" + "".join(f"{k:>12s}" for k in keys) + "  answer")
        results: list = []
        per_file: dict = {}
        for path in files:
            turns = bv.run_file(appliance, models, path)
            per_file[path] = turns
            for r in turns:
                _turn_row(f"{path.name[:40]}#{r.turn_id}", r, keys)
            results += turns
        answered = [r for r in results if r.answer is not None]
        out.print(f"turns: {len(results)} ({len(answered)} answered) in {len(files)} recordings")
        for k in ("asr", "first_audio", "total", "overhead"):
            vals = [getattr(r.timings, k) for r in answered if getattr(r.timings, k) is not None]
            out.print(f"  {k:12s} median / p95 / max: {bv.summarise(vals)} ms")
        for k in ("asr_model", "tts_model", "llm_model", "retrieval"):
            vals = [getattr(r.timings, k) for r in answered]
            out.print(f"  inside {k:10s} median / p95 / max: {bv.summarise(vals, lambda v: f'{v:.1f}')} ms")
        if spoken_questions:
            out.print("held-out demo questions spoken by the voices (the answer path end to end):")
            asked = []
            for label, question, audio in bv.spoken_questions(models, spoken_questions):
                turns = bv.run_audio(appliance, models, audio)
                for r in turns:
                    _turn_row(f"{label}#{r.turn_id}", r, keys)
                asked += turns
                if not turns:
                    out.print(f"  {label}: no turn (the VAD found no speech in the voice's audio)", markup=False)
                out.print(f"    asked: {question}", markup=False)
            for lang in ("zh", "en"):
                firsts = [
                    r.timings.first_audio
                    for r in asked
                    if r.answer and r.answer.lang == lang and r.answer.mode == "answer" and r.timings.first_audio
                ]
                if firsts:
                    out.print(f"  first audio of {lang} answers, median / p95 / max: {bv.summarise(firsts)} ms")
        _speech_figures(bv, folder, per_file, models, appliance, round_trips)
        streamed = [r for r in answered if r.answer.generator == "llm" and r.timings.first_audio is not None]
        if streamed:
            early = sum(r.timings.first_audio < r.timings.llm_done for r in streamed)
            out.print(f"  first audio before the LLM finished: {early} of {len(streamed)} LLM turns")
        else:
            out.print(
                "  first audio vs LLM finish: no answer was written by the LLM (none installed, or its "
                "text failed the grounding checks and the extractive answer was spoken)"
            )
        pause_list = [float(x) for x in pauses.split(",") if x.strip()]
        if pause_list:
            tt = bv.turn_taking(appliance, models, files, pause_list)
            out.print(f"turn-taking on {tt.clips} recordings of one utterance each:")
            out.print(f"  split as recorded: {tt.split_as_recorded} of {tt.clips}")
            for pause, n in tt.split_with_pause.items():
                out.print(f"  split with a {pause:.1f} s pause inserted: {n} of {tt.clips}")
            total = sum(tt.split_with_pause.values())
            out.print(f"  split rate with pauses: {total / (tt.clips * len(pause_list)):.3f}")
            out.print(f"  added latency for open endings, median / p95 / max: {bv.summarise(tt.held_ms)} ms")
            for (name, pause), texts in tt.transcripts.items():
                if len(texts) > 1:
                    out.print(f"    split: {name} ({pause} s): {' | '.join(texts)}", markup=False)
        speech_audio = {p: bv.speech_of(p) for p in files}
        audio = np.concatenate(list(speech_audio.values()))
        out.print(
            f"VAD: {bv.vad_cost_ms(models.vad, audio):.3f} ms per 32 ms frame ({len(audio) / 16000:.0f} s of audio)"
        )
        if barge_in_trials:
            trials = []
            clips = [a for a in speech_audio.values() if 2.0 < len(a) / 16000 < 12.0]
            if not clips:
                out.print("barge-in: skipped (no recording between 2 and 12 s long)")
            for i in range(barge_in_trials if clips else 0):
                q, interruption = clips[i % len(clips)], clips[(i + 1) % len(clips)]
                fig = bv.barge_in_trial(appliance, models, q, interruption)
                if fig is None:
                    out.print(f"  barge-in trial {i + 1}: no barge-in during playback (the answer was too short)")
                    continue
                trials.append(fig)
                out.print(
                    f"  barge-in trial {i + 1}: onset→decision {fig.detect_ms:.0f} ms, decision→silence "
                    f"{fig.stop_ms:.0f} ms, heard {fig.heard_chars} of {fig.answer_chars} characters"
                )
            if trials:
                out.print(
                    "barge-in, decision→silence median / p95 / max: "
                    f"{bv.summarise([t.stop_ms for t in trials])} ms; onset→silence: "
                    f"{bv.summarise([t.detect_ms + t.stop_ms for t in trials])} ms"
                )
        rss, peak = bv.resident_memory_mb()
        loaded = [f"ASR {models.asr.name}", f"VAD {models.vad.name}"]
        loaded += [f"TTS {lang} {v.name}" for lang, v in models.voices.by_lang.items()]
        loaded += [f"LLM {llm.name}"] if llm else []
        embedder = getattr(appliance.engine.retriever, "embedder", None)
        loaded += [f"embedder {embedder.name}"] if embedder else []
        out.print(f"memory: resident {rss:.0f} MiB, peak {peak:.0f} MiB, with {', '.join(loaded)}", markup=False)


def _turn_row(label: str, r, keys: tuple[str, ...]) -> None:
    """One turn's times (ms from the end of speech) and what it became."""
    t = r.timings
    cells = "".join(f"{getattr(t, k):12.0f}" if getattr(t, k) is not None else f"{'-':>12s}" for k in keys)
    what = (
        r.transcript.dropped
        if r.transcript and r.transcript.dropped
        else (f"{r.answer.mode}/{r.answer.generator}" if r.answer else "-")
    )
    out.print(f"  {label:42s}{cells}  {what}", markup=False)


def _speech_figures(bv, folder: Path, per_file: dict, models, appliance, round_trips: int) -> None:
    """``bench voice``: per recording, real-time factors, the error rate against the manifest and
    the round trip of its answer; then the round trip of held-out demo answers."""
    refs = bv.manifest_references(folder)
    out.print("per recording: real-time factors, error rate against the manifest, round trip of the answer:")
    out.print(f"  {'recording':42s}{'rtf_asr':>9s}{'rtf_tts':>9s}{'error':>8s}{'trip':>8s}  heard", markup=False)
    errors: dict[str, list[float]] = {}
    baseline: dict[str, list[float]] = {}
    trips: list = []
    for path, turns in per_file.items():
        first = next((r for r in turns if r.transcript is not None), None)
        ref = refs.get(path.name)
        err = None
        if ref is not None and ref.lang in ("zh", "en"):  # the recording's whole transcript, all its turns
            heard = " ".join(r.transcript.text for r in turns if r.transcript and r.transcript.text)
            err = bv.error_rate(ref.text, heard, ref.lang, partial=ref.partial)
            errors.setdefault(ref.lang, []).append(err)
            # the baseline a user would otherwise pick: faster-whisper on the whole file, its own
            # language detection, no vocabulary prompt
            plain = models.asr.transcribe(bv.speech_of(path), language="auto", prompt="").text
            baseline.setdefault(ref.lang, []).append(bv.error_rate(ref.text, plain, ref.lang, partial=ref.partial))
        for r in turns:
            t = r.timings
            rtf_asr = t.asr_model / r.utterance_ms if r.utterance_ms else None
            rtf_tts = t.tts_model / t.spoken_ms if t.spoken_ms else None
            trip = bv.round_trip(r.heard, r.answer.lang, models.voices, models.asr) if r.answer and r.heard else None
            trips += [trip] if trip else []
            cells = "".join(
                f"{v:{w}.{p}f}" if v is not None else f"{'-':>{w}s}"
                for v, w, p in (
                    (rtf_asr, 9, 2),
                    (rtf_tts, 9, 2),
                    (err if r is first else None, 8, 2),
                    (trip.error if trip else None, 8, 2),
                )
            )
            heard = r.transcript.text if r.transcript else ""
            out.print(f"  {path.name[:40] + f'#{r.turn_id}':42s}{cells}  {heard[:60]}", markup=False)
    for lang, name in (("zh", "character"), ("en", "word")):
        if errors.get(lang):
            vals = errors[lang]
            plain = baseline[lang]
            out.print(
                f"  {name} error rate, {lang} recordings with a transcript: mean {np.mean(vals):.3f} "
                f"over {len(vals)} (max {max(vals):.3f}); plain Whisper on the file (own language "
                f"detection, no prompt): mean {np.mean(plain):.3f} (max {max(plain):.3f})"
            )
    if round_trips:
        for text, lang in bv.held_out_answers(appliance, round_trips):
            trip = bv.round_trip(text, lang, models.voices, models.asr)
            trips += [trip] if trip else []
    if not trips:
        out.print("round trip: no answer was spoken (no voice installed for its language)")
        return
    for lang in ("zh", "en"):
        mine = [t for t in trips if t.lang == lang]
        if not mine:
            continue
        out.print(
            f"round trip, {lang} ({mine[0].voice}), {len(mine)} answers: error rate median / p95 / max "
            f"{bv.summarise([t.error for t in mine], lambda v: f'{v:.2f}')}"
        )
        for t in sorted(mine, key=lambda t: -t.error)[:3]:
            out.print(f"    {t.error:.2f} said:  {t.said[:150]}", markup=False)
            out.print(f"         heard: {t.heard[:150]}", markup=False)


@app.command()
def llm(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="questions asked, spread over the held-out set (0: all)")] = 40,
    asr_ms: Annotated[
        float | None, typer.Option(help="median ASR time, ms (from `kiosk bench voice`), for the verdict")
    ] = None,
    show: Annotated[bool, typer.Option(help="print every answer")] = False,
) -> None:
    """The LLM's answers to the demo's held-out questions: first token, first sentence released by
    the grounding gate and end (ms from the question), tokens a second, prompt tokens, how often
    the gate passes an answer and why not, and the spoken length; with the system prompts warmed
    first, as `kiosk run` does. The configured LLM is loaded even where `[llm] enabled = "auto"`
    would leave it off (no GPU).

    Target: the first sentence within 2.5 s of the end of speech (endpoint silence + ASR + the
    first-sentence time here); otherwise the extractive answer is the CPU default.
    """
    from appliance import bench
    from appliance import bench_answers as ba
    from appliance import bench_llm as bl
    from appliance.bootstrap import build_appliance
    from appliance.cli.common import fail

    s = settings(ctx)
    s = s.model_copy(update={"llm": s.llm.model_copy(update={"enabled": True})})
    with user_errors():
        appliance = build_appliance(s, journal=False)
    with appliance:
        engine = appliance.engine
        if engine.llm is None:
            fail("no LLM loaded: " + "; ".join(appliance.notes))
        questions = [
            q.question for q in ba.load_questions([ba.demo_kb_dir().parent / "eval" / "test" / "answerable.jsonl"])
        ]
        if limit and len(questions) > limit:
            questions = questions[:: max(1, len(questions) // limit)][:limit]
        out.print(f"machine: {_machine()}")
        out.print(f"LLM {engine.llm.name}; {len(questions)} held-out demo questions; max_tokens {s.llm.max_tokens}")
        t = time.perf_counter()
        warm = engine.warm()
        if warm is not None:
            warm.join()
        out.print(
            f"system prompts of {', '.join(appliance.site.languages)} evaluated in {time.perf_counter() - t:.1f} s"
        )
        turns = bl.answer_all(engine, questions)
    if not turns:
        fail("no question reached the LLM (all were scripted, clarified or refused)")
    if show:
        for r in turns:
            out.print(
                f"  [{r.outcome}] {r.question} -> first sentence "
                f"{'—' if r.first_sentence_ms is None else f'{r.first_sentence_ms:.0f} ms'}: {r.text!r}",
                markup=False,
            )

    def line(label: str, values: list[float], unit: str = "ms") -> None:
        if not values:
            out.print(f"  {label:34s} —")
            return
        out.print(
            f"  {label:34s} median {bench.percentile(values, 50):7.0f} {unit}, p95 {bench.percentile(values, 95):7.0f}"
            f" {unit}, max {max(values):7.0f} {unit}",
            markup=False,
        )

    passed = [r for r in turns if r.outcome == "passed"]
    out.print(f"answers that reached the LLM: {len(turns)}; shown: {len(passed)} ({len(passed) / len(turns):.0%})")
    outcomes: dict[str, int] = {}
    for r in turns:
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
    out.print("  outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items(), key=lambda kv: -kv[1])))
    line("first token", [r.first_token_ms for r in turns if r.first_token_ms is not None])
    line("first sentence shown", [r.first_sentence_ms for r in passed if r.first_sentence_ms is not None])
    line("end of the answer", [r.total_ms for r in turns])
    line("tokens a second", [r.tokens_per_s for r in turns if r.tokens_per_s], "tok/s")
    line("prompt", [float(r.prompt_tokens) for r in turns], "tok")
    line("prompt after the system prompt", [float(r.new_tokens) for r in turns], "tok")
    line("generated", [float(r.generated_tokens) for r in turns], "tok")
    line("spoken length of shown answers", [float(r.length) for r in passed], "ch/w")
    firsts = [r.first_sentence_ms for r in passed if r.first_sentence_ms is not None]
    if firsts:
        endpoint = s.vad.end_silence_ms
        median = bench.percentile(firsts, 50)
        if asr_ms is None:
            out.print(
                f"verdict: first sentence {median:.0f} ms after the question, + {endpoint:.0f} ms endpoint silence "
                f"+ ASR (give --asr-ms from `kiosk bench voice`) against the {bl.FIRST_SENTENCE_TARGET_S:.1f} s target"
            )
        else:
            total = (median + endpoint + asr_ms) / 1e3
            ok = total <= bl.FIRST_SENTENCE_TARGET_S
            out.print(
                f"verdict: first sentence {total:.2f} s after the end of speech (median; {endpoint:.0f} ms endpoint "
                f"+ {asr_ms:.0f} ms ASR + {median:.0f} ms): {'within' if ok else 'over'} the "
                f"{bl.FIRST_SENTENCE_TARGET_S:.1f} s target"
            )


@app.command()
def robot(
    pings: Annotated[int, typer.Option(help="PINGs per wire model (round-trip time)")] = 500,
    commands: Annotated[int, typer.Option(help="commands per wire model (throughput)")] = 1000,
    faults: Annotated[
        bool, typer.Option("--faults", help="also run each wire with 5 % drop, 5 % corruption, 2 % duplication")
    ] = False,
) -> None:
    """Round-trip latency (p50/p99) and command throughput over the simulated controller on a
    pseudo-terminal, at 115200 baud and at USB full speed (and with no wire model at all)."""
    from firmware_bridge.bench import run
    from firmware_bridge.reliable import LinkError
    from firmware_bridge.sim.ports import Faults, Wire

    out.print(f"machine: {_machine()}")
    out.print(f"{pings} PINGs then {commands} FACE commands per row, stop-and-wait, over a pseudo-terminal")
    out.print(
        f"  {'wire':28s}{'faults':>8s}{'floor ms':>10s}{'RTT p50':>10s}{'p99':>8s}{'max':>8s}"
        f"{'cmd/s':>8s}{'retries':>9s}{'timeouts':>9s}{'failed':>8s}"
    )
    wires = [Wire("uart", 115200), Wire("usb-fs"), Wire("pty")]
    fault_sets = [None, Faults(0.05, 0.05, 0.02, seed=1)] if faults else [None]
    for wire in wires:
        for f in fault_sets:
            try:
                fig = run(wire, pings, commands, f, ack_timeout_s=0.05 if f else 0.1, retries=10 if f else 5)
            except LinkError as exc:
                out.print(f"  {wire.describe():28s} failed: {exc}")
                continue
            out.print(
                f"  {fig.wire:28s}{'5/5/2' if f else 'none':>8s}{fig.wire_floor_ms:10.2f}{fig.rtt_p50:10.2f}"
                f"{fig.rtt_p99:8.2f}{fig.rtt_max:8.2f}{fig.commands_per_s:8.0f}{fig.retries:9d}{fig.timeouts:9d}"
                f"{fig.failures:8d}",
                markup=False,
            )
    out.print("floor: a PING and its ACK on the wire alone; RTT: send to ACK, ms (Karn: first attempts only)")


@app.command("sync")
def sync_(
    guides: Annotated[
        Path | None,
        typer.Option("--guides", help="a JSONL file of real guides (default: the shared data's Guangdong guides)"),
    ] = None,
    count: Annotated[int, typer.Option("--count", min=10, help="guides in the bundle")] = 2000,
    alerts: Annotated[int, typer.Option("--alerts", min=1, help="emergencies timed end to end")] = 5,
) -> None:
    """Publish and sync a bundle of COUNT real guides through a TUF repository served on
    127.0.0.1: times, bytes after a one-guide change, query latency during a sync against idle,
    and an emergency alert from the resident's words to a stand-in WeCom robot on 127.0.0.1."""
    from appliance.bench_sync import run

    out.print(f"machine: {_machine()}")
    guides = guides or guangdong_guides()
    if not guides.is_file():
        out.print(f"no guides at {guides}: pass --guides (the shared data's guangdong_services.jsonl)")
        raise typer.Exit(1)
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-sync-") as tmp:
        run(guides, Path(tmp), lambda line: out.print(line, markup=False), guides=count, alerts=alerts)


@app.command("service")
def service(
    real: Annotated[
        Path | None,
        typer.Option(
            "--real",
            help="a folder of real models as ../shared/models/get-real-models lays it out "
            "(default: $KIOSK_REAL_MODELS or ~/.cache/kiosk-real-models when there)",
        ),
    ] = None,
    boots: Annotated[int, typer.Option(min=1, help="starts per configuration (the first builds the demo base)")] = 2,
) -> None:
    """The appliance as systemd runs it, under a stand-in notify socket: time from process start
    to READY=1 and memory at READY, with no models, the tiny synthetic ones and the real ones;
    then time from a hung answer worker to the last watchdog ping and to systemd's restart."""
    from appliance.bench_service import run

    if real is None:
        default = Path(os.environ.get("KIOSK_REAL_MODELS", Path.home() / ".cache" / "kiosk-real-models"))
        real = default if default.is_dir() else None
    elif not real.is_dir():
        out.print(f"no folder of models at {real}")
        raise typer.Exit(1)
    out.print(f"machine: {_machine()}")
    if real is None:
        out.print("no real models (run ../shared/models/get-real-models, or give --real DIR): measuring without them")
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-svc-") as tmp:
        run(Path(tmp), lambda line: out.print(line, markup=False), real=real, boots=boots)
