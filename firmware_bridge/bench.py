"""``kiosk bench robot``: round-trip latency and command throughput over the simulated controller.

The simulator sits on a real pseudo-terminal; its :class:`~firmware_bridge.sim.ports.Wire` model
adds the time bytes take on a 115200-baud UART (10 bits per byte, 8N1) or on USB full speed
(the 1 ms USB frame, then 1.216 MB/s), so the figures are host + kernel + wire time. A real
controller adds its own processing time on top.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from firmware_bridge import messages as m
from firmware_bridge.framing import Flags, Frame, encode
from firmware_bridge.link import RobotLink
from firmware_bridge.reliable import LinkError, RttStats
from firmware_bridge.sim.ports import Faults, SimulatedRobot, Wire


@dataclass
class RobotFigures:
    """One benchmark row: RTT percentiles in ms, reliable commands per second, what went wrong."""

    wire: str
    rtt_p50: float
    rtt_p99: float
    rtt_max: float
    commands_per_s: float
    wire_floor_ms: float
    retries: int
    timeouts: int
    failures: int


def wire_floor_ms(wire: Wire) -> float:
    """The time a PING and its ACK alone spend on the wire, ms (the floor of any round trip)."""
    ping = len(encode(Frame(m.MsgType.PING, 1, Flags.ACK_REQUESTED, m.Ping().pack())))
    ack = len(encode(Frame(m.MsgType.ACK, 1, Flags.NONE, m.Ack(1, m.Result.ACCEPTED).pack())))
    return (wire.delay_s(ping, 0.0005) + wire.delay_s(ack, 0.0005)) * 1e3


def run(
    wire: Wire,
    pings: int = 500,
    commands: int = 1000,
    faults: Faults | None = None,
    ack_timeout_s: float = 0.1,
    retries: int = 5,
) -> RobotFigures:
    """Measure one wire model: ``pings`` PINGs one after another (RTT), then ``commands`` FACE
    commands as fast as stop-and-wait allows (throughput).

    Raises:
        LinkError: the link did not come up within 5 s.
    """
    with (
        SimulatedRobot(wire=wire, faults=faults) as sim,
        RobotLink(sim.port, ack_timeout_s=ack_timeout_s, retries=retries) as link,
    ):
        if not link.wait_connected(5.0):
            raise LinkError(f"the simulator did not answer: {link.error}")
        rtt = RttStats()
        failures = 0
        for i in range(pings):
            try:
                reply = link.request(m.Ping(i))
            except LinkError:
                failures += 1
                continue
            rtt.add(reply.rtt_ms)
        faces = list(m.Face)
        t0 = time.perf_counter()
        for i in range(commands):
            try:
                link.request(m.FaceCmd(faces[i % len(faces)]))
            except LinkError:
                failures += 1
        elapsed = time.perf_counter() - t0
        stats = link.stats()
    summary = rtt.summary()
    return RobotFigures(
        wire.describe(),
        summary["p50"] or 0.0,
        summary["p99"] or 0.0,
        summary["max"] or 0.0,
        commands / elapsed,
        wire_floor_ms(wire),
        stats["retries"],
        stats["timeouts"],
        failures,
    )
