"""``kiosk doctor``: what a field engineer runs on a new or broken box.

Each check answers with one :class:`Finding`: ``ok``, ``warn`` (works, but not as it should on a
kiosk) or ``fail`` (a resident would notice), what it found, and for anything but ``ok`` the fix,
naming the command that makes it. A check never raises: an error inside it is its finding. Each
has its own budget (the network and repository 5 s, the robot's handshake 3 s, the microphone 2 s
of recording), so the whole report takes seconds even on a box with nothing plugged in.

The checks, in the order printed: Python, SQLite with sqlite-vec, disk, memory, clock, network,
the street office's repository, the knowledge base, each configured model (verified by sha256),
GPU and whether llama.cpp and CTranslate2 use it, microphone (level and clipping of 2 s), speaker
(a chime), display, touch, robot controller (HELLO, versions, e-stop), and the service (state and
the last restart's reason).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from appliance.config import Settings

OK, WARN, FAIL = "ok", "warn", "fail"

MIN_FREE_GB = 2.0
"""Free space under DATA_DIR below which the disk is a warning: a sync stages a whole knowledge base
next to the installed one, and a model import needs its size again."""
MIN_MEMORY_GB = 3.5
"""Memory below which the box is a warning: ``kiosk bench service`` measured 1.2–1.3 GB resident at
READY with Whisper base and a 0.5B LLM, and the catalogue's 1.5B LLM and Whisper small need about
twice that."""
CLIP_LEVEL = 0.99
"""A sample at or above this magnitude (full scale 1.0) counts as clipped."""
QUIET_DBFS = -60.0
"""A microphone whose 2 s RMS stays below this (dBFS) hears nothing: muted, unplugged or a gain of 0."""


@dataclass
class Finding:
    """One line of the report."""

    check: str
    status: str  # ok | warn | fail
    detail: str
    fix: str = ""


Check = Callable[[Settings], Finding]


def _run(cmd: list[str], timeout: float = 5.0) -> tuple[int, str]:
    """(exit code, stdout) of ``cmd``; (127, "") when it is not installed."""
    if shutil.which(cmd[0]) is None:
        return 127, ""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, str(exc)
    return p.returncode, p.stdout.strip()


def check_python(s: Settings) -> Finding:
    """The interpreter and its environment: 3.10 or newer, inside a virtual environment."""
    v = sys.version_info
    where = f"Python {platform.python_version()} at {sys.executable}"
    if v < (3, 10):
        return Finding("python", FAIL, where, "install on Python 3.10 or newer (deploy/install uses the system's)")
    if sys.prefix == sys.base_prefix:
        return Finding("python", WARN, f"{where}, not in a virtual environment", "reinstall with deploy/install")
    return Finding("python", OK, where)


def check_sqlite(s: Settings) -> Finding:
    """The SQLite module in use, its version, FTS5, and whether sqlite-vec loads into it."""
    from appliance.knowledge.db import connect, sqlite_module

    module, reason = sqlite_module()
    name = "sqlite3" if module.__name__ == "sqlite3" else module.__name__.split(".")[0]
    head = f"{name} (SQLite {module.sqlite_version})"
    if reason:
        return Finding(
            "sqlite", FAIL, f"{head}: {reason}", "reinstall with deploy/install (the system Python loads extensions)"
        )
    db = connect(":memory:")
    try:
        if not db.has_vec:
            return Finding(
                "sqlite", WARN, f"{head}, FTS5; sqlite-vec: {db.vec_error}", "pip install 'sqlite-vec>=0.1.9'"
            )
        (vec,) = db.conn.execute("SELECT vec_version()").fetchone()
    finally:
        db.close()
    return Finding("sqlite", OK, f"{head}, FTS5, sqlite-vec {vec}")


def check_disk(s: Settings) -> Finding:
    """Free space on the file system that holds DATA_DIR."""
    folder = s.data_dir
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    usage = shutil.disk_usage(folder)
    free_gb, total_gb = usage.free / 2**30, usage.total / 2**30
    detail = f"{free_gb:.1f} GB free of {total_gb:.1f} GB under {s.data_dir}"
    if free_gb * 1024 < s.ingest.min_free_mb:
        return Finding(
            "disk", FAIL, detail, "free space: `journalctl --vacuum-size=100M`, remove old models (`kiosk models list`)"
        )
    if free_gb < MIN_FREE_GB:
        return Finding("disk", WARN, detail, f"keep at least {MIN_FREE_GB:g} GB free for syncs and model imports")
    return Finding("disk", OK, detail)


def _meminfo() -> dict[str, int]:
    out = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = int(value.split()[0]) * 1024
    return out


def check_memory(s: Settings) -> Finding:
    """Total and available memory (``/proc/meminfo``)."""
    info = _meminfo()
    total, avail = info.get("MemTotal", 0) / 2**30, info.get("MemAvailable", 0) / 2**30
    detail = f"{avail:.1f} GB available of {total:.1f} GB"
    if total < MIN_MEMORY_GB:
        return Finding(
            "memory", WARN, detail, "use the smaller models (`kiosk models list`) or a box with 4 GB or more"
        )
    if avail < 1.0:
        return Finding("memory", WARN, detail, "something else is using the memory: `systemctl status`, `top`")
    return Finding("memory", OK, detail)


def check_clock(s: Settings) -> Finding:
    """Whether the clock is synchronised (TUF refuses metadata that a wrong clock calls expired)."""
    code, synced = _run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
    now = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    if code == 0 and synced == "yes":
        return Finding("clock", OK, f"{now}, synchronised")
    if code == 0 and synced == "no":
        return Finding(
            "clock",
            WARN,
            f"{now}, not synchronised",
            "systemctl enable --now systemd-timesyncd (or chrony); check [sync] url is reachable",
        )
    if Path("/run/systemd/timesync/synchronized").exists():
        return Finding("clock", OK, f"{now}, synchronised (systemd-timesyncd)")
    return Finding(
        "clock", WARN, f"{now}, synchronisation unknown (no timedatectl)", "install systemd-timesyncd or chrony"
    )


def check_network(s: Settings) -> Finding:
    """Online or not, as the appliance's own probe sees it (``[network] probe``)."""
    from appliance.network import NetworkProbe

    state = NetworkProbe(s.network).check()
    if state.online:
        return Finding("network", OK, state.how)
    return Finding(
        "network",
        WARN,
        f"offline: {state.how}",
        "the kiosk answers offline; for syncs and alerts check the cable or Wi-Fi (`ip route`)",
    )


