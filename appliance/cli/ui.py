"""``kiosk run`` (the full appliance: touchscreen, voice loop, robot) and ``kiosk ui screenshots``."""

from __future__ import annotations

import contextlib
import signal
import time
from pathlib import Path
from typing import Annotated

import typer

from appliance.cli.common import (
    as_service,
    fail,
    note,
    notify_staff,
    open_appliance,
    out,
    report_health,
    settings,
    start_body,
    syncing,
    user_errors,
)

app = typer.Typer(help="The touchscreen.", no_args_is_help=True)


def _start_voice(appliance, stack: contextlib.ExitStack):
    """(models, source, sink) for the voice loop, or the reason there is none."""
    from appliance.bootstrap import VoiceUnavailable, load_voice_models
    from voice.audio import AudioError
    from voice.devices import MicrophoneSource, SpeakerSink

    cfg = appliance.settings
    try:
        models = load_voice_models(appliance)
        source = MicrophoneSource(cfg.audio.input_device, cfg.audio.capture_rate)
        stack.callback(source.close)
        sink = SpeakerSink(models.voices.sample_rate, cfg.audio.output_device, cfg.audio.output_block)
        stack.callback(sink.close)
    except (VoiceUnavailable, AudioError) as exc:
        return None, str(exc)
    return (models, source, sink), None


def run_ui(
    ctx: typer.Context,
    kb: Path | None,
    no_llm: bool,
    robot: str | None,
    windowed: bool,
    exit_after: float | None = None,
) -> None:
    """The full appliance: the touchscreen, the voice loop when audio and models are there (else
    touch and typing only, with a notice on screen), and the robot's body."""
    from appliance.bootstrap import build_conversation
    from appliance.dialogue import Session
    from appliance.network import NetworkProbe
    from appliance.service import BeatingSource, Heartbeat
    from appliance.staff import PinLock
    from appliance.text_conversation import TextConversation
    from appliance.voice_thread import VoiceThread
    from ui.app import KioskUI, UIError, application
    from ui.services import KioskServices

    cfg = settings(ctx)
    with open_appliance(ctx, kb, no_llm, serving=True) as appliance, contextlib.ExitStack() as stack:
        voice, voice_note = _start_voice(appliance, stack)
        if voice_note:
            note(f"voice is off, the screen works by touch and typing: {voice_note}")
        sink = voice[2] if voice else None
        window = (lambda: sink.reference(time.monotonic() - 0.04, time.monotonic())) if sink is not None else None
        body = stack.enter_context(start_body(ctx, robot, cfg.language, audio_window=window))
        sender = stack.enter_context(notify_staff(appliance))
        stack.enter_context(syncing(appliance))
        service = stack.enter_context(as_service(appliance, body, sender))
        stack.enter_context(report_health(ctx, appliance, body, service.liveness))

        targets: list = []

        def on_event(event) -> None:  # any thread
            for target in targets:
                target(event)

        if voice:
            models, source, _ = voice
            for n in models.notes:
                note(n)
            conversation = build_conversation(appliance, models, sink, on_event)
            responder = conversation
        else:
            session = Session(appliance.engine, cfg.conversation.session_timeout_s, cfg.conversation.history_turns)
            responder = stack.enter_context(TextConversation(session, on_event, cfg.ui.reading_cps))
        services = KioskServices(
            settings=cfg,
            site=appliance.site,
            kb=appliance.kb,
            journal=appliance.journal,
            responder=responder,
            voice=voice is not None,
            voice_note=voice_note,
            body=body,
            sink=sink,  # the staff volume control sets its gain
            pin=PinLock.from_settings(cfg),
            network=NetworkProbe(cfg.network),
        )
        if not services.pin.is_set:
            note("no staff PIN is set: staff mode stays closed until `kiosk staff set-pin`")
        application()
        try:
            ui = KioskUI(
                services,
                fullscreen=cfg.ui.fullscreen and not windowed,
                size=(cfg.ui.width, cfg.ui.height),
                language=cfg.language,
                hide_cursor=cfg.ui.hide_cursor and cfg.ui.fullscreen and not windowed,
            )
        except UIError as exc:
            fail(str(exc))
        stack.callback(ui.close)
        appliance.on_kb_swapped.append(ui.kb_swapped)  # a synced knowledge base, taken over between conversations
        if body is not None:
            targets.append(body.handle)
        targets.append(ui.on_event)
        if voice:
            voice_beat = service.liveness.add(Heartbeat("voice loop", cfg.service.voice_limit_s, always=True))
            thread = VoiceThread(
                conversation, BeatingSource(source, voice_beat), on_error=lambda msg: ui.bridge.post(lambda: note(msg))
            )
            stack.callback(thread.close)
            thread.start()
        out.print(
            f"[bold]{appliance.site.name}[/]  [dim]touchscreen running (kb v{appliance.kb.version}); Ctrl-C to stop[/]",
            markup=True,
        )
        # Qt's event loop keeps Python from seeing Ctrl-C: poll for it.
        signal.signal(signal.SIGINT, lambda *a: ui.app.quit())
        signal.signal(signal.SIGTERM, lambda *a: ui.app.quit())
        from PySide6.QtCore import QTimer

        # The same timer is the GUI thread's heartbeat for the service watchdog.
        gui_beat = service.liveness.add(Heartbeat("touchscreen", cfg.service.ui_limit_s, always=True))
        tick = QTimer()
        tick.timeout.connect(gui_beat.beat)
        tick.start(200)
        QTimer.singleShot(
            0, lambda: service.ready(f"serving (kb v{appliance.kb.version}, voice {'on' if voice else 'off'})")
        )
        if exit_after is not None:
            QTimer.singleShot(int(exit_after * 1000), ui.app.quit)
        ui.app.exec()


