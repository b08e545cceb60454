"""``kiosk robot ...``: the field engineer's tools for the body's serial link, and the simulator."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import Annotated

import typer

from appliance.cli.common import JSON_OPTION, err, fail, note, out, print_json, settings

app = typer.Typer(
    help="The robot's body: simulator, link diagnosis and manual commands (see firmware_bridge/PROTOCOL.md).",
    no_args_is_help=True,
)

PORT_HELP = (
    "controller port: /dev/ttyACM0, usb:VID:PID[:SERIAL], serial:SERIAL, socket://host:port, loop://, "
    "spy://PORT, or 'sim' for the built-in simulator (default: [robot] port)"
)
PORT_OPTION = typer.Option("--port", "-p", help=PORT_HELP)


@contextlib.contextmanager
def _robot(ctx: typer.Context, port: str | None, wait_s: float = 3.0, on_frame=None) -> Iterator:
    """A connected :class:`~firmware_bridge.robot.Robot` on ``port``, or exit with the link error."""
    from appliance.bootstrap import connect_robot

    cfg = settings(ctx).robot
    spec = port or cfg.port
    if not spec or spec.lower() == "none":
        fail("no robot port: give --port PORT (or 'sim'), or set [robot] port in the config")
    try:
        runtime = connect_robot(
            cfg, spec, on_action=lambda a: err.print(f"[dim]sim: {a}[/]", markup=True), on_frame=on_frame, wait_s=wait_s
        )
    except (OSError, ValueError) as exc:
        fail(f"cannot open {spec}: {exc}")
    with runtime:
        robot = runtime.robot
        if not robot.connected:
            fail(f"no controller on {spec}: {robot.link.error or robot.link.state.value}")
        robot.link.wait_health(1.0)  # know the e-stop state before any command
        yield robot


def _show_reply(what: str, reply, as_json: bool = False) -> None:
    """Print a command's result; exit 1 when the controller refused it."""
    ack = reply.ack
    if as_json:
        print_json(
            {
                "command": what,
                "seq": reply.seq,
                "result": ack.result.name,
                "reason": ack.reason.name,
                "detail": ack.detail,
                "rtt_ms": round(reply.rtt_ms, 3),
            }
        )
    elif reply.ok:
        out.print(f"{what}: {ack.result.name.lower()} ({reply.rtt_ms:.1f} ms)")
    else:
        out.print(f"{what}: [bold red]{ack.result.name}[/] {ack.reason.name} {ack.detail}", markup=True)
    if not reply.ok:
        raise typer.Exit(1)


def _command(
    ctx: typer.Context, port: str | None, what: str, call, *, wait_done: bool = False, as_json: bool = False
) -> None:
    from firmware_bridge.reliable import LinkError

    with _robot(ctx, port) as robot:
        try:
            reply = call(robot)
        except ValueError as exc:
            fail(str(exc))
        except LinkError as exc:
            fail(f"{what}: {exc}")
        _show_reply(what, reply, as_json)
        if wait_done and reply.ack.result.name == "IN_PROGRESS":
            done = robot.link.wait_done(reply.seq, 30.0)
            if done is None:
                fail(f"{what}: no DONE within 30 s")
            out.print(f"{what}: {done.result.name.lower()}" + (f" ({done.reason.name})" if done.reason else ""))


@app.command("status")
def status(
    ctx: typer.Context, port: Annotated[str | None, PORT_OPTION] = None, as_json: Annotated[bool, JSON_OPTION] = False
) -> None:
    """Connect, then show the controller (id, firmware, capabilities), its health and the link counters."""
    with _robot(ctx, port) as robot:
        robot.ping()
        s = robot.status()
    if as_json:
        print_json(s)
        return
    c, h = s["controller"], s["health"]
    out.print(f"link: {s['state']}  controller {c['device_id']!r} firmware {c['firmware']} protocol v{c['protocol']}")
    out.print(f"capabilities: {', '.join(c['capabilities']) or 'none'}")
    if h:
        out.print(
            f"health: up {h['uptime_s']} s, battery {h['battery_pct']} %, {h['temperature_c']} °C, "
            f"flags {', '.join(h['flags']) or 'none'}, fault {h['fault_code']:#06x}"
        )
    out.print(f"e-stop: {'LATCHED' if s['estop_latched'] else 'clear'}")
    link = dict(s["link"])
    rtt = link.pop("rtt_ms")
    out.print("counters: " + ", ".join(f"{k} {v}" for k, v in link.items()))
    out.print("round trip ms: " + ", ".join(f"{k} {v:.2f}" for k, v in rtt.items() if v is not None))


