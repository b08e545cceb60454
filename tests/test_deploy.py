"""deploy/: the systemd units (checked by systemd-analyze), the udev rule and the display files
written from the settings (`kiosk deploy`), and the install scripts' syntax. The install itself
runs in a throwaway Debian root with deploy/check-install (minutes, network: see README)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from appliance.cli import app
from appliance.device.display import display_files
from appliance.device.udev import UsbId, udev_rule

ROOT = Path(__file__).resolve().parents[1]
UNITS = ROOT / "deploy" / "systemd"
runner = CliRunner()

#: One key of a udev rule: KEY or KEY{attr}, an operator, a double-quoted value (udev(7)).
UDEV_TOKEN = re.compile(
    r'^(ACTION|SUBSYSTEMS?|ATTRS?\{[A-Za-z_]+\}|ENV\{[A-Z_]+\}|SYMLINK|GROUP|MODE)(==|!=|\+=|=)"[^"\\]*"$'
)


def test_usb_ids_are_parsed_and_anything_that_could_break_out_of_the_rule_is_refused() -> None:
    assert UsbId.parse("2E8A:000A") == UsbId("2e8a", "000a", None)
    assert UsbId.parse(" 2e8a:000A:E6614C311B7A5B2C ") == UsbId("2e8a", "000a", "E6614C311B7A5B2C")
    for bad in ("2E8A", "2E8A:00A", "usb:2E8A:000A", '2E8A:000A:x", RUN+="/bin/sh', "2E8A:000A:a b", "2E8G:000A"):
        with pytest.raises(ValueError, match="VID:PID"):
            UsbId.parse(bad)


def test_the_udev_rule_names_the_controller_sets_its_group_and_keeps_modemmanager_away() -> None:
    text = udev_rule(UsbId.parse("2E8A:000A:E6614C311B7A5B2C"))
    rules = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(rules) == 2
    for line in rules:
        tokens = [t.strip() for t in line.split(", ")]
        bad = [t for t in tokens if not UDEV_TOKEN.match(t)]
        assert not bad, bad
        assert 'ENV{ID_MM_DEVICE_IGNORE}="1"' in tokens
    usb, tty = rules
    assert 'SUBSYSTEM=="usb"' in usb and 'ATTR{idVendor}=="2e8a"' in usb and 'ATTR{serial}=="E6614C311B7A5B2C"' in usb
    assert 'SUBSYSTEM=="tty"' in tty and 'ATTRS{idProduct}=="000a"' in tty  # sysfs spells ids in lower case
    assert 'SYMLINK+="kiosk-robot"' in tty and 'GROUP="dialout"' in tty and 'MODE="0660"' in tty
    assert "{serial}" not in udev_rule(UsbId.parse("2E8A:000A"))


def test_the_display_files_for_each_way_to_the_screen() -> None:
    weston = display_files("weston", 90, "HDMI-A-1")
    assert weston.env["QT_QPA_PLATFORM"] == "wayland" and weston.env["QT_WAYLAND_RECONNECT"] == "1"
    assert weston.env["XDG_RUNTIME_DIR"] == "/run/kiosk-display" and weston.env["WAYLAND_DISPLAY"] == "wayland-kiosk"
    assert "shell=kiosk-shell.so" in weston.weston_ini and "idle-time=0" in weston.weston_ini
    assert "name=HDMI-A-1\ntransform=rotate-90" in weston.weston_ini and not weston.warnings
    unnamed = display_files("weston", 270)
    assert "transform" not in unnamed.weston_ini and "[ui] output" in unnamed.warnings[0]
    jetson = display_files("eglfs", 180, nvidia=True)
    assert jetson.env["QT_QPA_EGLFS_INTEGRATION"] == "eglfs_kms_egldevice" and jetson.weston_ini is None
    assert jetson.env["QT_QPA_EGLFS_ROTATION"] == "180"
    assert jetson.env["QT_QPA_EVDEV_TOUCHSCREEN_PARAMETERS"] == "rotate=180"  # touch turns with the picture
    assert "QT_QPA_EGLFS_ROTATION" not in display_files("eglfs").env
    cage = display_files("cage", 90)
    assert "WAYLAND_DISPLAY" not in cage.env and "cannot rotate" in cage.warnings[0]
    assert display_files("none").env == {"QT_QPA_PLATFORM": "offscreen"}
    with pytest.raises(ValueError, match="display"):
        display_files("x11")
    with pytest.raises(ValueError, match="rotation"):
        display_files("weston", 45)


def test_kiosk_deploy_writes_the_files_from_the_settings(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'data_dir = "{tmp_path}/data"\n[robot]\nusb_id = "2E8A:000A"\n[ui]\nrotation = 90\noutput = "DSI-1"\n',
        encoding="utf-8",
    )
    env = {"KIOSK_CONFIG": str(config)}
    r = runner.invoke(app, ["deploy", "udev-rule", "--write", str(tmp_path / "rules.d")], env=env)
    assert r.exit_code == 0, r.stdout
    rule = tmp_path / "rules.d" / "70-kiosk-robot.rules"
    assert 'ATTRS{idVendor}=="2e8a"' in rule.read_text() and oct(rule.stat().st_mode & 0o777) == "0o644"
    r = runner.invoke(app, ["deploy", "display", "--write", str(tmp_path / "etc")], env=env)
    assert r.exit_code == 0, r.stdout
    assert "name=DSI-1\ntransform=rotate-90" in (tmp_path / "etc" / "weston.ini").read_text()
    assert "QT_QPA_PLATFORM=wayland" in (tmp_path / "etc" / "display.env").read_text().splitlines()
    printed = runner.invoke(app, ["deploy", "udev-rule", "--usb", "1209:0001"], env=env)
    assert 'ATTRS{idVendor}=="1209"' in printed.stdout and not (tmp_path / "rules.d" / "x").exists()
    config.write_text(f'data_dir = "{tmp_path}/data"\n', encoding="utf-8")
    r = runner.invoke(app, ["deploy", "udev-rule"], env=env)
    assert r.exit_code == 2 and "usb_id" in r.output and "kiosk robot ports" in r.output
    r = runner.invoke(app, ["deploy", "udev-rule", "--usb", 'x", RUN+="/bin/sh'], env=env)
    assert r.exit_code == 2 and "VID:PID" in r.output


def _unit_for_host(text: str) -> str:
    """The unit with the device's executables replaced by ones every host has, so that
    systemd-analyze checks everything else."""
    for exe in ("/opt/kiosk/venv/bin/kiosk", "/usr/bin/weston", "/usr/bin/cage"):
        text = text.replace(exe, sys.executable if exe.endswith("kiosk") else shutil.which("true") or "/bin/true")
    return text


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize("drop_in", [None, "cage", "eglfs"])
def test_the_units_pass_systemd_analyze_verify(tmp_path: Path, drop_in: str | None) -> None:
    for unit in ("kiosk.service", "kiosk-display.service"):
        (tmp_path / unit).write_text(_unit_for_host((UNITS / unit).read_text()))
    if drop_in:
        (tmp_path / "kiosk.service.d").mkdir()
        (tmp_path / "kiosk.service.d" / "display.conf").write_text(
            _unit_for_host((UNITS / "display" / f"{drop_in}.conf").read_text())
        )
    p = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "kiosk.service"), str(tmp_path / "kiosk-display.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    findings = [line for line in (p.stdout + p.stderr).splitlines() if line.strip()]
    assert p.returncode == 0 and not findings, findings  # an unknown key is a finding, not an error code


def test_the_service_unit_has_the_watchdog_restart_policy_and_hardening() -> None:
    text = (UNITS / "kiosk.service").read_text()
    keys = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    assert keys["Type"] == "notify" and keys["NotifyAccess"] == "main"
    assert int(keys["WatchdogSec"]) >= 10 and keys["Restart"] == "on-failure"
    assert int(keys["StartLimitBurst"]) >= 3 and keys["User"] == "kiosk"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ReadWritePaths": "/var/lib/kiosk",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert keys[key] == value, key
    assert keys["EnvironmentFile"] == "-/etc/kiosk/display.env" and keys["Environment"]
    display = (UNITS / "kiosk-display.service").read_text()
    assert "--config=/etc/kiosk/weston.ini" in display and "RuntimeDirectoryPreserve=yes" in display
    assert "NotifyAccess=all" in (UNITS / "display" / "cage.conf").read_text()  # cage's child sends READY


def test_the_install_scripts_parse_and_name_their_options() -> None:
    for script in ("install", "uninstall", "check-install"):
        path = ROOT / "deploy" / script
        assert path.stat().st_mode & 0o111, f"{script} is not executable"
        p = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
    r = subprocess.run(["bash", str(ROOT / "deploy" / "install"), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--display weston|cage|eglfs|none" in r.stdout and "--wheels DIR" in r.stdout
    r = subprocess.run(["bash", str(ROOT / "deploy" / "install"), "--bogus"], capture_output=True, text=True)
    assert r.returncode == 1 and "unknown option --bogus" in r.stderr


@pytest.mark.skipif(Path("/etc/nv_tegra_release").exists(), reason="a Jetson: the script would really run")
def test_the_jetson_script_parses_and_refuses_to_run_off_a_jetson() -> None:
    script = ROOT / "deploy" / "jetson" / "install-cuda"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    r = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert r.returncode == 1 and "not a Jetson" in r.stderr
    text = script.read_text()
    assert "-DGGML_CUDA=on" in text and "CMAKE_CUDA_ARCHITECTURES=$CUDA_ARCH" in text and "-DWITH_CUDA=ON" in text
    assert "sqlite-vec>=0.1.9" in text


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("weston") is None, reason="weston not installed (scripts/setup installs it)")
def test_the_touchscreen_runs_under_westons_kiosk_shell_and_exits_for_a_restart_when_it_dies(tmp_path: Path) -> None:
    import os
    import signal
    import time

    from appliance.bench_service import NotifyListener, kiosk_command

    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    files = display_files("weston")
    ini = tmp_path / "weston.ini"
    ini.write_text(files.weston_ini)
    env = {**os.environ, **files.env, "XDG_RUNTIME_DIR": str(runtime)}
    env.pop("QT_QPA_PLATFORM", None)
    weston = subprocess.Popen(
        ["weston", f"--config={ini}", "--backend=headless-backend.so", "--socket=wayland-kiosk", "--width=1280"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    listener = NotifyListener(tmp_path)
    kiosk = None
    try:
        for _ in range(100):
            if (runtime / "wayland-kiosk").exists():
                break
            time.sleep(0.05)
        assert (runtime / "wayland-kiosk").exists(), "weston did not start"
        child = {**env, **files.env, **listener.env(), "KIOSK_DATA_DIR": str(tmp_path / "data"), "KIOSK_CONFIG": ""}
        child["XDG_RUNTIME_DIR"] = str(runtime)
        kiosk = subprocess.Popen(
            [*kiosk_command(), "run", "--robot", "none"],
            env=child,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        ready = listener.wait_for("READY", "1", timeout=120)
        assert ready is not None and kiosk.poll() is None, kiosk.stderr.read() if kiosk.poll() is not None else ""
        weston.send_signal(signal.SIGTERM)
        weston.wait(10)
        rc = kiosk.wait(15)  # gone with its compositor, and not as a clean stop:
        assert rc != 0  # Restart=on-failure brings it back once weston is up again
        assert "Wayland connection broke" in kiosk.stderr.read()
    finally:
        for p in (kiosk, weston):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        listener.close()
