"""The host link (:class:`firmware_bridge.link.RobotLink`) against the simulated controller on real
pseudo-terminals (and TCP): reliability under injected faults, unplug/replug, the deadman watchdog,
the e-stop latch, limits, version and capability checks, controller resets and duplicate
suppression.

Every sim and link is a context manager and an autouse fixture checks that no thread outlives its
test. The only timing assertions are the watchdog's 600 ms bound (a safety requirement) and
generous "it failed fast instead of hanging" bounds on NotConnected and close().
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import serial

from firmware_bridge import messages as m
from firmware_bridge.framing import PROTOCOL_VERSION, Flags, Frame, StreamDecoder, decode, encode
from firmware_bridge.link import LinkState, Reply, RobotLink, Unsupported
from firmware_bridge.reliable import LinkError, NotConnected
from firmware_bridge.sim.controller import ALL_CAPABILITIES
from firmware_bridge.sim.ports import Faults, SimulatedRobot

FAULTS = dict(drop=0.05, corrupt=0.05, duplicate=0.02)
"""The fault profile of the issue, applied to every frame in both directions."""
FAST = dict(ack_timeout_s=0.02, retries=10)
"""Short ACK timeout so that a thousand commands under faults take seconds, not minutes."""


# -- helpers ---------------------------------------------------------------------------------------
def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01) -> bool:
    """Poll ``predicate`` until it is true (True) or ``timeout`` s pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


class Events:
    """An ``on_event`` handler that keeps every event, in order of delivery."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[m.Message] = []

    def __call__(self, message: m.Message) -> None:
        with self._lock:
            self._items.append(message)

    @property
    def items(self) -> list[m.Message]:
        with self._lock:
            return list(self._items)

    def of(self, kind: type[m.Message]) -> list[m.Message]:
        return [e for e in self.items if isinstance(e, kind)]


class States:
    """An ``on_state`` handler that keeps every state change with its time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[tuple[float, LinkState]] = []

    def __call__(self, state: LinkState) -> None:
        with self._lock:
            self._items.append((time.monotonic(), state))

    def since(self, t: float) -> list[LinkState]:
        with self._lock:
            return [s for when, s in self._items if when >= t]


def executed(sim: SimulatedRobot) -> list[tuple[int, m.Message]]:
    """A copy of what the simulated controller executed, (seq, command) in order."""
    with sim.controller.lock:
        return list(sim.controller.executed)


