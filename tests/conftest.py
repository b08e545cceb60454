"""Shared fixtures: isolated settings, the demo knowledge base, tiny models, the shared data."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # Qt tests run without a display
# A COLUMNS in the environment the suite starts in (pytest-xdist's workers set 80) would be kept
# for good by the CLI's rich consoles, made at import: without it, a CLI test's own COLUMNS
# (CliRunner's env) sets the width.
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)
import shutil
from pathlib import Path

import pytest

from appliance.bootstrap import demo_kb_dir, make_analyzer
from appliance.config import Settings
from appliance.knowledge.ingest import Ingestor
from appliance.knowledge.store import KnowledgeBase
from appliance.outside_data import shared_data_dir
from appliance.site import Site, example_site_file, load_site

ROOT = Path(__file__).resolve().parents[1]
SHARED = shared_data_dir()  # $KIOSK_SHARED_DATA, else ../shared/data


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test reads the developer's config or writes to their data dir."""
    for var in list(os.environ):
        if var.startswith("KIOSK_"):
            monkeypatch.delenv(var)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setattr("appliance.config.SYSTEM_CONFIG", home / "no-system-config.toml")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh data dir and no models."""
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def site() -> Site:
    """The shipped example site profile."""
    return load_site(example_site_file())


@pytest.fixture(scope="session")
def analyzer(tmp_path_factory: pytest.TempPathFactory, site: Site):
    """One analyzer (jieba loaded once) with the example site's synonyms."""
    s = Settings(data_dir=tmp_path_factory.mktemp("analyzer"))
    a = make_analyzer(s, site)
    a.warm_up()
    return a


@pytest.fixture(scope="session")
def demo_kb_file(tmp_path_factory: pytest.TempPathFactory, analyzer) -> Path:
    """A knowledge-base file built once from the demo guides (copy it before writing)."""
    path = tmp_path_factory.mktemp("demo") / "kb.sqlite"
    kb = KnowledgeBase.open(path, analyzer)
    report = Ingestor(kb).ingest([demo_kb_dir()])
    assert not report.failed, report.failed
    kb.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    kb.close()
    return path


@pytest.fixture
def demo_kb(demo_kb_file: Path, tmp_path: Path, analyzer):
    """A private, writable copy of the demo knowledge base."""
    path = tmp_path / "kb.sqlite"
    shutil.copy(demo_kb_file, path)
    kb = KnowledgeBase.open(path, analyzer)
    yield kb
    kb.close()


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny llama-architecture GGUF built with the gguf package (loads in llama-cpp-python)."""
    from models.tiny import write_tiny_llama_gguf

    return write_tiny_llama_gguf(tmp_path_factory.mktemp("models") / "tiny.gguf")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The outside data (:func:`appliance.outside_data.shared_data_dir`); tests using it are
    skipped when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED} (real recordings and service guides live there)")
    return SHARED