@app.command("ping")
def ping(
    ctx: typer.Context,
    port: Annotated[str | None, PORT_OPTION] = None,
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="pings to send")] = 10,
    as_json: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Send PINGs and print each round-trip time, then the percentiles and counters."""
    from firmware_bridge.reliable import LinkError

    with _robot(ctx, port) as robot:
        for i in range(count):
            try:
                reply = robot.ping()
            except LinkError as exc:
                out.print(f"ping {i + 1}: {exc}")
                continue
            if not as_json:
                out.print(f"ping {i + 1}: seq {reply.seq} {reply.rtt_ms:.2f} ms")
        stats = robot.link.stats()
    if as_json:
        print_json(stats)
        return
    rtt = stats["rtt_ms"]
    out.print(
        f"round trip p50 {rtt['p50']:.2f} ms, p99 {rtt['p99']:.2f} ms; retries {stats['retries']}, "
        f"timeouts {stats['timeouts']}, CRC errors {stats['crc_errors']}"
    )


@app.command("gesture")
def gesture(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="wave, nod, point-left, point-right, bow, idle-breathe")],
    port: Annotated[str | None, PORT_OPTION] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait",
            help="wait for the gesture to finish (without waiting, the command's link closes and the "
            "controller's watchdog stops the gesture half a second later)",
        ),
    ] = True,
) -> None:
    """Play a named gesture and wait until the controller says it is done."""
    _command(ctx, port, f"gesture {name}", lambda r: r.gesture(name), wait_done=wait)


@app.command("look")
def look(
    ctx: typer.Context,
    pan: Annotated[float, typer.Argument(metavar="PAN", help="degrees, + left")],
    tilt: Annotated[float, typer.Argument(metavar="TILT", help="degrees, + up")],
    speed: Annotated[int | None, typer.Option("--speed", help="deg/s")] = None,
    port: Annotated[str | None, PORT_OPTION] = None,
) -> None:
    """Turn the head to PAN TILT degrees (refused, never clipped, outside the controller's limits)."""
    _command(ctx, port, f"look {pan:g} {tilt:g}", lambda r: r.look(pan, tilt, speed))


@app.command("face")
def face(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="neutral, smile, listening, thinking, speaking, sad, alert")
    ],
    port: Annotated[str | None, PORT_OPTION] = None,
) -> None:
    """Show a face expression."""
    _command(ctx, port, f"face {name}", lambda r: r.face(name))


@app.command("stop")
def stop(ctx: typer.Context, port: Annotated[str | None, PORT_OPTION] = None) -> None:
    """Stop all motion now."""
    _command(ctx, port, "stop", lambda r: r.stop())


@app.command("estop-reset")
def estop_reset(ctx: typer.Context, port: Annotated[str | None, PORT_OPTION] = None) -> None:
    """Clear a latched e-stop (staff only; refused while the button is still pressed)."""
    _command(ctx, port, "e-stop reset", lambda r: r.estop_reset())


@app.command("ports")
def ports(as_json: Annotated[bool, JSON_OPTION] = False) -> None:
    """List serial ports with their USB ids and serial numbers (for usb:VID:PID and serial:SN)."""
    from serial.tools import list_ports

    found = [
        {
            "device": p.device,
            "vid_pid": f"{p.vid:04X}:{p.pid:04X}" if p.vid else None,
            "serial": p.serial_number,
            "description": p.description,
        }
        for p in list_ports.comports()
    ]
    if as_json:
        print_json(found)
        return
    if not found:
        out.print("no serial ports found")
    for p in found:
        ids = f"usb:{p['vid_pid']}" + (f" serial:{p['serial']}" if p["serial"] else "") if p["vid_pid"] else ""
        out.print(f"{p['device']}  {ids}  [dim]{p['description']}[/]", markup=True)


@app.command("monitor")
def monitor(
    ctx: typer.Context,
    port: Annotated[str | None, PORT_OPTION] = None,
    heartbeats: Annotated[bool, typer.Option("--heartbeats", help="also print HEARTBEAT frames")] = False,
    seconds: Annotated[float | None, typer.Option("--seconds", help="stop after this long (default: Ctrl-C)")] = None,
) -> None:
    """Connect and print every frame both ways, decoded, with damaged frames and counters.

    To watch the appliance's own link, run it with a spy URL instead:
    [robot] port = "spy:///dev/ttyACM0?file=/tmp/robot.log".
    """
    from firmware_bridge import messages as m
    from firmware_bridge.framing import FrameError

    t0 = time.monotonic()

    def show(direction: str, item) -> None:
        stamp = f"{time.monotonic() - t0:8.3f}"
        if isinstance(item, FrameError):
            out.print(f"{stamp} {direction} [red]damaged frame ({item.kind}): {item}[/]", markup=True)
            return
        if item.type == m.MsgType.HEARTBEAT and not heartbeats:
            return
        table = m.CONTROLLER_TO_HOST if direction == "rx" else m.HOST_TO_CONTROLLER
        try:
            text = m.describe(m.unpack(item.type, item.payload, table))
        except m.PayloadError as exc:
            text = f"type {item.type:#04x}: {exc}"
        flags = "".join(f" {f.name}" for f in type(item.flags) if f and f in item.flags)
        arrow = "<-" if direction == "rx" else "->"
        out.print(f"{stamp} {arrow} seq {item.seq:5d}{flags}  {text}", markup=False)

    out.print(f"[dim]monitoring {port or settings(ctx).robot.port}; Ctrl-C to stop[/]", markup=True)
    with _robot(ctx, port, on_frame=show) as robot:
        try:
            deadline = None if seconds is None else time.monotonic() + seconds
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.1)
        except KeyboardInterrupt:
            pass
        robot.link.on_frame = None
        stats = robot.link.stats()
    stats.pop("rtt_ms")
    out.print("counters: " + ", ".join(f"{k} {v}" for k, v in stats.items()))


