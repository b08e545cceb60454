"""Every supported format becomes headed sections; broken input is refused with a reason."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from appliance.knowledge.readers import ReadError, ReadLimits, decode_text, read_file
from tests.docmakers import GUIDE_TEXT, make_blank_pdf, make_docx, make_pdf

MARKDOWN = """---
id: sample-guide
category: 测试
questions:
  - 前置问题一
---
# 示例事项办理指南

本事项由社区综合窗口受理。

## 办理条件
- 本市户籍居民，年满六十周岁。

## 所需材料
- 居民身份证原件
- **户口簿**原件（[查看样本](http://example.com)）

### 代办
- 代办人身份证

## 办理地点和时间
办理地点：幸福路88号一楼

## 常见问法
- 这个证在哪里办
- 办这个要带什么
"""


def kinds(doc):
    return [(s.heading_path, s.kind) for s in doc.sections]


def test_markdown_sections_front_matter_and_questions() -> None:
    [doc] = read_file(Path("g.md"), MARKDOWN.encode())
    assert doc.title == "示例事项办理指南"
    assert doc.key == "sample-guide" and doc.category == "测试" and doc.lang == "zh"
    assert doc.questions == ["前置问题一", "这个证在哪里办", "办这个要带什么"]
    assert kinds(doc) == [
        (("示例事项办理指南",), "overview"),
        (("示例事项办理指南", "办理条件"), "conditions"),
        (("示例事项办理指南", "所需材料"), "materials"),
        (("示例事项办理指南", "所需材料", "代办"), "other"),
        (("示例事项办理指南", "办理地点和时间"), "place_hours"),
    ]
    materials = doc.sections[2].text
    assert "户口簿原件（查看样本）" in materials and "**" not in materials and "http" not in materials


def test_plain_text_headings_by_wording() -> None:
    [doc] = read_file(Path("g.txt"), GUIDE_TEXT.encode("utf-8"))
    assert doc.title == "示例事项办理指南"
    headings = [s.heading for s in doc.sections]
    assert headings == ["示例事项办理指南", "办理条件", "所需材料", "办理地点", "办理时间", "咨询电话"]
    assert doc.sections[3].text == "幸福路88号一楼"
    assert [s.kind for s in doc.sections][1:] == ["conditions", "materials", "place", "hours", "phone"]


def test_gb18030_text_is_decoded() -> None:
    [doc] = read_file(Path("g.txt"), GUIDE_TEXT.encode("gb18030"))
    assert doc.title == "示例事项办理指南"
    assert any("户口簿原件" in s.text for s in doc.sections)


def test_docx_styles_lists_and_tables() -> None:
    [doc] = read_file(Path("g.docx"), make_docx())
    assert doc.title == "示例事项办理指南"
    by_heading = {s.heading: s for s in doc.sections}
    assert by_heading["所需材料"].kind == "materials" and "户口簿原件" in by_heading["所需材料"].text
    assert "社区值班电话：010-0000-1234" in by_heading["咨询电话"].text
    assert doc.questions == ["这个证在哪里办", "办这个要带什么"]


def test_pdf_text_layer_in_chinese() -> None:
    [doc] = read_file(Path("g.pdf"), make_pdf(GUIDE_TEXT.split("\n")))
    assert doc.title == "示例事项办理指南"
    assert {s.heading for s in doc.sections} >= {"办理条件", "所需材料", "办理地点"}


def test_html_blocks_and_junk_removed() -> None:
    html = """<html><head><title>页面标题</title><script>var x = '不应出现';</script></head><body>
    <nav>首页 | 导航</nav><h1>示例事项办理指南</h1><p>本事项由社区综合窗口受理。</p>
    <h2>所需材料</h2><ul><li>居民身份证原件</li><li><p>户口簿原件</p></li></ul>
    <h2>办理地点和时间</h2><table><tr><td>办理地点</td><td>幸福路88号</td></tr></table>
    </body></html>"""
    [doc] = read_file(Path("g.html"), html.encode())
    assert doc.title == "示例事项办理指南"
    text = "\n".join(s.text for s in doc.sections)
    assert "不应出现" not in text and "导航" not in text
    materials = next(s for s in doc.sections if s.kind == "materials").text
    assert materials.count("户口簿原件") == 1  # a <p> inside an <li> is not taken twice
    assert any(s.heading == "办理地点" and "幸福路88号" in s.text for s in doc.sections)


def test_jsonl_generic_and_portal_records() -> None:
    lines = [
        {
            "id": "a1",
            "title": "甲事项",
            "body": "## 办理条件\n年满18周岁\n## 所需材料\n- 身份证",
            "questions": ["甲怎么办"],
        },
        {"title": "乙事项", "text": "所需材料：户口簿\n办理地点：街道中心"},
        {
            "matter_name": "丙事项",
            "TASK_CODE": "T-3",
            "DEPT_NAME": "某局",
            "accept_standard": "符合条件的个人",
            "material_intro": ["申请表", "无"],
            "handle_location": "办理地点：某路1号",
            "consult_phone": "020-1234",
            "theme_category": ["社会保障"],
            "service_object_name": ["自然人"],
        },
    ]
    data = "\n".join(json.dumps(r, ensure_ascii=False) for r in lines).encode()
    a, b, c = read_file(Path("g.jsonl"), data)
    assert (a.key, a.title, a.questions) == ("a1", "甲事项", ["甲怎么办"])
    assert [s.kind for s in a.sections] == ["conditions", "materials"]
    assert {s.heading for s in b.sections} == {"所需材料", "办理地点"}
    assert c.key == "T-3" and c.title == "丙事项" and c.category == "社会保障"
    materials = next(s for s in c.sections if s.kind == "materials")
    assert materials.text == "- 申请表"  # the portal's "无" placeholder is dropped
    assert next(s for s in c.sections if s.kind == "place").text == "某路1号"


def test_long_sections_are_split() -> None:
    body = "\n".join(f"第{i}条：居民可以在工作日到窗口咨询办理，带好身份证和户口簿。" for i in range(60))
    [doc] = read_file(Path("g.md"), f"# 长文\n\n## 办理流程\n{body}\n".encode(), ReadLimits(max_section_chars=300))
    parts = [s for s in doc.sections if s.heading == "办理流程"]
    assert len(parts) > 3 and all(len(p.text) <= 300 for p in parts)
    assert "".join(p.text.replace("\n", "") for p in parts) == body.replace("\n", "")


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.md", b"", "empty file"),
        ("blank.txt", b"   \n\n", "empty file"),
        ("junk.txt", os.urandom(2048).replace(b"\x00", b"\x01") + b"\x00", "binary"),
        ("junk.pdf", os.urandom(4096), "not a PDF"),
        ("junk.docx", os.urandom(4096), "not a .docx"),
        ("truncated.docx", make_docx()[:3000], "docx"),
        ("encrypted.pdf", make_blank_pdf(password="secret"), "encrypted PDF"),
        ("scanned.pdf", make_blank_pdf(), "no text layer"),
        (
            "broken.txt",
            "社区服务中心办事指南\n所需材料".encode() + b"\xff\xfe" + "身份证".encode(),
            "invalid UTF-8 at byte",
        ),
        ("headings-only.md", "# 标题\n## 所需材料\n".encode(), "no text besides headings"),
        ("bad.jsonl", b'{"title": "a", "body": "b"}\n{"title": ', "line 2: invalid JSON"),
        ("notitle.jsonl", b'{"body": "b"}\n', "line 1: missing or empty 'title'"),
        ("guide.doc", b"\xd0\xcf\x11\xe0 old word", "unsupported file type"),
        ("bad-front.md", b"---\nid: [unclosed\n---\n# t\n\ntext\n", "bad front matter"),
    ],
)
def test_broken_input_is_refused_with_a_reason(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(ReadError, match=reason):
        read_file(Path(name), data)


def test_too_much_text() -> None:
    big = ("社区服务指南内容。" * 120_000).encode()  # 1.08 M characters, 3.2 MB
    with pytest.raises(ReadError, match="too much text"):
        read_file(Path("big.txt"), big)


def test_decode_text_utf16_and_bom() -> None:
    assert decode_text("\ufeff社区".encode()) == "社区"
    assert decode_text("社区".encode("utf-16")) == "社区"


def test_jsonl_limit_is_per_record() -> None:
    small = json.dumps({"title": "甲", "body": "正文。" * 200}, ensure_ascii=False)
    assert len(read_file(Path("ok.jsonl"), "\n".join([small] * 20).encode(), ReadLimits(max_text_chars=1000))) == 20
    big = json.dumps({"title": "乙", "body": "正文。" * 2000}, ensure_ascii=False)
    with pytest.raises(ReadError, match="line 2: too much text"):
        read_file(Path("big.jsonl"), f"{small}\n{big}".encode(), ReadLimits(max_text_chars=1000))
