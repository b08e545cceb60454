"""`kiosk robot ...`, `kiosk run --robot` and `kiosk bench robot`: the simulator as a real process on a
pseudo-terminal, the field engineer's commands against it, and the body in a conversation."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from appliance.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def kiosk_exe() -> list[str]:
    exe = shutil.which("kiosk", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "appliance"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"KIOSK_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def sim_process(tmp_path: Path):
    """`kiosk robot sim` as its own process; yields (process, port)."""
    proc = subprocess.Popen(
        [*kiosk_exe(), "robot", "sim"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "KIOSK_DATA_DIR": str(tmp_path / "simdata")},
        cwd=ROOT,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("port: "), line + proc.stderr.read()
        yield proc, line.split(": ", 1)[1].strip()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def invoke(args, env, input=None):
    return runner.invoke(app, args, env=env, input=input, catch_exceptions=False)


def console(proc, command: str) -> None:
    proc.stdin.write(command + "\n")
    proc.stdin.flush()
    time.sleep(0.3)


def test_field_engineer_commands_against_the_simulator_process(sim_process, env):
    proc, port = sim_process
    assert Path(port).is_symlink() and os.readlink(port).startswith("/dev/pts/")

    r = invoke(["robot", "status", "--port", port, "--json"], env)
    assert r.exit_code == 0, r.output
    status = json.loads(r.stdout.strip().splitlines()[-1])
    assert status["state"] == "connected" and status["controller"]["device_id"] == "sim-0001"
    assert status["controller"]["protocol"] == 1 and "ESTOP" in status["controller"]["capabilities"]
    assert status["link"]["rtt_ms"]["p50"] > 0

    r = invoke(["robot", "ping", "--port", port, "-n", "5"], env)
    assert r.exit_code == 0 and r.stdout.count("ms") >= 5 and "round trip p50" in r.stdout

    r = invoke(["robot", "look", "30", "5", "--port", port], env)
    assert r.exit_code == 0 and "accepted" in r.stdout
    r = invoke(["robot", "look", "130", "5", "--port", port], env)
    assert r.exit_code == 1 and "REJECTED_LIMIT" in r.stdout and "PAN_RANGE" in r.stdout

    r = invoke(["robot", "gesture", "nod", "--port", port], env)  # a one-shot command waits for the motion
    assert r.exit_code == 0 and "in_progress" in r.stdout and r.stdout.strip().endswith("done")
    r = invoke(["robot", "gesture", "nod", "--no-wait", "--port", port], env)
    assert r.exit_code == 0 and r.stdout.strip().splitlines()[-1].startswith("gesture nod: in_progress")
    r = invoke(["robot", "gesture", "dance", "--port", port], env)
    assert r.exit_code == 2 and "wave, nod" in r.stderr

    r = invoke(["robot", "face", "smile", "--port", port], env)
    assert r.exit_code == 0

    # The e-stop: pressed on the (simulated) robot, refused until a staff reset after release.
    console(proc, "estop")
    r = invoke(["robot", "status", "--port", port], env)
    assert "e-stop: LATCHED" in r.stdout
    r = invoke(["robot", "look", "0", "0", "--port", port], env)
    assert r.exit_code == 2 and "e-stop is latched" in r.stderr
    r = invoke(["robot", "estop-reset", "--port", port], env)
    assert r.exit_code == 1 and "ESTOP_PRESSED" in r.stdout
    console(proc, "release")
    r = invoke(["robot", "estop-reset", "--port", port], env)
    assert r.exit_code == 0, r.output
    r = invoke(["robot", "look", "0", "0", "--port", port], env)
    assert r.exit_code == 0, r.output

    r = invoke(["robot", "monitor", "--port", port, "--seconds", "0.8", "--heartbeats"], env)
    assert r.exit_code == 0
    assert "-> seq" in r.stdout and "<- seq" in r.stdout and "HEARTBEAT" in r.stdout and "REPLY" in r.stdout
    assert "counters: frames_sent" in r.stdout

    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=10)
    assert "look pan +30°" in output and "gesture nod" in output and "E-STOP pressed" in output
    assert "executed" in output.splitlines()[-1]


def test_robot_commands_name_the_problem_without_a_controller(env):
    r = invoke(["robot", "status", "--port", "/dev/kiosk-no-such-port"], env)
    assert r.exit_code == 2 and "no controller on /dev/kiosk-no-such-port" in r.stderr
    r = invoke(["robot", "status"], env)
    assert r.exit_code == 2 and "--port" in r.stderr
    r = invoke(["robot", "status", "--port", "usb:2E8A:000A"], env)
    assert r.exit_code == 2 and "no USB serial device 2E8A:000A" in r.stderr


def test_kiosk_robot_accepts_a_socket_url(env):
    from firmware_bridge.sim.ports import SimulatedRobot

    with SimulatedRobot(kind="tcp") as sim:
        r = invoke(["robot", "face", "thinking", "--port", sim.port], env)
        assert r.exit_code == 0, r.output
        assert sim.controller.state.face.name == "THINKING"


def test_run_text_with_the_simulated_body_reacts_to_the_conversation(env):
    r = invoke(["run", "--text", "--robot", "sim", "--no-llm"], env, input="我社保卡掉了怎么办\n电梯里有人被困住了\n")
    assert r.exit_code == 0, r.output
    assert "社会保障卡" in r.stdout and "电梯" in r.stdout
    body = [line.strip() for line in r.stderr.splitlines() if "〔机器人〕" in line]
    said = [line.split("〕", 1)[1] for line in body]
    assert "face listening" in said and "gesture nod" in said and "face thinking" in said
    assert "face speaking" in said
    alert = said.index("face alert")
    assert said[alert - 1] == "stop" and any(s.startswith("led #ff0000 flash") for s in said[alert:])
    assert said[-1].startswith("led #000000 off")  # the session ended: back to rest


def test_run_text_without_a_body_carries_on(env):
    r = invoke(["run", "--text", "--robot", "/dev/kiosk-no-such-port", "--no-llm"], env, input="我社保卡掉了怎么办\n")
    assert r.exit_code == 0, r.output
    assert "社会保障卡" in r.stdout
    assert "running without a body" in r.stderr
    r = invoke(["health", "--json"], env)
    report = json.loads(r.stdout)
    assert r.exit_code == 1 and report["verdict"] == "stopped"
    assert (
        report["report"]["robot"]["mode"] == "degraded" and "kiosk-no-such-port" in report["report"]["robot"]["error"]
    )
    assert report["report"]["appliance"]["kb_version"] > 0
    r = invoke(["health"], env)
    assert "robot: degraded" in r.stdout


def test_health_before_the_appliance_ever_ran(env):
    r = invoke(["health"], env)
    assert r.exit_code == 1 and "has not run here" in r.stdout


def test_robot_port_from_the_environment(env):
    r = invoke(["run", "--text", "--no-llm"], {**env, "KIOSK_ROBOT__PORT": "sim"}, input="你好\n")
    assert r.exit_code == 0, r.output
    assert "simulated controller on" in r.stderr and "〔机器人〕" in r.stderr


def test_bench_robot_prints_rtt_and_throughput_per_wire(env):
    r = invoke(["bench", "robot", "--pings", "20", "--commands", "20"], env)
    assert r.exit_code == 0, r.output
    rows = {line.split("  ")[1].strip(): line for line in r.stdout.splitlines() if " none " in line}
    assert set(rows) == {"115200 baud (8N1)", "USB full speed (12 Mbit/s)", "pseudo-terminal"}
    uart = rows["115200 baud (8N1)"].split()
    floor, p50 = float(uart[4]), float(uart[5])
    assert floor == pytest.approx(2.69, abs=0.1) and p50 >= floor  # the wire model is applied
