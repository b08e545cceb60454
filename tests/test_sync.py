"""The signed knowledge base: publishing bundles into a TUF repository, a kiosk syncing them from a
real HTTP server on 127.0.0.1, and every fault leaving the installed version serving."""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from appliance.config import Settings, SyncSettings
from appliance.knowledge.store import KnowledgeBase
from appliance.knowledge.text import Analyzer
from appliance.sync import publish as pub
from appliance.sync.build import make_bundle
from appliance.sync.bundle import BundleError, open_bundle, write_bundle
from appliance.sync.client import SyncClient, SyncError, kb_versions, rollback
from appliance.sync.loop import SyncLoop
from tests.standins import StaticServer

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "appliance" / "demo" / "kb" / "zh"
STREET_GUIDES = (
    "shebaoka-guashi-buban.md",
    "yangquan-dengji.md",
    "gaoling-jintie.md",
    "laji-fenlei.md",
    "dibao-shenqing.md",
)

NOTICE = """---
id: heping-yimiao
category: 社区通知
---
# 和平里社区流感疫苗接种通知

本社区12月每周三上午在社区卫生服务站为60岁以上老人免费接种流感疫苗，地点在和平里卫生服务站二楼。

## 所需材料
- 居民身份证
- 医保卡

## 常见问法
- 流感疫苗在哪里打
- 老人打流感疫苗要带什么
"""


