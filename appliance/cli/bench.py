"""``kiosk bench``: benchmarks that print measured figures."""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Annotated

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