def check_repository(s: Settings, timeout: float = 5.0) -> Finding:
    """The street office's repository: its TUF ``timestamp.json`` fetched, and the trusted root there."""
    cfg = s.sync
    if not cfg.url:
        return Finding(
            "repository",
            WARN,
            "no [sync] url: the knowledge base is not synced",
            "set [sync] url, root, channels and enabled = true",
        )
    url = f"{cfg.url.rstrip('/')}/metadata/timestamp.json"
    root_note = ""
    if cfg.root is None or not Path(cfg.root).is_file():
        root_note = f"; trusted root {cfg.root or '(unset)'} missing"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (the configured repository)
            data = json.loads(r.read(64 * 1024))
        expires = data["signed"]["expires"]
    except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
        return Finding(
            "repository", FAIL, f"{url}: {exc}{root_note}", "check [sync] url and the network; `kiosk sync` says more"
        )
    status = FAIL if root_note else (OK if cfg.enabled else WARN)
    fix = (
        "copy root.json from `kiosk publish init` and set [sync] root"
        if root_note
        else ("" if cfg.enabled else "set [sync] enabled = true")
    )
    return Finding("repository", status, f"{cfg.url}: timestamp expires {expires}{root_note}", fix)


def check_knowledge_base(s: Settings) -> Finding:
    """The installed knowledge base: version, guides, where it came from, and the last sync."""
    from appliance.health import sync_health
    from appliance.knowledge.store import KnowledgeBase, KnowledgeBaseError

    path = s.kb_file
    if not path.exists():
        return Finding(
            "knowledge base",
            WARN,
            f"none at {path} yet (the demo is built at first start)",
            "kiosk kb ingest FOLDER, or set up [sync]",
        )
    from appliance.bootstrap import load_site_for, make_analyzer

    try:
        kb = KnowledgeBase.open(path, make_analyzer(s, load_site_for(s)), readonly=True)
    except (KnowledgeBaseError, OSError, Exception) as exc:  # a damaged file is this check's finding
        return Finding("knowledge base", FAIL, f"{path}: {exc}", "kiosk kb rollback, or kiosk kb ingest again")
    try:
        docs = kb.documents()
        detail = f"v{kb.version}, {len(docs)} guides, embeddings {kb.embedding_model or 'none'}"
    finally:
        kb.close()
    sync = sync_health(s)
    if sync["last_success"]:
        detail += f"; last sync {time.strftime('%Y-%m-%d %H:%M', time.localtime(sync['last_success']))}"
    if sync["last_error"]:
        return Finding(
            "knowledge base",
            WARN,
            f"{detail}; last sync error: {sync['last_error']}",
            "kiosk sync (prints what failed)",
        )
    if not docs:
        return Finding("knowledge base", FAIL, f"{detail}: empty", "kiosk kb ingest FOLDER")
    return Finding("knowledge base", OK, detail)