def street_sources(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name in STREET_GUIDES:
        shutil.copy(DEMO / name, folder / name)
    return folder


def community_sources(folder: Path, duty_phone: str = "010-1111-2222") -> Path:
    folder.mkdir(parents=True)
    (folder / "heping-yimiao.md").write_text(NOTICE, encoding="utf-8")
    site = (ROOT / "appliance" / "demo" / "site.toml").read_text(encoding="utf-8")
    site = site.replace("example = true", "example = false").replace("010-0000-1234", duty_phone)
    site = site.replace("幸福里社区居民委员会（示例）", "和平里社区居委会")
    (folder / "site.toml").write_text(
        "\n".join(line for line in site.splitlines() if not line.startswith("synonyms_file"))
    )
    (folder / "synonyms.toml").write_text('[terms]\n"接种疫苗" = ["打疫苗"]\n', encoding="utf-8")
    return folder


class Street:
    """A street office: a repository, its keys, and publishing."""

    def __init__(self, tmp: Path, *, init: bool = True):
        self.tmp = tmp
        self.repo = tmp / "repo"
        self.keys = tmp / "keys"
        if init:
            pub.init_repository(self.repo, self.keys)
        self.root = self.repo / "metadata" / "1.root.json"
        self.settings = Settings(data_dir=tmp / "office")
        self.n = 0
        self.first_sync: Path | None = None  # a kiosk data dir synced with this office's v1s

    def copy(self, tmp: Path) -> Street:
        """The same office in another folder (repository, keys and sources)."""
        for name in ("repo", "keys", "street", "heping"):
            if (self.tmp / name).exists():
                shutil.copytree(self.tmp / name, tmp / name, symlinks=True)
        return Street(tmp, init=False)

    def publish(self, src: Path, channel: str):
        self.n += 1
        work = self.tmp / f"work{self.n}"
        work.mkdir()
        version = pub.RepoState.load(self.repo).channel_version(channel) + 1
        manifest = make_bundle(
            src, work / "b.tar.gz", channel=channel, version=version, settings=self.settings, workdir=work
        )
        return pub.publish_bundle(self.repo, self.keys, work / "b.tar.gz", manifest), manifest


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Street:
    """A repository with the street's v1 and the community's v1, built once."""
    tmp = tmp_path_factory.mktemp("office")
    s = Street(tmp)
    s.publish(street_sources(tmp / "street"), "street")
    s.publish(community_sources(tmp / "heping"), "heping")
    return s


@pytest.fixture
def street(published: Street, first_sync: Path, tmp_path: Path) -> Street:
    s = published.copy(tmp_path)
    s.first_sync = first_sync
    return s


@pytest.fixture
def server(street: Street):
    srv = StaticServer(street.repo)
    yield srv
    srv.close()


def kiosk_settings(tmp: Path, street: Street, server: StaticServer, **kw) -> Settings:
    sync = SyncSettings(url=server.url, channels=["street", "heping"], root=street.root, **{"timeout_s": 2, **kw})
    return Settings(data_dir=tmp / "kiosk", sync=sync)


@pytest.fixture(scope="module")
def first_sync(published: Street, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kiosk's data dir after its first sync of the published street v1 + heping v1 (made once;
    tests start from a copy instead of building the same knowledge base again)."""
    tmp = tmp_path_factory.mktemp("first-sync")
    srv = StaticServer(published.repo)
    try:
        SyncClient(kiosk_settings(tmp, published, srv)).sync()
    finally:
        srv.close()
    return tmp / "kiosk"


def synced(tmp: Path, street: Street, server: StaticServer, **kw) -> Settings:
    """Settings of a kiosk that has synced street v1 and heping v1 (a copy of :func:`first_sync`)."""
    template = street.first_sync
    shutil.copytree(template, tmp / "kiosk", symlinks=True)
    return kiosk_settings(tmp, street, server, **kw)


def titles(settings: Settings) -> set[str]:
    from appliance.bootstrap import load_site_for, make_analyzer

    kb = KnowledgeBase.open(settings.kb_file, make_analyzer(settings, load_site_for(settings)))
    try:
        return {d.title for d in kb.documents()}
    finally:
        kb.close()


def tamper(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


# --- publishing ---------------------------------------------------------------------------------


def test_publish_init_keeps_keys_out_of_the_served_folder_and_private(tmp_path: Path) -> None:
    with pytest.raises(pub.PublishError, match="must not be inside"):
        pub.init_repository(tmp_path / "r", tmp_path / "r" / "keys")
    root = pub.init_repository(tmp_path / "r", tmp_path / "k")
    assert root == (tmp_path / "r" / "metadata" / "1.root.json").resolve()
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == [
        "root.pem",
        "snapshot.pem",
        "targets.pem",
        "timestamp.pem",
    ]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in (tmp_path / "k").iterdir())
    assert not list((tmp_path / "r").rglob("*.pem"))
    with pytest.raises(pub.PublishError, match="already"):
        pub.init_repository(tmp_path / "r", tmp_path / "k2")


def test_a_bundle_that_fails_validation_is_not_published(tmp_path: Path) -> None:
    s = Street(tmp_path)
    bad = street_sources(tmp_path / "bad")
    (bad / "broken.docx").write_bytes(b"not a zip at all")
    with pytest.raises(BundleError, match="broken.docx"):
        s.publish(bad, "street")
    (bad / "broken.docx").unlink()
    (bad / "site.toml").write_text('name = "x"\nunknown_key = 1\n')
    with pytest.raises(BundleError, match="site"):
        s.publish(bad, "street")
    (bad / "site.toml").unlink()
    (bad / "setup.exe").write_bytes(b"MZ")
    with pytest.raises(BundleError, match="setup.exe: not a kind of file"):
        s.publish(bad, "street")
    assert pub.RepoState.load(s.repo).channels() == {}  # nothing reached the repository


def test_a_bundle_is_reproducible_and_checked_file_by_file(tmp_path: Path) -> None:
    src = street_sources(tmp_path / "s")
    files = {p.name: p for p in src.iterdir()}
    when = "2026-12-02T08:00:00Z"
    write_bundle(tmp_path / "a.tar.gz", files, channel="street", version=1, created=when)
    m = write_bundle(tmp_path / "b.tar.gz", files, channel="street", version=1, created=when)
    assert len(m.files) == len(STREET_GUIDES)
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()
    opened = open_bundle(tmp_path / "b.tar.gz", tmp_path / "open")
    assert [f.sha256 for f in opened.files] == [f.sha256 for f in m.files]
    tamper(tmp_path / "b.tar.gz")
    with pytest.raises(BundleError):
        open_bundle(tmp_path / "b.tar.gz", tmp_path / "open2")


# --- syncing -----------------------------------------------------------------------------------------


def test_a_fresh_kiosk_gets_both_channels_and_a_later_change_without_a_restart(tmp_path, street, server) -> None:
    from appliance.bootstrap import build_appliance
    from appliance.dialogue import Session

    s = kiosk_settings(tmp_path, street, server)
    report = SyncClient(s).sync()
    assert report.installed is not None and report.installed.channels == {"street": 1, "heping": 1}
    assert s.kb_file.is_symlink()
    assert "和平里社区流感疫苗接种通知" in titles(s) and "社会保障卡挂失与补办" in titles(s)
    assert "010-1111-2222" in (s.data_dir / "site.toml").read_text()  # the community's profile
    with build_appliance(s, use_llm=False, journal=False) as app:
        assert app.site.duty_phone == "010-1111-2222"
        session = Session(app.engine, timeout_s=1e9)
        answer, _ = session.ask("流感疫苗在哪里打")
        session.add(answer, answer.answer)
        assert answer.sources[0].title == "和平里社区流感疫苗接种通知" and "卫生服务站" in answer.answer
        # The community changes its notice and republishes; the kiosk syncs while running.
        (tmp_path / "heping" / "heping-yimiao.md").write_text(
            NOTICE.replace("和平里卫生服务站二楼", "和平里社区活动室一楼"), encoding="utf-8"
        )
        street.publish(tmp_path / "heping", "heping")
        client = SyncClient(s, on_installed=lambda entry: app.stage_reload())
        report = client.sync()
        assert report.installed.channels == {"street": 1, "heping": 2}
        answer, _ = session.ask("老人打流感疫苗在哪个地方")  # same conversation: the old base
        session.add(answer, answer.answer)
        assert "活动室" not in answer.answer and "卫生服务站" in answer.answer
        session.end()
        answer, _ = session.ask("流感疫苗在哪里打")  # the next conversation: the new one
        assert "活动室一楼" in answer.answer


def test_an_unchanged_repository_downloads_nothing_and_a_one_guide_change_only_its_channel(
    tmp_path, street, server
) -> None:
    s = kiosk_settings(tmp_path, street, server)
    first = SyncClient(s).sync()
    again = SyncClient(s).sync()
    assert again.installed is None and again.downloaded_bytes == 0
    (tmp_path / "heping" / "heping-yimiao.md").write_text(NOTICE.replace("二楼", "三楼"), encoding="utf-8")
    info, _ = street.publish(tmp_path / "heping", "heping")
    changed = SyncClient(s).sync()
    assert changed.downloaded_bytes == info.length < first.downloaded_bytes
    assert (changed.changes.added, changed.changes.changed, changed.changes.removed) == (
        [],
        ["heping/heping-yimiao.md"],
        [],
    )


def test_a_tampered_bundle_is_refused_and_the_installed_version_keeps_serving(tmp_path, street, server) -> None:
    s = synced(tmp_path, street, server)
    before = os.readlink(s.kb_file)
    (tmp_path / "heping" / "heping-yimiao.md").write_text(NOTICE.replace("二楼", "三楼"), encoding="utf-8")
    info, _ = street.publish(tmp_path / "heping", "heping")
    tamper(street.repo / "targets" / "channels" / "heping" / f"{info.hashes['sha256']}.bundle.tar.gz")
    with pytest.raises(SyncError, match="does not match its signed length and sha256"):
        SyncClient(s).sync()
    assert os.readlink(s.kb_file) == before and "和平里社区流感疫苗接种通知" in titles(s)
    state, _ = kb_versions(s)
    assert "sha256" in state.last_error and state.last_success is not None


def test_old_metadata_replayed_is_refused(tmp_path, street, server) -> None:
    s = kiosk_settings(tmp_path, street, server)
    old = (street.repo / "metadata" / "timestamp.json").read_bytes()
    SyncClient(s).sync()
    (tmp_path / "heping" / "heping-yimiao.md").write_text(NOTICE.replace("二楼", "三楼"), encoding="utf-8")
    street.publish(tmp_path / "heping", "heping")
    SyncClient(s).sync()
    before = os.readlink(s.kb_file)
    (street.repo / "metadata" / "timestamp.json").write_bytes(old)  # a mirror replays yesterday's
    with pytest.raises(SyncError, match="refused"):
        SyncClient(s).sync()
    assert os.readlink(s.kb_file) == before


def test_a_forged_signature_is_refused(tmp_path, street, server) -> None:
    s = kiosk_settings(tmp_path, street, server)
    path = street.repo / "metadata" / "timestamp.json"
    data = json.loads(path.read_text())
    data["signed"]["version"] += 1  # changed without the timestamp key
    path.write_text(json.dumps(data))
    with pytest.raises(SyncError, match="refused"):
        SyncClient(s).sync()
    assert not s.kb_file.exists()


def test_expired_metadata_is_refused_and_an_offline_kiosk_keeps_answering(tmp_path, street, server) -> None:
    from appliance.bootstrap import build_appliance

    s = synced(tmp_path, street, server)
    state = pub.RepoState.load(street.repo)
    ts = state.timestamp.signed
    ts.version += 1
    ts.expires = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(days=1)
    state.timestamp.signatures.clear()
    state.timestamp.sign(pub._signer(street.keys, "timestamp"))
    pub._write(state.timestamp, street.repo / "metadata" / "timestamp.json")
    with pytest.raises(SyncError, match="expired"):
        SyncClient(s).sync()
    with build_appliance(s, use_llm=False, journal=False) as app:
        assert app.engine.ask("流感疫苗在哪里打").sources[0].title == "和平里社区流感疫苗接种通知"


def test_an_interrupted_download_resumes_with_range(tmp_path, street, server) -> None:
    s = kiosk_settings(tmp_path, street, server)
    state = pub.RepoState.load(street.repo)
    info = state.targets.signed.targets[pub.channel_target("street")]
    name = f"{info.hashes['sha256']}.bundle.tar.gz"
    server.cut[name] = 5000  # the connection drops after 5,000 bytes
    with pytest.raises(SyncError):
        SyncClient(s).sync()
    assert (s.sync_dir / "bundles" / f"{name}.partial").stat().st_size == 5000
    report = SyncClient(s).sync()
    assert report.installed is not None
    ranges = [r for p, r in server.requests if p.endswith(name)]
    assert ranges == [None, "bytes=5000-"]
    assert not (s.sync_dir / "bundles" / f"{name}.partial").exists()


@pytest.mark.parametrize("fault", ["500", "hang"])
def test_a_server_that_errs_or_hangs_leaves_the_kiosk_serving(tmp_path, street, server, fault) -> None:
    s = kiosk_settings(tmp_path, street, server, timeout_s=1)
    SyncClient(s).sync()
    before = os.readlink(s.kb_file)
    if fault == "500":
        server.status["timestamp.json"] = 500
    else:
        server.stall["timestamp.json"] = 3.0
    with pytest.raises(SyncError, match="cannot be reached"):
        SyncClient(s).sync()
    assert os.readlink(s.kb_file) == before and titles(s)


def test_a_full_disk_while_building_leaves_nothing_half_written(tmp_path, street, server, monkeypatch) -> None:
    s = synced(tmp_path, street, server)
    before = os.readlink(s.kb_file)
    (tmp_path / "heping" / "heping-yimiao.md").write_text(NOTICE.replace("二楼", "三楼"), encoding="utf-8")
    street.publish(tmp_path / "heping", "heping")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("appliance.sync.build.shutil.copyfile", full)
    with pytest.raises(SyncError, match="No space left"):
        SyncClient(s).sync()
    assert os.readlink(s.kb_file) == before
    kept = sorted(p.name for p in (s.data_dir / "kb-versions").iterdir())
    stem = Path(before).name.removesuffix(".sqlite")
    assert kept == [f"{stem}.files.json", f"{stem}.sources", f"{stem}.sqlite"]  # the installed build only
    monkeypatch.undo()
    assert SyncClient(s).sync().installed.channels["heping"] == 2


def test_a_bundle_failing_the_kiosks_checks_is_not_installed(tmp_path, street, server) -> None:
    s = synced(tmp_path, street, server)
    before = os.readlink(s.kb_file)
    # The community publishes a guide that answers the street's own sample questions instead
    # (its own check passes: it is alone in its bundle); merged, the street's guides lose them.
    kb_questions = []
    for name in STREET_GUIDES[:3]:
        text = (DEMO / name).read_text(encoding="utf-8")
        kb_questions += [line[2:] for line in text.split("## 常见问法", 1)[1].splitlines() if line.startswith("- ")]
    lines = "\n".join(f"- {q}" for q in kb_questions)
    (tmp_path / "heping" / "shadow.md").write_text(
        f"# 和平里代办窗口\n\n{' '.join(kb_questions)}\n\n## 常见问法\n{lines}\n", encoding="utf-8"
    )
    street.publish(tmp_path / "heping", "heping")
    with pytest.raises(SyncError, match="failed its checks: channel street"):
        SyncClient(s).sync()
    assert os.readlink(s.kb_file) == before


def test_rollback_returns_to_the_previous_version_and_sync_does_not_undo_it(tmp_path, street, server) -> None:
    s = synced(tmp_path, street, server)
    first = os.readlink(s.kb_file)
    (tmp_path / "heping" / "heping-yimiao.md").write_text(NOTICE.replace("二楼", "三楼"), encoding="utf-8")
    street.publish(tmp_path / "heping", "heping")
    SyncClient(s).sync()
    entry = rollback(s)
    assert entry.channels == {"street": 1, "heping": 1} and os.readlink(s.kb_file) == first
    assert SyncClient(s).sync().installed is None  # the version rolled back from stays out
    (tmp_path / "heping" / "heping-yimiao.md").write_text(NOTICE.replace("二楼", "四楼"), encoding="utf-8")
    street.publish(tmp_path / "heping", "heping")
    assert SyncClient(s).sync().installed.channels == {"street": 1, "heping": 3}
    _, kept = kb_versions(s)
    assert len(kept) == 3 and kept[0][1]
    with pytest.raises(SyncError, match="no kept version"):
        rollback(s, "kb-nonexistent")


def test_a_rotated_key_is_followed_and_the_old_key_no_longer_signs(tmp_path, street, server) -> None:
    s = synced(tmp_path, street, server)
    pub.rotate_key(street.repo, street.keys, "timestamp")
    pub.rotate_key(street.repo, street.keys, "root")
    (tmp_path / "heping" / "heping-yimiao.md").write_text(NOTICE.replace("二楼", "三楼"), encoding="utf-8")
    street.publish(tmp_path / "heping", "heping")
    assert SyncClient(s).sync().installed.channels["heping"] == 2
    assert json.loads((s.sync_dir / "metadata" / "root.json").read_text())["signed"]["version"] == 3
    # A timestamp signed with the retired key is refused.
    state = pub.RepoState.load(street.repo)
    state.timestamp.signed.version += 1
    state.timestamp.signatures.clear()
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from securesystemslib.signer import CryptoSigner

    old = CryptoSigner(load_pem_private_key((street.keys / "timestamp.pem.old").read_bytes(), None))
    state.timestamp.sign(old)
    pub._write(state.timestamp, street.repo / "metadata" / "timestamp.json")
    with pytest.raises(SyncError, match="refused"):
        SyncClient(s).sync()


KILLED = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from appliance.config import Settings, SyncSettings
    import appliance.sync.client as client

    real = client.swap_kb
    def slow(settings, name):
        print("swapping", flush=True)
        time.sleep(30)
        real(settings, name)
    client.swap_kb = slow
    s = Settings(data_dir=Path(sys.argv[1]), sync=SyncSettings(url=sys.argv[2], channels=["street", "heping"], root=Path(sys.argv[3])))
    client.SyncClient(s).sync()
    """
)