@app.command("screenshots")
def screenshots(
    ctx: typer.Context,
    out_dir: Annotated[Path, typer.Argument(metavar="OUT_DIR", help="folder for the PNG files (created)")],
    lang: Annotated[list[str] | None, typer.Option("--lang", help="zh and/or en (default: both)")] = None,
    size: Annotated[
        list[str] | None,
        typer.Option(
            "--size", help="NAME=WxH, e.g. landscape=1920x1080 (default: 1080p and 800x1280, both orientations)"
        ),
    ] = None,
    screen: Annotated[list[str] | None, typer.Option("--screen", help="only these screens (default: all)")] = None,
    llm: Annotated[bool, typer.Option("--llm", help="answer with the installed LLM (default: extractive)")] = False,
) -> None:
    """Render every screen, in both orientations and both languages, with the demo knowledge base's
    real content, to PNG files: OUT_DIR/<size>-<lang>-<screen>.png. No display is needed. Text that
    runs out of its box or card, is cut, or overlaps another item is listed, and the exit status
    is 1."""
    from ui.screenshots import SCREENS, SIZES, ScreenshotError, render_screenshots

    sizes = dict(SIZES)
    if size:
        sizes = {}
        for spec in size:
            name, _, dims = spec.partition("=")
            try:
                w, h = (int(x) for x in dims.lower().split("x"))
            except ValueError:
                fail(f"--size {spec!r}: give NAME=WIDTHxHEIGHT, e.g. portrait=800x1280")
            sizes[name] = (w, h)
    langs = lang or ["zh", "en"]
    if bad := [x for x in langs if x not in ("zh", "en")]:
        fail(f"unknown language {bad[0]!r}: zh or en")
    screens = screen or list(SCREENS)
    if bad := [x for x in screens if x not in SCREENS]:
        fail(f"unknown screen {bad[0]!r}: one of {', '.join(SCREENS)}")
    try:
        with user_errors():
            written = render_screenshots(settings(ctx), out_dir, sizes, langs, screens, use_llm=llm, progress=out.print)
    except ScreenshotError as exc:
        fail(str(exc))
    out.print(f"wrote {len(written)} screenshots to {out_dir}")
    if misfits := [shot for shot in written if shot.faults]:
        n = sum(len(shot.faults) for shot in misfits)
        fail(
            f"{n} texts do not fit on {len(misfits)} screens (listed above): see ui/layout.py for what is checked",
            code=1,
        )
