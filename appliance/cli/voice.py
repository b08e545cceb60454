"""``kiosk run --no-ui`` (the voice loop) and ``kiosk audio devices``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from appliance.cli.common import (
    JSON_OPTION,
    as_service,
    fail,
    note,
    notify_staff,
    open_appliance,
    out,
    print_json,
    report_health,
    settings,
    start_body,
    syncing,
)

audio_app = typer.Typer(help="Sound devices.", no_args_is_help=True)


@audio_app.command("devices")
def devices(as_json: Annotated[bool, JSON_OPTION] = False) -> None:
    """List the microphones and speakers PortAudio sees (use a name or index in [audio])."""
    from dataclasses import asdict

    from voice.audio import AudioError
    from voice.devices import list_devices

    try:
        found = list_devices()
    except AudioError as exc:
        fail(str(exc))
    if as_json:
        print_json([asdict(d) for d in found])
        return
    if not found:
        out.print("no audio devices found")
        return
    for d in found:
        marks = ("in " if d.default_input else "") + ("out" if d.default_output else "")
        out.print(
            f"{d.index:3d}  {d.name}  [dim]{d.host_api}, in {d.max_input_channels} / out {d.max_output_channels} ch, "
            f"{d.default_samplerate:.0f} Hz[/] {('default ' + marks) if marks else ''}",
            markup=True,
        )


def _print_turn(result, as_json: bool) -> None:
    """One finished turn: what was heard, the answer, its sources and the timings."""
    from appliance.cli.printing import print_sources

    if as_json:
        print_json(
            {
                "turn": result.turn_id,
                "transcript": result.transcript.text if result.transcript else None,
                "language": result.transcript.language if result.transcript else None,
                "dropped": result.transcript.dropped if result.transcript else None,
                "query": result.query,
                "answer": result.answer.to_json() if result.answer else None,
                "heard": result.heard,
                "interrupted": result.interrupted,
                "timings_ms": result.timings.as_dict(),
            }
        )
        return
    t = result.transcript
    if t is None:
        return
    if t.dropped:
        out.print(f"[dim]turn {result.turn_id}: not answered ({t.dropped})[/]", markup=True)
        return
    out.print(f"[bold]您：[/]{t.text}  [dim]({t.language} {t.language_prob:.2f})[/]", markup=True)
    a = result.answer
    if a is None:
        return
    if result.query and a.generator != "scripted":  # a greeting or an emergency searched nothing
        out.print(f"[dim](follow-up, searched as: {escape(result.query)})[/]", markup=True)
    out.print("[bold]助手：[/]", markup=True, end="")
    out.print(a.answer if not result.interrupted else result.heard + "  [interrupted]", markup=False)
    print_sources(a)
    tm = result.timings
    keys = ("endpoint", "asr", "first_token", "first_text", "first_audio", "llm_done", "total", "overhead")
    figures = " ".join(f"{k}={getattr(tm, k):.0f}" for k in keys if getattr(tm, k) is not None)
    out.print(f"[dim]{a.mode}/{a.generator} ms from end of speech: {figures}[/]", markup=True)


def run_voice(
    ctx: typer.Context,
    audio_in: Path | None,
    audio_out: Path | None,
    kb: Path | None,
    no_llm: bool,
    as_json: bool,
    robot: str | None = None,
) -> None:
    """The voice loop on the configured devices, or on files (see ``kiosk run --help``)."""
    from appliance.bootstrap import VoiceUnavailable, build_conversation, load_voice_models
    from appliance.events import Listening, TurnDone
    from appliance.service import BeatingSource, Heartbeat
    from voice.audio import AudioError, WavFileSource
    from voice.devices import MicrophoneSource, SpeakerSink
    from voice.playback import WavFileSink

    cfg = settings(ctx)
    with open_appliance(ctx, kb, no_llm, serving=True) as appliance, contextlib.ExitStack() as stack:
        try:
            models = load_voice_models(appliance)
            source = (
                WavFileSource(audio_in)
                if audio_in
                else MicrophoneSource(cfg.audio.input_device, cfg.audio.capture_rate)
            )
            rate = models.voices.sample_rate
            if audio_out:
                sink = WavFileSink(audio_out, rate)
            elif audio_in:
                sink = WavFileSink(None, rate)
                note("answers are not played: give --audio-out FILE to write them")
            else:
                sink = SpeakerSink(rate, cfg.audio.output_device, cfg.audio.output_block)
        except (VoiceUnavailable, AudioError) as exc:
            fail(str(exc))
        stack.callback(sink.close)
        stack.callback(source.close)
        for n in models.notes:
            note(n)

        body = stack.enter_context(
            start_body(
                ctx, robot, cfg.language, audio_window=lambda: sink.reference(time.monotonic() - 0.04, time.monotonic())
            )
        )
        sender = stack.enter_context(notify_staff(appliance))
        stack.enter_context(syncing(appliance))
        service = stack.enter_context(as_service(appliance, body, sender))
        voice_beat = service.liveness.add(Heartbeat("voice loop", cfg.service.voice_limit_s, always=True))
        stack.enter_context(report_health(ctx, appliance, body, service.liveness))

        def on_event(event) -> None:
            if body is not None:
                body.handle(event)
            if isinstance(event, TurnDone):
                _print_turn(event.result, as_json)
            elif isinstance(event, Listening):
                service.ready(f"listening (kb v{appliance.kb.version})")
                if source.realtime and not as_json:
                    out.print("[dim]listening…[/]", markup=True)

        conversation = build_conversation(appliance, models, sink, on_event)
        try:
            results = asyncio.run(conversation.run(BeatingSource(source, voice_beat)))
        except KeyboardInterrupt:
            results = conversation.results
        except AudioError as exc:
            fail(str(exc))
        if audio_in and source.clipped_fraction > 0.001:
            note(f"{source.clipped_fraction:.1%} of the samples in {audio_in} are clipped (recorded too loud)")
        if audio_in and not results:
            note(f"no speech found in {audio_in}")
        if audio_out:
            sink.close()
            note(f"wrote {sink.seconds:.1f} s of answers to {audio_out}")