def configured_models(s: Settings) -> list[tuple[str, str]]:
    """(role, catalogue name) of every model the settings name, in pipeline order."""
    out = []
    if s.asr.model and s.asr.path is None:
        out.append(("asr", s.asr.model))
    if s.embedding.model and s.embedding.enabled:
        out.append(("embedding", s.embedding.model))
    if s.llm.model and s.llm.path is None and s.llm.enabled is not False:
        out.append(("llm", s.llm.model))
    for lang, name in sorted(s.tts.voices.items()):
        if lang not in s.tts.paths:
            out.append((f"tts {lang}", name))
    return out


def model_checks(s: Settings) -> list[Finding]:
    """One finding per configured model: installed and its files' sha256 as at install, or how to get it."""
    from models.store import ModelStore

    store = ModelStore(s.models_path)
    findings = []
    for role, name in configured_models(s):
        check = f"model {role}"
        try:
            st = store.status(name)
        except Exception as exc:
            findings.append(Finding(check, FAIL, f"{name}: {exc}", "kiosk models list"))
            continue
        if st.state != "installed":
            findings.append(
                Finding(
                    check,
                    FAIL,
                    f"{name}: {st.state} {st.detail}".strip(),
                    f"kiosk models pull {name} (or kiosk models import ARCHIVE)",
                )
            )
            continue
        problems = (
            store.verify(name)
            if store.installed(name) is not None and (store.folder(name) / "manifest.json").is_file()
            else []
        )
        if problems:
            findings.append(Finding(check, FAIL, f"{name}: {'; '.join(problems)}", f"kiosk models pull {name}"))
        else:
            findings.append(
                Finding(
                    check,
                    OK,
                    f"{name}: installed, verified ({st.detail})" if st.detail else f"{name}: installed, verified",
                )
            )
    if not findings:
        findings.append(
            Finding(
                "models",
                WARN,
                "no models configured: extractive answers, no voice",
                "set [asr] model, [tts.voices], [llm] model",
            )
        )
    return findings