def test_kill_9_during_the_swap_leaves_the_old_version_serving_and_the_next_sync_clean(
    tmp_path, street, server
) -> None:
    s = synced(tmp_path, street, server)
    before = os.readlink(s.kb_file)
    (tmp_path / "heping" / "heping-yimiao.md").write_text(NOTICE.replace("二楼", "三楼"), encoding="utf-8")
    street.publish(tmp_path / "heping", "heping")
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(s.data_dir), server.url, str(street.root)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout.readline().strip() == "swapping"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(5)
    assert os.readlink(s.kb_file) == before and titles(s)
    report = SyncClient(s).sync()
    assert report.installed.channels == {"street": 1, "heping": 2}
    names = {p.name for p in (s.data_dir / "kb-versions").iterdir()}
    assert len([n for n in names if n.endswith(".sqlite")]) == 2  # the killed build was not kept


def test_the_background_loop_syncs_when_the_network_comes_back(tmp_path, street, server) -> None:
    from appliance.network import NetworkState

    class Probe:
        online = False

        def check(self):
            return NetworkState(self.online, "fake", 0.0)

    now = [0.0]
    s = kiosk_settings(tmp_path, street, server)
    probe = Probe()
    loop = SyncLoop(SyncClient(s), probe, interval_s=900, check_every_s=15, clock=lambda: now[0])
    assert not loop.step() and not s.kb_file.exists()  # offline: nothing tried
    probe.online = True
    assert loop.step() and s.kb_file.is_symlink()  # back online: at once
    now[0] += 60
    assert not loop.step()  # not due
    now[0] += 2000
    assert loop.step()  # due (900 s ± 20 %)


