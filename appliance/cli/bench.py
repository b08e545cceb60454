"""``kiosk bench``: benchmarks that print measured figures."""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from appliance.cli.common import out, settings, user_errors

app = typer.Typer(help="Benchmarks that print figures measured on this machine.", no_args_is_help=True)

DEFAULT_SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "kb" / "guangdong_services.jsonl"


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


@app.command()
def retrieval(
    ctx: typer.Context,
    sizes: Annotated[
        str, typer.Option(help="synthetic knowledge-base sizes, sections, comma-separated")
    ] = "1000,10000,100000",
    guangdong: Annotated[
        Path | None, typer.Option(help="Guangdong guides JSONL (default: ../shared/data/kb/...)")
    ] = None,
    hybrid: Annotated[bool, typer.Option(help="also time hybrid retrieval (512-dim hashing embedder)")] = True,
    cold_start_runs: Annotated[int, typer.Option(help="fresh `kiosk ask` processes to time (0: skip)")] = 5,
) -> None:
    """Ingest throughput, query latency p50/p95 and cold start of `kiosk ask`.

    At each synthetic size and on the real Guangdong guides. Targets on a 2-core machine: p95 ≤ 20 ms
    lexical and ≤ 50 ms hybrid at 10k sections; cold start ≤ 1.5 s without an LLM.
    """
    from appliance import bench
    from appliance.bootstrap import load_site_for, make_analyzer

    s = settings(ctx)
    with user_errors():
        analyzer = make_analyzer(s, load_site_for(s))
        queries = bench.demo_queries()
    size_list = [int(x) for x in sizes.split(",") if x.strip()]
    shared = guangdong or DEFAULT_SHARED
    out.print(f"machine: {_machine()}\nqueries: {len(queries)} demo evaluation questions")

    def report(f: bench.Figures) -> None:
        out.print(
            f"  {f.label} {f.mode}: {f.sections:,} sections, ingest {f.ingest_s:.1f} s "
            f"({f.docs_per_s:.0f} guides/s), p50 {f.p50_ms:.2f} ms, p95 {f.p95_ms:.2f} ms"
        )

    with tempfile.TemporaryDirectory(prefix="kiosk-bench-") as tmp:
        work = Path(tmp)
        bench.bench_scale(analyzer, size_list, queries, work, shared if shared.is_file() else None, report, hybrid)
        if shared.is_file():
            hit = bench.bench_guangdong(analyzer, shared, work, report)
            out.print(f"  Guangdong: title-paraphrase hit@1 {hit:.3f}")
        else:
            out.print(f"  Guangdong guides not found at {shared}: skipped")
    _embedding_time(s, queries)
    if cold_start_runs:
        times = bench.cold_start(cold_start_runs)
        out.print(f"cold start of `kiosk ask` (no LLM), min / median / max: {bench.statistics_line(times)}")


DEFAULT_SPEECH = DEFAULT_SHARED.parents[1] / "speech"


@app.command()
def voice(
    ctx: typer.Context,
    speech: Annotated[
        Path | None, typer.Option(help="folder of WAV recordings (default: ../shared/data/speech)")
    ] = None,
    barge_in_trials: Annotated[int, typer.Option(help="real-time barge-in trials (0: skip)")] = 3,
    no_llm: Annotated[bool, typer.Option("--no-llm", help="answer extractively even if an LLM is installed")] = False,
) -> None:
    """The voice pipeline on real recordings: per-stage times from the end of speech, pipeline
    overhead, VAD cost and barge-in latency, with the installed models.

    Targets: overhead ≤ 30 ms per turn; first audio before the LLM finishes; barge-in stops the
    audio ≤ 150 ms after the speech onset is detected.
    """
    from appliance import bench_voice as bv
    from appliance.bootstrap import VoiceUnavailable, build_appliance, load_voice_models
    from appliance.cli.common import fail, note

    s = settings(ctx)
    folder = speech or DEFAULT_SPEECH
    files = bv.recordings(folder) if folder.is_dir() else []
    if not files:
        fail(f"no recordings (*.wav) in {folder}; give --speech DIR")
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
        keys = ("endpoint", "asr", "first_token", "first_audio", "llm_done", "total", "overhead")
        out.print("  " + f"{'recording':42s}" + "".join(f"{k:>12s}" for k in keys) + "  answer")
        results: list = []
        for path in files:
            turns = bv.run_file(appliance, models, path)
            for r in turns:
                t = r.timings
                cells = "".join(f"{getattr(t, k):12.0f}" if getattr(t, k) is not None else f"{'-':>12s}" for k in keys)
                what = (
                    r.transcript.dropped
                    if r.transcript and r.transcript.dropped
                    else (f"{r.answer.mode}/{r.answer.generator}" if r.answer else "-")
                )
                out.print(f"  {path.name[:40] + f'#{r.turn_id}':42s}{cells}  {what}", markup=False)
            results += turns
        answered = [r for r in results if r.answer is not None]
        out.print(f"turns: {len(results)} ({len(answered)} answered) in {len(files)} recordings")
        for k in ("asr", "first_audio", "total", "overhead"):
            vals = [getattr(r.timings, k) for r in answered if getattr(r.timings, k) is not None]
            out.print(f"  {k:12s} median / p95 / max: {bv.summarise(vals)} ms")
        for k in ("asr_model", "tts_model", "llm_model", "retrieval"):
            vals = [getattr(r.timings, k) for r in answered]
            out.print(f"  inside {k:10s} median / p95 / max: {bv.summarise(vals, lambda v: f'{v:.1f}')} ms")
        streamed = [r for r in answered if r.answer.generator == "llm" and r.timings.first_audio is not None]
        if streamed:
            early = sum(r.timings.first_audio < r.timings.llm_done for r in streamed)
            out.print(f"  first audio before the LLM finished: {early} of {len(streamed)} LLM turns")
        else:
            out.print(
                "  first audio vs LLM finish: no answer was written by the LLM (none installed, or its "
                "text failed the grounding checks and the extractive answer was spoken)"
            )
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
