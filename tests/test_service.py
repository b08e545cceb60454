"""The appliance under systemd (appliance/service.py): READY, and watchdog pings that stop when a
worker hangs — the heartbeats alone, the robot link's progress, and the real ``kiosk run`` entry
point under a stand-in notify socket with its answer worker made to hang."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from appliance.bench_service import NotifyListener, hang
from appliance.service import (
    BeatingSource,
    Heartbeat,
    Liveness,
    PolledHeartbeat,
    ServiceNotifier,
    watchdog_period_s,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_job_worker_is_overdue_only_while_busy_and_silent_and_a_loop_always_when_silent() -> None:
    clock = Clock()
    answers = Heartbeat("answers", 5.0, clock=clock)
    voice = Heartbeat("voice loop", 2.0, always=True, clock=clock)
    clock.now += 60  # idle for a minute: nothing is expected of the answer worker
    assert not answers.overdue() and voice.overdue()
    voice.beat()
    with answers.busy():
        clock.now += 4.9
        assert not answers.overdue()
        clock.now += 0.2
        assert answers.overdue() and answers.state()["overdue"] is True
        answers.beat()  # a sentence came out
        assert not answers.overdue()
        with answers.busy():  # a second answer overlapping: still expected after the inner one ends
            pass
        clock.now += 6
        assert answers.overdue()
    assert not answers.overdue()  # finished: idle again
    voice.stop()  # the microphone was unplugged on purpose: not a hang
    clock.now += 60
    assert not voice.overdue()
    with pytest.raises(ValueError, match="limit_s"):
        Heartbeat("bad", 0)


def test_pings_are_withheld_while_a_worker_is_hung_and_resume_when_it_moves() -> None:
    clock = Clock()
    sent: list[str] = []
    beat = Heartbeat("answers", 1.0, clock=clock)
    liveness = Liveness({})
    liveness.add(beat)
    liveness.add(PolledHeartbeat("robot link", 3.0, lambda: clock.now, clock=clock))  # a link that keeps moving
    notifier = ServiceNotifier(liveness, period_s=0.0, send=sent.append)  # no thread: rounds by hand
    notifier.ready("serving")
    assert sent[0].startswith("READY=1\nSTATUS=serving\nMAINPID=")
    notifier.ready("serving again")  # READY goes once
    assert sent[1] == "STATUS=serving again"
    assert notifier.check() and sent[-1] == "WATCHDOG=1"
    with beat.busy():
        clock.now += 1.5
        assert not notifier.check() and not notifier.check()
        assert [m for m in sent if m.startswith("STATUS=hung")] == ["STATUS=hung: answers"]  # said once
        assert sent[-1] == "STATUS=hung: answers"
        beat.beat()
        assert notifier.check()
    assert sent[-2:] == ["STATUS=serving", "WATCHDOG=1"] and notifier.pings == 2
    assert liveness.report()["answers"]["overdue"] is False
    notifier.close()
    assert sent[-1] == "STOPPING=1"


def test_the_watchdog_period_comes_from_systemd_for_this_process_only() -> None:
    assert watchdog_period_s({}) is None
    assert watchdog_period_s({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_period_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 30.0
    assert watchdog_period_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None  # meant for another
    assert watchdog_period_s({"WATCHDOG_USEC": "soon"}) is None
    assert watchdog_period_s({"WATCHDOG_USEC": "0"}) is None


def test_the_notifier_pings_a_real_socket_every_half_period(tmp_path: Path) -> None:
    listener = NotifyListener(tmp_path)
    old = os.environ.get("NOTIFY_SOCKET")
    os.environ["NOTIFY_SOCKET"] = str(listener.path)
    try:
        notifier = ServiceNotifier(Liveness({}), period_s=0.2)  # the real sdnotify client
        assert notifier.active
        notifier.ready("up")
        time.sleep(0.75)
        notifier.close()
        assert listener.wait_for("STOPPING", "1", timeout=2) is not None
        pings = listener.pings()
        assert 5 <= len(pings) <= 10, pings  # every 0.1 s, from READY on
        assert listener.seen("READY", "1")[0].t <= pings[0]
    finally:
        if old is None:
            os.environ.pop("NOTIFY_SOCKET", None)
        else:
            os.environ["NOTIFY_SOCKET"] = old
        listener.close()


class _Frames:
    realtime = True

    def __init__(self, n: int, beat: Heartbeat) -> None:
        self.n, self.beat, self.seen = n, beat, []

    async def frames(self):
        for i in range(self.n):
            self.seen.append(self.beat.last)
            yield np.zeros(512, np.float32) + i

    def close(self) -> None:
        pass


def test_each_frame_the_voice_loop_takes_is_its_heartbeat_and_the_end_of_the_source_stops_it() -> None:
    clock = Clock()
    beat = Heartbeat("voice loop", 1.0, always=True, clock=clock)
    inner = _Frames(3, beat)
    source = BeatingSource(inner, beat)

    async def take() -> list[float]:
        beats = []
        async for _ in source.frames():
            clock.now += 0.5
            beats.append(beat.last)
        return beats

    clock.now += 10  # a loop that has not started is overdue
    assert beat.overdue()
    beats = asyncio.run(take())
    assert beats == [110.0, 110.5, 111.0]  # beaten as each frame is taken, before it is processed
    assert source.realtime and not beat.expected  # the source ended: nothing more expected


def test_the_robot_links_progress_moves_while_the_controller_is_away() -> None:
    from firmware_bridge.link import RobotLink

    link = RobotLink("/dev/kiosk-no-such-port", backoff_s=(0.2, 3.0)).start()
    try:
        beat = PolledHeartbeat("robot link", 1.5, lambda: link.progress)
        first = link.progress
        time.sleep(2.5)  # several reconnection attempts, with waits up to 3 s
        assert link.progress > first and not beat.overdue(), beat.state()
    finally:
        link.close()
    time.sleep(1.6)  # a closed link makes no progress: its heartbeat would go overdue
    assert beat.overdue()


@pytest.mark.slow
def test_kiosk_run_says_ready_pings_and_stops_pinging_when_its_answer_worker_hangs(tmp_path: Path) -> None:
    result = hang({"KIOSK_DATA_DIR": str(tmp_path / "data"), "KIOSK_CONFIG": ""}, tmp_path, limit_s=1.5, watchdog_s=0.6)
    ready = [n for n in result.notices if "READY" in n.fields]
    assert len(ready) == 1 and "answering typed questions" in ready[0].fields["STATUS"]
    assert result.pings_before >= 3  # an ordinary answer did not stop them
    assert result.status_s is not None and result.status_s < 1.5 + 1.0
    assert result.last_ping_s is None or result.last_ping_s <= 1.5 + 0.35  # none after the limit
    hung = [n for n in result.notices if n.fields.get("STATUS", "").startswith("hung")]
    assert hung and hung[0].fields["STATUS"] == "hung: answers"
    assert not [n for n in result.notices if "WATCHDOG" in n.fields and n.t > hung[0].t]
    health = json.loads((tmp_path / "data" / "health.json").read_text(encoding="utf-8"))
    assert health["workers"]["answers"]["limit_s"] == 1.5  # the staff screen and kiosk doctor see them


def test_kiosk_health_names_a_hung_worker_and_fails(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from appliance.cli import app
    from appliance.health import HEALTH_FILE, HealthWriter

    clock = Clock()
    answers = Heartbeat("answers", 5.0, clock=clock)
    liveness = Liveness({"answers": answers})
    liveness.add(Heartbeat("voice loop", 10.0, always=True, clock=clock))
    parts = {"robot": lambda: {"mode": "none"}, "workers": liveness.report}
    writer = HealthWriter(tmp_path / HEALTH_FILE, parts, period_s=60).start()
    env = {"KIOSK_DATA_DIR": str(tmp_path), "KIOSK_CONFIG": ""}
    try:
        r = CliRunner().invoke(app, ["health"], env=env)
        assert r.exit_code == 0 and "workers: all moving (silent: voice loop 0.0 s)" in r.stdout, r.stdout
        with answers.busy():
            clock.now += 6
            writer.write()
            r = CliRunner().invoke(app, ["health"], env=env)
        assert r.exit_code == 1 and "hung: answers" in r.stdout, r.stdout
    finally:
        writer.close()


def test_the_service_watches_each_lane_that_delivers_messages_to_staff(monkeypatch) -> None:
    from types import SimpleNamespace

    from appliance.cli.common import as_service
    from appliance.config import ServiceSettings

    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    lanes = {"duty": SimpleNamespace(progress=time.monotonic()), "mqtt": SimpleNamespace(progress=time.monotonic())}
    appliance = SimpleNamespace(
        settings=SimpleNamespace(service=ServiceSettings()), engine=SimpleNamespace(activity=None)
    )
    with as_service(appliance, None, SimpleNamespace(workers=lanes)) as service:
        report = service.liveness.report()
        assert {"outbox duty", "outbox mqtt", "answers"} <= set(report) and not service.liveness.overdue()
        lanes["mqtt"].progress -= ServiceSettings().outbox_limit_s + 1  # stuck in a send
        assert [b.name for b in service.liveness.overdue()] == ["outbox mqtt"]
    with as_service(appliance, None) as service:  # notify off: no lanes
        assert not any(name.startswith("outbox") for name in service.liveness.report())
