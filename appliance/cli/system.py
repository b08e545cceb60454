"""``kiosk config`` and ``kiosk journal``: what a field engineer and staff look at."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.text import Text

from appliance.cli.common import folded_table, open_journal_file, out, print_json, safe_text, settings, user_errors

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


def _cell(value: object) -> str:
    """A journal value as shown in the table: numbers like confidences to 3 decimals."""
    return f"{value:.3f}" if isinstance(value, float) else str(value)


@journal_app.command("show")
def journal_show(
    ctx: typer.Context,
    table: Annotated[
        str, typer.Argument(metavar="TABLE", help="turns, handoffs, gaps, clarifications or alerts")
    ] = "turns",
    limit: Annotated[int, typer.Option("-n", help="how many, newest first", min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False,
) -> None:
    """Show the newest journal rows (residents' personal data is redacted before it is stored;
    rows past the retention period are deleted first). Control characters in the text are shown
    as escapes (\\x1b, \\u202e)."""
    s = settings(ctx)
    journal = open_journal_file(s, s.journal_retention_days)
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
    t = folded_table(*cols, title=Text(safe_text(f"{table} ({s.journal_file})")))
    for r in rows:
        t.add_row(*(Text(safe_text(_cell(r[c]))) if r[c] is not None else "" for c in cols))
    out.print(t)


@journal_app.command("purge")
def journal_purge(
    ctx: typer.Context,
    older_than: Annotated[
        int | None,
        typer.Option("--older-than", metavar="DAYS", min=0, help="default: journal_retention_days; 0: everything"),
    ] = None,
) -> None:
    """Delete the journal rows older than DAYS days now, and print how many went from each table
    (the outbox of messages to staff, turns, handoffs, gaps, clarifications, alerts). Opening the
    journal does this too, with the journal_retention_days setting."""
    s = settings(ctx)
    days = s.journal_retention_days if older_than is None else older_than
    if not s.journal_file.is_file():
        out.print(f"no journal at {s.journal_file}: nothing to purge")
        return
    journal = open_journal_file(s, None)
    try:
        with user_errors():
            removed = journal.purge(days)
    finally:
        journal.close()
    out.print(f"journal {s.journal_file}: rows older than {days} day(s) removed", markup=False)
    for table, n in removed.items():
        out.print(f"  {table:<15}{n:>7}", markup=False)


def health(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False
) -> None:
    """The running appliance's health: knowledge-base version and what it holds (no guides, the
    fictional demo, the site's own), models, the knowledge base's sync (channels, last success,
    last error), messages to staff, the robot link (connected, degraded = running without a body,
    e-stop), the workers the service watchdog watches (hung or moving), from DATA_DIR/health.json.

    Exit code 0 when running and healthy, 1 when degraded (no guides, no body), a worker is hung
    or the appliance is not running.
    """
    import time

    from rich.markup import escape

    from appliance.health import HEALTH_FILE, read_health

    path = settings(ctx).data_dir / HEALTH_FILE
    data, verdict = read_health(path)
    if as_json:
        print_json({"verdict": verdict, "report": data})
    elif data is None:
        out.print(f"no health report at {path}: the appliance has not run here (start it with `kiosk run`)")
    else:
        age = time.time() - data["time"]
        out.print(f"appliance: {verdict} (pid {data['pid']}, report {age:.0f} s old)")
        a = data.get("appliance", {})
        out.print(
            f"knowledge base: v{a.get('kb_version')}; LLM: {a.get('llm') or 'none (extractive)'}; "
            f"embeddings: {a.get('embedding') or 'none (keywords only)'}"
        )
        kb = a.get("kb") or {}
        if kb.get("summary"):
            shout = kb.get("kind") in ("empty", "demo", "mixed")
            out.print(f"  [bold yellow]{escape(kb['summary'])}[/]" if shout else f"  {kb['summary']}", markup=shout)
        sync = a.get("sync") or {}
        if sync.get("enabled") or sync.get("version"):
            channels = ", ".join(f"{c} v{v}" for c, v in (sync.get("channels") or {}).items()) or "nothing synced yet"
            out.print(f"sync: {channels}; last success {sync.get('last_success') or 'never'}", markup=False)
            if sync.get("last_error"):
                out.print(f"  last error: {safe_text(sync['last_error'])}", markup=False)
        box = a.get("outbox") or {}
        if box and any((box.get("counts") or {}).values()):
            counts = ", ".join(f"{k} {v}" for k, v in box["counts"].items())
            out.print(f"messages to staff: {counts}", markup=False)
            if box.get("emergencies_waiting"):
                out.print(
                    f"  [bold red]{box['emergencies_waiting']} emergency message(s) not delivered[/]", markup=True
                )
        r = data.get("robot", {})
        if r.get("mode") == "none":
            out.print("robot: none configured")
        else:
            link = r.get("link", {})
            out.print(
                f"robot: {r.get('mode')} — link {r.get('state')}" + (f" ({r['error']})" if r.get("error") else "")
            )
            out.print(
                f"  reconnects {link.get('reconnects')}, retries {link.get('retries')}, timeouts "
                f"{link.get('timeouts')}, CRC errors {link.get('crc_errors')}, e-stop "
                f"{'LATCHED' if r.get('estop_latched') else 'clear'}"
            )
        workers = data.get("workers") or {}
        if workers:
            hung = [name for name, w in workers.items() if w.get("overdue")]
            parts = [f"{name} {w.get('silent_s', 0):.1f} s" for name, w in workers.items() if w.get("expected")]
            line = f"workers: {'[bold red]hung: ' + escape(', '.join(hung)) + '[/]' if hung else 'all moving'}"
            out.print(line + (f" (silent: {escape(', '.join(parts))})" if parts else ""), markup=True)
    hung_worker = data is not None and any(w.get("overdue") for w in (data.get("workers") or {}).values())
    robot_ok = data is not None and data.get("robot", {}).get("mode") in ("ok", "none")
    has_guides = data is not None and (data.get("appliance", {}).get("kb") or {}).get("kind") != "empty"
    if verdict != "running" or not robot_ok or not has_guides or hung_worker:
        raise typer.Exit(1)