def check_gpu(s: Settings) -> Finding:
    """The GPU, and whether llama.cpp (GPU offload) and CTranslate2 (CUDA devices) can use it."""
    gpu = ""
    if Path("/etc/nv_tegra_release").is_file():
        gpu = "Jetson (" + Path("/etc/nv_tegra_release").read_text().split(",")[0].strip("# \n") + ")"
    else:
        code, name = _run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"])
        if code == 0 and name:
            gpu = name.splitlines()[0]
    uses = []
    try:
        import llama_cpp

        uses.append(f"llama.cpp GPU offload {'yes' if llama_cpp.llama_supports_gpu_offload() else 'no'}")
    except Exception as exc:
        uses.append(f"llama.cpp unavailable ({type(exc).__name__})")
    try:
        import ctranslate2

        uses.append(f"CTranslate2 CUDA devices {ctranslate2.get_cuda_device_count()}")
    except Exception as exc:
        uses.append(f"CTranslate2 unavailable ({type(exc).__name__})")
    detail = f"{gpu or 'no GPU'}; " + ", ".join(uses)
    if gpu and ("offload no" in detail or "CUDA devices 0" in detail):
        return Finding(
            "gpu", WARN, detail, "rebuild with CUDA: deploy/jetson/install-cuda-runtimes (see README, Jetson)"
        )
    return Finding("gpu", OK, detail)


def check_microphone(s: Settings, seconds: float = 2.0) -> Finding:
    """Record ``seconds`` from ``[audio] input_device``: the level (RMS, dBFS) and the share of clipped samples."""
    import numpy as np

    try:
        import sounddevice as sd

        rate = int(s.audio.capture_rate or sd.query_devices(s.audio.input_device, "input")["default_samplerate"])
        audio = sd.rec(int(seconds * rate), samplerate=rate, channels=1, dtype="float32", device=s.audio.input_device)
        sd.wait()
    except Exception as exc:  # PortAudio's errors, no device, OSError
        return Finding(
            "microphone",
            FAIL,
            f"cannot record: {exc}",
            _audio_fix(exc, "microphone"),
        )
    x = np.asarray(audio, dtype=np.float32).ravel()
    rms = float(np.sqrt(np.mean(x**2))) if x.size else 0.0
    dbfs = 20 * np.log10(max(rms, 1e-10))
    clipped = float(np.mean(np.abs(x) >= CLIP_LEVEL)) if x.size else 0.0
    detail = f"{seconds:g} s at {rate} Hz: level {dbfs:.0f} dBFS, {clipped:.2%} clipped"
    if clipped > 0.001:
        return Finding("microphone", WARN, detail, "lower the capture gain (alsamixer)")
    if dbfs < QUIET_DBFS:
        return Finding(
            "microphone", WARN, detail + " (silent)", "unmute and raise the capture gain (alsamixer); check the cable"
        )
    return Finding("microphone", OK, detail)


def check_speaker(s: Settings) -> Finding:
    """Play a short two-tone chime on ``[audio] output_device`` (listen for it)."""
    import numpy as np

    try:
        import sounddevice as sd

        rate = 48000
        t = np.arange(int(0.25 * rate)) / rate
        fade = np.minimum(1, np.minimum(t, t[::-1]) / 0.02)
        chime = np.concatenate([np.sin(2 * np.pi * f * t) * fade * 0.3 for f in (880.0, 660.0)]).astype(np.float32)
        sd.play(chime, rate, device=s.audio.output_device)
        sd.wait()
    except Exception as exc:
        return Finding(
            "speaker",
            FAIL,
            f"cannot play: {exc}",
            _audio_fix(exc, "speaker"),
        )
    return Finding("speaker", OK, "played a chime (0.5 s): it should have been heard")


def _audio_fix(exc: Exception, what: str) -> str:
    if "PortAudio library not found" in str(exc):
        if list(Path("/usr/lib").glob("*/libportaudio.so.2")) or Path("/usr/lib/libportaudio.so.2").exists():
            return "libportaudio2 is installed but missing from the linker's cache: run ldconfig"
        return "apt-get install libportaudio2 (deploy/install does)"
    return f"plug in the {what}; `kiosk audio devices`; the kiosk user needs the audio group"


