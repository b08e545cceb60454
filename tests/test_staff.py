"""The staff PIN: scrypt storage, lockout that survives restarts, weak PINs, damaged files, CLI."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import shutil
import stat
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import appliance.staff as staff_module
from appliance.cli import app
from appliance.config import Settings
from appliance.staff import PinLock, PinResult, check_pin

PIN = "4826"
runner = CliRunner()


class FakeClock:
    """Seconds since the epoch that only move when a test says so."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def pin_file_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PIN file for PIN, hashed once for the module (scrypt costs ~50 ms a call)."""
    path = tmp_path_factory.mktemp("pin") / "staff_pin.json"
    PinLock(path).set_pin(PIN)
    return path


@pytest.fixture
def pin_file(pin_file_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "staff_pin.json"
    shutil.copy(pin_file_template, path)
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def record(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def lock_out(lock: PinLock) -> None:
    for _ in range(lock.max_tries):
        lock.verify("9999")
    assert lock.status().locked


# Storage --------------------------------------------------------------------------------------
def test_set_pin_stores_a_salted_scrypt_hash_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "data" / "staff_pin.json"
    lock = PinLock(path)
    assert not lock.is_set
    lock.set_pin("750319")
    assert lock.is_set
    text = path.read_text(encoding="utf-8")
    assert "750319" not in text
    rec = json.loads(text)
    assert (rec["scheme"], rec["n"], rec["r"], rec["p"]) == ("scrypt", 2**14, 8, 1)
    assert rec["failures"] == 0 and rec["locked_until"] is None
    salt, digest = base64.b64decode(rec["salt"]), base64.b64decode(rec["hash"])
    assert len(salt) == 16 and len(digest) == 32
    assert digest == hashlib.scrypt(b"750319", salt=salt, n=2**14, r=8, p=1, dklen=32)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p.name for p in path.parent.iterdir() if p.suffix == ".tmp"]  # no temporary file left

    lock.set_pin("750319")  # the same PIN again: a new salt, so a new hash
    again = record(path)
    assert again["salt"] != rec["salt"] and again["hash"] != rec["hash"]


def test_set_pin_replaces_a_world_readable_file_with_a_0600_one(pin_file: Path) -> None:
    pin_file.chmod(0o644)
    PinLock(pin_file).set_pin("750319")
    assert stat.S_IMODE(pin_file.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("pin", "why"),
    [
        ("123", "4 to 12 digits"),
        ("4829163750481", "4 to 12 digits"),
        ("", "digits 0-9"),
        ("48a6", "digits 0-9"),
        (" 4826", "digits 0-9"),
        ("４８２６", "digits 0-9"),  # full-width digits
        ("١٢٣٤", "digits 0-9"),  # Arabic-Indic digits pass str.isdigit()
        ("0000", "one digit repeated"),
        ("111111", "one digit repeated"),
        ("1234", "consecutive"),
        ("123456789012", "consecutive"),
        ("9876", "consecutive"),
        ("7890", "consecutive"),
        ("1212", "repeats a short block"),
        ("520520", "repeats a short block"),
        ("2580", "most common"),
        ("5201314", "most common"),
    ],
)
def test_weak_short_and_non_digit_pins_are_refused(tmp_path: Path, pin: str, why: str) -> None:
    path = tmp_path / "staff_pin.json"
    with pytest.raises(ValueError, match=why):
        PinLock(path).set_pin(pin)
    assert not path.exists()


@pytest.mark.parametrize("pin", ["4826", "750319", "271828182845", "13579"])
def test_reasonable_pins_are_accepted(pin: str) -> None:
    check_pin(pin)


# Verify and lockout ---------------------------------------------------------------------------
def test_verify_right_and_wrong_pin(pin_file: Path, clock: FakeClock) -> None:
    lock = PinLock(pin_file, clock=clock)
    assert lock.verify(PIN) == PinResult(ok=True, locked=False, tries_left=5, retry_after_s=0.0)
    assert lock.verify("4827") == PinResult(ok=False, locked=False, tries_left=4, retry_after_s=0.0)
    assert lock.verify("12ab") == PinResult(ok=False, locked=False, tries_left=3, retry_after_s=0.0)
    assert lock.verify(None) == PinResult(ok=False, locked=False, tries_left=2, retry_after_s=0.0)  # type: ignore[arg-type]
    assert record(pin_file)["failures"] == 3
    assert lock.verify(PIN).ok  # a right PIN resets the count
    assert record(pin_file)["failures"] == 0 and lock.status().tries_left == 5


def test_five_wrong_pins_lock_for_lockout_s(pin_file: Path, clock: FakeClock, monkeypatch) -> None:
    lock = PinLock(pin_file, max_tries=5, lockout_s=300.0, clock=clock)
    for left in (4, 3, 2, 1):
        r = lock.verify("1357")
        assert not r.ok and not r.locked and r.tries_left == left
    r = lock.verify("1357")
    assert r == PinResult(ok=False, locked=True, tries_left=0, retry_after_s=300.0)
    assert record(pin_file)["locked_until"] == pytest.approx(clock.now + 300)

    clock.now += 100
    st = lock.status()
    assert st.locked and st.retry_after_s == pytest.approx(200.0) and st.failures == 5

    calls = []
    monkeypatch.setattr(staff_module, "_scrypt", lambda *a: calls.append(a) or b"")
    r = lock.verify(PIN)  # the right PIN while locked: refused, not even checked
    assert r.locked and not r.ok and r.retry_after_s == pytest.approx(200.0)
    assert calls == []
    assert record(pin_file)["locked_until"] == pytest.approx(clock.now - 100 + 300)  # not extended


def test_lockout_expiry_unlocks_and_resets_the_count(pin_file: Path, clock: FakeClock) -> None:
    lock = PinLock(pin_file, clock=clock)
    lock_out(lock)
    clock.now += 299.0
    assert lock.verify(PIN).locked
    clock.now += 1.0
    st = lock.status()
    assert not st.locked and st.failures == 0 and st.tries_left == 5
    assert lock.verify("1357") == PinResult(ok=False, locked=False, tries_left=4, retry_after_s=0.0)
    assert record(pin_file)["locked_until"] is None
    assert lock.verify(PIN).ok


def test_right_pin_after_expiry_clears_the_old_lockout_in_the_file(pin_file: Path, clock: FakeClock) -> None:
    lock = PinLock(pin_file, clock=clock)
    lock_out(lock)
    clock.now += 301.0
    assert lock.verify(PIN).ok
    assert (record(pin_file)["failures"], record(pin_file)["locked_until"]) == (0, None)


def test_lockout_survives_a_restart(pin_file: Path, clock: FakeClock) -> None:
    lock_out(PinLock(pin_file, clock=clock))
    clock.now += 60
    fresh = PinLock(pin_file, clock=clock)  # a new process after a reboot
    r = fresh.verify(PIN)
    assert r.locked and not r.ok and r.retry_after_s == pytest.approx(240.0)


def test_wrong_tries_survive_a_restart(pin_file: Path, clock: FakeClock) -> None:
    for _ in range(3):
        PinLock(pin_file, clock=clock).verify("1357")
    assert PinLock(pin_file, clock=clock).verify("1357").tries_left == 1


def test_a_clock_set_back_does_not_lengthen_the_lockout(pin_file: Path, clock: FakeClock) -> None:
    lock = PinLock(pin_file, clock=clock)
    lock_out(lock)
    clock.now -= 86_400  # rebooted without an RTC: the clock is a day behind
    r = lock.verify(PIN)
    assert r.locked and r.retry_after_s == pytest.approx(300.0)
    clock.now += 300
    assert lock.verify(PIN).ok


def test_clear_lockout(pin_file: Path, clock: FakeClock) -> None:
    lock = PinLock(pin_file, clock=clock)
    assert lock.clear_lockout() is False  # nothing to clear
    lock_out(lock)
    assert lock.clear_lockout() is True
    assert not lock.status().locked
    assert lock.verify(PIN).ok


def test_tries_that_cannot_be_written_still_lock(pin_file: Path, clock: FakeClock, monkeypatch, caplog) -> None:
    lock = PinLock(pin_file, clock=clock)

    def disk_full(rec):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(lock, "_write", disk_full)
    with caplog.at_level(logging.ERROR, logger="appliance.staff"):
        lock_out(lock)
    assert "No space left" in caplog.text
    assert record(pin_file)["failures"] == 0  # the file never got them ...
    r = lock.verify(PIN)
    assert r.locked and not r.ok  # ... but this process holds the lockout

    monkeypatch.undo()
    PinLock(pin_file, clock=clock).set_pin("750319")  # a new PIN set from a shell wins
    assert lock.verify("750319").ok


def test_from_settings(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / "data", staff={"max_tries": 3, "lockout_s": 60, "lockout_max_s": 3600})
    lock = PinLock.from_settings(s)
    assert lock.path == tmp_path / "data" / "staff_pin.json"
    assert (lock.max_tries, lock.lockout_s, lock.lockout_max_s) == (3, 60.0, 3600.0)
    assert PinLock.from_settings(Settings(data_dir=tmp_path)).lockout_max_s == 86400.0  # a day


def test_a_longest_lockout_shorter_than_the_first_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lockout_max_s .* must not be shorter than lockout_s"):
        Settings(data_dir=tmp_path, staff={"lockout_s": 600, "lockout_max_s": 60})
    with pytest.raises(ValueError, match="must not be shorter"):
        PinLock(tmp_path / "pin.json", lockout_s=600, lockout_max_s=60)


# Escalation -----------------------------------------------------------------------------------
def run_out(lock: PinLock, clock: FakeClock) -> float:
    """Lock ``lock`` out, check how long for, and let the lockout run out; returns its length."""
    r = PinResult(False, False, 0, 0.0)
    for _ in range(lock.max_tries):
        r = lock.verify("9999")
    assert r.locked
    clock.now += r.retry_after_s
    assert not lock.status().locked
    return r.retry_after_s


def test_each_further_lockout_doubles_up_to_the_longest(pin_file: Path, clock: FakeClock) -> None:
    lock = PinLock(pin_file, max_tries=5, lockout_s=300.0, clock=clock, lockout_max_s=2000.0)
    assert [run_out(lock, clock) for _ in range(5)] == [300.0, 600.0, 1200.0, 2000.0, 2000.0]
    st = lock.status()
    assert (st.lockouts, st.next_lockout_s) == (5, 2000.0)
    assert record(pin_file)["lockouts"] == 5
    assert lock.verify("9999").tries_left == 4  # a lockout running out gives the tries back, not the round


def test_the_doubling_is_capped_at_a_day_by_default(pin_file: Path, clock: FakeClock) -> None:
    lock = PinLock(pin_file, clock=clock)
    assert [lock.lockout_for(n) for n in (1, 2, 3, 9, 10, 11, 10**9)] == [
        300.0,
        600.0,
        1200.0,
        76800.0,
        86400.0,
        86400.0,
        86400.0,
    ]
    for _ in range(9):
        run_out(lock, clock)
    assert run_out(lock, clock) == 86400.0


def test_guessing_a_four_digit_pin_takes_years_not_a_week(pin_file: Path, clock: FakeClock, monkeypatch) -> None:
    monkeypatch.setattr(staff_module, "_scrypt", lambda *a: b"\0" * 32)  # every guess wrong, and fast
    lock = PinLock(pin_file, clock=clock)
    start, guesses = clock.now, 0
    while clock.now - start < 7 * 86400:  # a week of guessing as fast as the lockout allows
        r = lock.verify("9999")
        guesses += not r.locked
        clock.now += r.retry_after_s if r.locked else 1.0
    assert guesses < 100  # 10,000 PINs: years at this rate; the old fixed 5 min allowed ~10,000 a week


def test_the_rounds_survive_a_restart(pin_file: Path, clock: FakeClock) -> None:
    run_out(PinLock(pin_file, clock=clock), clock)
    run_out(PinLock(pin_file, clock=clock), clock)
    assert run_out(PinLock(pin_file, clock=clock), clock) == 1200.0  # a new process each time


def test_a_right_pin_starts_the_doubling_over(pin_file: Path, clock: FakeClock) -> None:
    lock = PinLock(pin_file, clock=clock)
    run_out(lock, clock)
    run_out(lock, clock)
    lock.verify("9999")
    assert lock.verify(PIN).ok
    assert (record(pin_file)["failures"], record(pin_file)["lockouts"]) == (0, 0)
    assert run_out(lock, clock) == 300.0


def test_unlock_starts_the_doubling_over(pin_file: Path, clock: FakeClock) -> None:
    lock = PinLock(pin_file, clock=clock)
    run_out(lock, clock)
    assert lock.clear_lockout() is True  # not locked, no wrong tries, but a round to forget
    assert lock.clear_lockout() is False
    run_out(lock, clock)
    lock_out(lock)
    assert lock.clear_lockout() is True
    assert record(pin_file)["lockouts"] == 0
    assert run_out(lock, clock) == 300.0


def test_a_clock_set_back_in_a_later_round_keeps_that_rounds_wait(pin_file: Path, clock: FakeClock) -> None:
    lock = PinLock(pin_file, clock=clock)
    run_out(lock, clock)
    run_out(lock, clock)
    lock_out(lock)  # the third round: 1200 s
    clock.now += 200
    clock.now -= 86_400  # rebooted without an RTC
    r = lock.verify(PIN)
    assert r.locked and r.retry_after_s == pytest.approx(1200.0)  # re-based: never longer than this round's wait
    clock.now += 1200
    assert lock.verify(PIN).ok


def test_a_file_from_before_the_rounds_reads_as_none(pin_file: Path, clock: FakeClock) -> None:
    rec = record(pin_file)
    del rec["lockouts"]
    pin_file.write_text(json.dumps({**rec, "failures": 5, "locked_until": clock.now + 100}), encoding="utf-8")
    lock = PinLock(pin_file, clock=clock)
    st = lock.status()
    assert st.locked and st.retry_after_s == pytest.approx(100.0) and st.lockouts == 1
    clock.now += 100
    assert run_out(lock, clock) == 600.0  # the old lockout was the first round


# Between processes ----------------------------------------------------------------------------
def test_a_check_waits_for_the_lock_file_and_refuses_when_it_stays_taken(
    pin_file: Path, clock: FakeClock, monkeypatch
) -> None:
    from appliance.locking import exclusive

    lock = PinLock(pin_file, clock=clock)
    monkeypatch.setattr(staff_module, "FILE_LOCK_WAIT_S", 0.2)
    with exclusive(lock.lock_file, 1.0):  # another process is checking a PIN
        r = lock.verify("9999")
        assert not r.ok and not r.locked
        assert not lock.verify(PIN).ok  # not even the right one: it was not checked
    assert record(pin_file)["failures"] == 0
    assert lock.verify("9999").tries_left == 4
    assert lock.verify(PIN).ok


_GUESS = """
import sys, time
from pathlib import Path
from appliance.staff import PinLock
path, go = Path(sys.argv[1]), Path(sys.argv[2])
lock = PinLock(path)
while not go.exists():
    time.sleep(0.001)
print(lock.verify("9999").tries_left)
"""


def test_guesses_from_several_processes_at_once_each_cost_a_try(pin_file: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _GUESS, str(pin_file), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    go.touch()
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in results]
    assert sorted(int(o) for o, _ in results) == [1, 2, 3, 4]  # no two read the same count
    assert record(pin_file)["failures"] == 4


# Missing, corrupt and unreadable files --------------------------------------------------------
def test_no_pin_set_opens_nothing(tmp_path: Path) -> None:
    lock = PinLock(tmp_path / "staff_pin.json")
    assert not lock.is_set
    assert lock.verify("4826") == PinResult(ok=False, locked=False, tries_left=5, retry_after_s=0.0)
    assert not (tmp_path / "staff_pin.json").exists()


def _damage(rec: dict, how: str) -> str:
    if how == "garbage":
        return "not json {"
    if how == "truncated":
        return json.dumps(rec)[:40]
    changes = {
        "scheme": {"scheme": "plain", "pin": "4826"},
        "salt": {"salt": "@@not base64@@"},
        "n_not_power_of_two": {"n": 10000},
        "n_huge": {"n": 2**30},
        "failures": {"failures": -1},
        "locked_until": {"locked_until": "soon"},
    }[how]
    return json.dumps({**rec, **changes})


@pytest.mark.parametrize(
    "how", ["garbage", "truncated", "scheme", "salt", "n_not_power_of_two", "n_huge", "failures", "locked_until"]
)
def test_a_corrupt_file_means_no_pin_and_never_raises(pin_file: Path, caplog, how: str) -> None:
    pin_file.write_text(_damage(record(pin_file), how), encoding="utf-8")
    lock = PinLock(pin_file)
    with caplog.at_level(logging.WARNING, logger="appliance.staff"):
        assert not lock.is_set
        r = lock.verify(PIN)
    assert not r.ok and not r.locked
    assert "corrupt" in caplog.text
    st = lock.status()
    assert not st.is_set and "corrupt" in st.problem
    lock.set_pin("750319")  # setting a new PIN repairs it
    assert lock.verify("750319").ok


def test_an_unreadable_file_opens_nothing(tmp_path: Path) -> None:
    path = tmp_path / "staff_pin.json"
    path.mkdir()  # reading it fails with an OSError, whoever we run as
    lock = PinLock(path)
    assert not lock.is_set
    assert lock.verify(PIN) == PinResult(ok=False, locked=False, tries_left=5, retry_after_s=0.0)
    assert "cannot read" in lock.status().problem


# CLI ------------------------------------------------------------------------------------------
@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"KIOSK_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """`kiosk staff unlock` believes it runs as root (whoever runs the tests)."""
    monkeypatch.setattr("appliance.cli.staff._is_root", lambda: True)


def kiosk(args: list[str], env: dict[str, str], input: str | None = None):
    return runner.invoke(app, args, env=env, input=input, catch_exceptions=False)


def test_cli_set_pin_from_stdin(env, tmp_path: Path) -> None:
    path = tmp_path / "data" / "staff_pin.json"
    r = kiosk(["staff", "set-pin", "--pin-stdin"], env, input="1234\n")
    assert r.exit_code == 2 and "consecutive" in r.stderr and not path.exists()
    r = kiosk(["staff", "set-pin", "--pin-stdin"], env, input="")
    assert r.exit_code == 2 and "no PIN" in r.stderr
    r = kiosk(["staff", "set-pin", "--pin-stdin"], env, input="750319\r\n")
    assert r.exit_code == 0 and str(path) in r.stdout
    assert "750319" not in r.output
    assert PinLock(path).verify("750319").ok


def test_cli_set_pin_prompts_twice_and_explains_a_weak_pin(env, tmp_path: Path) -> None:
    path = tmp_path / "data" / "staff_pin.json"
    r = kiosk(["staff", "set-pin"], env, input="0000\n750319\n750391\n750319\n750319\n")
    assert r.exit_code == 0, r.output
    assert "one digit repeated" in r.stderr and "differ" in r.stderr
    assert PinLock(path).verify("750319").ok
    r = kiosk(["staff", "set-pin"], env, input="1357\n2468\n" * 3)
    assert r.exit_code == 2 and "no PIN set" in r.stderr
    assert PinLock(path).verify("750319").ok  # the old PIN stays


def test_cli_status_and_unlock(env, tmp_path: Path, as_root) -> None:
    path = tmp_path / "data" / "staff_pin.json"
    r = kiosk(["staff", "status", "--json"], env)
    assert r.exit_code == 0 and json.loads(r.stdout)["is_set"] is False
    assert "not set" in kiosk(["staff", "status"], env).stdout
    assert "nothing to unlock" in kiosk(["staff", "unlock"], env).stdout

    kiosk(["staff", "set-pin", "--pin-stdin"], env, input="750319\n")
    lock = PinLock(path)
    lock.verify("1111")
    lock.verify("2222")
    st = json.loads(kiosk(["staff", "status", "--json"], env).stdout)
    assert st["is_set"] and not st["locked"]
    assert (st["failures"], st["tries_left"], st["max_tries"], st["file"]) == (2, 3, 5, str(path))

    for _ in range(3):
        lock.verify("3333")
    st = json.loads(kiosk(["staff", "status", "--json"], env).stdout)
    assert st["locked"] and 295 < st["retry_after_s"] <= 300 and st["locked_until"] > 0
    text = kiosk(["staff", "status"], env).stdout
    assert "locked: yes" in text and "min" in text

    r = kiosk(["staff", "unlock"], env)
    assert r.exit_code == 0 and "lockout cleared" in r.stdout
    st = json.loads(kiosk(["staff", "status", "--json"], env).stdout)
    assert (st["locked"], st["failures"], st["tries_left"]) == (False, 0, 5)
    assert lock.verify("750319").ok
    assert "nothing to clear" in kiosk(["staff", "unlock"], env).stdout


def test_cli_unlock_and_status_name_a_corrupt_file(env, tmp_path: Path, as_root) -> None:
    path = tmp_path / "data" / "staff_pin.json"
    path.parent.mkdir(parents=True)
    path.write_text("{broken", encoding="utf-8")
    r = kiosk(["staff", "unlock"], env)
    assert r.exit_code == 2 and "corrupt" in r.stderr
    r = kiosk(["staff", "status", "--json"], env)
    st = json.loads(r.stdout)
    assert st["is_set"] is False and "corrupt" in st["problem"]


def test_cli_unlock_is_for_root_only(env, tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "data" / "staff_pin.json"
    kiosk(["staff", "set-pin", "--pin-stdin"], env, input="750319\n")
    lock_out(PinLock(path))
    before = record(path)
    monkeypatch.setattr("appliance.cli.staff._is_root", lambda: False)
    r = kiosk(["staff", "unlock"], env)
    assert r.exit_code == 2 and "must run as root" in r.stderr and "sudo kiosk staff unlock" in r.stderr
    assert record(path) == before and PinLock(path).status().locked  # the lockout holds


def test_cli_status_shows_the_rounds_and_the_next_lockout(env, tmp_path: Path, as_root) -> None:
    path = tmp_path / "data" / "staff_pin.json"
    kiosk(["staff", "set-pin", "--pin-stdin"], env, input="750319\n")
    clock = FakeClock()
    lock = PinLock(path, clock=clock)
    run_out(lock, clock)
    run_out(lock, clock)
    lock_out(lock)  # the third lockout, 20 minutes, by the fake clock: long past by the real one ...
    rec = record(path)  # ... which the CLI uses, so it is moved to now
    path.write_text(json.dumps({**rec, "locked_until": time.time() + 1200}), encoding="utf-8")
    st = json.loads(kiosk(["staff", "status", "--json"], env).stdout)
    assert (st["lockouts"], st["next_lockout_s"], st["lockout_max_s"]) == (3, 2400.0, 86400.0)
    assert st["locked"] and 1190 < st["retry_after_s"] <= 1200
    text = kiosk(["staff", "status"], env).stdout
    assert "lockouts since the last right PIN: 3" in text and "the next one lasts 40 min" in text
    assert "up to 24 h" in text
    r = kiosk(["staff", "unlock"], env)
    assert r.exit_code == 0 and "the next lockout lasts 5 min" in r.stdout
    assert json.loads(kiosk(["staff", "status", "--json"], env).stdout)["lockouts"] == 0
