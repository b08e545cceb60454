"""Helpers shared by the CLI commands: settings from the context, output, errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table
from rich.text import Text

from appliance.config import Settings

if TYPE_CHECKING:
    from appliance.bootstrap import Appliance

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

KB_OPTION = typer.Option("--kb", help="knowledge-base file (default: DATA_DIR/kb.sqlite)")
JSON_OPTION = typer.Option("--json", help="print JSON (one object per line)")


def settings(ctx: typer.Context) -> Settings:
    """The settings loaded by the top-level callback."""
    return ctx.obj


def fail(message: str, code: int = 2) -> NoReturn:
    """Print an error to stderr, as it is (brackets are not markup), and exit with ``code``."""
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True)
    raise typer.Exit(code)


def note(message: str) -> None:
    """An operator note on stderr (kept out of JSON on stdout)."""
    err.print(f"[yellow]note:[/] {message}", markup=True)


def print_json(obj: Any) -> None:
    """One JSON object on one line, UTF-8, flushed (for pipes). DEL, C1 controls and bidi
    overrides are written as ``\\uXXXX`` escapes (json escapes C0 itself): same data, nothing a
    terminal acts on."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False).translate(_JSON_ESCAPES) + "\n")
    sys.stdout.flush()


# What a terminal acts on: C0 controls but newline and tab (ESC starts the sequences that clear
# the screen or move the cursor), DEL, C1 controls (0x9b is a one-byte CSI), and the bidi
# embeddings, overrides and isolates U+202A–U+202E, U+2066–U+2069 (they reorder what follows).
_TERMINAL_CONTROLS = (
    *(c for c in range(0x20) if c not in (0x09, 0x0A)),
    0x7F,
    *range(0x80, 0xA0),
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
)
_TERMINAL_ESCAPES = {c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" for c in _TERMINAL_CONTROLS}
_JSON_ESCAPES = {c: f"\\u{c:04x}" for c in _TERMINAL_CONTROLS if c >= 0x7F}


def folded_table(*headers: str, title: str | Text | None = None) -> Table:
    """A rich table whose cells are folded onto more lines when the terminal is narrow, never cut
    with "…": a field engineer reads a source path, a last error or a callback number whole at any
    width."""
    return Table(*(Column(h, overflow="fold") for h in headers), title=title)


def safe_text(text: str) -> str:
    """``text`` for a terminal, with every control character a terminal acts on shown as an
    escape instead (``\\x1b``, ``\\x9b``, ``\\u202e``): residents' and files' text cannot clear
    the staff's screen, move the cursor or reorder a line. Newlines and tabs stay."""
    return text.translate(_TERMINAL_ESCAPES)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the project's expected errors into a clear message and exit code 2."""
    import sqlite3

    from appliance.knowledge.db import sqlite_module
    from appliance.knowledge.store import KnowledgeBaseError
    from appliance.site import SiteError
    from models.catalog import CatalogError
    from models.store import ModelError

    try:
        yield
    except (KnowledgeBaseError, SiteError, ModelError, CatalogError, ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    except (sqlite3.DatabaseError, sqlite_module()[0].DatabaseError) as exc:
        fail(f"database error: {exc} (is the file a kiosk knowledge base or journal?)")


def existing_file(path: Path, what: str) -> Path:
    """``path`` if it is a file, else exit with a message."""
    if not path.is_file():
        fail(f"{what} not found: {path}")
    return path


def open_appliance(ctx: typer.Context, kb: Path | None, no_llm: bool, *, serving: bool = False) -> Appliance:
    """Build the appliance (:func:`appliance.bootstrap.build_appliance`) with the knowledge base
    ``kb`` (default: the configured one), print its operator notes, and return it (close it, e.g.
    with ``with``). ``serving``: it will answer many questions (``kiosk run``), so the LLM's system
    prompts are evaluated in the background at once (:meth:`AnswerEngine.warm`). A configuration
    or model error exits with its message."""
    from appliance.bootstrap import build_appliance

    with user_errors():
        appliance = build_appliance(settings(ctx), kb_path=kb, use_llm=not no_llm)
    for n in appliance.notes:
        note(n)
    if serving:
        appliance.engine.warm()
    return appliance


@contextmanager
def start_body(ctx: typer.Context, port: str | None, lang: str, audio_window=None) -> Iterator:
    """The robot's :class:`~appliance.body.Body` on ``port`` (default: ``[robot] port``), or None
    without one. A simulated body ('sim') prints what it does on stderr. Closed on exit."""
    from appliance.body import Body
    from appliance.bootstrap import connect_robot

    cfg = settings(ctx).robot
    try:
        runtime = connect_robot(cfg, port, on_action=lambda a: err.print(f"[cyan]  〔机器人〕{a}[/]", markup=True))
    except (OSError, ValueError) as exc:
        fail(f"cannot start the robot link: {exc}")
    with runtime:
        for n in runtime.notes:
            note(n)
        if runtime.robot is None:
            yield None
            return
        body = Body(runtime.robot, cfg, lang=lang, audio_window=audio_window).start()
        try:
            yield body
        finally:
            body.drain()
            body.close()


def open_journal_file(s: Settings, retention_days: float | None):
    """The journal of settings ``s`` (exit 2 with a message when it is missing or unreadable)."""
    from appliance.journal import Journal

    if not s.journal_file.is_file():
        fail(f"no journal yet at {s.journal_file}")
    with user_errors():
        try:
            return Journal(s.journal_file, retention_days=retention_days)
        except OSError as exc:
            fail(f"cannot open the journal {s.journal_file}: {exc}")


@contextmanager
def notify_staff(appliance: Appliance) -> Iterator:
    """Deliver the journal's messages to staff (``[notify]`` channels) while the block runs; a
    channel that cannot be built is noted and the others work. Yields the
    :class:`~appliance.notify.sender.OutboxSender`, or None when nothing is sent."""
    from appliance.bootstrap import start_sender

    sender = None
    if appliance.journal is not None:
        sender, problems = start_sender(appliance.settings, appliance.site, appliance.journal)
        for p in problems:
            note(escape(p))
            appliance.notes.append(p)
    try:
        yield sender
    finally:
        if sender is not None:
            sender.stop()


@contextmanager
def syncing(appliance: Appliance) -> Iterator[None]:
    """Sync the knowledge base in the background while the block runs, when ``[sync] enabled``
    (:class:`~appliance.sync.loop.SyncLoop`); a new version is staged and answered from at the
    next conversation."""
    cfg = appliance.settings
    if not cfg.sync.enabled:
        yield
        return
    from appliance.network import NetworkProbe
    from appliance.sync.client import SyncClient
    from appliance.sync.loop import SyncLoop

    def installed(_entry) -> None:
        try:
            appliance.stage_reload()
        except Exception as exc:  # the engine keeps its knowledge base
            note(escape(f"the synced knowledge base could not be opened: {exc}"))

    client = SyncClient(cfg, on_installed=installed, embedder=appliance.embedder)
    loop = SyncLoop(client, NetworkProbe(cfg.network), cfg.sync.interval_s, cfg.network.check_every_s).start()
    try:
        yield
    finally:
        loop.stop()


@contextmanager
def as_service(appliance, body, sender=None) -> Iterator:
    """systemd's readiness and watchdog while the block runs (:class:`appliance.service.ServiceNotifier`,
    yielded): the answer worker's heartbeat, with a body the robot link's, and with a ``sender``
    (:func:`notify_staff`'s) each lane that delivers messages to staff, are watched (a hung lane
    means alerts not reaching the duty worker: the restart resends them from the outbox); the
    front end adds its own (the voice loop, the touchscreen) and calls ``ready()`` once it serves.
    Outside systemd nothing is sent, and the workers' state still goes to ``health.json``.
    The knowledge-base sync is not watched: a stalled download hurts nobody while the kiosk
    answers from the base it has, and restarting the appliance for it would."""
    from appliance.service import Heartbeat, Liveness, PolledHeartbeat, ServiceNotifier

    cfg = appliance.settings.service
    liveness = Liveness({})
    appliance.engine.activity = liveness.add(Heartbeat("answers", cfg.answer_limit_s))
    if body is not None:
        link = body.robot.link
        liveness.add(PolledHeartbeat("robot link", cfg.robot_limit_s, lambda: link.progress))
    for name, lane in (sender.workers if sender is not None else {}).items():
        liveness.add(PolledHeartbeat(f"outbox {name}", cfg.outbox_limit_s, lambda lane=lane: lane.progress))
    notifier = ServiceNotifier(liveness)
    try:
        yield notifier
    finally:
        notifier.close()
        appliance.engine.activity = None


@contextmanager
def report_health(ctx: typer.Context, appliance, body, liveness=None) -> Iterator[None]:
    """Write ``DATA_DIR/health.json`` while the block runs (see :mod:`appliance.health`), with the
    workers' progress when ``liveness`` (:class:`appliance.service.Liveness`) is given."""
    from appliance.health import HEALTH_FILE, HealthWriter, appliance_health, robot_health

    cfg = settings(ctx)
    robot = body.robot if body is not None else None
    parts = {"appliance": lambda: appliance_health(appliance), "robot": lambda: robot_health(robot)}
    if liveness is not None:
        parts["workers"] = liveness.report
    writer = HealthWriter(cfg.data_dir / HEALTH_FILE, parts).start()
    try:
        yield
    finally:
        writer.close()
