"""``kiosk run``: the full appliance (touchscreen, voice loop, robot), the voice loop alone
(``--no-ui``) or a conversation in the terminal (``--text``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from appliance.cli.common import (
    JSON_OPTION,
    KB_OPTION,
    as_service,
    fail,
    notify_staff,
    open_appliance,
    out,
    report_health,
    settings,
    start_body,
    syncing,
)
from appliance.cli.printing import stream_answer
from appliance.knowledge.text import detect_lang


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
    from appliance.dialogue import Session
    from appliance.events import Heard, SessionEnded, TurnDone, TurnResult, UserSpeaking
    from voice.asr import Transcript

    appliance = open_appliance(ctx, kb, no_llm, serving=True)
    with (
        appliance,
        notify_staff(appliance) as sender,
        syncing(appliance),
        start_body(ctx, robot, appliance.settings.language) as body,
        as_service(appliance, body, sender) as service,
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
            answer = stream_answer(engine, q, session, emit, turn)
            emit(TurnDone(TurnResult(turn, answer=answer, heard=answer.answer)))
            if body is not None:
                body.drain()
        emit(SessionEnded(session.number))