def check_display(s: Settings, drm: Path = Path("/sys/class/drm")) -> Finding:
    """A connected display (DRM connectors' ``status``)."""
    connected = sorted(
        p.name.split("-", 1)[1]
        for p in drm.glob("card*-*")
        if (p / "status").is_file() and (p / "status").read_text().strip() == "connected"
    )
    if connected:
        hint = (
            ""
            if s.ui.rotation == 0 or s.ui.output
            else f"; set [ui] output to one of these for [ui] rotation {s.ui.rotation}"
        )
        return Finding(
            "display",
            OK if not hint else WARN,
            f"connected: {', '.join(connected)}{hint}",
            "kiosk deploy display --write /etc/kiosk" if hint else "",
        )
    return Finding("display", FAIL, "no connected display", "check the display's cable and power; `ls /sys/class/drm`")


def touch_devices(devices: Path = Path("/proc/bus/input/devices")) -> list[str]:
    """Names of the input devices that report multi-touch positions (``ABS_MT_POSITION_X``, code
    0x35, in their ``B: ABS=`` bitmap; linux/input-event-codes.h)."""
    names, name = [], ""
    try:
        text = devices.read_text()
    except OSError:
        return []
    for line in text.splitlines():
        if line.startswith("N: Name="):
            name = line.split("=", 1)[1].strip('"')
        elif line.startswith("B: ABS="):
            words = line.split("=", 1)[1].split()
            bits = int("".join(w.rjust(16, "0") for w in words), 16) if words else 0
            if bits >> 0x35 & 1:
                names.append(name)
    return names


def check_touch(s: Settings) -> Finding:
    """A touchscreen among the input devices."""
    found = touch_devices()
    if found:
        return Finding("touch", OK, ", ".join(found))
    return Finding(
        "touch",
        FAIL,
        "no multi-touch input device",
        "check the touchscreen's USB cable; the kiosk user needs the input group",
    )


def check_robot(s: Settings, health: dict | None, wait_s: float = 3.0) -> Finding:
    """The robot's controller: from the running appliance's health when it holds the port, else a
    handshake of our own (HELLO: firmware and protocol versions), and the e-stop state."""
    port = s.robot.port
    if not port or port.strip().lower() == "none":
        return Finding("robot", OK, "configured without a body ([robot] port unset)")
    status = (health or {}).get("robot") if health else None
    if status and status.get("mode") != "none":
        return _robot_finding(port, status, "(from the running appliance)")
    from appliance.bootstrap import connect_robot

    try:
        runtime = connect_robot(s.robot, wait_s=wait_s)
    except (OSError, ValueError) as exc:
        return Finding(
            "robot",
            FAIL,
            f"{port}: {exc}",
            "check the USB cable; `kiosk robot ports`; [robot] usb_id and the udev rule",
        )
    with runtime:
        if runtime.robot is None:
            return Finding("robot", OK, "no body")
        st = runtime.robot.status()
        st["mode"] = "ok" if st["state"] == "connected" else "degraded"
        return _robot_finding(port, st, "")


def _robot_finding(port: str, st: dict, how: str) -> Finding:
    if st.get("state") != "connected":
        return Finding(
            "robot",
            FAIL,
            f"{port}: {st.get('state')} {st.get('error') or ''} {how}".strip(),
            "check the controller's power and USB; `kiosk robot ports`; `kiosk robot monitor`",
        )
    ctrl = st.get("controller") or {}
    versions = (
        ", ".join(f"{k} {ctrl[k]}" for k in ("device_id", "firmware", "protocol") if ctrl.get(k)) or "versions unknown"
    )
    if st.get("estop_latched"):
        return Finding(
            "robot",
            WARN,
            f"{port}: connected ({versions}), E-STOP latched {how}".strip(),
            "release the e-stop button, then `kiosk robot estop-reset`",
        )
    return Finding("robot", OK, f"{port}: connected ({versions}), e-stop clear {how}".strip())


_VERDICTS = {
    "running": "the appliance is running",
    "stopped": "the appliance stopped cleanly",
    "stale": "the appliance's health report is stale: hung or killed",
    "missing": "the appliance is not running",
}


