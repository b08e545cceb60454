"""Builders for test documents in every supported format (written by the tests, not shipped)."""

from __future__ import annotations

import io
from collections.abc import Sequence

GUIDE_LINES = [
    ("h1", "示例事项办理指南"),
    ("p", "本事项由社区综合窗口受理。"),
    ("h2", "办理条件"),
    ("p", "本市户籍居民，年满六十周岁。"),
    ("h2", "所需材料"),
    ("li", "居民身份证原件"),
    ("li", "户口簿原件"),
    ("h2", "办理地点和时间"),
    ("p", "办理地点：幸福路88号一楼"),
    ("p", "办理时间：周一至周五 9:00-17:00"),
    ("h2", "常见问法"),
    ("li", "这个证在哪里办"),
    ("li", "办这个要带什么"),
]


def make_docx(lines: Sequence[tuple[str, str]] = GUIDE_LINES, table: bool = True) -> bytes:
    """A .docx with Title/Heading styles, a list and a two-column table."""
    import docx

    d = docx.Document()
    for kind, text in lines:
        if kind == "h1":
            d.add_heading(text, level=0)  # "Title" style
        elif kind == "h2":
            d.add_heading(text, level=1)
        elif kind == "li":
            d.add_paragraph(text, style="List Bullet")
        else:
            d.add_paragraph(text)
    if table:
        d.add_heading("咨询电话", level=1)
        t = d.add_table(rows=2, cols=2)
        t.cell(0, 0).text, t.cell(0, 1).text = "社区值班电话", "010-0000-1234"
        t.cell(1, 0).text, t.cell(1, 1).text = "政务服务热线", "12345"
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def make_pdf(lines: Sequence[str]) -> bytes:
    """A one-page PDF whose text layer holds ``lines`` (any Unicode in the BMP).

    Text is drawn with a Type0 font, Identity-H encoding, where each 2-byte code is the character's
    code point, and a ToUnicode CMap maps codes back to Unicode, which is what text extraction
    reads. The font itself is not embedded (viewers substitute; extraction does not need it).
    """
    ops = ["BT", "/F1 12 Tf", "14 TL", "50 780 Td"]
    for line in lines:
        hexcodes = "".join(f"{ord(ch):04X}" for ch in line)
        ops.append(f"<{hexcodes}> Tj T*")
    ops.append("ET")
    content = "\n".join(ops).encode("ascii")
    cmap = (
        b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        b"/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n"
        b"1 begincodespacerange <0000> <FFFF> endcodespacerange\n"
        b"1 beginbfrange <0000> <FFFF> <0000> endbfrange\n"
        b"endcmap CMapName currentdict /CMap defineresource pop end end\n"
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type0 /BaseFont /SimSun /Encoding /Identity-H /DescendantFonts [6 0 R] /ToUnicode 7 0 R >>",
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /SimSun /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /DW 1000 >>",
        b"<< /Length %d >>\nstream\n" % len(cmap) + cmap + b"endstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def make_blank_pdf(password: str | None = None) -> bytes:
    """A PDF with one empty page (no text), encrypted with ``password`` when given."""
    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(width=200, height=200)
    if password is not None:
        w.encrypt(user_password=password, owner_password=password + "-owner", algorithm="RC4-128")
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


GUIDE_TEXT = "\n".join(
    [
        "示例事项办理指南",
        "",
        "本事项由社区综合窗口受理。",
        "一、办理条件",
        "本市户籍居民，年满六十周岁。",
        "二、所需材料",
        "1. 居民身份证原件",
        "2. 户口簿原件",
        "办理地点：幸福路88号一楼",
        "办理时间：周一至周五 9:00-17:00",
        "咨询电话：010-0000-1234",
    ]
)
