"""``kiosk ask`` (one question, or one per stdin line) and ``kiosk run --text`` (a conversation)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from appliance.answer.types import Answer
from appliance.cli.batch import Batch
from appliance.cli.common import (
    JSON_OPTION,
    KB_OPTION,
    as_service,
    fail,
    notify_staff,
    open_appliance,
    out,
    print_json,
    report_health,
    settings,
    start_body,
    syncing,
)
from appliance.knowledge.text import detect_lang

MODE_LABELS = {
    "zh": {"emergency": "紧急情况", "handoff": "转工作人员", "no_answer": "没有找到答案", "answer": ""},
    "en": {"emergency": "EMERGENCY", "handoff": "handed to staff", "no_answer": "no answer found", "answer": ""},
}


def print_sources(answer: Answer) -> None:
    """The answer's sources: title, section and file, one guide per line."""
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


def _print_footer(answer: Answer) -> None:
    """Sources (title, section, file) and the mode, generator and timings, after the answer text."""
    print_sources(answer)
    timings = " ".join(f"{k}={v:.0f}ms" for k, v in answer.timings_ms.items())
    out.print(f"[dim]{answer.mode}/{answer.generator} {timings}[/]", markup=True)


def _print_mode(mode: str, lang: str) -> None:
    tag = MODE_LABELS["en" if lang == "en" else "zh"].get(mode, "")
    if tag:
        colour = "bold red" if mode == "emergency" else "yellow"
        out.print(f"[{colour}][{tag}][/]", markup=True)


def _ask_streaming(engine, question: str, session=None, on_event=None, turn_id: int = 0) -> Answer:
    """Ask, printing the mode as soon as it is decided and the text as it is released.

    With a session (``kiosk run --text``), follow-ups are resolved against the previous topic.
    ``on_event`` receives the conversation's ModeDecided and Speaking events (the robot's body).
    """
    from appliance.conversation import ModeDecided, Speaking

    lang = detect_lang(question)
    streamed = False
    emit = on_event or (lambda event: None)

    def show(text: str) -> None:
        nonlocal streamed
        streamed = True
        emit(Speaking(turn_id, text))
        sys.stdout.write(text)
        sys.stdout.flush()

    def on_mode(mode: str) -> None:
        emit(ModeDecided(turn_id, mode))
        _print_mode(mode, lang)

    if session is None:
        answer = engine.ask(question, on_text=show, on_mode=on_mode)
    else:
        answer, query = session.ask(question, on_text=show, on_mode=on_mode)
        session.add(answer, answer.answer)
        if query and answer.generator != "scripted":  # a greeting or an emergency searched nothing
            out.print(f"[dim](follow-up, searched as: {escape(query)})[/]", markup=True)
    if streamed:
        sys.stdout.write("\n")
    _print_footer(answer)
    return answer


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
                _ask_streaming(appliance.engine, line.text)
    batch.finish()


def run(
    ctx: typer.Context,
    text: Annotated[
        bool, typer.Option("--text", help="a conversation in the terminal: type questions, read answers")
    ] = False,
    no_ui: Annotated[
        bool, typer.Option("--no-ui", help="the voice loop without the touchscreen: microphone and speaker")
    ] = False,
    audio_in: Annotated[
        Path | None,
        typer.Option("--audio-in", help="with --no-ui: take the resident's speech from this audio file (WAV, FLAC …)"),
    ] = None,
    audio_out: Annotated[
        Path | None, typer.Option("--audio-out", help="with --no-ui: write the spoken answers to this WAV file")
    ] = None,
    kb: Annotated[Path | None, KB_OPTION] = None,
    no_llm: Annotated[bool, typer.Option("--no-llm", help="answer extractively even if an LLM is installed")] = False,
    as_json: Annotated[bool, JSON_OPTION] = False,
    robot: Annotated[
        str | None,
        typer.Option(
            "--robot", help="the body: a port (see `kiosk robot --help`), 'sim' or 'none' (default: [robot] port)"
        ),
    ] = None,
    windowed: Annotated[
        bool, typer.Option("--windowed", help="the touchscreen in a window of [ui] width x height, not full screen")
    ] = False,
    exit_after: Annotated[
        float | None,
        typer.Option("--exit-after", help="close the touchscreen after this many seconds (smoke tests)", hidden=True),
    ] = None,
) -> None:
    """Run the appliance: the touchscreen with the voice loop and the robot (no flags), the voice
    loop alone (--no-ui) or a terminal conversation (--text).

    Without a microphone, speaker or speech models the touchscreen works by touch and typing and
    says so on screen. Staff mode needs a PIN (`kiosk staff set-pin`).

    --no-ui listens on the configured microphone and answers on the speaker; with --audio-in it
    answers the turns in a file instead and prints, per turn, the transcript, the answer, its
    sources and the timings from the end of speech (ms). A missing speech model is reported with
    the `kiosk models` command that installs it. --robot connects the body; without a controller
    the appliance runs on without one (degraded mode) and keeps trying to reconnect.
    """
    if (audio_in or audio_out) and not no_ui:
        fail("--audio-in and --audio-out belong to the voice loop: add --no-ui")
    if no_ui:
        from appliance.cli.voice import run_voice

        run_voice(ctx, audio_in, audio_out, kb, no_llm, as_json, robot)
        return
    if not text:
        from appliance.cli.ui import run_ui

        run_ui(ctx, kb, no_llm, robot, windowed, exit_after)
        return
    from appliance.conversation import Heard, SessionEnded, TurnDone, TurnResult, UserSpeaking
    from appliance.dialogue import Session
    from voice.asr import Transcript

    appliance = open_appliance(ctx, kb, no_llm, serving=True)
    with (
        appliance,
        notify_staff(appliance),
        syncing(appliance),
        start_body(ctx, robot, appliance.settings.language) as body,
        as_service(appliance, body) as service,
        report_health(ctx, appliance, body, service.liveness),
    ):
        emit = body.handle if body is not None else (lambda event: None)
        site = appliance.site
        engine = appliance.engine
        cfg = settings(ctx)
        session = Session(engine, cfg.conversation.session_timeout_s, cfg.conversation.history_turns)
        greeting = engine.scripts.text("greeting", cfg.language)
        out.print(
            f"[bold]{site.name}[/]  [dim](kb v{appliance.kb.version}; 输入 exit 或按 Ctrl-D 结束)[/]", markup=True
        )
        out.print(greeting, markup=False)
        interactive = sys.stdin.isatty()
        service.ready(f"answering typed questions (kb v{appliance.kb.version})")
        turn = 0
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
            turn += 1
            if not interactive:
                out.print(f"[bold]您：[/]{q}", markup=True)
            emit(UserSpeaking(time.monotonic()))
            emit(Heard(turn, Transcript(q, detect_lang(q), 1.0)))
            out.print("[bold]助手：[/]", markup=True)
            answer = _ask_streaming(engine, q, session, emit, turn)
            emit(TurnDone(TurnResult(turn, answer=answer, heard=answer.answer)))
            if body is not None:
                body.drain()
        emit(SessionEnded(session.number))
