"""``kiosk ask`` (one question, or one per stdin line) and ``kiosk run --text`` (a conversation)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from appliance.answer.types import Answer
from appliance.cli.common import JSON_OPTION, KB_OPTION, fail, input_lines, note, out, print_json, settings, user_errors
from appliance.knowledge.text import detect_lang

MODE_LABELS = {
    "zh": {"emergency": "紧急情况", "handoff": "转工作人员", "no_answer": "没有找到答案", "answer": ""},
    "en": {"emergency": "EMERGENCY", "handoff": "handed to staff", "no_answer": "no answer found", "answer": ""},
}


def _print_footer(answer: Answer) -> None:
    """Sources (title, section, file) and the mode, generator and timings, after the answer text."""
    label = "Sources" if answer.lang == "en" else "来源"
    if answer.sources:
        seen: dict[tuple[str, str], None] = {}
        for s in answer.sources:
            seen.setdefault((s.title, s.section), None)
        out.print(f"[dim]{label}:[/]", markup=True)
        for title, section in seen:
            where = f" — {section}" if section and section != title else ""
            src = next(s.source for s in answer.sources if s.title == title)
            out.print(f"  《{title}》{where}  [dim]{src}[/]", markup=True)
    timings = " ".join(f"{k}={v:.0f}ms" for k, v in answer.timings_ms.items())
    out.print(f"[dim]{answer.mode}/{answer.generator} {timings}[/]", markup=True)


def _print_mode(mode: str, lang: str) -> None:
    tag = MODE_LABELS["en" if lang == "en" else "zh"].get(mode, "")
    if tag:
        colour = "bold red" if mode == "emergency" else "yellow"
        out.print(f"[{colour}][{tag}][/]", markup=True)


def _ask_streaming(engine, question: str) -> Answer:
    """Ask, printing the mode as soon as it is decided and the text as it is released."""
    lang = detect_lang(question)
    streamed = False

    def show(text: str) -> None:
        nonlocal streamed
        streamed = True
        sys.stdout.write(text)
        sys.stdout.flush()

    answer = engine.ask(question, on_text=show, on_mode=lambda mode: _print_mode(mode, lang))
    if streamed:
        sys.stdout.write("\n")
    _print_footer(answer)
    return answer


def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="the question; '-' reads one question per line from stdin")],
    kb: Annotated[Path | None, KB_OPTION] = None,
    as_json: Annotated[bool, JSON_OPTION] = False,
    no_llm: Annotated[bool, typer.Option("--no-llm", help="answer extractively even if an LLM is installed")] = False,
) -> None:
    """Answer a resident's question from the knowledge base, with its sources.

    JSON output (one line per question): {"question", "answer", "mode", "generator", "sources":
    [{"doc_id", "title", "section", "source"}], "timings_ms", "lang", "confidence", "reason",
    "suggestions"}. mode is answer, emergency, handoff or no_answer; generator is llm, extractive
    or scripted.
    """
    from appliance.bootstrap import build_appliance

    with user_errors():
        appliance = build_appliance(settings(ctx), kb_path=kb, use_llm=not no_llm)
    with appliance:
        for n in appliance.notes:
            note(n)
        for q in input_lines(question):
            if as_json:
                print_json(appliance.engine.ask(q).to_json())
                continue
            if question == "-":
                out.print(f"[bold]? {q}[/]", markup=True)
            _ask_streaming(appliance.engine, q)


def run(
    ctx: typer.Context,
    text: Annotated[
        bool, typer.Option("--text", help="a conversation in the terminal: type questions, read answers")
    ] = False,
    kb: Annotated[Path | None, KB_OPTION] = None,
    no_llm: Annotated[bool, typer.Option("--no-llm", help="answer extractively even if an LLM is installed")] = False,
) -> None:
    """Run the appliance (this version: the text front end, --text).

    The voice loop and the touchscreen, added by later releases, drive the same engine.
    """
    if not text:
        fail("this version runs the text front end only: use `kiosk run --text`")
    from appliance.bootstrap import build_appliance

    with user_errors():
        appliance = build_appliance(settings(ctx), kb_path=kb, use_llm=not no_llm)
    with appliance:
        for n in appliance.notes:
            note(n)
        site = appliance.site
        engine = appliance.engine
        greeting = engine.scripts.text("greeting", settings(ctx).language)
        out.print(
            f"[bold]{site.name}[/]  [dim](kb v{appliance.kb.version}; 输入 exit 或按 Ctrl-D 结束)[/]", markup=True
        )
        out.print(greeting, markup=False)
        interactive = sys.stdin.isatty()
        while True:
            try:
                q = input("您：" if interactive else "")
            except (EOFError, KeyboardInterrupt):
                out.print()
                break
            if q.strip().lower() in ("exit", "quit", "退出", "再见啦"):
                break
            if not q.strip():
                continue
            if not interactive:
                out.print(f"[bold]您：[/]{q}", markup=True)
            out.print("[bold]助手：[/]", markup=True)
            _ask_streaming(engine, q)
