"""``kiosk deploy``: the device files written from the settings (``deploy/install`` calls these)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from appliance.cli.common import fail, note, out, settings

app = typer.Typer(
    help="Files for a device, written from the settings (deploy/install runs these).", no_args_is_help=True
)

WRITE_OPTION = typer.Option("--write", help="write into this folder (default: print)")


def _write(folder: Path, name: str, text: str, mode: int = 0o644) -> Path:
    """Write ``folder/name`` atomically (a temporary file, then rename) with ``mode``."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, mode)
    target = folder / name
    os.replace(tmp, target)
    return target


@app.command("udev-rule")
def udev_rule(
    ctx: typer.Context,
    usb: Annotated[str | None, typer.Option("--usb", help="VID:PID[:SERIAL] in hex (default: [robot] usb_id)")] = None,
    write: Annotated[Path | None, WRITE_OPTION] = None,
) -> None:
    """The udev rule that names the robot's controller /dev/kiosk-robot (group dialout, mode 0660)
    and keeps ModemManager off it. `kiosk robot ports` shows the ids of what is plugged in."""
    from appliance.device.udev import RULE_FILE, UsbId
    from appliance.device.udev import udev_rule as render

    spec = usb or settings(ctx).robot.usb_id
    if not spec:
        fail('no controller id: set [robot] usb_id = "VID:PID[:SERIAL]" or give --usb (see `kiosk robot ports`)')
    try:
        text = render(UsbId.parse(spec))
    except ValueError as exc:
        fail(str(exc))
    if write is None:
        out.print(text, end="", markup=False, highlight=False)
        return
    out.print(f"wrote {_write(write, RULE_FILE, text)}")


@app.command("display")
def display(
    ctx: typer.Context,
    kind: Annotated[
        str, typer.Option("--display", help="weston (own compositor unit), cage, eglfs (no compositor) or none")
    ] = "weston",
    nvidia: Annotated[bool, typer.Option("--nvidia", help="a Jetson: eglfs through NVIDIA's EGLDevice")] = False,
    write: Annotated[Path | None, WRITE_OPTION] = None,
) -> None:
    """The touchscreen's display files from [ui] rotation and [ui] output: display.env (the
    environment of kiosk.service) and, for weston, weston.ini. See appliance/device/display.py."""
    from appliance.device.display import display_files

    ui = settings(ctx).ui
    try:
        files = display_files(kind, ui.rotation, ui.output, nvidia=nvidia)
    except ValueError as exc:
        fail(str(exc))
    for w in files.warnings:
        note(w)
    if write is None:
        out.print("# display.env", markup=False)
        out.print(files.env_text(), end="", markup=False, highlight=False)
        if files.weston_ini:
            out.print("# weston.ini", markup=False)
            out.print(files.weston_ini, end="", markup=False, highlight=False)
        return
    out.print(f"wrote {_write(write, 'display.env', files.env_text())}")
    if files.weston_ini:
        out.print(f"wrote {_write(write, 'weston.ini', files.weston_ini)}")


def doctor(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object (for remote checks)")] = False,
    no_audio: Annotated[
        bool, typer.Option("--no-audio", help="do not record from the microphone or play the chime")
    ] = False,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="only the checks whose name starts with this (repeatable)")
    ] = None,
) -> None:
    """Check this box for the kiosk, one line each with ok / warn / fail and the fix: Python and
    SQLite with sqlite-vec, disk, memory, clock, network, the street office's repository, the
    knowledge base, each model (sha256), GPU, microphone (2 s: level and clipping), speaker (a
    chime), display, touch, robot controller (HELLO, versions, e-stop) and the service (state,
    last restart's reason). Exit 1 when anything fails."""
    from rich.markup import escape

    from appliance.device.doctor import FAIL, OK, run_checks
    from appliance.device.doctor import as_json as to_json

    findings = run_checks(settings(ctx), audio=not no_audio, only=set(only) if only else None)
    if as_json:
        print(to_json(findings))
    else:
        colour = {OK: "green", "warn": "yellow", FAIL: "red"}
        width = max((len(f.check) for f in findings), default=10)
        for f in findings:
            line = f"[{colour[f.status]}]{f.status:4s}[/] {f.check:{width}s}  {escape(f.detail)}"
            if f.fix:
                line += f"\n     {'':{width}s}  [dim]fix: {escape(f.fix)}[/]"
            out.print(line, markup=True, highlight=False, soft_wrap=True)
    if any(f.status == FAIL for f in findings):
        raise typer.Exit(1)