SIM_HELP = """Commands on stdin: estop, release, person CM [BEARING_DEG], gone, touch ZONE,
battery PCT [charging], fault CODE TEXT, reset, unplug, replug, state, quit."""


@app.command(
    "sim", help="Run the simulated controller on a pseudo-terminal (or TCP) and print the port to use.\n\n" + SIM_HELP
)
def sim(
    tcp: Annotated[int | None, typer.Option("--tcp", help="serve on this TCP port (0: any) instead of a pty")] = None,
    wire: Annotated[str, typer.Option("--wire", help="speed model: pty, uart or usb-fs")] = "pty",
    baud: Annotated[int, typer.Option("--baud", help="with --wire uart: bits/s")] = 115200,
    drop: Annotated[float, typer.Option("--drop", min=0, max=1, help="frame loss probability, each way")] = 0.0,
    corrupt: Annotated[float, typer.Option("--corrupt", min=0, max=1, help="bit-flip probability per frame")] = 0.0,
    duplicate: Annotated[float, typer.Option("--duplicate", min=0, max=1, help="duplication probability")] = 0.0,
    latency_ms: Annotated[float, typer.Option("--latency-ms", min=0, help="added one-way latency")] = 0.0,
    seed: Annotated[int | None, typer.Option("--seed", help="fault injection random seed")] = None,
    device_id: Annotated[str, typer.Option("--device-id")] = "sim-0001",
) -> None:
    """See the help text above."""
    from firmware_bridge.sim.ports import Faults, SimulatedRobot, Wire

    if wire not in ("pty", "uart", "usb-fs"):
        fail("--wire is pty, uart or usb-fs")
    faults = Faults(drop, corrupt, duplicate, latency_ms, seed)

    def action(text: str) -> None:
        out.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {text}", markup=True)

    sim = SimulatedRobot(
        kind="tcp" if tcp is not None else "pty",
        faults=faults,
        wire=Wire(wire, baud),
        tcp_port=tcp or 0,
        device_id=device_id,
        on_action=action,
    )
    with sim:
        print(f"port: {sim.port}", flush=True)
        note(f'connect with: kiosk robot status --port {sim.port}   (or \\[robot] port = "{sim.port}")')
        quit_event = threading.Event()
        threading.Thread(target=_sim_console, args=(sim, quit_event), daemon=True).start()
        try:
            while not quit_event.wait(0.2):
                pass
        except KeyboardInterrupt:
            pass
        c = sim.controller.counters
        out.print(
            f"executed {c.executed}, rejected {c.rejected}, duplicates {sim.controller.dedup.duplicates}, watchdog trips "
            f"{c.watchdog_trips}; injected: dropped {sim.rx.counters.dropped}+{sim.tx.counters.dropped}, "
            f"corrupted {sim.rx.counters.corrupted}+{sim.tx.counters.corrupted}"
        )


def _sim_console(sim, quit_event: threading.Event) -> None:
    """Read simulator commands from stdin (EOF leaves the simulator running until Ctrl-C)."""
    c = sim.controller
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        cmd, args = words[0].lower(), words[1:]
        try:
            if cmd == "quit":
                break
            elif cmd == "estop":
                c.press_estop()
            elif cmd == "release":
                c.release_estop()
            elif cmd == "person":
                c.person(int(args[0]), float(args[1]) if len(args) > 1 else 0.0)
            elif cmd == "gone":
                c.person_gone()
            elif cmd == "touch":
                c.touch(int(args[0]))
            elif cmd == "battery":
                c.battery(int(args[0]), len(args) > 1 and args[1].startswith("charg"))
            elif cmd == "fault":
                c.fault(int(args[0], 0), " ".join(args[1:]))
            elif cmd == "reset":
                c.reset()
            elif cmd == "unplug":
                sim.unplug()
            elif cmd == "replug":
                sim.replug()
            elif cmd == "state":
                out.print(repr(c.state), markup=False)
            else:
                out.print(f"unknown command {cmd!r}. {SIM_HELP}", markup=False)
        except (IndexError, ValueError) as exc:
            out.print(f"bad arguments for {cmd}: {exc}. {SIM_HELP}", markup=False)
    else:
        return  # EOF: keep running until Ctrl-C
    quit_event.set()
