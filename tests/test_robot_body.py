"""The robot API and the body's behaviours, against the simulated controller on a real pseudo-terminal."""

from __future__ import annotations

import time

import numpy as np
import pytest

from appliance.body import ALERT_TEXT, GREETING_TEXT, Body, mouth_level
from appliance.config import RobotSettings
from appliance.events import BargeIn, Heard, ModeDecided, SessionEnded, Speaking, TurnDone, TurnResult, UserSpeaking
from firmware_bridge import messages as m
from firmware_bridge.link import RobotLink
from firmware_bridge.reliable import NotConnected
from firmware_bridge.robot import EstopLatched, MotionLimiter, Robot, parse_named
from firmware_bridge.sim.ports import SimulatedRobot
from voice.asr import Transcript


def wait_for(condition, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def body_rig():
    actions: list[str] = []
    with SimulatedRobot(on_action=actions.append) as sim, RobotLink(sim.port) as link:
        assert link.wait_connected(5)
        robot = Robot(link, motion_interval_s=0.0)
        yield sim, robot, actions


# -- the robot API ---------------------------------------------------------------------------------


def test_parse_named_accepts_cli_spellings_and_lists_the_valid_names():
    from firmware_bridge.messages import GESTURES

    assert parse_named("Point_Left", GESTURES, "gesture") is m.Gesture.POINT_LEFT
    with pytest.raises(ValueError, match="wave, nod, point-left"):
        parse_named("dance", GESTURES, "gesture")


def test_motion_limiter_allows_one_motion_per_part_per_interval():
    limiter = MotionLimiter(0.3)
    assert limiter.allow("head", now=10.0)
    assert not limiter.allow("head", now=10.1)
    assert limiter.allow("arms", now=10.1)  # parts are independent
    assert limiter.allow("head", now=10.31)
    assert limiter.skipped == 1


def test_robot_commands_reach_the_body_in_degrees(body_rig):
    sim, robot, actions = body_rig
    assert robot.look(30, -10).ok
    assert (sim.controller.state.pan, sim.controller.state.tilt) == (30.0, -10.0)
    assert robot.face("thinking").ok and sim.controller.state.face is m.Face.THINKING
    assert robot.led((1, 2, 3), "breathe").ok and sim.controller.state.led == (1, 2, 3, m.LedPattern.BREATHE)
    assert robot.display("您好").ok and sim.controller.state.display == "您好"
    reply = robot.gesture("wave")
    assert reply.ack.result is m.Result.IN_PROGRESS
    done = robot.link.wait_done(reply.seq, 5)
    assert done is not None and done.result is m.Result.DONE
    with pytest.raises(ValueError, match="at most 96"):
        robot.display("长" * 40)  # 120 bytes: refused, never cut


def test_rate_limited_motion_is_skipped_not_queued(body_rig):
    sim, robot, _ = body_rig
    robot.limiter = MotionLimiter(10.0)
    assert robot.look(10, 0, limited=True) is not None
    assert robot.look(20, 0, limited=True) is None
    assert sim.controller.state.pan == 10.0
    assert robot.look(20, 0).ok  # an explicit (CLI) command is not limited


def test_host_refuses_motion_while_the_estop_is_latched_until_staff_reset(body_rig):
    sim, robot, _ = body_rig
    sim.controller.press_estop()
    assert wait_for(lambda: robot.estop_latched)
    sent = robot.link.stats()["commands"]
    with pytest.raises(EstopLatched, match="estop-reset"):
        robot.look(10, 0)
    with pytest.raises(EstopLatched):
        robot.gesture("nod")
    assert robot.link.stats()["commands"] == sent  # refused on the host: nothing was sent
    assert robot.face("alert").ok  # the face and the display still work
    assert robot.stop().ok
    assert not robot.estop_reset().ok  # the button is still pressed
    sim.controller.release_estop()
    time.sleep(0.6)
    assert robot.estop_latched  # releasing the button does not unlatch
    assert robot.estop_reset().ok
    assert not robot.estop_latched
    assert robot.look(10, 0).ok
    time.sleep(0.6)  # heartbeats after the reset agree
    assert not robot.estop_latched


def test_status_reports_controller_health_and_counters(body_rig):
    sim, robot, _ = body_rig
    robot.ping()
    assert wait_for(lambda: robot.link.health is not None)
    s = robot.status()
    assert s["state"] == "connected"
    assert s["controller"]["device_id"] == "sim-0001" and "HEAD" in s["controller"]["capabilities"]
    assert s["health"]["battery_pct"] == 87
    assert s["link"]["commands"] >= 1 and s["link"]["rtt_ms"]["p50"] is not None


def test_without_a_controller_commands_fail_fast():
    link = RobotLink("/dev/kiosk-no-such-port", backoff_s=(0.05, 0.1)).start()
    try:
        robot = Robot(link)
        t = time.monotonic()
        with pytest.raises(NotConnected):
            robot.face("smile")
        assert time.monotonic() - t < 0.5
        assert not robot.connected
        assert wait_for(lambda: link.error is not None and "kiosk-no-such-port" in link.error)
    finally:
        link.close()


# -- behaviours ------------------------------------------------------------------------------------


def test_mouth_level_maps_loudness_in_decibels():
    t = np.arange(1600) / 16000
    assert mouth_level(np.zeros(640, np.float32)) == 0
    assert mouth_level(np.array([], np.float32)) == 0
    assert mouth_level(np.sin(2 * np.pi * 200 * t).astype(np.float32)) == 255  # -3 dBFS: wide open
    quiet = (10 ** (-30 / 20) * np.sqrt(2) * np.sin(2 * np.pi * 200 * t)).astype(np.float32)  # -30 dBFS
    assert 120 <= mouth_level(quiet) <= 135
    assert mouth_level(quiet * 0.01) == 0  # -70 dBFS: closed


def _turn_events(mode: str, text: str = "您好") -> list:
    result = TurnResult(1)
    return [
        UserSpeaking(0.0),
        Heard(1, Transcript(text, "zh", 1.0)),
        ModeDecided(1, mode),
        Speaking(1, text),
        TurnDone(result),
    ]


def test_a_conversation_turn_moves_the_body(body_rig):
    sim, robot, actions = body_rig
    body = Body(robot, RobotSettings(motion_interval_ms=0)).start()
    try:
        faces = []
        for event in _turn_events("answer"):
            body.handle(event)
            body.drain()
            faces.append(sim.controller.state.face)
        assert faces == [m.Face.LISTENING, m.Face.THINKING, m.Face.THINKING, m.Face.SPEAKING, m.Face.LISTENING]
        assert "gesture nod" in actions  # a nod while the resident speaks
        body.handle(SessionEnded(1))
        body.drain()
        s = sim.controller.state
        assert (s.face, s.pan, s.display, s.led[3]) == (m.Face.NEUTRAL, 0.0, "", m.LedPattern.OFF)
    finally:
        body.close()


def test_an_emergency_stops_motion_and_shows_the_alert_until_the_session_ends(body_rig):
    sim, robot, actions = body_rig
    body = Body(robot).start()
    try:
        robot.gesture("wave")
        assert sim.controller.state.arms is not None
        for event in _turn_events("emergency", "电梯里有人被困住了"):
            body.handle(event)
        body.drain()
        s = sim.controller.state
        assert s.arms is None  # the wave was stopped
        assert s.face is m.Face.ALERT and s.led[:2] == (255, 0) and s.led[3] is m.LedPattern.FLASH
        assert s.display == ALERT_TEXT["zh"]
        body.handle(SessionEnded(1))
        body.drain()
        assert sim.controller.state.face is m.Face.NEUTRAL
    finally:
        body.close()


def test_handoff_points_to_the_staff_desk_and_no_answer_looks_sorry(body_rig):
    sim, robot, actions = body_rig
    body = Body(robot, RobotSettings(staff_desk="right", motion_interval_ms=0)).start()
    try:
        body.mode("handoff")
        body.drain()
        assert actions[-1] == "gesture point-right"
        body.mode("no_answer")
        body.drain()
        assert sim.controller.state.face is m.Face.SAD
    finally:
        body.close()


def test_a_person_coming_near_is_greeted_once_per_cooldown(body_rig):
    sim, robot, actions = body_rig
    greeted = []
    body = Body(robot, RobotSettings(motion_interval_ms=0, greet_cooldown_s=60), on_greet=lambda: greeted.append(1))
    body.start()
    try:
        sim.controller.person(400, 30)  # too far: no greeting
        time.sleep(0.3)
        sim.controller.person(150, 30)
        assert wait_for(lambda: sim.controller.state.display == GREETING_TEXT["zh"])
        s = sim.controller.state
        assert s.pan == 30.0 and s.face is m.Face.SMILE and s.arms is not None and s.arms.what == "wave"
        sim.controller.person(120, -20)  # the same visit: not greeted again
        time.sleep(0.3)
        body.drain()
        assert greeted == [1] and sim.controller.state.pan == 30.0
    finally:
        body.close()


def test_a_person_behind_the_head_s_reach_gets_the_base_turned(body_rig):
    sim, robot, actions = body_rig
    body = Body(robot, RobotSettings(motion_interval_ms=0)).start()
    try:
        body.greet(120)
        body.drain()
        assert any(a.startswith("base turn +120") for a in actions)
    finally:
        body.close()


def test_lip_sync_follows_the_audio_envelope_while_speaking(body_rig):
    sim, robot, _ = body_rig
    t0 = time.monotonic()

    def window() -> np.ndarray:  # syllables: 100 ms loud, 100 ms silent
        loud = int((time.monotonic() - t0) / 0.1) % 2 == 0
        return np.full(640, 0.3 if loud else 0.0, np.float32)

    body = Body(robot, RobotSettings(mouth_hz=25), audio_window=window).start()
    try:
        before = sim.controller.counters.mouth_frames
        body.speaking()
        levels = set()
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            levels.add(sim.controller.state.mouth)
            time.sleep(0.005)
        body.turn_over()
        frames = sim.controller.counters.mouth_frames - before
        assert frames >= 15  # 25 Hz configured; a loose bound for a loaded machine
        assert max(levels) > 200 and 0 in levels
        body.drain()
        assert wait_for(lambda: sim.controller.state.mouth == 0)
        settled = sim.controller.counters.mouth_frames
        time.sleep(0.3)
        assert sim.controller.counters.mouth_frames - settled <= 1  # the stream stops with the turn
    finally:
        body.close()


def test_barge_in_closes_the_mouth_and_listens(body_rig):
    sim, robot, _ = body_rig
    body = Body(robot).start()
    try:
        body.handle(Speaking(1, "好的"))
        body.drain()
        assert sim.controller.state.face is m.Face.SPEAKING
        body.handle(BargeIn(1, 64.0))
        body.drain()
        assert sim.controller.state.face is m.Face.LISTENING
    finally:
        body.close()


def test_idle_behaviour_after_quiet(body_rig):
    sim, robot, actions = body_rig
    body = Body(robot, RobotSettings(idle_after_s=5, motion_interval_ms=0))
    body._last_activity -= 10  # quiet for longer than idle_after_s
    body.start()
    try:
        assert wait_for(lambda: "gesture idle-breathe" in actions, timeout=4)
    finally:
        body.close()


def test_degraded_mode_drops_actions_without_blocking():
    link = RobotLink("/dev/kiosk-no-such-port", backoff_s=(0.05, 0.1)).start()
    body = Body(Robot(link)).start()
    try:
        t = time.monotonic()
        for event in _turn_events("answer"):
            body.handle(event)
        body.drain()
        assert time.monotonic() - t < 1.0
        assert body.failures >= 4 and body.actions == []
    finally:
        body.close()
        link.close()


def test_the_host_heartbeat_carries_what_the_appliance_is_doing(body_rig):
    sim, robot, _ = body_rig
    body = Body(robot).start()
    try:
        body.handle(Speaking(1, "好的"))
        assert robot.link.host_state & m.HostHealth.SPEAKING
        body.handle(ModeDecided(1, "emergency"))
        assert robot.link.host_state & m.HostHealth.EMERGENCY
        body.handle(SessionEnded(1))
        assert robot.link.host_state == m.HostHealth.APPLIANCE_OK
    finally:
        body.close()


def test_health_report_shows_the_body_degraded_and_connected(tmp_path, body_rig):
    from appliance.health import HealthWriter, read_health, robot_health

    sim, robot, _ = body_rig
    path = tmp_path / "health.json"
    writer = HealthWriter(path, {"robot": lambda: robot_health(robot)}, period_s=0.1).start()
    try:
        data, verdict = read_health(path)
        assert verdict == "running" and data["robot"]["mode"] == "ok"
        assert data["robot"]["controller"]["device_id"] == "sim-0001"
        sim.unplug()
        assert wait_for(lambda: read_health(path)[0]["robot"]["mode"] == "degraded", timeout=5)
        sim.controller.press_estop()
        sim.replug()
        assert wait_for(lambda: read_health(path)[0]["robot"]["mode"] == "estop", timeout=8)
    finally:
        writer.close()
    assert read_health(path)[1] == "stopped"
    assert robot_health(None) == {"mode": "none"}


def test_a_health_report_that_stops_changing_is_stale(tmp_path):
    import json

    from appliance.health import read_health

    path = tmp_path / "health.json"
    assert read_health(path) == (None, "missing")
    path.write_text(json.dumps({"time": time.time() - 60, "running": True, "period_s": 5, "pid": 1}))
    assert read_health(path)[1] == "stale"
