"""`kiosk doctor` (appliance/device/doctor.py): every line of the report, on this box and on
stand-ins for what it lacks — a served repository, a simulated robot, sysfs and procfs files of a
box with a touchscreen, a damaged knowledge base, a model whose file changed since install."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from appliance.cli import app
from appliance.config import load_settings
from appliance.device import doctor as dr
from tests.standins import StaticServer

runner = CliRunner()

#: /proc/bus/input/devices of a box with a USB touchscreen (ILITEK, multi-touch) and a keyboard.
INPUT_DEVICES = """\
I: Bus=0003 Vendor=222a Product=0001 Version=0110
N: Name="ILITEK ILITEK-TP"
P: Phys=usb-0000:00:14.0-4/input0
H: Handlers=mouse0 event5
B: PROP=2
B: EV=1b
B: KEY=400 0 0 0 0 0
B: ABS=260800000000003
B: MSC=20

I: Bus=0011 Vendor=0001 Product=0001 Version=ab41
N: Name="AT Translated Set 2 keyboard"
P: Phys=isa0060/serio0/input0
H: Handlers=sysrq kbd event0 leds
B: EV=120013
B: KEY=402000000 3803078f800d001 feffffdfffefffff fffffffffffffffe
"""


def settings_for(tmp_path: Path, toml: str = ""):
    config = tmp_path / "kiosk.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n{toml}', encoding="utf-8")
    return load_settings(config), config


def test_a_multitouch_screen_is_told_from_a_keyboard(tmp_path: Path) -> None:
    devices = tmp_path / "devices"
    devices.write_text(INPUT_DEVICES)
    assert dr.touch_devices(devices) == ["ILITEK ILITEK-TP"]
    devices.write_text(INPUT_DEVICES.split("\n\n")[1])
    assert dr.touch_devices(devices) == []
    assert dr.touch_devices(tmp_path / "absent") == []


def test_the_display_check_reads_the_drm_connectors(tmp_path: Path) -> None:
    s, _ = settings_for(tmp_path, "[ui]\nrotation = 90\n")
    drm = tmp_path / "drm"
    for name, state in (("card0-HDMI-A-1", "connected"), ("card0-DP-1", "disconnected")):
        (drm / name).mkdir(parents=True)
        (drm / name / "status").write_text(state + "\n")
    found = dr.check_display(s, drm)
    assert found.status == dr.WARN and "HDMI-A-1" in found.detail and "DP-1" not in found.detail
    assert "[ui] output" in found.detail  # rotation under weston needs the connector's name
    s, _ = settings_for(tmp_path, '[ui]\nrotation = 90\noutput = "HDMI-A-1"\n')
    assert dr.check_display(s, drm).status == dr.OK
    (drm / "card0-HDMI-A-1" / "status").write_text("disconnected\n")
    assert dr.check_display(s, drm).status == dr.FAIL


def test_the_repository_check_fetches_the_signed_timestamp(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "metadata").mkdir(parents=True)
    (repo / "metadata" / "timestamp.json").write_text(json.dumps({"signed": {"expires": "2027-01-08T00:00:00Z"}}))
    root = tmp_path / "root.json"
    root.write_text("{}")
    server = StaticServer(repo)
    try:
        s, _ = settings_for(tmp_path, f'[sync]\nenabled = true\nurl = "{server.url}"\nroot = "{root}"\n')
        found = dr.check_repository(s)
        assert found.status == dr.OK and "2027-01-08" in found.detail
        root.unlink()
        found = dr.check_repository(s)
        assert found.status == dr.FAIL and "root" in found.fix
        root.write_text("{}")
        server.status["timestamp.json"] = 500
        found = dr.check_repository(s)
        assert found.status == dr.FAIL and "500" in found.detail
    finally:
        server.close()
    s, _ = settings_for(tmp_path)
    assert dr.check_repository(s).status == dr.WARN  # no [sync] url: works, but is not synced


def test_the_knowledge_base_check_reports_version_guides_and_a_damaged_file(tmp_path: Path, demo_kb_file) -> None:
    s, _ = settings_for(tmp_path)
    assert dr.check_knowledge_base(s).status == dr.WARN  # none yet
    s.kb_file.parent.mkdir(parents=True)
    shutil.copy(demo_kb_file, s.kb_file)
    found = dr.check_knowledge_base(s)
    assert found.status == dr.OK and "guides" in found.detail and found.detail.startswith("v")
    s.kb_file.write_bytes(b"not a database at all" * 100)
    found = dr.check_knowledge_base(s)
    assert found.status == dr.FAIL and "kb rollback" in found.fix


def test_each_configured_model_is_verified_and_a_changed_file_fails(tmp_path: Path) -> None:
    from models.tiny import TINY_SETTINGS_TOML, write_tiny_models_archive

    s, config = settings_for(tmp_path, TINY_SETTINGS_TOML)
    missing = {f.check: f for f in dr.model_checks(s)}
    assert missing["model llm"].status == dr.FAIL and "kiosk models pull tiny-llm" in missing["model llm"].fix
    archive = write_tiny_models_archive(tmp_path / "tiny.tar.gz")
    r = runner.invoke(app, ["models", "import", str(archive)], env={"KIOSK_CONFIG": str(config)})
    assert r.exit_code == 0, r.stdout
    found = {f.check: f for f in dr.model_checks(s)}
    assert set(found) == {"model asr", "model llm", "model tts en", "model tts zh"}
    assert all(f.status == dr.OK for f in found.values()), found
    gguf = next((s.models_path / "tiny-llm").glob("*.gguf"))
    data = bytearray(gguf.read_bytes())
    data[-1] ^= 0xFF  # one bit flipped on disk
    gguf.write_bytes(bytes(data))
    found = {f.check: f for f in dr.model_checks(s)}
    assert found["model llm"].status == dr.FAIL and "sha256 changed" in found["model llm"].detail


def test_the_robot_check_shakes_hands_with_the_controller(tmp_path: Path) -> None:
    s, _ = settings_for(tmp_path, '[robot]\nport = "sim"\n')
    found = dr.check_robot(s, None)
    assert found.status == dr.OK and "connected" in found.detail and "firmware" in found.detail, found
    assert "e-stop clear" in found.detail
    s, _ = settings_for(tmp_path, '[robot]\nport = "/dev/kiosk-no-such-port"\n')
    found = dr.check_robot(s, None, wait_s=0.5)
    assert found.status == dr.FAIL and "kiosk robot ports" in found.fix
    held = {
        "robot": {"mode": "estop", "state": "connected", "controller": {"firmware": "1.2.0"}, "estop_latched": True}
    }
    found = dr.check_robot(s, held)  # the running appliance holds the port: its report is used
    assert found.status == dr.WARN and "E-STOP" in found.detail and "estop-reset" in found.fix


def test_the_service_check_names_a_watchdog_restart_and_a_hung_worker(tmp_path: Path, monkeypatch) -> None:
    s, _ = settings_for(tmp_path)
    shown = "LoadState=loaded\nActiveState=active\nSubState=running\nNRestarts=2\nResult=watchdog\n"
    monkeypatch.setattr(dr, "_run", lambda cmd, timeout=5.0: (0, shown))
    health = {"workers": {"answers": {"overdue": False}, "voice loop": {"overdue": True}}}
    found = dr.check_service(s, health, "running")
    assert found.status == dr.WARN and "restarts 2" in found.detail and "watchdog" in found.detail
    assert "hung voice loop" in found.detail
    assert dr.check_service(s, None, "stale").status == dr.FAIL
    shown = shown.replace("Result=watchdog", "Result=success")
    assert dr.check_service(s, {"workers": {"answers": {"overdue": False}}}, "running").status == dr.OK
    monkeypatch.setattr(dr, "_run", lambda cmd, timeout=5.0: (0, "LoadState=not-found\nActiveState=inactive\n"))
    found = dr.check_service(s, None, "missing")
    assert found.status == dr.WARN and found.fix == "deploy/install"


def test_kiosk_doctor_reports_every_line_as_json_and_fails_on_this_box(tmp_path: Path) -> None:
    _, config = settings_for(tmp_path, '[robot]\nport = "sim"\n')
    r = runner.invoke(app, ["doctor", "--json"], env={"KIOSK_CONFIG": str(config)})
    report = json.loads(r.stdout)
    checks = [f["check"] for f in report["findings"]]
    expected = ["python", "sqlite", "disk", "memory", "clock", "network", "repository", "knowledge base"]
    assert checks[: len(expected)] == expected
    assert [c for c in checks if c.startswith("model ")] == [
        "model asr",
        "model embedding",
        "model llm",
        "model tts en",
        "model tts zh",
    ]
    assert checks[-7:] == ["gpu", "microphone", "speaker", "display", "touch", "robot", "service"]
    assert all(f["status"] in ("ok", "warn", "fail") for f in report["findings"])
    assert all(f["fix"] for f in report["findings"] if f["status"] != "ok")  # every problem says what to do
    by = {f["check"]: f for f in report["findings"]}
    assert by["sqlite"]["status"] == "ok" and "sqlite-vec" in by["sqlite"]["detail"]
    assert by["robot"]["status"] == "ok"
    # a box without a display, microphone or touchscreen (CI) fails, and says so in its exit code
    assert report["ok"] is (not [f for f in report["findings"] if f["status"] == "fail"])
    assert r.exit_code == (0 if report["ok"] else 1)
    text = runner.invoke(
        app, ["doctor", "--no-audio", "--only", "py", "--only", "disk"], env={"KIOSK_CONFIG": str(config)}
    )
    assert text.exit_code == 0 and text.stdout.split()[:2] == ["ok", "python"] and "disk" in text.stdout


class _FakeSoundDevice:
    """sounddevice as seen by the doctor: ``rec`` returns the given signal, ``play`` keeps what it got."""

    def __init__(self, signal) -> None:
        self.signal, self.played = signal, None

    def query_devices(self, device, kind):
        return {"default_samplerate": 16000.0}

    def rec(self, frames, samplerate, channels, dtype, device):
        assert frames == int(2.0 * samplerate)
        return self.signal[:frames].reshape(-1, 1)

    def play(self, data, rate, device):
        self.played = (data, rate)

    def wait(self) -> None:
        pass


def test_the_microphone_level_and_clipping_and_the_chime(monkeypatch, tmp_path: Path) -> None:
    import sys

    import numpy as np

    s, _ = settings_for(tmp_path)
    t = np.arange(32000) / 16000
    speech = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)  # -23 dBFS RMS
    cases = [
        (speech, dr.OK, "level -23 dBFS, 0.00% clipped"),
        (np.clip(speech * 30, -1, 1), dr.WARN, "clipped"),
        (np.zeros(32000, np.float32), dr.WARN, "(silent)"),
    ]
    for signal, status, words in cases:
        monkeypatch.setitem(sys.modules, "sounddevice", _FakeSoundDevice(signal))
        found = dr.check_microphone(s)
        assert found.status == status and words in found.detail, found
    fake = _FakeSoundDevice(speech)
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    assert dr.check_speaker(s).status == dr.OK
    chime, rate = fake.played
    assert (
        rate == 48000 and len(chime) == rate // 2 and 0.2 < float(np.abs(chime).max()) <= 0.301
    )  # quiet: -10 dBFS peaks
