"""``kiosk bench``: benchmarks that print measured figures."""

from __future__ import annotations

import os
import platform
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

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
    table = Table(
        "knowledge base", "mode", "sections", "guides", "ingest", "guides/s", "p50 ms", "p95 ms", title="Retrieval"
    )

    def report(f: bench.Figures) -> None:
        table.add_row(
            f.label,
            f.mode,
            f"{f.sections:,}",
            f"{f.docs:,}",
            f"{f.ingest_s:.1f} s" if f.ingest_s else "",
            f"{f.docs_per_s:.0f}" if f.docs_per_s else "",
            f"{f.p50_ms:.2f}",
            f"{f.p95_ms:.2f}",
        )
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
    out.print(table)
    if cold_start_runs:
        times = bench.cold_start(cold_start_runs)
        out.print(f"cold start of `kiosk ask` (no LLM), min / median / max: {bench.statistics_line(times)}")
