"""``kiosk config`` and ``kiosk journal``: what a field engineer and staff look at."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from appliance.cli.common import fail, out, print_json, settings, user_errors

config_app = typer.Typer(help="Show the effective settings.", no_args_is_help=True)
journal_app = typer.Typer(help="Read the journal: recent questions, handoffs, gaps and alerts.", no_args_is_help=True)


@config_app.command("show")
def show(ctx: typer.Context) -> None:
    """Print the effective settings and the files in use.

    The settings shown are after the TOML file and KIOSK_* variables are applied.
    """
    from appliance.config import config_file_in_use
    from appliance.site import site_file_in_use

    s = settings(ctx)
    with user_errors():
        cfg = config_file_in_use(None)
    data = json.loads(s.model_dump_json())
    data["_files"] = {
        "config": str(cfg) if cfg else None,
        "site": str(site_file_in_use(s)),
        "kb": str(s.kb_file),
        "journal": str(s.journal_file),
        "models": str(s.models_path),
    }
    out.print_json(json.dumps(data, ensure_ascii=False))


@journal_app.command("show")
def journal_show(
    ctx: typer.Context,
    table: Annotated[str, typer.Argument(help="turns, handoffs, gaps or alerts")] = "turns",
    limit: Annotated[int, typer.Option("-n", help="how many, newest first", min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False,
) -> None:
    """Show the newest journal rows (questions are stored with personal numbers redacted)."""
    from appliance.journal import Journal

    s = settings(ctx)
    if not s.journal_file.is_file():
        fail(f"no journal yet at {s.journal_file}")
    journal = Journal(s.journal_file)
    try:
        with user_errors():
            rows = journal.rows(table, limit)
    finally:
        journal.close()
    if as_json:
        for r in rows:
            print_json(r)
        return
    if not rows:
        out.print(f"no {table} yet")
        return
    cols = [c for c in rows[0] if c not in ("sources", "timings", "answer")]
    t = Table(*cols, title=f"{table} ({s.journal_file})")
    for r in rows:
        t.add_row(*(str(r[c]) if r[c] is not None else "" for c in cols))
    out.print(t)