def check_service(s: Settings, health: dict | None, verdict: str) -> Finding:
    """``kiosk.service``: its state, restarts and the last result (``watchdog`` when a hung worker
    made systemd restart it), plus the running appliance's workers from its health report."""
    running = _VERDICTS.get(verdict, verdict)
    if verdict == "stale":
        return Finding("service", FAIL, running, "journalctl -u kiosk -b; systemctl restart kiosk")
    code, text = _run(
        [
            "systemctl",
            "show",
            "kiosk.service",
            "-p",
            "LoadState,ActiveState,SubState,NRestarts,Result,ExecMainStatus,ExecMainCode",
        ]
    )
    workers = ""
    if health and health.get("workers"):
        hung = [name for name, w in health["workers"].items() if w.get("overdue")]
        workers = f"; workers: {'hung ' + ', '.join(hung) if hung else 'all moving'}"
    if code != 0:
        return Finding("service", WARN, f"systemd not available ({running}{workers})", "on a device: deploy/install")
    props = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    if props.get("LoadState") != "loaded":
        return Finding("service", WARN, f"kiosk.service not installed ({running}{workers})", "deploy/install")
    detail = f"{props.get('ActiveState')}/{props.get('SubState')}, restarts {props.get('NRestarts', '?')}, last result {props.get('Result')}{workers}"
    if props.get("ActiveState") != "active":
        return Finding("service", FAIL, detail, "journalctl -u kiosk -b; systemctl restart kiosk")
    if props.get("Result") not in ("success", None) or (workers and "hung" in workers):
        return Finding("service", WARN, detail, "journalctl -u kiosk -b (the watchdog names the hung worker)")
    return Finding("service", OK, detail)


def run_checks(s: Settings, *, audio: bool = True, only: set[str] | None = None) -> list[Finding]:
    """Every check, in order (``audio`` False skips recording and the chime; ``only`` keeps the
    checks whose name starts with one of its words)."""
    from appliance.health import HEALTH_FILE, read_health

    health, verdict = read_health(s.data_dir / HEALTH_FILE)
    if verdict != "running":
        health = None
    steps: list[tuple[str, Callable[[], list[Finding]]]] = [
        ("python", lambda: [check_python(s)]),
        ("sqlite", lambda: [check_sqlite(s)]),
        ("disk", lambda: [check_disk(s)]),
        ("memory", lambda: [check_memory(s)]),
        ("clock", lambda: [check_clock(s)]),
        ("network", lambda: [check_network(s)]),
        ("repository", lambda: [check_repository(s)]),
        ("knowledge base", lambda: [check_knowledge_base(s)]),
        ("model", lambda: model_checks(s)),
        ("gpu", lambda: [check_gpu(s)]),
        (
            "microphone",
            lambda: [check_microphone(s)] if audio else [Finding("microphone", WARN, "skipped (--no-audio)")],
        ),
        ("speaker", lambda: [check_speaker(s)] if audio else [Finding("speaker", WARN, "skipped (--no-audio)")]),
        ("display", lambda: [check_display(s)]),
        ("touch", lambda: [check_touch(s)]),
        ("robot", lambda: [check_robot(s, health)]),
        ("service", lambda: [check_service(s, health, verdict)]),
    ]
    findings: list[Finding] = []
    for name, step in steps:
        if only and not any(name.startswith(o) for o in only):
            continue
        try:
            findings.extend(step())
        except Exception as exc:  # one broken check must not hide the others
            findings.append(Finding(name, FAIL, f"the check itself failed: {type(exc).__name__}: {exc}"))
    return findings


def as_json(findings: list[Finding]) -> str:
    """The report for remote checks: ``{"ok": bool, "findings": [...]}`` (ok: no ``fail``)."""
    return json.dumps(
        {
            "ok": not any(f.status == FAIL for f in findings),
            "host": os.uname().nodename,
            "findings": [asdict(f) for f in findings],
        },
        ensure_ascii=False,
    )
