"""The layers point one way (issue 16): answering questions and ingesting guides load no serial
port code, and only the composition root, the CLI and the robot bench reach the simulator."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Who may import firmware_bridge.sim: the composition root, the CLI, the robot bench, the simulator.
MAY_IMPORT_SIM = ("appliance/bootstrap.py", "appliance/cli/", "firmware_bridge/bench.py", "firmware_bridge/sim/")


def _loaded(modules: str, watched: tuple[str, ...]) -> list[str]:
    """The modules named in ``watched`` (or under them) that importing ``modules`` (comma
    separated) loads, in a fresh interpreter."""
    code = (
        f"import sys, {modules}\n"
        f"watched = {watched!r}\n"
        "print(','.join(sorted(m for m in sys.modules if m in watched or m.startswith(tuple(w + '.' for w in watched)))))"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    return [m for m in p.stdout.strip().split(",") if m]


def test_answering_and_ingesting_load_no_serial_port_code() -> None:
    modules = "appliance.answer.engine, appliance.knowledge.ingest, appliance.tours, appliance.cli.ask"
    watched = ("serial", "firmware_bridge.sim", "firmware_bridge.link", "firmware_bridge.robot")
    assert _loaded(modules, watched) == [], "loaded by the text path"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_only_the_composition_root_the_cli_and_the_robot_bench_import_the_simulator() -> None:
    offenders = []
    for package in ("appliance", "ui", "models", "voice", "firmware_bridge"):
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(MAY_IMPORT_SIM):
                continue
            if any(n == "firmware_bridge.sim" or n.startswith("firmware_bridge.sim.") for n in _imports(path)):
                offenders.append(rel)
    assert not offenders, offenders


def test_the_text_paths_and_their_events_load_no_audio_pipeline() -> None:
    """The typed conversation, the touchscreen's controller and the tours take their events from
    appliance.events, not from the voice loop (which pulls in the endpointer, playback and TTS)."""
    modules = "appliance.events, appliance.text_conversation, appliance.tours, appliance.body"
    watched = ("appliance.conversation", "voice.playback", "voice.endpoint", "voice.tts", "voice.echo", "sounddevice")
    assert _loaded(modules, watched) == [], "loaded by the text path"