def test_the_cli_publishes_syncs_and_rolls_back(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from appliance.cli import app

    runner = CliRunner()
    repo = tmp_path / "repo"
    env = {"KIOSK_DATA_DIR": str(tmp_path / "office")}
    r = runner.invoke(app, ["publish", "init", "--repo", str(repo)], env=env)
    assert r.exit_code == 0, r.output
    assert "move root.pem to offline storage" in r.output and (tmp_path / "repo-keys" / "root.pem").exists()
    street_sources(tmp_path / "street")
    r = runner.invoke(app, ["publish", str(tmp_path / "street"), "--repo", str(repo), "--channel", "street"], env=env)
    assert r.exit_code == 0 and "published street v1" in r.output, r.output
    r = runner.invoke(app, ["publish", "status", "--repo", str(repo)], env=env)
    assert "channel street: v1" in r.output
    r = runner.invoke(app, ["publish", "refresh", "--repo", str(repo)], env=env)
    assert r.exit_code == 0 and "timestamp" in r.output
    srv = StaticServer(repo)
    try:
        cfg = tmp_path / "kiosk.toml"
        cfg.write_text(
            f'data_dir = "{tmp_path / "kiosk"}"\n[sync]\nurl = "{srv.url}"\nchannels = ["street"]\n'
            f'root = "{repo / "metadata" / "1.root.json"}"\n'
        )
        kenv = {"KIOSK_CONFIG": str(cfg)}
        r = runner.invoke(app, ["sync"], env=kenv)
        assert r.exit_code == 0 and "installed street v1" in r.output, r.output
        r = runner.invoke(app, ["sync", "--json"], env=kenv)
        assert json.loads(r.output)["ok"] and json.loads(r.output)["installed"] is None
        r = runner.invoke(app, ["kb", "versions"], env=kenv)
        assert "* kb-" in r.output and "street v1" in r.output
        r = runner.invoke(app, ["kb", "rollback"], env=kenv)
        assert r.exit_code == 2 and "no older version" in r.output
        srv.status["timestamp.json"] = 503
        r = runner.invoke(app, ["sync"], env=kenv)
        assert r.exit_code == 1 and "keeps serving" in r.output
    finally:
        srv.close()


def test_publish_refuses_a_version_that_is_not_newer(tmp_path: Path) -> None:
    s = Street(tmp_path)
    _, manifest = s.publish(street_sources(tmp_path / "s"), "street")
    with pytest.raises(pub.PublishError, match="not newer"):
        pub.publish_bundle(s.repo, s.keys, tmp_path / "work1" / "b.tar.gz", manifest)


def test_the_analyzer_of_a_merged_build_uses_both_channels_synonyms(tmp_path, street, server) -> None:
    s = synced(tmp_path, street, server)
    assert '"接种疫苗"' in (s.data_dir / "synonyms.toml").read_text(encoding="utf-8")
    from appliance.site import load_synonyms

    assert Analyzer(load_synonyms(s.data_dir / "synonyms.toml")).expansions_for("去哪里打疫苗")


def test_a_channel_not_published_yet_does_not_hold_up_the_others(tmp_path, street, server) -> None:
    s = kiosk_settings(tmp_path, street, server)
    s = s.model_copy(update={"sync": s.sync.model_copy(update={"channels": ["street", "heping", "yangguang"]})})
    report = SyncClient(s).sync()
    assert report.installed.channels == {"street": 1, "heping": 1}
    assert any("no channel yangguang" in n for n in report.notes)
    s = s.model_copy(update={"sync": s.sync.model_copy(update={"channels": ["nobody"]})})
    with pytest.raises(SyncError, match="none of the channels"):
        SyncClient(s).sync()


def test_after_a_swap_the_journal_keeps_the_new_guides_published_numbers(tmp_path, street, server) -> None:
    from appliance.bootstrap import build_appliance
    from appliance.dialogue import Session

    s = synced(tmp_path, street, server)
    with build_appliance(s, use_llm=False) as app:
        number = "010-3333-4444"
        assert number not in app.journal.redact(f"咨询电话{number}")
        (tmp_path / "heping" / "heping-yimiao.md").write_text(
            NOTICE.replace("## 所需材料", f"咨询电话：{number}。\n\n## 所需材料"), encoding="utf-8"
        )
        street.publish(tmp_path / "heping", "heping")
        SyncClient(s, on_installed=lambda entry: app.stage_reload()).sync()
        Session(app.engine).ask("流感疫苗在哪里打")  # a new conversation takes the new base over
        assert number in app.journal.redact(f"咨询电话{number}")


def test_a_second_sync_while_one_runs_fails_at_once_and_records_nothing(tmp_path, street, server) -> None:
    from appliance.locking import exclusive

    s = synced(tmp_path, street, server)
    before = kb_versions(s)[0]
    with exclusive(s.sync_dir / "sync.lock", timeout_s=0), pytest.raises(SyncError, match="another sync"):
        SyncClient(s).sync()
    after = kb_versions(s)[0]
    assert (after.last_error, after.last_attempt) == (before.last_error, before.last_attempt)
    assert SyncClient(s).sync().installed is None  # the lock is free again


class CountingHasher:
    """A bigram-hashing embedder that counts the passages it embeds."""

    def __init__(self) -> None:
        from appliance.bench import HashingEmbedder

        self.inner = HashingEmbedder(64)
        self.name, self.dim = self.inner.name, self.inner.dim
        self.passages = 0

    def embed(self, texts, *, query=False):
        if not query:
            self.passages += len(texts)
        return self.inner.embed(texts, query=query)


def open_kb(settings: Settings) -> KnowledgeBase:
    from appliance.bootstrap import load_site_for, make_analyzer

    return KnowledgeBase.open(settings.kb_file, make_analyzer(settings, load_site_for(settings)))


def test_a_hybrid_kiosk_stays_hybrid_after_a_sync_and_embeds_only_what_changed(tmp_path, street, server) -> None:
    from appliance.knowledge.ingest import reindex
    from appliance.knowledge.retrieval import Retriever

    s = synced(tmp_path, street, server)
    model = CountingHasher()
    with open_kb(s) as kb:
        total = reindex(kb, model).total  # the installed version, made hybrid as `kiosk kb reindex` does
        assert Retriever(kb, model).mode == "hybrid"
    (tmp_path / "heping" / "heping-yimiao.md").write_text(NOTICE.replace("二楼", "三楼"), encoding="utf-8")
    street.publish(tmp_path / "heping", "heping")
    model.passages = 0
    report = SyncClient(s, embedder=model).sync()
    assert report.installed.channels == {"street": 1, "heping": 2}
    with open_kb(s) as kb:
        assert kb.embedding_model == model.name and kb.vectors_complete()
        assert Retriever(kb, model).search("流感疫苗在哪里打").mode == "hybrid"
        notice = next(d for d in kb.documents() if d.title == "和平里社区流感疫苗接种通知")
        assert 0 < model.passages <= len(kb.doc_chunks(notice.doc_id)) < total  # only the changed sections
    assert any(f"{total - model.passages} carried over" in n and "embedded now" in n for n in report.notes), (
        report.notes
    )

    # a sync without the model carries what it can; the changed sections wait for `kiosk kb reindex`
    (tmp_path / "heping" / "heping-yimiao.md").write_text(NOTICE.replace("二楼", "四楼"), encoding="utf-8")
    street.publish(tmp_path / "heping", "heping")
    report = SyncClient(s).sync()
    assert any("`kiosk kb reindex`" in n for n in report.notes), report.notes
    with open_kb(s) as kb:
        assert kb.embedding_model == model.name and not kb.vectors_complete()
        assert Retriever(kb, model).mode == "lexical"
        model.passages = 0
        assert reindex(kb, model).embedded == model.passages > 0 and Retriever(kb, model).mode == "hybrid"
        assert model.passages <= len(kb.doc_chunks(notice.doc_id))


def test_carrying_vectors_embeds_only_up_to_its_bound(tmp_path: Path) -> None:
    from appliance.knowledge.ingest import Ingestor, reindex
    from appliance.sync.build import carry_vectors

    analyzer = Analyzer()
    guides = tmp_path / "guides"
    guides.mkdir()
    for i in range(3):
        (guides / f"g{i}.md").write_text(
            f"# 指南{i}\n\n## 办理地点\n第{i}窗口\n\n## 所需材料\n身份证\n", encoding="utf-8"
        )
    model = CountingHasher()
    with KnowledgeBase.open(tmp_path / "old.sqlite", analyzer) as old:
        Ingestor(old).ingest([guides])
        reindex(old, model)
    (guides / "g0.md").write_text("# 指南0\n\n## 办理地点\n第九窗口\n\n## 所需材料\n身份证\n", encoding="utf-8")
    for bound, complete in ((0, False), (10, True)):
        with KnowledgeBase.open(tmp_path / f"new-{bound}.sqlite", analyzer) as new:
            Ingestor(new).ingest([guides])
            model.passages = 0
            line = carry_vectors(tmp_path / "old.sqlite", new, model, max_embed=bound)
            assert new.vectors_complete() is complete and model.passages == (1 if complete else 0), line
            assert line.startswith(f"vectors of {model.name}: 5 carried over")
            assert ("`kiosk kb reindex`" in line) is not complete
    with KnowledgeBase.open(tmp_path / "lexical.sqlite", analyzer) as lexical:
        Ingestor(lexical).ingest([guides])
        assert carry_vectors(tmp_path / "lexical.sqlite", lexical, model) is None  # nothing to carry


class _Untouchable:
    """An embedder that must not be asked for anything (a lazy one would load a model)."""

    def __getattr__(self, name: str):
        raise AssertionError(f"the embedder was consulted ({name}) with nothing to embed")


def test_an_unchanged_release_carries_every_vector_without_consulting_the_embedder(tmp_path: Path) -> None:
    from appliance.knowledge.ingest import Ingestor, reindex
    from appliance.sync.build import carry_vectors

    analyzer = Analyzer()
    guides = tmp_path / "guides"
    guides.mkdir()
    (guides / "g.md").write_text("# 指南\n\n## 办理地点\n第一窗口\n\n## 所需材料\n身份证\n", encoding="utf-8")
    with KnowledgeBase.open(tmp_path / "old.sqlite", analyzer) as old:
        Ingestor(old).ingest([guides])
        reindex(old, CountingHasher())
    with KnowledgeBase.open(tmp_path / "new.sqlite", analyzer) as new:
        Ingestor(new).ingest([guides])
        line = carry_vectors(tmp_path / "old.sqlite", new, _Untouchable())
        assert new.vectors_complete() and "0 embedded now" in line


def test_kiosk_sync_loads_its_embedding_model_only_when_something_must_be_embedded(monkeypatch) -> None:
    import models.loader as loader
    from appliance.config import Settings

    loads: list[int] = []

    def fake_load(settings, store):
        loads.append(1)
        return CountingHasher(), None

    monkeypatch.setattr(loader, "load_embedder", fake_load)
    lazy = loader.LazyEmbedder(Settings(), store=None)
    assert not lazy.loaded and not loads
    assert lazy.name == CountingHasher().name and lazy.dim == CountingHasher().dim
    assert lazy.embed(["身份证"]).shape == (1, lazy.dim) and loads == [1]  # loaded once, on first use
    monkeypatch.setattr(loader, "load_embedder", lambda settings, store: (None, "no model installed"))
    absent = loader.LazyEmbedder(Settings(), store=None)
    assert absent.name == "" and absent.dim == 0
    with pytest.raises(RuntimeError, match="no model installed"):
        absent.embed(["x"])


@pytest.mark.parametrize("role", ["targets", "snapshot"])
def test_a_rotated_targets_or_snapshot_key_is_followed_and_the_retired_one_refused(
    tmp_path, street, server, role
) -> None:
    s = synced(tmp_path, street, server)
    pub.rotate_key(street.repo, street.keys, role)
    (tmp_path / "heping" / "heping-yimiao.md").write_text(NOTICE.replace("二楼", "三楼"), encoding="utf-8")
    street.publish(tmp_path / "heping", "heping")
    assert SyncClient(s).sync().installed.channels["heping"] == 2  # the new root names the new key
    # The next release signed, consistently, with the retired key for that role: refused whole.
    retired = tmp_path / "retired-keys"
    shutil.copytree(street.keys, retired)
    os.replace(retired / f"{role}.pem.old", retired / f"{role}.pem")
    state = pub.RepoState.load(street.repo)
    state.sign_and_write(retired, targets_changed=True)
    with pytest.raises(SyncError, match="refused") as refused:
        SyncClient(s).sync()
    assert role in str(refused.value), refused.value  # for the signature, not some other fault
    from appliance.health import sync_health

    assert sync_health(s)["channels"] == {"street": 1, "heping": 2}  # what was installed keeps serving
