"""``kiosk ask``: one question, or one per line of stdin, answered with its sources."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from appliance.cli.batch import Batch
from appliance.cli.common import (
    JSON_OPTION,
    KB_OPTION,
    open_appliance,
    out,
    print_json,
)
from appliance.cli.printing import stream_answer


def ask(
    ctx: typer.Context,
    question: Annotated[
        str, typer.Argument(metavar="QUESTION", help="the question; '-' reads one question per line from stdin")
    ],
    kb: Annotated[Path | None, KB_OPTION] = None,
    as_json: Annotated[bool, JSON_OPTION] = False,
    no_llm: Annotated[bool, typer.Option("--no-llm", help="answer extractively even if an LLM is installed")] = False,
) -> None:
    """Answer a resident's question from the knowledge base, with its sources.

    JSON output (one line per question): {"question", "answer", "mode", "generator", "sources":
    [{"doc_id", "title", "section", "source"}], "timings_ms", "lang", "confidence", "reason",
    "suggestions"}. mode is answer, emergency, handoff or no_answer; generator is llm, extractive
    or scripted.

    With '-', a line that cannot be answered (nothing left once undecodable bytes and control
    characters are dropped, or its answer failed) gives {"line", "question", "error"} (without
    --json: one line on stderr) and the batch goes on; exit code 1 after the last line when any
    line failed.
    """
    batch = Batch(question, "question", as_json)
    with open_appliance(ctx, kb, no_llm) as appliance:
        for line in batch:
            with batch.guard(line):
                if as_json:
                    print_json(appliance.engine.ask(line.text).to_json())
                    continue
                if batch.from_stdin:
                    out.print(f"[bold]? {escape(line.text)}[/]", markup=True)
                stream_answer(appliance.engine, line.text)
    batch.finish()
