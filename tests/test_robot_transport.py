"""Opening ports: pyserial's loop:// and spy:// URLs, USB ids and serial numbers, and the wire models
of the simulator (latency, baud rate)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from appliance.cli import app
from firmware_bridge import messages as m
from firmware_bridge.framing import Flags, Frame, encode
from firmware_bridge.link import RobotLink
from firmware_bridge.sim.ports import Faults, SimulatedRobot, Wire
from firmware_bridge.transport import FrameProtocol, PortNotFound, ReaderThread, open_port, resolve_port


def test_frames_round_trip_over_pyserial_loop_url_with_line_noise():
    received: list[Frame] = []
    lost = threading.Event()
    port = open_port("loop://")
    protocol = FrameProtocol(received.append, lambda exc: lost.set())
    transport = ReaderThread(port, lambda: protocol)
    transport.start()
    transport.connect()
    try:
        frames = [Frame(m.MsgType.LOOK, i, Flags.ACK_REQUESTED, m.Look(i * 100, 0, 30).pack()) for i in range(20)]
        for i, frame in enumerate(frames):
            transport.write(encode(frame))
            if i == 7:
                transport.write(b"\x13\x37garbage without a delimiter\xff\x00")  # noise, then resync
        deadline = time.monotonic() + 3
        while len(received) < len(frames) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        transport.close()
    assert received == frames
    assert protocol.decoder.stats.errors == 1 and protocol.decoder.stats.frames == 20
    assert lost.is_set()  # closing the reader reports the connection as lost


def test_a_loop_url_has_no_controller_and_says_so():
    with RobotLink("loop://", backoff_s=(0.05, 0.1)) as link:
        deadline = time.monotonic() + 5
        while not link.error and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not link.connected  # it hears only its own HELLO, which is not a reply
        assert "no HELLO from a controller on loop://" in (link.error or "")


def test_spy_url_logs_the_traffic_of_a_working_link(tmp_path):
    log = tmp_path / "robot.log"
    with SimulatedRobot() as sim, RobotLink(f"spy://{sim.port}?file={log}") as link:
        assert link.wait_connected(5), link.error
        assert link.request(m.FaceCmd(m.Face.SMILE)).ok
        assert sim.controller.state.face is m.Face.SMILE
    text = log.read_text(errors="replace")
    assert "TX" in text.upper() and "RX" in text.upper()


def fake_ports():
    return [
        SimpleNamespace(device="/dev/ttyACM0", vid=0x2E8A, pid=0x000A, serial_number="E661", description="RP2040"),
        SimpleNamespace(device="/dev/ttyACM1", vid=0x2E8A, pid=0x000A, serial_number="F00D", description="RP2040"),
        SimpleNamespace(device="/dev/ttyS0", vid=None, pid=None, serial_number=None, description="n/a"),
    ]


def test_usb_ids_and_serial_numbers_resolve_to_the_device(monkeypatch):
    from serial.tools import list_ports

    monkeypatch.setattr(list_ports, "comports", fake_ports)
    assert resolve_port("usb:2e8a:000a") == "/dev/ttyACM0"
    assert resolve_port("usb:2E8A:000A:F00D") == "/dev/ttyACM1"
    assert resolve_port("serial:F00D") == "/dev/ttyACM1"
    assert resolve_port("/dev/ttyUSB3") == "/dev/ttyUSB3"
    assert resolve_port("socket://10.0.0.2:7000") == "socket://10.0.0.2:7000"
    with pytest.raises(PortNotFound, match=r"no USB serial device 1234:5678.*ttyACM0 \(2E8A:000A serial E661\)"):
        resolve_port("usb:1234:5678")
    with pytest.raises(PortNotFound, match="serial number NOPE"):
        resolve_port("serial:NOPE")
    with pytest.raises(ValueError, match="usb:VID:PID"):
        resolve_port("usb:rp2040")


def test_kiosk_robot_ports_lists_usb_ids(monkeypatch):
    from serial.tools import list_ports

    monkeypatch.setattr(list_ports, "comports", fake_ports)
    r = CliRunner().invoke(app, ["robot", "ports"])
    assert r.exit_code == 0
    assert "/dev/ttyACM1  usb:2E8A:000A serial:F00D" in r.stdout and "/dev/ttyS0" in r.stdout


def test_added_latency_and_the_uart_wire_model_slow_the_round_trip():
    with SimulatedRobot(faults=Faults(latency_ms=20)) as sim, RobotLink(sim.port) as link:
        assert link.wait_connected(5)
        rtt = min(link.request(m.Ping()).rtt_ms for _ in range(5))
    assert rtt >= 40  # 20 ms each way
    with SimulatedRobot(wire=Wire("uart", 9600)) as sim, RobotLink(sim.port, ack_timeout_s=0.5) as link:
        assert link.wait_connected(5)
        rtt = min(link.request(m.Ping()).rtt_ms for _ in range(3))
    floor = (len(encode(Frame(m.MsgType.PING, 1, Flags.ACK_REQUESTED, m.Ping().pack()))) + 13) * 10 / 9600 * 1e3
    assert rtt >= floor * 0.95  # ~27 ms of bits at 9600 baud


def test_run_with_robot_none_has_no_body(tmp_path):
    r = CliRunner().invoke(
        app, ["run", "--text", "--robot", "none", "--no-llm"], input="你好\n", env={"KIOSK_DATA_DIR": str(tmp_path)}
    )
    assert r.exit_code == 0, r.output
    assert "〔机器人〕" not in r.stderr and "robot:" not in r.stderr
