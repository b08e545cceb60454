"""``kiosk staff ...``: the staff-mode PIN, for someone with shell access on the device.

Ending a lockout early (``unlock``) needs root (``sudo kiosk staff unlock``): a lockout holds until
it runs out, a right PIN is entered, or the device's administrator ends it. ``set-pin`` (which also
ends it) needs write access to the PIN file's folder, the data dir.
"""

from __future__ import annotations

import os
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
    """``seconds`` for a person: '45 s', '4 min 10 s', '2 h 30 min'."""
    minutes, secs = divmod(round(seconds), 60)
    hours, mins = divmod(minutes, 60)
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _is_root() -> bool:
    """Whether this process runs as root (always False where there are no user ids)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


@app.command("status")
def status(ctx: typer.Context, as_json: Annotated[bool, JSON_OPTION] = False) -> None:
    """Whether a PIN is set, the wrong tries so far, and whether it is locked and for how long."""
    lock = _lock(ctx)
    st = lock.status()
    if as_json:
        limits = {"max_tries": lock.max_tries, "lockout_s": lock.lockout_s, "lockout_max_s": lock.lockout_max_s}
        print_json({"file": str(lock.path), **limits, **st.as_dict()})
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
        until = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(st.locked_until))
        out.print(
            f"locked: yes, for {_duration(st.retry_after_s)} more (until {until}); `sudo kiosk staff unlock` ends it"
        )
    else:
        out.print("locked: no")
    if st.lockouts:
        out.print(
            f"lockouts since the last right PIN: {st.lockouts}; the next one lasts {_duration(st.next_lockout_s)} "
            f"(each doubles, up to {_duration(lock.lockout_max_s)})"
        )


@app.command("unlock")
def unlock(ctx: typer.Context) -> None:
    """End a lockout after too many wrong PINs, forget the wrong tries, and start the doubling of
    the lockout over. Root only (sudo kiosk staff unlock)."""
    if not _is_root():
        fail(
            "`kiosk staff unlock` must run as root (sudo kiosk staff unlock): only the device's "
            "administrator may end a PIN lockout early"
        )
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
        out.print(
            f"lockout cleared ({_duration(st.retry_after_s)} were left); {lock.max_tries} tries again, "
            f"and the next lockout lasts {_duration(lock.lockout_s)}"
        )
    elif st.failures:
        out.print(f"wrong tries cleared ({st.failures}); {lock.max_tries} tries again")
    else:
        out.print(f"past lockouts forgotten ({st.lockouts}); the next lockout lasts {_duration(lock.lockout_s)}")
