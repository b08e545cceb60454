"""``kiosk staff ...``: the staff-mode PIN, for someone with shell access on the device."""

from __future__ import annotations

import sys
import time
from typing import Annotated

import typer

from appliance.cli.common import JSON_OPTION, err, fail, note, out, print_json, settings

app = typer.Typer(help="Staff mode on the touchscreen: set its PIN, see its lockout, clear it.", no_args_is_help=True)

PROMPT_ATTEMPTS = 3


def _lock(ctx: typer.Context):
    from appliance.staff import PinLock

    return PinLock.from_settings(settings(ctx))


def _prompt_pin() -> str:
    """Ask for a new PIN twice, hidden; say at once what is wrong with a weak one."""
    from appliance.staff import check_pin

    for _ in range(PROMPT_ATTEMPTS):
        pin = typer.prompt("New staff PIN (4-12 digits)", hide_input=True)
        try:
            check_pin(pin)
        except ValueError as exc:
            err.print(f"[red]{exc}[/]", markup=True)
            continue
        if typer.prompt("Repeat it", hide_input=True) == pin:
            return pin
        err.print("[red]the two PINs differ[/]", markup=True)
    fail("no PIN set")


@app.command("set-pin")
def set_pin(
    ctx: typer.Context,
    pin_stdin: Annotated[
        bool, typer.Option("--pin-stdin", help="read the PIN from the first line of stdin (provisioning scripts)")
    ] = False,
) -> None:
    """Set the PIN that opens staff mode (4-12 digits, not 1234, 0000, 1212 and the like).

    Stored as a salted scrypt hash in DATA_DIR/staff_pin.json ([staff] pin_file), mode 0600; any
    lockout is cleared. Without --pin-stdin it is asked for twice, hidden.
    """
    lock = _lock(ctx)
    if pin_stdin:
        pin = sys.stdin.readline().strip()
        if not pin:
            fail("--pin-stdin: no PIN on the first line of stdin")
    else:
        pin = _prompt_pin()
    try:
        lock.set_pin(pin)
    except ValueError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {lock.path}: {exc}")
    out.print(f"staff PIN set: {lock.path}")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


@app.command("status")
def status(ctx: typer.Context, as_json: Annotated[bool, JSON_OPTION] = False) -> None:
    """Whether a PIN is set, the wrong tries so far, and whether it is locked and for how long."""
    lock = _lock(ctx)
    st = lock.status()
    if as_json:
        print_json({"file": str(lock.path), "max_tries": lock.max_tries, **st.as_dict()})
        return
    if not st.is_set:
        out.print(f"staff PIN: not set ({lock.path}); staff mode stays closed")
        if st.problem:
            note(st.problem)
        else:
            out.print("set one with `kiosk staff set-pin`")
        return
    out.print(f"staff PIN: set ({lock.path})")
    out.print(f"wrong tries in a row: {st.failures} of {lock.max_tries}")
    if st.locked:
        until = time.strftime("%H:%M:%S", time.localtime(st.locked_until))
        out.print(f"locked: yes, for {_duration(st.retry_after_s)} more (until {until}); `kiosk staff unlock` ends it")
    else:
        out.print("locked: no")


@app.command("unlock")
def unlock(ctx: typer.Context) -> None:
    """End a lockout after too many wrong PINs and forget the wrong tries."""
    lock = _lock(ctx)
    st = lock.status()
    if st.problem:
        fail(st.problem)
    if not st.is_set:
        out.print(f"no staff PIN set ({lock.path}): nothing to unlock; set one with `kiosk staff set-pin`")
        return
    try:
        cleared = lock.clear_lockout()
    except OSError as exc:
        fail(f"cannot write {lock.path}: {exc}")
    if not cleared:
        out.print("not locked, no wrong tries: nothing to clear")
    elif st.locked:
        out.print(f"lockout cleared ({_duration(st.retry_after_s)} were left); {lock.max_tries} tries again")
    else:
        out.print(f"wrong tries cleared ({st.failures}); {lock.max_tries} tries again")
