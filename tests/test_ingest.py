"""Ingest: idempotent, per-file transactions, broken files reported without damage."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from appliance.bootstrap import demo_kb_dir
from appliance.knowledge.ingest import Ingestor
from appliance.knowledge.readers import ReadLimits
from appliance.knowledge.store import KnowledgeBase
from tests.docmakers import GUIDE_TEXT, make_blank_pdf, make_docx, make_pdf

DEMO_TITLES = [
    "社会保障卡挂失与补办",
    "高龄津贴申领",
    "居住证办理",
    "城乡居民基本医疗保险参保缴费",
    "门诊慢特病待遇认定",
    "共有产权保障住房申请",
    "公共租赁住房申请",
    "居家养老服务补贴申请",
    "长期护理保险申请",
    "老年人优待证办理",
    "残疾人证办理",
    "最低生活保障申请",
    "临时救助申请",
    "托育服务与育儿补贴",
    "生育津贴申领",
    "新生儿出生登记与落户",
    "独生子女父母奖励",
    "失业登记与失业保险金申领",
    "灵活就业人员参加社会保险",
    "生活垃圾分类指引",
    "电梯困人应急处置",
    "房屋漏水与邻里纠纷处理",
    "物业报修与公共区域保洁",
    "社区居住证明开具",
    "退役军人优待证办理",
    "养犬登记",
    "电动自行车安全充电",
    "社区志愿服务报名",
    "老年助餐服务",
    "防范电信网络诈骗",
]


def snapshot(kb: KnowledgeBase) -> tuple:
    rows = kb.conn.execute("SELECT doc_id, title, source FROM documents ORDER BY doc_id").fetchall()
    chunks = kb.conn.execute("SELECT id, text FROM chunks ORDER BY id").fetchall()
    fts = kb.conn.execute("SELECT count(*) FROM chunks_fts").fetchone()[0]
    return rows, chunks, fts, kb.version


def test_demo_has_every_required_guide(demo_kb: KnowledgeBase) -> None:
    docs = demo_kb.documents()
    titles = {d.title for d in docs}
    assert set(DEMO_TITLES) <= titles
    assert sum(1 for d in docs if d.lang == "en") >= 3
    for d in docs:
        if d.title in DEMO_TITLES:
            assert 5 <= len(d.questions) <= 12, d.title
            kinds = {c.kind for c in demo_kb.doc_chunks(d.doc_id)}
            assert "phone" in kinds, d.title
    counts = demo_kb.counts()
    assert counts["documents"] == len(docs) and counts["sections"] > 5 * 30
    # the FTS index has a row for every chunk
    assert (
        demo_kb.conn.execute("SELECT count(*) FROM chunks_fts").fetchone()[0]
        == counts["sections"] + counts["questions"]
    )


def test_reingest_unchanged_is_a_noop(demo_kb: KnowledgeBase) -> None:
    before = snapshot(demo_kb)
    report = Ingestor(demo_kb).ingest([demo_kb_dir()])
    assert report.count("unchanged") == len(report.outcomes) > 30
    assert snapshot(demo_kb) == before


def test_changed_file_replaces_its_sections(tmp_path: Path, analyzer) -> None:
    kb = KnowledgeBase.open(tmp_path / "kb.sqlite", analyzer)
    guide = tmp_path / "guide.md"
    guide.write_text("# 办证指南\n\n## 所需材料\n- 旧材料甲\n\n## 办理地点\n老地址\n", encoding="utf-8")
    other = tmp_path / "other.md"
    other.write_text("# 另一个指南\n\n## 所需材料\n- 户口簿\n", encoding="utf-8")
    assert [o.status for o in Ingestor(kb).ingest([guide, other]).outcomes] == ["added", "added"]
    v1 = kb.version
    guide.write_text("# 办证指南\n\n## 所需材料\n- 新材料乙\n", encoding="utf-8")
    report = Ingestor(kb).ingest([tmp_path])
    assert {Path(o.path).name: o.status for o in report.outcomes} == {"guide.md": "updated", "other.md": "unchanged"}
    texts = [r[0] for r in kb.conn.execute("SELECT text FROM chunks")]
    assert "- 新材料乙" in texts and not any("旧材料甲" in t or "老地址" in t for t in texts)
    assert kb.version == v1 + 1
    # the FTS index follows: the old word is gone, the new one found
    assert kb.conn.execute("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH '旧材料'").fetchone()[0] == 0
    assert kb.conn.execute("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH '材料'").fetchone()[0] == 2
    kb.close()


def test_broken_files_are_reported_and_nothing_is_damaged(tmp_path: Path, demo_kb: KnowledgeBase) -> None:
    bad = tmp_path / "incoming"
    bad.mkdir()
    (bad / "truncated.docx").write_bytes(make_docx()[:2500])
    (bad / "encrypted.pdf").write_bytes(make_blank_pdf(password="secret"))
    (bad / "empty.pdf").write_bytes(b"")
    (bad / "scanned.pdf").write_bytes(make_blank_pdf())
    (bad / "junk.txt").write_bytes(os.urandom(8192))
    (bad / "huge.txt").write_bytes(("居民服务指南。" * 1_500_000).encode())  # ~31 MB of text
    (bad / "broken-utf8.md").write_bytes("# 指南\n\n## 所需材料\n身份证".encode() + b"\xc3\x28" + "户口簿".encode())
    (bad / "good.txt").write_text(GUIDE_TEXT, encoding="utf-8")
    (bad / "good.pdf").write_bytes(make_pdf(["电动车停放指引", "办理地点：社区车棚管理处", "咨询电话：010-0000-1234"]))
    (bad / "notes.xyz").write_text("ignored in folders", encoding="utf-8")
    before_docs = {d.doc_id for d in demo_kb.documents()}

    report = Ingestor(demo_kb, limits=ReadLimits(max_text_chars=1_000_000)).ingest([bad, tmp_path / "missing.md"])
    status = {Path(o.path).name: (o.status, o.reason) for o in report.outcomes}
    assert status["good.txt"][0] == "added" and status["good.pdf"][0] == "added"
    expected_reasons = {
        "truncated.docx": "docx",
        "encrypted.pdf": "encrypted",
        "empty.pdf": "empty file",
        "scanned.pdf": "no text layer",
        "junk.txt": "not UTF-8|binary",
        "huge.txt": "too much text",
        "broken-utf8.md": "invalid UTF-8",
        "missing.md": "no such file",
    }
    for name, pattern in expected_reasons.items():
        state, reason = status[name]
        assert state == "failed" and re.search(pattern, reason), (name, reason)
    assert "notes.xyz" not in status  # unsupported files inside folders are not ingest candidates
    after = {d.doc_id for d in demo_kb.documents()}
    assert after - before_docs == {d.doc_id for d in demo_kb.documents() if Path(d.source).name.startswith("good")}
    assert demo_kb.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    demo_kb.conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES('integrity-check')")  # raises if corrupt


def test_a_failure_mid_write_rolls_the_file_back(tmp_path: Path, analyzer, monkeypatch: pytest.MonkeyPatch) -> None:
    kb = KnowledgeBase.open(tmp_path / "kb.sqlite", analyzer)
    guide = tmp_path / "guide.md"
    guide.write_text("# 指南\n\n## 所需材料\n- 身份证\n\n## 办理地点\n一楼窗口\n", encoding="utf-8")
    Ingestor(kb).ingest([guide])
    before = snapshot(kb)
    guide.write_text(
        "# 指南\n\n## 所需材料\n- 户口簿\n\n## 办理地点\n二楼窗口\n\n## 咨询电话\n12345\n", encoding="utf-8"
    )

    real = analyzer.index_text
    calls = {"n": 0}

    def flaky(text: str) -> str:
        calls["n"] += 1
        if calls["n"] == 5:  # part-way through writing the new chunks
            raise OSError("disk full")
        return real(text)

    monkeypatch.setattr(analyzer, "index_text", flaky)
    [outcome] = Ingestor(kb).ingest([guide]).outcomes
    assert outcome.status == "failed" and "disk full" in outcome.reason
    assert snapshot(kb) == before  # the old version of the file is intact
    monkeypatch.setattr(analyzer, "index_text", real)
    assert Ingestor(kb).ingest([guide]).outcomes[0].status == "updated"
    kb.close()


def test_duplicate_ids_across_files_are_refused(tmp_path: Path, analyzer) -> None:
    kb = KnowledgeBase.open(tmp_path / "kb.sqlite", analyzer)
    (tmp_path / "a.md").write_text("---\nid: same\n---\n# 甲\n\n正文\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("---\nid: same\n---\n# 乙\n\n正文\n", encoding="utf-8")
    report = Ingestor(kb).ingest([tmp_path])
    assert [o.status for o in report.outcomes] == ["added", "failed"]
    assert "already used" in report.failed[0].reason
    kb.close()


def test_remove_source(demo_kb: KnowledgeBase) -> None:
    doc = next(d for d in demo_kb.documents() if d.title == "养犬登记")
    n = demo_kb.counts()["documents"]
    assert demo_kb.remove_source(doc.source) == 1
    assert demo_kb.counts()["documents"] == n - 1
    assert demo_kb.doc_chunks(doc.doc_id) == []


def test_a_demo_built_kb_follows_the_shipped_demo_and_a_site_kb_is_left_alone(
    tmp_path: Path, analyzer, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A device upgraded from an older release gets the new demo files; a site's own KB is untouched."""
    import appliance.bootstrap as bootstrap

    demo = tmp_path / "demo"
    shutil.copytree(demo_kb_dir(), demo)
    monkeypatch.setattr(bootstrap, "demo_kb_dir", lambda: demo)
    # an "older release": without one notice and without the tours
    notice = demo / "zh" / "tongzhi-liugan-yimiao.md"
    held_back = [notice, *(demo / "tours").glob("*.tour.toml")]
    store = tmp_path / "held"
    store.mkdir()
    for f in held_back:
        f.rename(store / f.name)
    kb = KnowledgeBase.open(tmp_path / "kb.sqlite", analyzer)
    built = bootstrap.ensure_demo(settings, kb, None)
    assert built is not None and built.count("added") == len(list(demo.rglob("*.md")))
    assert kb.tours() == []
    assert bootstrap.ensure_demo(settings, kb, None) is None  # nothing changed: nothing done
    version = kb.version

    # the new release: the notice and the tours come back, a guide was dropped
    for f in held_back:
        (store / f.name).rename(f)
    dropped = demo / "zh" / "yangquan-dengji.md"
    dropped.unlink()
    report = bootstrap.ensure_demo(settings, kb, None)
    assert report is not None
    assert report.count("added") == len(held_back) and report.count("removed") == 1
    assert {t.id for t in kb.tours()} == {
        "fangzha-xuanjiang",
        "fuwu-zhongxin-jieshao",
        "centre-introduction-en",
        "fraud-prevention-en",
    }
    titles = {d.title for d in kb.documents()}
    assert "养犬登记" not in titles and any("流感" in t for t in titles)
    assert kb.version > version

    # a site's own guide makes it the site's knowledge base: the demo no longer touches it
    own = tmp_path / "own.md"
    own.write_text(GUIDE_TEXT, encoding="utf-8")
    Ingestor(kb, None, ReadLimits(), 2**20).ingest([own])
    dropped.write_text("# 养犬登记\n\n## 办理地点\n\n社区服务中心\n", encoding="utf-8")
    before = kb.version
    assert bootstrap.ensure_demo(settings, kb, None) is None
    assert kb.version == before and "养犬登记" not in {d.title for d in kb.documents()}
    kb.close()
