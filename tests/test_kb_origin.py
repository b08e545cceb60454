"""Never pretend to be a real site: the demo goes only into a knowledge base that never held a
site's guides, an emptied site knowledge base stays empty and says so, and several processes
starting at once on a new data dir build it once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import appliance.bootstrap as bootstrap
from appliance.bootstrap import build_appliance, demo_kb_dir, ensure_demo
from appliance.cli import app
from appliance.config import Settings
from appliance.health import HEALTH_FILE, HealthWriter, appliance_health, robot_health
from appliance.knowledge.ingest import Ingestor
from appliance.knowledge.lock import building, lock_path
from appliance.knowledge.origin import kb_state, looks_like_demo
from appliance.knowledge.store import KnowledgeBase, KnowledgeBaseError
from appliance.locking import exclusive

GUIDE = "# 居住证办理\n\n## 办理地点\n社区服务中心二楼\n\n## 所需材料\n身份证、租房合同\n"
runner = CliRunner()


def own_guide(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "juzhuzheng.md"
    path.write_text(GUIDE, encoding="utf-8")
    return path


def ingest_site_guide(settings: Settings, analyzer, folder: Path) -> Path:
    """Ingest one of the site's own guides into the configured knowledge base, as `kiosk kb ingest` does."""
    guide = own_guide(folder)
    with KnowledgeBase.open(settings.kb_file, analyzer) as kb:
        assert not Ingestor(kb).ingest([guide]).failed
    return guide


def empty_out(settings: Settings, analyzer) -> None:
    """Remove every file's documents, as `kiosk kb remove` of each file would."""
    with KnowledgeBase.open(settings.kb_file, analyzer) as kb:
        for source in kb.source_paths():
            kb.remove_source(source)
        assert kb.is_empty()


# The origin marker ------------------------------------------------------------------------------
def test_a_new_data_dir_gets_the_demo_marked_as_the_demo(settings: Settings) -> None:
    with build_appliance(settings, use_llm=False, journal=False) as a:
        assert a.kb.origin == "demo"
        st = a.kb_state()
        assert st.kind == "demo" and st.documents == st.demo_documents > 10 and st.shows_demo
        assert "demo knowledge base" in st.describe() and "fictional" in st.describe()
        assert any("built the knowledge base" in n for n in a.notes)
    with build_appliance(settings, use_llm=False, journal=False) as a:  # the next start says it is the demo
        assert any("demo knowledge base" in n for n in a.notes)
        assert not any("built" in n for n in a.notes)


def test_a_site_guide_marks_the_kb_a_sites_for_good(tmp_path: Path, analyzer) -> None:
    kb = KnowledgeBase.open(tmp_path / "kb.sqlite", analyzer)
    assert kb.origin is None
    guide = own_guide(tmp_path / "guides")
    Ingestor(kb).ingest([guide])
    assert kb.origin == "site"
    kb.remove_source(str(guide.resolve()))
    kb.close()
    with KnowledgeBase.open(tmp_path / "kb.sqlite", analyzer) as again:  # persistent, with nothing left in it
        assert again.is_empty() and again.origin == "site"
        with again.storing_demo():  # the demo stored later does not make it the demo's
            Ingestor(again).ingest([demo_kb_dir() / "zh"])
        assert again.origin == "site"
        with pytest.raises(ValueError, match="'demo' or 'site'"):
            again.mark_origin("other")


def test_the_demo_folder_ingested_by_hand_is_the_demo_until_a_site_guide_comes(tmp_path: Path, analyzer) -> None:
    with KnowledgeBase.open(tmp_path / "kb.sqlite", analyzer) as kb:
        Ingestor(kb).ingest([demo_kb_dir() / "zh"])
        assert kb.origin == "demo" and kb_state(kb, demo_kb_dir()).kind == "demo"
        Ingestor(kb).ingest([own_guide(tmp_path / "guides")])
        assert kb.origin == "site" and kb_state(kb, demo_kb_dir()).kind == "mixed"


def test_a_site_tour_alone_marks_the_kb_a_sites(tmp_path: Path, analyzer) -> None:
    shutil.copytree(demo_kb_dir() / "tours", tmp_path / "tours")  # a site's tours (with their images)
    tour = next((tmp_path / "tours").glob("*.tour.toml"))
    with KnowledgeBase.open(tmp_path / "kb.sqlite", analyzer) as kb:
        assert not Ingestor(kb).ingest([tour]).failed
        assert kb.tours() and kb.origin == "site"


