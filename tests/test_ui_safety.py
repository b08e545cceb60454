"""The touchscreen says what its knowledge base is: "示例" (Demo) on the fictional demo, and "no
guides" on an emptied site knowledge base, which still handles emergencies and hands off; and a
long PIN lockout is told in hours."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

pytest.importorskip("PySide6.QtQuick")

from appliance.knowledge.ingest import Ingestor  # noqa: E402
from appliance.knowledge.store import KnowledgeBase  # noqa: E402
from tests.test_ui import Kiosk, qapp  # noqa: E402, F401  (qapp: the fixture)

GUIDE = "# 居住证办理\n\n## 办理地点\n社区服务中心二楼\n\n## 常见问法\n- 居住证在哪里办\n"


def visible(kiosk: Kiosk, name: str) -> bool:
    item = kiosk.driver.item(name)
    return item is not None and item.isVisible()


def test_the_demo_is_marked_demo_on_the_status_strip(qapp, tmp_path: Path, demo_kb_file: Path) -> None:  # noqa: F811
    kiosk = Kiosk(tmp_path, demo_kb_file)
    try:
        k = kiosk.k
        kiosk.driver.wait(lambda: k.status["kb"] == "demo", "the knowledge-base check")
        assert visible(kiosk, "kbDemo") and kiosk.text_of("kbDemoText") == "示例"
        assert kiosk.text_of("kbVersion").startswith("知识库 v")
        assert not visible(kiosk, "noGuidesNotice")
        kiosk.click("language")
        assert kiosk.text_of("kbDemoText") == "Demo"
    finally:
        kiosk.close()


def test_an_emptied_site_kb_says_it_has_no_guides_and_still_helps(qapp, tmp_path: Path, analyzer) -> None:  # noqa: F811
    guides = tmp_path / "guides"
    guides.mkdir()
    (guides / "juzhuzheng.md").write_text(GUIDE, encoding="utf-8")
    kb_file = tmp_path / "site.sqlite"
    with KnowledgeBase.open(kb_file, analyzer) as kb:
        assert not Ingestor(kb).ingest([guides]).failed
        kb.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    kiosk = Kiosk(tmp_path, kb_file)
    try:
        k = kiosk.k
        kiosk.driver.wait(lambda: k.status["kb"] == "site", "the knowledge-base check")
        assert not visible(kiosk, "kbDemo") and not visible(kiosk, "noGuidesNotice")
        assert "办事的问题可以问我" in kiosk.text_of("aiNotice")
        # the site takes its only guide out while the kiosk runs
        kiosk.appliance.kb.remove_source(str((guides / "juzhuzheng.md").resolve()))
        k.refresh_status()
        kiosk.driver.wait(lambda: k.status["kb"] == "empty", "the empty knowledge base")
        assert k.screen == "attract" and visible(kiosk, "noGuidesNotice")
        assert "没有办事指南" in kiosk.text_of("noGuidesText")
        assert kiosk.text_of("aiNotice") == "我是人工智能（AI），不是真人。"  # no promise it cannot keep
        assert kiosk.text_of("kbVersion") == "无办事指南" and not visible(kiosk, "kbDemo")
        k.ask("老年卡在哪里办")
        kiosk.driver.wait(lambda: k.turn["done"], "the answer")
        assert k.turn["mode"] == "no_answer" and k.screen == "conversation"
        assert visible(kiosk, "noGuidesNotice")
        k.ask("电梯里有人被困住了")
        kiosk.driver.wait(lambda: k.turn["done"] and k.screen == "emergency", "the emergency screen")
        assert "119" in kiosk.text_of("emergencyGuidance")
        kiosk.click("safeButton")
        kiosk.click("confirmSafeButton")
        kiosk.click("findStaffButton")
        kiosk.driver.wait(lambda: k.screen == "handoff", "the handoff screen")
        kiosk.click("language")
        k.home()
        assert kiosk.text_of("kbVersion") == "No guides"
        assert kiosk.text_of("noGuidesText").startswith("This kiosk has no service guides")
    finally:
        kiosk.close()


def test_a_lockout_of_many_hours_is_told_in_hours(qapp, tmp_path: Path, demo_kb_file: Path) -> None:  # noqa: F811
    kiosk = Kiosk(tmp_path, demo_kb_file)
    try:
        k, lock, clock = kiosk.k, kiosk.pin, kiosk.clock
        for _ in range(8):  # eight lockouts, each run out: the ninth lasts 300 s * 2**8 = 21.3 h
            for _ in range(lock.max_tries):
                r = lock.verify("1357")
            clock.now += r.retry_after_s
        k.staff.open()
        for _ in range(lock.max_tries):
            k.staff.submitPin("1357")
            kiosk.driver.wait(lambda: not k.staff.pin["busy"], "the PIN check")
        assert k.staff.pin["locked"] and k.staff.pin["retryAfter"] == 76800
        assert kiosk.text_of("pinMessage") == "输错次数太多，已锁定，请 22 小时后再试"
        clock.now += 76800 - 1800  # half an hour left: minutes again
        kiosk.driver.wait(lambda: k.staff.pin["retryAfter"] == 1800, "the pad to re-read the lockout")
        assert kiosk.text_of("pinMessage") == "输错次数太多，已锁定，请 30 分钟后再试"
    finally:
        kiosk.close()
