"""The ``kiosk`` command: one entry point for residents' front ends, staff and field engineers."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from appliance.cli import ask, bench, deploy, kb, models, outbox, robot, run, staff, sync, system, tours, ui, voice
from appliance.cli.common import fail
from appliance.config import ConfigError, load_settings

app = typer.Typer(
    name="kiosk",
    help="Offline reception assistant for a community service centre: knowledge base, answers, models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: "[robot] port" and "[ui] width" stay as written (rich markup would eat them),
    # no "<bool>" metavars, and click's own wrapping.
    rich_markup_mode=None,
)
app.add_typer(kb.app, name="kb")
app.add_typer(models.app, name="models")
app.add_typer(bench.app, name="bench")
app.add_typer(system.config_app, name="config")
app.add_typer(system.journal_app, name="journal")
app.add_typer(voice.audio_app, name="audio")
app.add_typer(robot.app, name="robot")
app.add_typer(tours.app, name="tours")
app.add_typer(staff.app, name="staff")
app.add_typer(ui.app, name="ui")
app.add_typer(outbox.app, name="outbox")
app.add_typer(deploy.app, name="deploy")
app.command("ask")(ask.ask)
app.command("run")(run.run)
app.command("health")(system.health)
app.command("doctor")(deploy.doctor)
app.command("publish")(sync.publish)
app.command("sync")(sync.sync)


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML settings file (overrides /etc/kiosk and ~/.config)")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log what happens (to stderr)")] = False,
) -> None:
    """Offline reception assistant for a community service centre."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        ctx.obj = load_settings(config)
    except ConfigError as exc:
        fail(str(exc))


def main() -> None:
    """Console-script entry point."""
    app()