def test_an_emptied_site_kb_stays_empty_and_says_so(settings: Settings, analyzer, tmp_path: Path) -> None:
    with build_appliance(settings, use_llm=False, journal=False):
        pass  # the demo, on the first start
    ingest_site_guide(settings, analyzer, tmp_path / "guides")
    empty_out(settings, analyzer)
    with build_appliance(settings, use_llm=False, journal=False) as a:
        assert a.kb.is_empty() and a.kb.origin == "site"  # not refilled with the fictional guides
        assert a.kb_state().kind == "empty"
        assert not any("built" in n for n in a.notes)
        [note] = [n for n in a.notes if "no guides" in n]
        assert "kiosk kb ingest" in note and "emergencies" in note
        assert a.engine.ask("电梯里有人被困住了").mode == "emergency"
        assert a.engine.ask("我要找工作人员").mode == "handoff"
        answer = a.engine.ask("老年卡在哪里办")
        assert answer.mode == "no_answer" and answer.sources == []
        report = appliance_health(a)
        assert report["kb"]["kind"] == "empty" and "no guides" in report["kb"]["summary"]


def test_demo_guides_left_among_a_sites_are_named(settings: Settings, analyzer, tmp_path: Path) -> None:
    with build_appliance(settings, use_llm=False, journal=False) as a:
        demo_docs = a.kb_state().documents
    ingest_site_guide(settings, analyzer, tmp_path / "guides")
    with build_appliance(settings, use_llm=False, journal=False) as a:
        st = a.kb_state()
        assert (st.kind, st.documents, st.demo_documents, st.origin) == ("mixed", demo_docs + 1, demo_docs, "site")
        assert st.shows_demo and any("fictional demo guides" in n and "kiosk kb remove" in n for n in a.notes)
        assert a.kb.counts()["documents"] == demo_docs + 1  # a site's knowledge base is not touched


