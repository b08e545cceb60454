"""``kiosk outbox``: the messages to staff — what was delivered, what waits, and sending now."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.text import Text

from appliance.cli.common import (
    fail,
    folded_table,
    open_journal_file,
    out,
    print_json,
    safe_text,
    settings,
    user_errors,
)

app = typer.Typer(
    help="Messages to staff (alerts, handoffs, the daily summary): delivery state, retry, send now, test.",
    no_args_is_help=True,
)


@app.command("show")
def show(
    ctx: typer.Context,
    state: Annotated[
        str | None, typer.Option("--state", help="only rows in this state: pending, sent, failed or digested")
    ] = None,
    limit: Annotated[int, typer.Option("-n", help="how many, newest first", min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False,
) -> None:
    """Show the newest outbox rows: one per message and channel, with its state, attempts and
    last error, and a line on emergency deliveries."""
    s = settings(ctx)
    journal = open_journal_file(s, None)
    try:
        with user_errors():
            rows = journal.outbox.rows(limit, state)
            status = journal.outbox.status()
    finally:
        journal.close()
    if as_json:
        for r in rows:
            print_json(
                {
                    "id": r.id,
                    "key": r.key,
                    "channel": r.channel,
                    "kind": r.kind,
                    "state": r.state,
                    "attempts": r.attempts,
                    "ts": r.ts,
                    "sent_ts": r.sent_ts,
                    "last_error": r.last_error,
                    "title": r.message.title,
                }
            )
        return
    counts = ", ".join(f"{k} {v}" for k, v in status.counts.items())
    out.print(f"outbox {s.journal_file}: {counts}", markup=False)
    if status.emergencies_waiting:
        waited = f", the oldest for {status.oldest_emergency_s:.0f} s" if status.oldest_emergency_s is not None else ""
        out.print(f"[bold red]{status.emergencies_waiting} emergency message(s) not delivered{waited}[/]", markup=True)
    if not rows:
        out.print("no messages" + (f" in state {state}" if state else ""))
        return
    t = folded_table("id", "ts", "channel", "kind", "state", "tries", "title", "last error")
    for r in rows:
        t.add_row(
            str(r.id),
            r.ts[:19],
            Text(safe_text(r.channel)),
            r.kind,
            r.state,
            str(r.attempts),
            Text(safe_text(r.message.title)),
            Text(safe_text(r.last_error or "")),
        )
    out.print(t)


@app.command("retry")
def retry(
    ctx: typer.Context,
    ids: Annotated[list[int] | None, typer.Argument(metavar="IDS", help="row ids (default: every failed row)")] = None,
) -> None:
    """Put failed messages back in the queue, due now (the running kiosk, or `kiosk outbox send`,
    delivers them)."""
    s = settings(ctx)
    journal = open_journal_file(s, None)
    try:
        with user_errors():
            n = journal.outbox.retry(ids or None)
    finally:
        journal.close()
    out.print(f"{n} message(s) queued again", markup=False)


@app.command("send")
def send(
    ctx: typer.Context,
    wait: Annotated[
        float, typer.Option("--wait", metavar="S", min=0, help="keep sending for up to S seconds while rows are due")
    ] = 0.0,
) -> None:
    """Deliver what is due now, in this process (when `kiosk run` is not running, or from a
    timer). Exits 1 when messages remain undelivered."""
    from appliance.bootstrap import load_site_for
    from appliance.notify.channels import build_channels
    from appliance.notify.sender import OutboxSender

    s = settings(ctx)
    with user_errors():
        site = load_site_for(s)
    journal = open_journal_file(s, None)
    try:
        from appliance.bootstrap import kiosk_identity

        kiosk_id, kiosk_name = kiosk_identity(s, site)
        channels, problems = build_channels(s.notify, kiosk_id)
        for p in problems:
            out.print(f"[yellow]channel not usable:[/] {safe_text(p)}", markup=True)
        if not channels:
            fail("no notify channel can be used: configure [[notify.channels]] in kiosk.toml")
        sender = OutboxSender(
            journal.outbox,
            channels,
            s.notify,
            kiosk_id=kiosk_id,
            kiosk=kiosk_name,
            place=site.address,
            lock_path=journal.path.with_name("outbox.lock"),
        )
        if not sender.try_lock(timeout_s=2.0):
            fail("another process (kiosk run?) is sending the outbox now")
        delivered = sender.drain_once()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and journal.outbox.status().counts["pending"]:
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            delivered += sender.drain_once()
        sender.stop()
        status = journal.outbox.status()
    finally:
        journal.close()
    out.print(
        f"delivered {delivered}; pending {status.counts['pending']}, failed {status.counts['failed']}", markup=False
    )
    if status.last_error and (status.counts["pending"] or status.counts["failed"]):
        out.print(f"last error: {safe_text(status.last_error)}", markup=False)
    if status.counts["pending"] or status.counts["failed"]:
        raise typer.Exit(1)


@app.command("test")
def test(ctx: typer.Context) -> None:
    """Send a test message to every configured channel now (not through the queue) and print
    ok or the error for each: what an installer runs after setting up a channel."""
    from appliance.bootstrap import kiosk_identity, load_site_for
    from appliance.notify.channels import DeliveryError, build_channels
    from appliance.notify.message import MessageKind, Priority, StaffMessage

    s = settings(ctx)
    with user_errors():
        site = load_site_for(s)
    kiosk_id, kiosk_name = kiosk_identity(s, site)
    channels, problems = build_channels(s.notify, kiosk_id)
    for p in problems:
        out.print(f"[red]fail[/]  {safe_text(p)}", markup=True)
    if not channels and not problems:
        fail("no notify channel configured: add [[notify.channels]] to kiosk.toml")
    import datetime as dt

    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    message = StaffMessage(
        MessageKind.HANDOFF,
        "【测试】终端消息通道测试",
        kiosk_name,
        site.address,
        now,
        action="这是一条测试消息，无需处理。",
        priority=Priority.HANDOFF,
    )
    failed = bool(problems)
    for name, channel in channels.items():
        try:
            channel.send(message, f"{kiosk_id}/test/{int(time.time())}")
            out.print(f"[green]ok[/]    {safe_text(name)}", markup=True)
        except DeliveryError as exc:
            failed = True
            out.print(f"[red]fail[/]  {safe_text(name)}: {safe_text(str(exc))}", markup=True)
        finally:
            channel.close()
    if failed:
        raise typer.Exit(1)
