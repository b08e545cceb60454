"""Messages to staff: what they say, the outbox written with the journal, the channels against
stand-in WeCom, DingTalk, webhook and Mosquitto endpoints on 127.0.0.1, and the sender's
retries, rate limits, digests, deadlines and crash safety."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from appliance.answer.types import Answer
from appliance.config import NotifyChannelSettings, NotifySettings, Settings
from appliance.journal import Journal, Redactor
from appliance.notify.channels import (
    ChannelConfigError,
    DeliveryError,
    DingTalkRobot,
    MqttChannel,
    Webhook,
    WeComRobot,
    build_channels,
    read_secrets,
)
from appliance.notify.message import MessageComposer, MessageKind, StaffMessage
from appliance.notify.sender import OutboxSender, TokenBucket, backoff_s
from appliance.notify.summary import DailySummary
from appliance.triage import Triage
from tests import standins
from tests.standins import Mosquitto, StandIn

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def triage() -> Triage:
    return Triage.load(detector=False)


@pytest.fixture
def server():
    s = StandIn()
    yield s
    s.close()


def composer(triage, site) -> MessageComposer:
    return MessageComposer("幸福里社区 大厅一号机", site.address, triage, site.duty_phone)


def open_journal(path: Path, triage, site, routes: dict[str, list[str]] | None = None) -> Journal:
    routes = {"duty": ["emergency", "handoff", "summary"]} if routes is None else routes
    return Journal(
        path, Redactor([site.duty_phone]), composer=composer(triage, site), routes=routes, kiosk_id="kiosk-1"
    )


def lift(question: str = "电梯里有人被困住了，在3号楼2单元，我电话13812345678") -> Answer:
    return Answer(
        question,
        "有人被困在电梯里，请马上这样做：1. 让被困的人保持冷静",
        "emergency",
        "scripted",
        reason="lift_entrapment",
    )


def handoff(question: str = "我要投诉物业，麻烦回电13912345678") -> Answer:
    return Answer(question, "好的，我会请工作人员联系您。", "handoff", "scripted", reason="complaint")


class Clock:
    """A settable clock for the sender (seconds since the epoch)."""

    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


def notify_settings(**kw) -> NotifySettings:
    return NotifySettings(**{"retry_base_s": 1.0, **kw})


# --- what a message says ------------------------------------------------------------------------


def test_an_emergency_message_says_where_what_and_what_to_do_and_keeps_only_the_address(tmp_path, triage, site) -> None:
    j = open_journal(tmp_path / "j.sqlite", triage, site)
    j.record(lift())
    [row] = j.outbox.rows()
    m = row.message
    assert (row.kind, row.priority, row.channel, row.state) == ("emergency", 0, "duty", "pending")
    assert m.title == "【紧急】电梯困人" and m.kiosk == "幸福里社区 大厅一号机" and m.place == site.address
    assert "3号楼2单元" in m.said  # the duty worker must find the emergency
    assert "13812345678" not in m.said and "〔手机号〕" in m.said  # the resident's phone stays on the device
    assert "物业" in m.action and m.told.startswith("有人被困在电梯里")
    assert row.key.startswith("kiosk-1/emergency/")
    text = m.markdown()
    assert "**【紧急】电梯困人**" in text and "> 请您：" in text and "13812345678" not in text
    j.close()


def test_a_handoff_message_names_the_reason_and_only_the_callback_numbers_last_digits(tmp_path, triage, site) -> None:
    j = open_journal(tmp_path / "j.sqlite", triage, site)
    j.record(handoff())
    [row] = j.outbox.rows()
    assert row.message.title == "【转人工】投诉或反映问题"
    assert "尾号5678" in row.message.action and "13912345678" not in row.message.to_json()
    [h] = j.rows("handoffs")
    assert h["callback"] == "13912345678"  # on the device, for the staff screen
    j.close()


@pytest.mark.parametrize("mode", ["answer", "no_answer", "clarify"])
def test_ordinary_turns_send_nothing(tmp_path, triage, site, mode) -> None:
    j = open_journal(tmp_path / "j.sqlite", triage, site)
    j.record(Answer("社保卡怎么补办", "带身份证去窗口", mode, "extractive", reason="low_confidence"))
    assert j.outbox.rows() == []
    j.close()


def test_messages_go_only_to_channels_that_take_their_kind(tmp_path, triage, site) -> None:
    j = open_journal(tmp_path / "j.sqlite", triage, site, {"duty": ["emergency", "handoff"], "office": ["summary"]})
    j.record(lift())
    j.record(handoff())
    assert sorted((r.channel, r.kind) for r in j.outbox.rows()) == [("duty", "emergency"), ("duty", "handoff")]
    j.close()
    off = open_journal(tmp_path / "k.sqlite", triage, site, {})
    off.record(lift())
    assert off.outbox.rows() == [] and len(off.rows("alerts")) == 1
    off.close()


def test_the_outbox_row_is_written_in_the_journal_rows_transaction(tmp_path, triage, site) -> None:
    j = open_journal(tmp_path / "j.sqlite", triage, site)
    original = j.outbox.queue

    def broken(*args, **kwargs):
        original(*args, **kwargs)
        raise OSError("disk full")

    j.outbox.queue = broken
    with pytest.raises(OSError):
        j.record(lift())
    assert j.rows("alerts") == [] and j.rows("turns") == []  # rolled back together
    assert j.outbox.rows() == []
    j.close()


def test_message_json_round_trips_and_bad_json_is_refused() -> None:
    m = StaffMessage(MessageKind.SUMMARY, "t", "k", "p", "2026-12-02T10:00:00+08:00", lines=("a", "b"))
    assert StaffMessage.from_json(m.to_json()) == m
    with pytest.raises(ValueError):
        StaffMessage.from_json('{"kind": "nonsense"}')


# --- channels against stand-ins -----------------------------------------------------------------


def sample(kind=MessageKind.EMERGENCY) -> StaffMessage:
    return StaffMessage(kind, "【紧急】电梯困人", "一号机", "幸福路1号", "2026-12-02T21:14:03+08:00", said="电梯困人了")


def test_wecom_sends_markdown_and_mentions_phones_with_a_text_message(server) -> None:
    plain = WeComRobot("duty", server.url + "/cgi-bin/webhook/send", "KEY-1")
    plain.send(sample(MessageKind.HANDOFF), "k1")
    loud = WeComRobot("duty", server.url + "/cgi-bin/webhook/send", "KEY-1", mentions=["13800000001"])
    loud.send(sample(), "k2")
    first, second = server.wait_for(2)
    assert first.query == {"key": "KEY-1"} and first.json["msgtype"] == "markdown"
    assert "**【紧急】电梯困人**" in first.json["markdown"]["content"]
    assert second.json["msgtype"] == "text" and second.json["text"]["mentioned_mobile_list"] == ["13800000001"]


@pytest.mark.parametrize(
    ("reply", "retry", "rate_limited"),
    [
        ((200, standins.WECOM_RATE_LIMIT, 0), True, True),
        ((200, standins.BUSY, 0), True, False),
        ((200, standins.WECOM_BAD_KEY, 0), False, False),
        ((500, None, 0), True, False),
        ((404, None, 0), False, False),
    ],
)
def test_wecom_errors_say_whether_to_retry(server, reply, retry, rate_limited) -> None:
    server.script.replies = [reply]
    with pytest.raises(DeliveryError) as info:
        WeComRobot("duty", server.url, "KEY-1").send(sample(), "k")
    assert (info.value.retry, info.value.rate_limited) == (retry, rate_limited)
    assert "KEY-1" not in str(info.value)  # the secret never reaches a log or a row


def test_a_hanging_endpoint_times_out_as_retryable(server) -> None:
    server.script.replies = [(200, standins.OK, 3.0)]
    start = time.monotonic()
    with pytest.raises(DeliveryError) as info:
        WeComRobot("duty", server.url, "K", timeout_s=0.5).send(sample(), "k")
    assert info.value.retry and time.monotonic() - start < 2.5


def test_dingtalk_signs_as_dingtalk_checks_and_ats_mobiles(server) -> None:
    server.script.check = standins.dingtalk_checker("TOKEN", "SEC123")
    DingTalkRobot("dd", server.url + "/robot/send", "TOKEN", "SEC123", mentions=["13800000002"]).send(sample(), "k")
    [got] = server.wait_for(1)
    assert got.json["at"]["atMobiles"] == ["13800000002"] and "@13800000002" in got.json["markdown"]["text"]
    with pytest.raises(DeliveryError) as info:  # a wrong secret: DingTalk's 310000, not retried
        DingTalkRobot("dd", server.url, "TOKEN", "WRONG").send(sample(), "k")
    assert not info.value.retry and "310000" in str(info.value)
    server.script.check = None
    server.script.replies = [(200, standins.DINGTALK_RATE_LIMIT, 0)]
    with pytest.raises(DeliveryError) as info:
        DingTalkRobot("dd", server.url, "TOKEN", "SEC123").send(sample(), "k")
    assert info.value.rate_limited


def test_the_webhook_carries_its_key_and_a_signature_a_receiver_can_check(server) -> None:
    Webhook("hook", server.url + "/kiosk", "s3cret").send(sample(), "kiosk-1/emergency/7")
    [got] = server.wait_for(1)
    assert got.headers["idempotency-key"] == "kiosk-1/emergency/7"
    ts = got.headers["x-kiosk-timestamp"]
    want = "sha256=" + hmac.new(b"s3cret", ts.encode() + b"." + got.body, hashlib.sha256).hexdigest()
    assert got.headers["x-kiosk-signature"] == want
    assert got.json["key"] == "kiosk-1/emergency/7" and got.json["message"]["title"] == "【紧急】电梯困人"


def test_mqtt_publishes_with_qos1_and_keeps_presence(tmp_path) -> None:
    import paho.mqtt.client as mqtt

    broker = Mosquitto(tmp_path)
    got: list[tuple[str, bytes, bool]] = []
    arrived = threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="console")

    def on_message(client, userdata, msg):
        got.append((msg.topic, msg.payload, msg.retain))
        arrived.set()

    sub.on_message = on_message
    sub.connect("127.0.0.1", broker.port)
    sub.subscribe("kiosk/#", qos=1)
    sub.loop_start()
    try:
        ch = MqttChannel("console", broker.url, "kiosk-1", "kiosk/kiosk-1")
        ch.send(sample(), "kiosk-1/emergency/9")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(t.endswith("/emergency") for t, _, _ in got):
            arrived.wait(0.2)
        [(topic, payload, _)] = [g for g in got if g[0].endswith("/emergency")]
        assert topic == "kiosk/kiosk-1/emergency" and json.loads(payload)["key"] == "kiosk-1/emergency/9"
        assert ("kiosk/kiosk-1/presence", b"online", False) in got or any(
            t.endswith("/presence") and p == b"online" for t, p, _ in got
        )
        ch.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(p == b"offline" for _, p, _ in got):
            arrived.wait(0.2)
        assert any(t == "kiosk/kiosk-1/presence" and p == b"offline" for t, p, _ in got)
    finally:
        sub.loop_stop()
        sub.disconnect()
        broker.close()


def test_mqtt_without_a_broker_is_retryable(tmp_path) -> None:
    ch = MqttChannel("console", f"mqtt://127.0.0.1:{standins.free_port()}", "kiosk-1", "kiosk/kiosk-1", timeout_s=0.5)
    with pytest.raises(DeliveryError) as info:
        ch.send(sample(), "k")
    assert info.value.retry
    ch.close()


def test_secret_files_must_be_private_and_complete(tmp_path) -> None:
    f = tmp_path / "wecom.toml"
    f.write_text('key = "abc"\n')
    f.chmod(0o644)
    with pytest.raises(ChannelConfigError, match="chmod 600"):
        read_secrets(f, ["key"], "duty")
    f.chmod(0o600)
    assert read_secrets(f, ["key"], "duty") == {"key": "abc"}
    with pytest.raises(ChannelConfigError, match="lacks access_token, secret"):
        read_secrets(f, ["access_token", "secret"], "dd")
    with pytest.raises(ChannelConfigError, match="set secret_file"):
        read_secrets(None, ["key"], "duty")
    cfg = NotifySettings(
        channels=[
            NotifyChannelSettings(name="duty", kind="wecom", secret_file=f),
            NotifyChannelSettings(name="dd", kind="dingtalk", secret_file=f),
        ]
    )
    channels, problems = build_channels(cfg, "kiosk-1")
    assert list(channels) == ["duty"] and len(problems) == 1 and "'dd'" in problems[0]


def test_notify_settings_refuse_duplicate_names_and_read_secret_paths_relative_to_the_file(tmp_path) -> None:
    from appliance.config import ConfigError, load_settings

    with pytest.raises(ValueError, match="unique"):
        NotifySettings(channels=[{"name": "a", "kind": "webhook"}, {"name": "a", "kind": "mqtt"}])
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text('[[notify.channels]]\nname = "duty"\nkind = "wecom"\nsecret_file = "secrets/wecom.toml"\n')
    s = load_settings(cfg)
    assert s.notify.channels[0].secret_file == tmp_path / "secrets" / "wecom.toml"
    cfg.write_text('[[notify.channels]]\nname = "duty"\nkind = "telegram"\n')
    with pytest.raises(ConfigError):
        load_settings(cfg)


# --- the sender -----------------------------------------------------------------------------------


def make_sender(journal, server, clock, **kw) -> OutboxSender:
    settings = notify_settings(**kw)
    ch = WeComRobot("duty", server.url, "KEY", timeout_s=1.0)
    return OutboxSender(
        journal.outbox, {"duty": ch}, settings, kiosk_id="kiosk-1", kiosk="一号机", clock=clock, rng=random.Random(1)
    )


def test_emergencies_go_first(tmp_path, triage, site, server) -> None:
    j = open_journal(tmp_path / "j.sqlite", triage, site)
    j.record(handoff())
    j.record(handoff("邻居天天吵架，能调解吗"))
    j.record(lift())
    sender = make_sender(j, server, Clock())
    assert sender.drain_once() == 3
    titles = [r.json["markdown"]["content"].splitlines()[0] for r in server.wait_for(3)]
    assert titles[0] == "**【紧急】电梯困人**"
    assert {r.state for r in j.outbox.rows()} == {"sent"}
    j.close()


def test_a_failed_attempt_is_retried_with_backoff_and_the_same_key(tmp_path, triage, site, server) -> None:
    j = open_journal(tmp_path / "j.sqlite", triage, site)
    j.record(lift())
    clock = Clock()
    server.script.replies = [(500, None, 0), (200, standins.BUSY, 0)]
    sender = make_sender(j, server, clock)
    assert sender.drain_once() == 0
    [row] = j.outbox.rows()
    assert row.state == "pending" and row.attempts == 1 and "HTTP 500" in row.last_error
    assert clock.t <= row.next_at <= clock.t + 1.0  # full jitter below base·2^0
    assert sender.drain_once() == 0 or row.next_at <= clock.t  # not due yet, unless the jitter was 0
    clock.t = row.next_at
    sender.drain_once()  # "system busy"
    [row] = j.outbox.rows()
    assert row.attempts == 2 and row.next_at <= clock.t + 2.0
    clock.t = row.next_at
    assert sender.drain_once() == 1
    [row] = j.outbox.rows()
    assert row.state == "sent" and row.last_error is None
    j.close()


def test_a_refusal_fails_the_row_and_retry_brings_it_back(tmp_path, triage, site, server) -> None:
    j = open_journal(tmp_path / "j.sqlite", triage, site)
    j.record(lift())
    server.script.replies = [(200, standins.WECOM_BAD_KEY, 0)]
    sender = make_sender(j, server, Clock())
    sender.drain_once()
    status = j.outbox.status()
    assert status.counts["failed"] == 1 and status.emergencies_failed == 1 and "93000" in status.last_error
    assert j.outbox.retry() == 1
    assert sender.drain_once() == 1 and j.outbox.status().emergencies_waiting == 0
    j.close()


def test_the_rate_limit_pauses_the_channel_without_spending_attempts(tmp_path, triage, site, server) -> None:
    j = open_journal(tmp_path / "j.sqlite", triage, site)
    j.record(lift())
    j.record(lift("燃气味很重"))
    clock = Clock()
    server.script.replies = [(200, standins.WECOM_RATE_LIMIT, 0)]
    sender = make_sender(j, server, clock)
    assert sender.drain_once() == 0
    rows = j.outbox.rows()
    assert all(r.attempts == 0 and r.state == "pending" for r in rows)
    clock.t += 30
    assert sender.drain_once() == 0  # still paused: the robots count per minute
    clock.t += 31
    assert sender.drain_once() == 2
    j.close()


def test_the_token_bucket_keeps_twenty_a_minute_and_two_for_emergencies() -> None:
    b = TokenBucket(20, last=0.0)
    assert sum(b.take(0.0, reserve=2) for _ in range(30)) == 18
    assert b.take(0.0) and b.take(0.0) and not b.take(0.0)
    assert b.wait_s(0.0) == pytest.approx(3.0)
    assert b.take(3.0) and not b.take(3.0)
    rng = random.Random(0)
    waits = [backoff_s(a, 2.0, 300.0, rng) for a in range(12)]
    assert all(0 <= w <= min(300, 2 * 2**a) for a, w in enumerate(waits)) and max(waits) > 60


def test_a_day_offline_becomes_one_digest_and_emergencies_still_go_alone(tmp_path, triage, site, server) -> None:
    j = open_journal(tmp_path / "j.sqlite", triage, site)
    for i in range(12):
        j.record(handoff(f"我要投诉第{i}件事"))
    j.record(lift())
    clock = Clock()
    sender = make_sender(j, server, clock, digest_after=5)
    server.script.default = (500, None, 0)  # the network is down
    for _ in range(30):
        sender.drain_once()
        clock.t += 400
    server.script.default = (200, standins.OK, 0)  # back up after ~3.5 hours
    clock.t += 600
    assert sender.drain_once() == 2
    first, second = server.wait_for(2)
    assert "电梯困人" in first.json["text" if "text" in first.json else "markdown"]["content"]
    digest = second.json["markdown"]["content"]
    assert "12 条消息" in digest and digest.count("【转人工】") == 12
    states = [r.state for r in j.outbox.rows(100)]
    assert states.count("digested") == 12 and states.count("sent") == 2
    j.close()


def test_a_non_emergency_gives_up_after_its_deadline_but_an_emergency_never(tmp_path, triage, site, server) -> None:
    j = open_journal(tmp_path / "j.sqlite", triage, site)
    j.record(handoff())
    j.record(lift())
    clock = Clock()
    server.script.default = (503, None, 0)
    sender = make_sender(j, server, clock, give_up_h=1.0)
    sender.drain_once()
    clock.t += 2 * 3600
    sender.drain_once()
    by_kind = {r.kind: r for r in j.outbox.rows()}
    assert by_kind["handoff"].state == "failed" and "1 h" in by_kind["handoff"].last_error
    assert by_kind["emergency"].state == "pending"
    status = j.outbox.status(now=clock.t)
    assert status.emergencies_waiting == 1 and status.oldest_emergency_s >= 2 * 3600
    j.close()


def test_the_daily_summary_is_sent_once_a_day_after_its_hour(tmp_path, triage, site) -> None:
    j = open_journal(tmp_path / "j.sqlite", triage, site, {"office": ["summary"]})
    j.record(Answer("社保卡怎么补办", "…", "answer", "extractive"))
    j.record(Answer("帮我订一张火车票", "…", "no_answer", "scripted", reason="low_confidence"))
    j.record(Answer("帮我订一张火车票", "…", "no_answer", "scripted", reason="low_confidence"))
    j.record(handoff())
    now = dt.datetime.now().astimezone()
    at = (now + dt.timedelta(minutes=2)).replace(second=0, microsecond=0)  # the questions came before it
    if at.date() != now.date():
        pytest.skip("the summary hour would fall on the next day; run again after midnight")
    today = at
    clock = Clock()
    clock.t = (at - dt.timedelta(minutes=1)).timestamp()
    summary = DailySummary(
        j, kiosk_id="kiosk-1", kiosk="一号机", place="幸福路1号", at=at.strftime("%H:%M"), clock=clock
    )
    assert not summary()
    clock.t = (at + dt.timedelta(minutes=1)).timestamp()
    assert summary() and not summary()  # once a day
    [row] = j.outbox.rows()
    assert row.key == f"kiosk-1/summary/{today.date().isoformat()}" and row.channel == "office"
    text = row.message.text()
    assert "共 4 次提问" in text and "未能答复 2" in text and "转人工 1" in text and "帮我订一张火车票" in text
    assert text.count("帮我订一张火车票") == 1
    j.close()


def test_a_running_sender_delivers_an_emergency_at_once(tmp_path, triage, site, server) -> None:
    j = open_journal(tmp_path / "j.sqlite", triage, site)
    sender = OutboxSender(
        j.outbox,
        {"duty": WeComRobot("duty", server.url, "KEY")},
        NotifySettings(poll_s=30),  # only the wake-up can make it fast
        kiosk_id="kiosk-1",
        kiosk="一号机",
        lock_path=tmp_path / "outbox.lock",
    )
    j.outbox.on_queued = sender.wake
    sender.start()
    try:
        assert sender.sending.wait(5)
        start = time.time()
        j.record(lift())
        [got] = server.wait_for(1, timeout_s=5)
        assert got.at - start < 2.0
    finally:
        sender.stop()
    j.close()


def test_one_process_sends_at_a_time(tmp_path, triage, site, server) -> None:
    j = open_journal(tmp_path / "j.sqlite", triage, site)
    a = make_sender(j, server, Clock())
    b = make_sender(j, server, Clock())
    a._lock = b._lock = None
    from filelock import FileLock

    a._lock = FileLock(str(tmp_path / "outbox.lock"), thread_local=False)
    b._lock = FileLock(str(tmp_path / "outbox.lock"), thread_local=False)
    assert a.try_lock() and not b.try_lock()
    a.stop()
    assert b.try_lock()
    b.stop()
    j.close()


# --- nothing lost across kill -9 --------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from appliance.answer.types import Answer
    from appliance.config import NotifySettings
    from appliance.journal import Journal
    from appliance.notify.channels import WeComRobot
    from appliance.notify.message import MessageComposer
    from appliance.notify.sender import OutboxSender
    from appliance.triage import Triage

    path, url = Path(sys.argv[1]), sys.argv[2]
    comp = MessageComposer("一号机", "幸福路1号", Triage.load(detector=False))
    j = Journal(path, composer=comp, routes={"duty": ["emergency"]}, kiosk_id="kiosk-1")
    j.record(Answer("电梯里有人被困住了", "…", "emergency", "scripted", reason="lift_entrapment"))
    print("queued", flush=True)
    sender = OutboxSender(j.outbox, {"duty": WeComRobot("duty", url, "K", timeout_s=30)}, NotifySettings(),
                          kiosk_id="kiosk-1", kiosk="一号机")
    sender.drain_once()  # the stand-in stalls: killed in the middle of the send
    print("returned", flush=True)
    """
)