def test_a_demo_of_another_installation_is_replaced_by_this_ones(
    tmp_path: Path, analyzer, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = tmp_path / "old-venv" / "site-packages" / "appliance" / "demo" / "kb"
    shutil.copytree(demo_kb_dir(), old)
    kb = KnowledgeBase.open(tmp_path / "kb.sqlite", analyzer)
    monkeypatch.setattr(bootstrap, "demo_kb_dir", lambda: old)
    assert ensure_demo(settings, kb, None) is not None
    monkeypatch.undo()
    assert kb.origin == "demo" and kb_state(kb, demo_kb_dir()).kind == "demo"
    report = ensure_demo(settings, kb, None)  # the package moved; the old copy is still there
    assert report is not None and not report.failed  # no "document id already used" by the old copy
    assert report.count("removed") == len(list(old.rglob("*.md")) + list(old.rglob("*.tour.toml")))
    assert all(Path(s).is_relative_to(demo_kb_dir().resolve()) for s in kb.source_paths())
    kb.close()


@pytest.mark.parametrize(("files", "origin"), [("demo", "demo"), ("site", "site"), ("none", None)])
def test_a_kb_from_before_the_marker_gets_one_from_its_files(
    tmp_path: Path, analyzer, settings: Settings, files: str, origin: str | None
) -> None:
    kb = KnowledgeBase.open(tmp_path / "kb.sqlite", analyzer)
    if files == "demo":
        Ingestor(kb).ingest([demo_kb_dir()])
    else:
        guide = own_guide(tmp_path / "guides")
        Ingestor(kb).ingest([guide])
        if files == "none":  # emptied before this release: it may have been a site's
            kb.remove_source(str(guide.resolve()))
    with kb.conn:
        kb.set_meta("origin", None)  # as an older release wrote it
    assert ensure_demo(settings, kb, None) is None  # the demo's is current; the others are left alone
    assert kb.origin == origin
    assert kb.is_empty() is (files == "none")
    kb.close()


def test_looks_like_demo(tmp_path: Path) -> None:
    demo = demo_kb_dir().resolve()
    assert looks_like_demo(str(demo / "zh" / "x.md"), demo)
    assert looks_like_demo("/opt/old/lib/python3.11/site-packages/appliance/demo/kb/zh/x.md", demo)
    assert not looks_like_demo(str(tmp_path / "guides" / "x.md"), demo)
    assert not looks_like_demo("/srv/appliance/demo/x.md", demo)


# kiosk health and kiosk ask ----------------------------------------------------------------------
def _health(settings: Settings, env: dict[str, str]):
    """`kiosk health` while an appliance on ``settings`` writes its report."""
    with build_appliance(settings, use_llm=False, journal=False) as a:
        writer = HealthWriter(
            settings.data_dir / HEALTH_FILE,
            {"appliance": lambda: appliance_health(a), "robot": lambda: robot_health(None)},
            period_s=60,
        ).start()
        try:
            text = runner.invoke(app, ["health"], env=env, catch_exceptions=False)
            data = runner.invoke(app, ["health", "--json"], env=env, catch_exceptions=False)
        finally:
            writer.close()
    return text, json.loads(data.stdout)


def test_kiosk_health_says_demo_knowledge_base(settings: Settings) -> None:
    env = {"KIOSK_DATA_DIR": str(settings.data_dir)}
    text, data = _health(settings, env)
    assert text.exit_code == 0, text.output
    assert "demo knowledge base" in text.stdout and "fictional" in text.stdout
    assert data["report"]["appliance"]["kb"]["kind"] == "demo"


def test_kiosk_health_says_no_guides_and_fails(settings: Settings, analyzer, tmp_path: Path) -> None:
    env = {"KIOSK_DATA_DIR": str(settings.data_dir)}
    ingest_site_guide(settings, analyzer, tmp_path / "guides")
    empty_out(settings, analyzer)
    text, data = _health(settings, env)
    assert text.exit_code == 1 and "no guides" in text.stdout
    assert data["verdict"] == "running" and data["report"]["appliance"]["kb"]["documents"] == 0


def test_kiosk_ask_on_an_emptied_site_kb_answers_nothing_but_emergencies(
    settings: Settings, analyzer, tmp_path: Path
) -> None:
    env = {"KIOSK_DATA_DIR": str(settings.data_dir)}
    ingest_site_guide(settings, analyzer, tmp_path / "guides")
    empty_out(settings, analyzer)
    r = runner.invoke(app, ["ask", "--json", "-"], env=env, input="老年卡在哪里办\n电梯里有人被困住了\n")
    assert r.exit_code == 0, r.output
    modes = [json.loads(line)["mode"] for line in r.stdout.strip().splitlines()]
    assert modes == ["no_answer", "emergency"]
    assert "no guides" in r.stderr and "built" not in r.stderr
    with KnowledgeBase.open(settings.kb_file, analyzer) as kb:
        assert kb.is_empty()


# Several processes on a new data dir ---------------------------------------------------------------
def test_the_build_lock_waits_then_says_who_holds_it(tmp_path: Path) -> None:
    kb_file = tmp_path / "data" / "kb.sqlite"
    with exclusive(lock_path(kb_file), 1.0):  # another process is building
        with pytest.raises(KnowledgeBaseError, match="another kiosk process building"):
            with building(kb_file, wait_s=0.2):
                pass
    with building(kb_file, wait_s=0.2):  # free again
        assert lock_path(kb_file).exists()


_START = """
import sys, time
from pathlib import Path
go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.005)
sys.argv = ["kiosk", "ask", "老年卡在哪里办"]
from appliance.cli import main
main()
"""


@pytest.mark.slow
def test_processes_starting_at_once_on_a_new_data_dir_build_it_once(tmp_path: Path, analyzer) -> None:
    data, go = tmp_path / "data", tmp_path / "go"
    env = {**os.environ, "KIOSK_DATA_DIR": str(data), "HOME": str(tmp_path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _START, str(go)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(5)
    ]
    go.touch()
    results = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
        assert "Traceback" not in err and "IntegrityError" not in err and "UNIQUE" not in err, err
        assert "老年" in out  # each answered from the demo
    built = [err for _, err in results if "built the knowledge base" in err]
    assert len(built) == 1, [err for _, err in results]
    documents = int(built[0].split("from the demo guides (")[1].split(" ")[0])
    with KnowledgeBase.open(data / "kb.sqlite", analyzer) as kb:
        assert kb.counts()["documents"] == documents and kb.origin == "demo"
    for _, err in results:  # the others say what they found, not that they built it
        assert "built" in err or "demo knowledge base" in err


_INGEST = """
import sys
from pathlib import Path
ready, folder = Path(sys.argv[1]), sys.argv[2]
sys.argv = ["kiosk", "kb", "ingest", folder]
from appliance.cli import main
ready.touch()
main()
"""


@pytest.mark.slow
def test_kb_ingest_waits_for_a_kiosk_building_the_knowledge_base(tmp_path: Path, analyzer) -> None:
    """A site's first ingest and a kiosk's first start take turns: while the build lock is held,
    ingest writes nothing; once it is free, ingest goes on."""
    import time

    data, ready, guides = tmp_path / "data", tmp_path / "ready", tmp_path / "guides"
    guides.mkdir()
    (guides / "juzhuzheng.md").write_text(GUIDE, encoding="utf-8")
    env = {**os.environ, "KIOSK_DATA_DIR": str(data), "HOME": str(tmp_path)}
    with building(data / "kb.sqlite"):  # a kiosk is building the demo
        proc = subprocess.Popen(
            [sys.executable, "-c", _INGEST, str(ready), str(guides)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(3.0)  # well past the time a one-guide ingest takes
        assert proc.poll() is None
        if (data / "kb.sqlite").exists():
            with KnowledgeBase.open(data / "kb.sqlite", analyzer) as kb:
                assert kb.counts()["documents"] == 0
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    with KnowledgeBase.open(data / "kb.sqlite", analyzer) as kb:
        assert kb.counts()["documents"] == 1 and kb.origin == "site"