class MutableHeartbeatLink(RobotLink):
    """A RobotLink whose HEARTBEATs can be silenced while the port stays open and everything else
    (commands, ACKs) still flows: a host whose heartbeat task died."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.mute = threading.Event()
        self.heartbeats_sent = 0
        self.last_heartbeat: float | None = None  # monotonic time just before the last one was written
        self._hb_lock = threading.Lock()

    def _write(self, data: bytes) -> None:
        if decode(data[:-1]).type != m.MsgType.HEARTBEAT:
            super()._write(data)
            return
        with self._hb_lock:
            if self.mute.is_set():
                return  # "written": the keep-alive loop carries on, but nothing reaches the wire
            t = time.monotonic()
            super()._write(data)
            self.last_heartbeat = t
            self.heartbeats_sent += 1

    def silence(self) -> float:
        """Stop heartbeats; return when the last one was sent (no later one can follow)."""
        with self._hb_lock:
            self.mute.set()
            assert self.last_heartbeat is not None
            return self.last_heartbeat

    def resume_heartbeats(self) -> None:
        with self._hb_lock:
            self.mute.clear()


class RawHost:
    """Speaks the protocol by hand over the pty with plain pyserial (no RobotLink)."""

    def __init__(self, port: str):
        self.serial = serial.Serial(port, 115200, timeout=0.02)
        self.decoder = StreamDecoder()
        self.received: list[tuple[Frame, m.Message]] = []

    def close(self) -> None:
        self.serial.close()

    def send(self, frame: Frame) -> bytes:
        data = encode(frame)
        self.serial.write(data)
        self.serial.flush()
        return data

    def write(self, data: bytes) -> None:
        self.serial.write(data)
        self.serial.flush()

    def pump(self) -> None:
        data = self.serial.read(4096)
        for frame in self.decoder.feed(data):
            self.received.append((frame, m.unpack(frame.type, frame.payload, m.CONTROLLER_TO_HOST)))

    def wait_for(self, predicate: Callable[[list[m.Message]], bool], timeout: float = 3.0) -> list[m.Message]:
        """Read until ``predicate(messages so far)`` holds; return the messages."""
        deadline = time.monotonic() + timeout
        while True:
            messages = [msg for _, msg in self.received]
            if predicate(messages):
                return messages
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out; received {messages}")
            self.pump()


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """Every sim, link and reader thread a test started has ended shortly after it."""
    before = set(threading.enumerate())
    yield
    leaked: list[threading.Thread] = []

    def settled() -> bool:
        leaked[:] = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        return not leaked

    assert wait_until(settled, timeout=5.0, interval=0.02), f"threads left running: {leaked}"


# -- 1. reliability under faults --------------------------------------------------------------------
def test_thousand_commands_under_faults_execute_exactly_once_in_order():
    faults = Faults(**FAULTS, seed=20240611)
    # DISPLAY_TEXT, not a motion: under 10 % frame loss two host heartbeats in a row are lost now
    # and then, which trips the 500 ms deadman watchdog and rejects motion (see the report).
    with SimulatedRobot(faults=faults, **FAST) as sim, RobotLink(sim.port, **FAST) as link:
        assert link.wait_connected(5), link.error
        sent: list[m.Message] = []
        replies = []
        for i in range(1000):
            command = m.DisplayText(str(i))
            reply = link.request(command)
            assert reply.ack.result == m.Result.ACCEPTED, (i, reply)
            assert reply.ack.acked_seq == reply.seq
            sent.append(command)
            replies.append(reply)

        done = executed(sim)
        # exactly once, in order: no gap, no duplicate, no reordering, and under the seqs the host used
        assert [command for _, command in done] == sent
        assert [seq for seq, _ in done] == [r.seq for r in replies]
        assert len({seq for seq, _ in done}) == 1000
        assert sim.controller.state.display == "999"

        # the injector really damaged traffic in both directions ...
        for line in (sim.rx.counters, sim.tx.counters):
            assert line.dropped > 0 and line.corrupted > 0 and line.duplicated > 0, line
        # ... the controller caught the corrupted host frames and suppressed the repeated ones ...
        assert sim.controller.decoder.stats.errors > 0
        assert sim.controller.dedup.duplicates > 0
        assert sim.controller.counters.executed == 1000
        # ... and the host retransmitted, caught corrupted controller frames, gave up on nothing
        stats = link.stats()
        assert stats["retries"] > 0
        assert stats["crc_errors"] > 0 and stats["cobs_errors"] > 0, stats
        assert stats["timeouts"] == 0
        assert stats["commands"] == 1000
        assert stats["late_acks"] > 0  # duplicated / overtaken ACKs were recognised, not misapplied
        assert stats["reconnects"] == 0 and link.connected


def test_events_under_faults_arrive_exactly_once_in_order():
    events = Events()
    faults = Faults(**FAULTS, seed=7)
    with SimulatedRobot(faults=faults, **FAST) as sim, RobotLink(sim.port, on_event=events, **FAST) as link:
        assert link.wait_connected(5), link.error
        zones = list(range(100))
        for batch in (zones[:50], zones[50:]):  # the controller's outbox holds 64 events
            for zone in batch:
                sim.controller.touch(zone)
            want = batch[-1] + 1
            assert wait_until(lambda: len(events.items) >= want, timeout=15), events.items  # noqa: B023
        time.sleep(0.3)  # any late duplicate would be delivered by now

        assert events.items == [m.TouchEvent(zone) for zone in zones]
        assert sim.controller.counters.events_lost == 0
        assert sim.tx.counters.dropped > 0 and sim.rx.counters.dropped > 0
        assert sim.controller.sender.retransmissions > 0  # the controller had to retry events
        assert link.stats()["duplicates_received"] > 0  # the host saw repeats and dropped them


# -- 2. unplug / replug -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["pty", "tcp"])
def test_unplug_and_replug_mid_stream_recovers(kind: str):
    states = States()
    with SimulatedRobot(kind=kind) as sim, RobotLink(sim.port, on_state=states) as link:
        assert link.wait_connected(5), link.error
        log: list[tuple[float, float, int, object]] = []  # (start, end, i, Reply or exception)
        stop = threading.Event()

        def pump() -> None:
            i = 0
            while not stop.is_set():
                start = time.monotonic()
                try:
                    outcome: object = link.request(m.DisplayText(str(i)))
                except Exception as exc:  # noqa: BLE001 - anything but a LinkError fails the test below
                    outcome = exc
                log.append((start, time.monotonic(), i, outcome))
                i += 1
                if isinstance(outcome, Exception):
                    time.sleep(0.005)

        thread = threading.Thread(target=pump, name="test-pump")
        thread.start()
        try:
            assert wait_until(lambda: len(log) >= 50)
            unplugging = time.monotonic()  # the link may see it go before unplug() returns
            sim.unplug()
            unplugged = time.monotonic()
            time.sleep(0.5)
            replugged = time.monotonic()
            sim.replug()
            assert wait_until(lambda: link.connected and link.stats()["reconnects"] >= 1, timeout=5), (
                link.state,
                link.error,
            )
            recovered = time.monotonic()
            assert wait_until(lambda: sum(1 for s, *_ in log if s >= recovered) >= 50, timeout=5)
        finally:
            stop.set()
            thread.join(timeout=5)
        assert not thread.is_alive()

        # request() only ever raises the link's own errors (never a raw port or socket exception)
        assert all(isinstance(o, (Reply, LinkError)) for *_, o in log), {type(o).__name__ for *_, o in log}

        # during the outage: degraded mode, every command fails at once with NotConnected
        outage = [(s, e, i, o) for s, e, i, o in log if unplugged <= s < replugged]
        assert len(outage) >= 5
        assert all(isinstance(o, NotConnected) for *_, o in outage), {type(o).__name__ for *_, o in outage}
        assert max(e - s for s, e, _, _ in outage) < 1.0  # failed fast, did not hang
        assert LinkState.DISCONNECTED in states.since(unplugging)
        assert link.stats()["reconnects"] >= 1

        # after recovery every command succeeds
        after = [(s, e, i, o) for s, e, i, o in log if s >= recovered]
        assert after and all(not isinstance(o, Exception) and o.ok for *_, o in after)

        # nothing ran twice, nothing ran out of order, and everything acknowledged did run
        done = executed(sim)
        texts = [int(command.text) for _, command in done]
        assert len({seq for seq, _ in done}) == len(done)
        assert texts == sorted(set(texts))
        acknowledged = {i for _, _, i, o in log if not isinstance(o, Exception)}
        assert acknowledged <= set(texts)
        assert set(texts) <= {i for _, _, i, _ in log}

        # and motion works again once heartbeats have re-armed the controller's watchdog
        assert wait_until(lambda: not sim.controller.state.watchdog_tripped, timeout=3)
        assert link.request(m.Look(1500, 0, 60)).ack.result == m.Result.ACCEPTED
        assert sim.controller.state.pan == 15.0


def lose_port_between_reads(monkeypatch: pytest.MonkeyPatch) -> tuple[list[BaseException], bool]:
    """Unplug the pty while the host's reader thread is busy with a frame (between two reads), with
    slow heartbeats and a long link timeout so that no heartbeat write or timeout can notice the loss
    first. Returns the exceptions that escaped any thread, and whether the link left CONNECTED within
    1.5 s."""
    crashes: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: crashes.append(args.exc_value))
    hold, held, release = threading.Event(), threading.Event(), threading.Event()

    def on_frame(direction: str, item) -> None:  # runs on the reader thread for received frames
        if direction == "rx" and hold.is_set():
            hold.clear()
            held.set()
            release.wait(5)

    with SimulatedRobot() as sim, RobotLink(sim.port, on_frame=on_frame, heartbeat_hz=0.2, link_timeout_s=10) as link:
        assert link.wait_connected(5), link.error
        hold.set()
        assert held.wait(2)  # the reader is busy with a frame, between two reads
        sim.unplug()
        time.sleep(0.3)  # the kernel has hung the pty up by now
        release.set()
        noticed = wait_until(lambda: link.state != LinkState.CONNECTED, timeout=1.5)
    return crashes, noticed


def test_port_loss_between_reads_is_noticed_promptly(monkeypatch: pytest.MonkeyPatch):
    _, noticed = lose_port_between_reads(monkeypatch)
    assert noticed


def test_port_loss_between_reads_does_not_crash_the_reader_thread(monkeypatch: pytest.MonkeyPatch):
    crashes, _ = lose_port_between_reads(monkeypatch)
    assert crashes == []


# -- 3. deadman watchdog ----------------------------------------------------------------------------
def test_silent_host_trips_the_watchdog_within_600_ms():
    with SimulatedRobot() as sim, MutableHeartbeatLink(sim.port) as link:
        assert link.wait_connected(5), link.error
        time.sleep(0.7)  # a few heartbeats on time: the watchdog is armed and must not trip
        assert sim.controller.counters.watchdog_trips == 0
        assert link.heartbeats_sent >= 3

        wave = link.request(m.GestureCmd(m.Gesture.WAVE))  # 2 s
        turn = link.request(m.Turn(18000, 30))  # several seconds
        assert wave.ack.result == turn.ack.result == m.Result.IN_PROGRESS
        last_heartbeat = link.silence()

        wave_done = link.wait_done(wave.seq, timeout=3)
        turn_done = link.wait_done(turn.seq, timeout=3)
        assert wave_done == m.Done(wave.seq, m.Result.STOPPED, m.Reason.WATCHDOG)
        assert turn_done == m.Done(turn.seq, m.Result.STOPPED, m.Reason.WATCHDOG)
        c = sim.controller.counters
        assert c.watchdog_trips == 1
        assert c.last_stop_reason == "watchdog"
        with sim.controller.lock:
            assert sim.controller.state.arms is None and sim.controller.state.base is None
        assert c.stopped_at is not None
        assert 0.45 <= c.stopped_at - last_heartbeat <= 0.6, c.stopped_at - last_heartbeat
        assert link.connected  # the port stayed open; only the heartbeats stopped
        assert wait_until(lambda: link.health is not None and link.health.state & m.Health.WATCHDOG_TRIPPED)

        # motion stays refused while the host is silent; other commands are fine
        for command in (m.Look(0, 0, 60), m.GestureCmd(m.Gesture.NOD), m.Turn(1000, 30)):
            ack = link.request(command).ack
            assert (ack.result, ack.reason) == (m.Result.REJECTED_ESTOP, m.Reason.WATCHDOG), command
        assert link.request(m.FaceCmd(m.Face.ALERT)).ack.result == m.Result.ACCEPTED
        assert sim.controller.counters.watchdog_trips == 1  # latched, not re-counted

        link.resume_heartbeats()
        assert wait_until(lambda: not sim.controller.state.watchdog_tripped, timeout=2)
        assert link.request(m.Look(-1000, 500, 60)).ack.result == m.Result.ACCEPTED
        nod = link.request(m.GestureCmd(m.Gesture.NOD))
        assert nod.ack.result == m.Result.IN_PROGRESS
        assert link.wait_done(nod.seq, timeout=3) == m.Done(nod.seq, m.Result.DONE)
        assert sim.controller.counters.watchdog_trips == 1


# -- 4. e-stop --------------------------------------------------------------------------------------
def test_estop_stops_latches_and_needs_a_reset_after_release():
    events = Events()
    with SimulatedRobot() as sim, RobotLink(sim.port, on_event=events) as link:
        assert link.wait_connected(5), link.error
        wave = link.request(m.GestureCmd(m.Gesture.WAVE))
        assert wave.ack.result == m.Result.IN_PROGRESS

        sim.controller.press_estop()
        assert link.wait_done(wave.seq, timeout=3) == m.Done(wave.seq, m.Result.STOPPED, m.Reason.ESTOP_LATCHED)
        assert sim.controller.state.arms is None
        assert wait_until(lambda: events.of(m.EstopEvent) == [m.EstopEvent(pressed=1)])

        def refused(reason: m.Reason) -> None:
            for command in (m.Look(0, 0, 60), m.GestureCmd(m.Gesture.NOD), m.Turn(1000, 30)):
                ack = link.request(command).ack
                assert (ack.result, ack.reason) == (m.Result.REJECTED_ESTOP, reason), command
            with sim.controller.lock:
                assert sim.controller.state.arms is None and sim.controller.state.base is None

        refused(m.Reason.ESTOP_LATCHED)
        assert link.request(m.Stop()).ack.result == m.Result.ACCEPTED  # STOP is always accepted
        assert link.request(m.Stop(), priority=True).ack.result == m.Result.ACCEPTED

        ack = link.request(m.EstopReset()).ack  # the button is still pressed
        assert (ack.result, ack.reason) == (m.Result.REJECTED_ESTOP, m.Reason.ESTOP_PRESSED)
        assert sim.controller.state.estop_latched
        refused(m.Reason.ESTOP_LATCHED)

        sim.controller.release_estop()
        assert wait_until(lambda: events.of(m.EstopEvent) == [m.EstopEvent(1), m.EstopEvent(0)])
        refused(m.Reason.ESTOP_LATCHED)  # released, but still latched until a staff reset
        assert wait_until(lambda: link.health is not None and link.health.state & m.Health.ESTOP_LATCHED)

        assert link.request(m.EstopReset()).ack.result == m.Result.ACCEPTED
        assert not sim.controller.state.estop_latched
        assert link.request(m.Look(2000, 0, 60)).ack.result == m.Result.ACCEPTED
        assert sim.controller.state.pan == 20.0
        nod = link.request(m.GestureCmd(m.Gesture.NOD))
        assert nod.ack.result == m.Result.IN_PROGRESS
        assert link.request(m.Stop()).ack.result == m.Result.ACCEPTED
        assert link.wait_done(nod.seq, timeout=3) == m.Done(nod.seq, m.Result.STOPPED, m.Reason.NONE)


# -- 5. limits --------------------------------------------------------------------------------------
LIMIT_CASES = [
    (m.Look(9001, 0, 60), m.Reason.PAN_RANGE, "pan 90.01"),
    (m.Look(-9001, 0, 60), m.Reason.PAN_RANGE, "pan -90.01"),
    (m.Look(0, 3001, 60), m.Reason.TILT_RANGE, "tilt 30.01"),
    (m.Look(0, -2001, 60), m.Reason.TILT_RANGE, "tilt -20.01"),
    (m.Look(0, 0, 121), m.Reason.SPEED_LIMIT, "speed 121"),
    (m.Look(0, 0, 0), m.Reason.SPEED_LIMIT, "speed 0"),
    (m.Look(0, 0, 60, 361), m.Reason.ACCEL_LIMIT, "accel 361"),
    (m.Turn(18001, 30), m.Reason.TURN_RANGE, "turn 180.01"),
    (m.Turn(-18001, 30), m.Reason.TURN_RANGE, "turn -180.01"),
    (m.Turn(9000, 61), m.Reason.SPEED_LIMIT, "speed 61"),
    (m.Turn(9000, 30, 121), m.Reason.ACCEL_LIMIT, "accel 121"),
]


def test_limits_are_rejected_with_reason_and_detail_and_never_clipped():
    with SimulatedRobot() as sim, RobotLink(sim.port) as link:
        assert link.wait_connected(5), link.error
        assert link.request(m.Look(1000, 500, 60)).ack.result == m.Result.ACCEPTED
        with sim.controller.lock:
            before = (sim.controller.state.pan, sim.controller.state.tilt, sim.controller.state.heading)
        executed_before = executed(sim)

        for command, reason, detail in LIMIT_CASES:
            ack = link.request(command).ack
            assert (ack.result, ack.reason) == (m.Result.REJECTED_LIMIT, reason), command
            assert detail in ack.detail, (command, ack.detail)
            with sim.controller.lock:
                s = sim.controller.state
                assert (s.pan, s.tilt, s.heading) == before, command  # unchanged, not clipped
                assert s.base is None
        assert executed(sim) == executed_before
        assert sim.controller.counters.rejected == len(LIMIT_CASES)

        # the limits themselves are allowed
        for command in (m.Look(9000, 3000, 120, 360), m.Look(-9000, -2000, 1)):
            assert link.request(command).ack.result == m.Result.ACCEPTED, command
        assert (sim.controller.state.pan, sim.controller.state.tilt) == (-90.0, -20.0)
        turn = link.request(m.Turn(-18000, 60, 120))
        assert turn.ack.result == m.Result.IN_PROGRESS
        assert link.request(m.Stop()).ack.result == m.Result.ACCEPTED
        assert link.wait_done(turn.seq, timeout=3) == m.Done(turn.seq, m.Result.STOPPED, m.Reason.NONE)


# -- 6. protocol version ----------------------------------------------------------------------------
def test_protocol_version_mismatch_is_incompatible_and_names_both_versions():
    with SimulatedRobot(protocol=2) as sim, RobotLink(sim.port) as link:
        assert wait_until(lambda: link.state == LinkState.INCOMPATIBLE, timeout=5), (link.state, link.error)
        assert "v2" in link.error and f"v{PROTOCOL_VERSION}" in link.error
        assert not link.wait_connected(0.3)
        with pytest.raises(NotConnected):
            link.request(m.Ping())
        assert executed(sim) == []
        assert link.state == LinkState.INCOMPATIBLE  # it does not flap between states meanwhile


# -- 7. controller reset ----------------------------------------------------------------------------
def test_controller_reset_is_noticed_and_the_link_rehandshakes():
    with SimulatedRobot() as sim, RobotLink(sim.port) as link:
        assert link.wait_connected(5), link.error
        assert link.request(m.Look(500, 0, 60)).ack.result == m.Result.ACCEPTED
        sim.controller.reset()
        assert wait_until(lambda: link.stats()["controller_resets"] >= 1 and link.connected, timeout=5), (
            link.state,
            link.stats(),
        )
        # a command the controller accepts proves the new session: without a HELLO it answers NOT_HELLO
        reply = link.request(m.Look(-500, 0, 60))
        assert reply.ack.result == m.Result.ACCEPTED, reply
        assert sim.controller.state.pan == -5.0
        assert sim.controller.counters.resets == 1
        assert link.stats()["reconnects"] == 0  # handled on the open port


def test_two_controller_resets_in_a_row_are_both_handled_as_resets():
    states = States()
    with SimulatedRobot() as sim, RobotLink(sim.port, on_state=states) as link:
        assert link.wait_connected(5), link.error
        start = time.monotonic()
        for n in (1, 2):
            sim.controller.reset()
            handled = lambda: link.stats()["controller_resets"] + link.stats()["reconnects"] >= n  # noqa: E731,B023
            assert wait_until(handled, timeout=5)
            assert link.wait_connected(5)
            assert link.request(m.Ping()).ok
            time.sleep(0.1)
        assert link.stats()["controller_resets"] == 2
        assert link.stats()["reconnects"] == 0
        assert LinkState.DISCONNECTED not in states.since(start)


# -- 8. duplicate suppression on the wire ------------------------------------------------------------
def test_controller_executes_a_repeated_seq_once_and_repeats_its_ack():
    with SimulatedRobot() as sim:
        host = RawHost(sim.port)
        try:
            host.send(Frame(m.MsgType.HELLO, 0, Flags.NONE, m.Hello(PROTOCOL_VERSION, 1, 0, 0, 0, "raw").pack()))
            host.wait_for(lambda msgs: any(isinstance(x, m.Hello) for x in msgs))

            look = m.Look(1234, 0, 60)
            data = encode(Frame(look.TYPE, 7, Flags.ACK_REQUESTED, look.pack()))
            host.write(data)
            host.write(data)  # the very same bytes again
            host.send(Frame(look.TYPE, 7, Flags.ACK_REQUESTED | Flags.RETRY, look.pack()))  # a retransmission

            def acks_for(seq: int, msgs: list[m.Message]) -> list[m.Ack]:
                return [x for x in msgs if isinstance(x, m.Ack) and x.acked_seq == seq]

            msgs = host.wait_for(lambda msgs: len(acks_for(7, msgs)) >= 3)
            assert acks_for(7, msgs) == [m.Ack(7, m.Result.ACCEPTED)] * 3
            assert executed(sim) == [(7, look)]
            assert sim.controller.dedup.duplicates == 2
            assert sim.controller.counters.executed == 1
            assert sim.controller.state.pan == 12.34

            # a rejected command's ACK is repeated as it was, and the repeat is not re-evaluated
            bad = encode(Frame(m.MsgType.LOOK, 8, Flags.ACK_REQUESTED, m.Look(9500, 0, 60).pack()))
            host.write(bad)
            host.write(bad)
            msgs = host.wait_for(lambda msgs: len(acks_for(8, msgs)) >= 2)
            first, second = acks_for(8, msgs)[:2]
            assert first == second and first.result == m.Result.REJECTED_LIMIT
            assert sim.controller.counters.rejected == 1

            # a new seq with the same content is a new command
            host.send(Frame(look.TYPE, 9, Flags.ACK_REQUESTED, look.pack()))
            host.wait_for(lambda msgs: len(acks_for(9, msgs)) >= 1)
            assert executed(sim) == [(7, look), (9, look)]
            assert sim.controller.dedup.duplicates == 3
        finally:
            host.close()


# -- 9. TCP -----------------------------------------------------------------------------------------
def test_tcp_socket_link_works():
    events = Events()
    with SimulatedRobot(kind="tcp") as sim, RobotLink(sim.port, on_event=events) as link:
        assert sim.port.startswith("socket://127.0.0.1:")
        assert link.wait_connected(5), link.error
        assert link.controller is not None and link.controller.device_id == "sim-0001"
        assert link.request(m.Ping(42)).ok
        assert link.request(m.Look(-2500, 1000, 90)).ack.result == m.Result.ACCEPTED
        nod = link.request(m.GestureCmd(m.Gesture.NOD))
        assert nod.ack.result == m.Result.IN_PROGRESS
        sim.controller.touch(3)
        assert link.wait_done(nod.seq, timeout=3) == m.Done(nod.seq, m.Result.DONE)
        assert wait_until(lambda: events.items == [m.TouchEvent(3)])
        assert [type(c) for _, c in executed(sim)] == [m.Ping, m.Look, m.GestureCmd]
        assert (sim.controller.state.pan, sim.controller.state.tilt) == (-25.0, 10.0)
        assert wait_until(lambda: link.health is not None)  # controller heartbeats arrive


# -- 10. capabilities -------------------------------------------------------------------------------
def test_missing_capability_is_refused_locally():
    no_base = ALL_CAPABILITIES & ~m.Capability.BASE
    with SimulatedRobot(capabilities=no_base) as sim, RobotLink(sim.port) as link:
        assert link.wait_connected(5), link.error
        assert not link.controller.capabilities & m.Capability.BASE
        frames_before = sim.rx.counters.frames
        with pytest.raises(Unsupported, match="BASE"):
            link.request(m.Turn(9000, 30))
        # nothing reached the controller: neither executed nor rejected there
        assert executed(sim) == []
        assert sim.controller.counters.rejected == 0
        assert sim.rx.counters.frames - frames_before <= 2  # at most the heartbeats of that instant
        # what it does have still works
        assert link.request(m.Look(0, 0, 60)).ack.result == m.Result.ACCEPTED
        assert link.request(m.GestureCmd(m.Gesture.NOD)).ack.result == m.Result.IN_PROGRESS


# -- 11. no such port -------------------------------------------------------------------------------
def test_missing_port_stays_disconnected_and_fails_fast():
    link = RobotLink("/dev/does-not-exist").start()
    try:
        # it retries with backoff (CONNECTING for an instant each time) but never gets further
        assert wait_until(lambda: link.state == LinkState.DISCONNECTED and link.error is not None, timeout=3)
        assert "/dev/does-not-exist" in link.error
        assert not link.wait_connected(0.3)
        start = time.monotonic()
        with pytest.raises(NotConnected):
            link.request(m.Look(0, 0, 60))
        assert time.monotonic() - start < 0.5
        assert link.stream(m.Mouth(128)) is False
        assert link.state in (LinkState.DISCONNECTED, LinkState.CONNECTING) and not link.connected
        assert link.controller is None
    finally:
        start = time.monotonic()
        link.close()
        closing = time.monotonic() - start
    assert closing < 2.0  # returns promptly, does not sit out the reconnect backoff
    assert link.state == LinkState.CLOSED