def test_kill_9_during_a_send_loses_nothing_and_resends_with_the_same_key(tmp_path, triage, site, server) -> None:
    path = tmp_path / "j.sqlite"
    server.script.replies = [(200, standins.OK, 5.0)]  # the first attempt hangs
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), server.url], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert proc.stdout.readline().strip() == "queued"
    time.sleep(0.8)  # inside the POST now
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(5)
    j = open_journal(path, triage, site, {"duty": ["emergency"]})
    [row] = j.outbox.rows()
    assert row.state == "pending"  # never marked sent: it will go again
    sender = make_sender(j, server, Clock())
    assert sender.drain_once() == 1
    got = server.wait_for(1, timeout_s=8)
    assert all("电梯困人" in g.body.decode() for g in got)
    assert j.outbox.rows()[0].key == row.key
    j.close()


def test_the_journal_purge_removes_old_outbox_rows(tmp_path, triage, site) -> None:
    j = open_journal(tmp_path / "j.sqlite", triage, site)
    j.record(lift())
    removed = j.purge(1, now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2))
    assert removed["outbox"] == 1 and j.outbox.rows() == []
    j.close()


# --- end to end: the appliance and the CLI ------------------------------------------------------------


def write_secret(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_an_emergency_asked_of_the_appliance_reaches_the_stand_in_wecom_group(tmp_path, server) -> None:
    from appliance.bootstrap import build_appliance, start_sender

    secret = write_secret(tmp_path / "wecom.toml", 'key = "KEY-9"\n')
    s = Settings(
        data_dir=tmp_path / "data",
        notify=NotifySettings(
            kiosk_name="幸福里 一号机",
            channels=[NotifyChannelSettings(name="duty", kind="wecom", url=server.url + "/send", secret_file=secret)],
        ),
    )
    with build_appliance(s, use_llm=False) as app:
        sender, problems = start_sender(s, app.site, app.journal)
        assert problems == [] and sender is not None
        try:
            assert sender.sending.wait(5)
            start = time.time()
            answer = app.engine.ask("救命，电梯卡在两层楼中间了，我出不来")
            answered = time.time()
            [got] = server.wait_for(1, timeout_s=5)
        finally:
            sender.stop()
    assert answer.mode == "emergency" and answered - start < 0.5  # the guidance never waits for the network
    assert got.query["key"] == "KEY-9" and got.at - start < 2.0
    content = got.json["markdown"]["content"]
    assert "【紧急】电梯困人" in content and "幸福里 一号机" in content


def test_outbox_cli_show_send_retry_and_test(tmp_path, server, triage, site) -> None:
    from typer.testing import CliRunner

    from appliance.cli import app

    secret = write_secret(tmp_path / "wecom.toml", 'key = "KEY"\n')
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[[notify.channels]]\nname = "duty"\nkind = "wecom"\n'
        f'url = "{server.url}/send"\nsecret_file = "{secret}"\n'
    )
    env = {"KIOSK_CONFIG": str(cfg)}
    j = open_journal(tmp_path / "data" / "journal.sqlite", triage, site)
    j.record(lift())
    j.close()
    runner = CliRunner()
    shown = runner.invoke(app, ["outbox", "show"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "pending 1" in shown.output and "1 emergency message(s) not delivered" in shown.output
    server.script.replies = [(200, standins.WECOM_BAD_KEY, 0)]
    sent = runner.invoke(app, ["outbox", "send"], env=env)
    assert sent.exit_code == 1 and "failed 1" in sent.output and "93000" in sent.output
    again = runner.invoke(app, ["outbox", "retry"], env=env)
    assert again.exit_code == 0 and "1 message(s) queued again" in again.output
    sent = runner.invoke(app, ["outbox", "send"], env=env)
    assert sent.exit_code == 0 and "delivered 1" in sent.output
    rows = runner.invoke(app, ["outbox", "show", "--json"], env=env)
    assert json.loads(rows.output.splitlines()[0])["state"] == "sent"
    tested = runner.invoke(app, ["outbox", "test"], env=env)
    assert tested.exit_code == 0 and "ok" in tested.output
    assert "【测试】" in server.wait_for(2)[-1].json["markdown"]["content"]


def test_the_staff_lists_show_each_alerts_delivery(tmp_path, triage, site, server) -> None:
    from ui.staff import delivery_label

    j = open_journal(tmp_path / "j.sqlite", triage, site)
    alert_turn = j.record(lift())
    handoff_turn = j.record(handoff())
    server.script.replies = [(200, standins.OK, 0), (200, standins.WECOM_BAD_KEY, 0)]
    make_sender(j, server, Clock()).drain_once()
    assert delivery_label(j.outbox.delivery("emergency", alert_turn), "zh") == "通知 duty：已送达"
    assert delivery_label(j.outbox.delivery("handoff", handoff_turn), "en") == "staff messages duty: NOT DELIVERED"
    assert delivery_label(j.outbox.delivery("handoff", 999), "zh") == ""
    j.close()


class _HangingChannel:
    """A channel whose send blocks until released (a connection that neither answers nor times out)."""

    name = "duty"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()

    def send(self, message, key: str) -> None:
        self.entered.set()
        self.release.wait(30)

    def close(self) -> None:
        self.release.set()


def test_the_watchdog_sees_a_lane_hung_in_a_send_but_not_one_asleep(tmp_path, triage, site) -> None:
    """A lane asleep between polls (or paused for a rate limit) is not overdue; one stuck in a send
    past the limit is, so the service stops its pings and systemd restarts the appliance."""
    from appliance.service import PolledHeartbeat

    j = open_journal(tmp_path / "j.sqlite", triage, site)
    channel = _HangingChannel()
    sender = OutboxSender(j.outbox, {"duty": channel}, NotifySettings(poll_s=0.5), kiosk_id="kiosk-1", kiosk="一号机")
    lane = sender.workers["duty"]
    beat = PolledHeartbeat("outbox duty", 0.3, lambda: lane.progress)
    assert not beat.overdue()  # not started: another process may hold the sender lock
    sender.start()
    try:
        time.sleep(1.2)  # more than two polls, each longer than the limit, with nothing to send
        assert not beat.overdue(), beat.state()
        j.record(lift())
        sender.wake()
        assert channel.entered.wait(5)
        time.sleep(0.6)
        assert beat.overdue(), beat.state()
        channel.release.set()
        time.sleep(0.2)
        assert not beat.overdue(), beat.state()
    finally:
        sender.stop()
        j.close()
