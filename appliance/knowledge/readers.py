"""Readers: one function per file format, each turning a file into :class:`Document` objects.

Formats: Markdown (``.md``, optional YAML front matter), plain text (``.txt``), Word (``.docx``,
python-docx), PDF (``.pdf``, pypdf), HTML (``.html``/``.htm``, Beautiful Soup) and JSON lines
(``.jsonl``: one record per line with ``title`` and ``body`` or ``text``, optional ``id``,
``questions``, ``lang``, ``category``; records exported from a government-service portal with
``matter_name``, ``accept_standard``, ``material_intro`` ... are mapped to the standard sections).

Every failure is a :class:`ReadError` whose message names the reader and says what is wrong in
words a site's staff can act on (``docx reader: unpacked size 1.1 GB over the 200 MB limit``); the
ingest step skips the file and reports it. Untrusted input cannot make a reader spend unbounded
memory or time (see :mod:`appliance.knowledge.limits`): zip containers are checked from their
central directory before parsing, HTML is capped in bytes and parsed streaming
(:mod:`appliance.knowledge.html_blocks`), YAML front matter may not use aliases, and every pattern
applied to the text runs in linear time.
"""

from __future__ import annotations

import io
import json
import re
import traceback
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from appliance.knowledge.limits import ReadError, ReadLimits, check_text_size, check_zip, size_text
from appliance.knowledge.model import Document
from appliance.knowledge.sectioning import SectionBuilder
from appliance.knowledge.text import detect_lang

__all__ = ["SUFFIXES", "ReadError", "ReadLimits", "decode_text", "read_file", "reader_name"]

SUFFIXES = (".md", ".markdown", ".txt", ".docx", ".pdf", ".html", ".htm", ".jsonl")


# --------------------------------------------------------------------------------------------
# Text decoding


def decode_text(data: bytes) -> str:
    """Decode a text file: UTF-8 (BOM optional), UTF-16 with BOM, or GB18030 (GBK/GB2312).

    Raises:
        ReadError: a binary file (NUL bytes), UTF-8 that breaks part-way (the byte offset is given,
            so the file can be fixed rather than ingested with damaged characters), or bytes that
            are neither UTF-8 nor GB18030.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ReadError(f"invalid UTF-16 text at byte {exc.start}") from exc
    if b"\x00" in data[:65536]:
        raise ReadError("binary file, not text (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # Valid UTF-8 up to the error, with real Chinese text in it: a UTF-8 file with damage. (A
        # GB18030 file can look like UTF-8 for a character or two, never for a run of CJK text.)
        prefix = data[: exc.start].decode("utf-8", errors="replace")
        non_ascii = [ch for ch in prefix if ord(ch) > 0x7F]
        cjk = sum(1 for ch in non_ascii if "\u4e00" <= ch <= "\u9fff")
        if cjk >= 4 and cjk >= 0.9 * len(non_ascii):
            raise ReadError(
                f"invalid UTF-8 at byte {exc.start} (the file is UTF-8 up to there); re-save it as UTF-8"
            ) from exc
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise ReadError("not UTF-8 or GB18030 text (binary or damaged file)") from exc
    non_ascii = [ch for ch in text if ord(ch) > 0x7F]
    cjk = sum(1 for ch in non_ascii if "\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef")
    if non_ascii and cjk / len(non_ascii) < 0.9:
        raise ReadError("not UTF-8 or GB18030 text (binary or damaged file)")
    return text


# --------------------------------------------------------------------------------------------
# Markdown

# Linear time on any line: a link's text cannot hold a '[' and its target cannot pass one, and a
# tag cannot hold a '<', so each attempt stops at the next opening bracket instead of scanning to
# the end of the line (the old patterns took 199 s on 400 KB of nested '['). On text without
# nested brackets they match what the old ones did.
_MD_LINK = re.compile(r"!?\[([^\[\]]*)\]\([^)\[]*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|`)")
_HTML_TAG = re.compile(r"<[^<>]+>")
_MD_RULE = re.compile(r"\s*(?:-{3,}|\*{3,}|_{3,})\s*")


def _md_inline(line: str) -> str:
    line = _MD_LINK.sub(r"\1", line)
    line = _HTML_TAG.sub("", line)
    return _MD_EMPHASIS.sub("", line)


def _feed_markdown(builder: SectionBuilder, text: str) -> None:
    from markdown_it import MarkdownIt

    lines = text.split("\n")
    # Block structure only (headings, code): inline parsing is never used here, and its link-label
    # scan is quadratic on nested '['.
    tokens = MarkdownIt("commonmark").disable(["inline", "text_join"]).parse(text)
    heading_lines: dict[int, tuple[int, int, str]] = {}
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open" and tok.map:
            start, end = tok.map
            heading_lines[start] = (end, int(tok.tag[1]), tokens[i + 1].content)
    fenced = {ln for tok in tokens if tok.type in ("fence", "code_block") and tok.map for ln in range(*tok.map)}
    n = 0
    while n < len(lines):
        if n in heading_lines:
            end, level, content = heading_lines[n]
            builder.heading(level, _md_inline(content))
            n = end
            continue
        line = lines[n]
        if n not in fenced and _MD_RULE.fullmatch(line):
            line = ""
        builder.line(line if n in fenced else _md_inline(line))
        n += 1


def _front_matter(text: str) -> Any:
    """``frontmatter.loads`` with YAML parsed by a safe loader that refuses aliases.

    An alias is a reference to an anchored node; nine nested levels of ten references each (the
    "billion laughs") are a few hundred bytes that expand to 10**9 strings once the value is used.
    """
    import frontmatter
    import yaml
    from frontmatter.default_handlers import YAMLHandler

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise ReadError(f"front matter line {mark.line + 1} uses a YAML alias (*name); aliases are not allowed")
            return super().compose_node(parent, index)

    class NoAliasYAML(YAMLHandler):
        def load(self, fm: str, **kwargs: object) -> Any:
            return yaml.load(fm, Loader=NoAliasLoader)  # noqa: S506 (a SafeLoader subclass)

    handler = frontmatter.detect_format(text, frontmatter.handlers)
    return frontmatter.loads(text, handler=NoAliasYAML() if isinstance(handler, YAMLHandler) else handler)


def read_markdown(path: Path, data: bytes, limits: ReadLimits) -> list[Document]:
    """A Markdown guide: ATX/setext headings make sections; YAML front matter may give ``id``,
    ``title``, ``lang``, ``category`` and ``questions`` (YAML aliases are refused)."""
    text = decode_text(data)
    check_text_size(len(text), limits)
    try:
        post = _front_matter(text)
    except ReadError:
        raise
    except Exception as exc:  # YAML errors come in several types
        raise ReadError(f"bad front matter: {' '.join(str(exc).split())}") from exc
    meta: dict[str, Any] = dict(post.metadata)
    builder = SectionBuilder(title=_opt_str(meta.get("title")), max_section_chars=limits.max_section_chars)
    _feed_markdown(builder, post.content)
    return [_finish(builder, path, meta, post.content)]


# --------------------------------------------------------------------------------------------
# Plain text and PDF


def _feed_plain(builder: SectionBuilder, text: str, take_title: bool) -> None:
    """Feed plain text line by line; with ``take_title``, a short first line is the title.

    A text whose only line is short is a one-sentence document, not a heading: that line is its
    title and its body.
    """
    lines = text.split("\n")
    if take_title:
        for i, line in enumerate(lines):
            if line.strip():
                if len(line.strip()) <= 40 and builder.title is None:
                    builder.title = line.strip()
                    if any(rest.strip() for rest in lines[i + 1 :]):
                        lines = lines[i + 1 :]
                break
    for line in lines:
        builder.plain_line(line)


def read_text(path: Path, data: bytes, limits: ReadLimits) -> list[Document]:
    """A plain-text guide: the first short line is the title; headings are found by wording."""
    text = decode_text(data).replace("\r\n", "\n").replace("\r", "\n")
    check_text_size(len(text), limits)
    builder = SectionBuilder(max_section_chars=limits.max_section_chars)
    _feed_plain(builder, text, take_title=True)
    return [_finish(builder, path, {}, text)]


def read_pdf(path: Path, data: bytes, limits: ReadLimits) -> list[Document]:
    """A PDF with a text layer. Encrypted files open only when their password is empty.

    Raises:
        ReadError: not a PDF, damaged, password-protected, or without any text (scanned pages).
    """
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ReadError("encrypted PDF: it needs a password; save an unprotected copy")
        pages = [page.extract_text() or "" for page in reader.pages]
        metadata_title = (reader.metadata.title if reader.metadata else None) or None
    except ReadError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError) as exc:
        raise ReadError(f"damaged or not a PDF: {exc.__class__.__name__}: {exc}") from exc
    except Exception as exc:  # pypdf raises plain Exceptions for some broken encryption data
        raise ReadError(f"damaged or not a PDF: {exc.__class__.__name__}: {exc}") from exc
    text = "\n".join(pages).replace("\r\n", "\n")
    if not text.strip():
        raise ReadError("PDF has no text layer (scanned pages?); OCR is not supported, supply the text")
    check_text_size(len(text), limits)
    builder = SectionBuilder(max_section_chars=limits.max_section_chars)
    _feed_plain(builder, text, take_title=True)
    if builder.title is None and metadata_title:
        builder.title = str(metadata_title)
    return [_finish(builder, path, {}, text)]


# --------------------------------------------------------------------------------------------
# Word


def _docx_heading_level(paragraph: Any) -> int | None:
    style = (paragraph.style.name or "").lower() if paragraph.style is not None else ""
    if style == "title":
        return 1
    match = re.match(r"(?:heading|标题)\s*(\d)", style)
    return int(match.group(1)) if match else None


def read_docx(path: Path, data: bytes, limits: ReadLimits) -> list[Document]:
    """A Word guide: "Heading n"/"Title" styles make headings, otherwise headings are found by
    wording; table rows become "cell：cell" lines.

    The archive's central directory is checked against the limits before anything is unpacked
    (:func:`~appliance.knowledge.limits.check_zip`), and the text limit is checked block by block.

    Raises:
        ReadError: not a .docx (for example an old binary .doc renamed), a truncated or damaged
            archive (a member that unpacks to more than its directory says fails its CRC), or an
            archive over the limits.
    """
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from lxml.etree import LxmlError

    check_zip(data, limits)
    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, PackageNotFoundError) as exc:
        raise ReadError(f"damaged or not a .docx file (the zip archive cannot be opened: {exc})") from exc
    except (KeyError, ValueError, OSError, EOFError, LxmlError) as exc:
        raise ReadError(f"damaged .docx file: {exc.__class__.__name__}: {exc}") from exc
    builder = SectionBuilder(max_section_chars=limits.max_section_chars)
    total = 0  # characters of text, for the size limit; 0 also means "nothing seen yet"
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            lines = list(_table_lines(_docx_table_rows(block)))
        else:
            text = block.text.strip()
            level = _docx_heading_level(block) if text else None
            if level is not None:
                builder.heading(level, text)
                continue
            lines = [block.text]
        for line in lines:
            first_text = total == 0 and bool(line.strip())
            total += len(line.strip())
            if first_text and builder.title is None and len(line.strip()) <= 40:
                builder.title = line.strip()  # an unstyled document's first short line is its title
                continue
            builder.plain_line(line)
        check_text_size(total, limits)  # block by block: a huge document stops here, early
    return [_finish(builder, path, {}, "")]


def _docx_table_rows(table: Any) -> Iterator[list[str]]:
    """A Word table's rows, each as the texts of its cells, in time linear in the cells.

    Each ``<w:tc>`` is taken once, and a vertically merged cell takes the text of the cell it
    continues, carried down from the row above. python-docx's ``row.cells`` repeats a cell once
    per column it spans (a 30 KB file with a ``gridSpan`` of 10**8 made it run until stopped) and
    walks up the rows for every merged cell; the repeats come to nothing in :func:`_table_lines`,
    which drops a text equal to the one before it, so the lines are the same.
    """
    from docx.table import _Cell

    above: dict[int, str] = {}
    for tr in table._tbl.tr_lst:
        here: dict[int, str] = {}
        offset = tr.grid_before
        texts = []
        for tc in tr.tc_lst:
            text = above.get(offset, "") if tc.vMerge == "continue" else _Cell(tc, table).text
            here[offset] = text
            texts.append(text)
            offset += tc.grid_span
        above = here
        yield texts


def _table_lines(rows: Iterable[Iterable[str]]) -> Iterable[str]:
    """Table rows (each the texts of its cells) as lines: "a：b" for two cells, else "a | b | c"."""
    for cells in rows:
        texts: list[str] = []
        for cell in cells:
            t = " ".join(cell.split())
            if t and (not texts or texts[-1] != t):  # merged cells repeat their text
                texts.append(t)
        if len(texts) == 2:
            yield f"{texts[0]}：{texts[1]}"
        elif texts:
            yield " | ".join(texts)


# --------------------------------------------------------------------------------------------
# HTML


def _row_line(cells: list[str]) -> str:
    return next(iter(_table_lines([cells])), "")


def read_html(path: Path, data: bytes, limits: ReadLimits) -> list[Document]:
    """An HTML page: h1–h6 make headings; paragraphs, list items and table rows make lines;
    scripts, styles and navigation are dropped (see :mod:`appliance.knowledge.html_blocks`).

    Raises:
        ReadError: over ``max_html_bytes`` (checked before parsing), binary, undecodable, more text
            than ``max_text_chars`` (the parse stops there), or no text at all.
    """
    from bs4.dammit import UnicodeDammit

    from appliance.knowledge.html_blocks import HEADINGS, page_text

    if len(data) > limits.max_html_bytes:
        raise ReadError(
            f"{size_text(len(data))} of HTML, over the {size_text(limits.max_html_bytes)} limit; "
            "save the guide's part of the page, or its text"
        )
    if b"\x00" in data[:65536]:
        raise ReadError("binary file, not HTML (contains NUL bytes)")
    markup = UnicodeDammit(data, is_html=True).unicode_markup
    if markup is None:
        raise ReadError("cannot tell the HTML page's character encoding; save it as UTF-8")
    page = page_text(markup, limits.max_text_chars, _row_line)
    total = sum(len(b.text) for b in page.blocks)
    check_text_size(total, limits)
    if total == 0:
        raise ReadError("HTML page has no text")
    builder = SectionBuilder(max_section_chars=limits.max_section_chars)
    for block in page.blocks:
        if block.tag in HEADINGS:
            builder.heading(int(block.tag[1]), block.text)
        else:
            builder.plain_line(f"- {block.text}" if block.tag == "li" else block.text)
    if builder.title is None and page.title:
        builder.title = page.title
    return [_finish(builder, path, {}, "")]


# --------------------------------------------------------------------------------------------
# JSON lines

_PORTAL_SECTIONS = (
    ("办理条件", "accept_standard"),
    ("所需材料", "material_intro"),
    ("办理地点", "handle_location"),
    ("法定办结时限", "handle_time"),
    ("承诺办结时限", "handle_time_limit"),
    ("咨询电话", "consult_phone"),
    ("投诉电话", "complain_phone"),
)


def _portal_record(rec: dict[str, Any]) -> dict[str, Any]:
    """Map a government-service-portal guide (matter_name, accept_standard, ...) to title/body."""

    def value(key: str) -> str:
        v = rec.get(key)
        if isinstance(v, list):
            items = [str(x).strip() for x in v if str(x).strip() and str(x).strip() != "无"]
            return "\n".join(f"- {x}" for x in items)
        v = "" if v is None else str(v).strip()
        return "" if v in ("无", "null") else re.sub(r"^(办理地点|咨询电话)[:：]\s*", "", v)

    overview = []
    if value("DEPT_NAME"):
        overview.append(f"实施部门：{value('DEPT_NAME')}")
    if value("matter_type"):
        overview.append(f"事项类型：{value('matter_type')}（{value('matter_level') or value('district')}）")
    objects = rec.get("service_object_name")
    if isinstance(objects, list) and objects:
        overview.append("服务对象：" + "、".join(str(o) for o in objects))
    if value("TASK_NAME") and value("TASK_NAME") != value("matter_name"):
        overview.append(f"办理项：{value('TASK_NAME')}")
    body = ["\n".join(overview)] + [f"## {h}\n{value(k)}" for h, k in _PORTAL_SECTIONS if value(k)]
    return {
        "title": value("matter_name"),
        "body": "\n\n".join(body),
        "id": value("TASK_CODE") or None,
        "category": "、".join(str(c) for c in rec.get("theme_category") or []) or None,
    }


def read_jsonl(path: Path, data: bytes, limits: ReadLimits) -> list[Document]:
    """A JSON-lines file: one guide per line. Any bad line rejects the whole file (so a file is
    never half ingested), and the message gives the line number. The text limit applies per record."""
    text = decode_text(data)
    docs: list[Document] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ReadError(f"line {number}: invalid JSON ({exc.msg} at column {exc.colno})") from exc
        if not isinstance(rec, dict):
            raise ReadError(f"line {number}: expected a JSON object, got {type(rec).__name__}")
        if "title" not in rec and "matter_name" in rec:
            rec = _portal_record(rec)
        title = rec.get("title")
        body = rec.get("body", rec.get("text"))
        if not isinstance(title, str) or not title.strip():
            raise ReadError(f"line {number}: missing or empty 'title'")
        if not isinstance(body, str) or not body.strip():
            raise ReadError(f"line {number}: missing or empty 'body' (or 'text')")
        try:
            check_text_size(len(body), limits)
        except ReadError as exc:
            raise ReadError(f"line {number}: {exc}") from exc
        questions = rec.get("questions") or []
        if not isinstance(questions, list) or not all(isinstance(q, str) for q in questions):
            raise ReadError(f"line {number}: 'questions' must be a list of strings")
        builder = SectionBuilder(title=title, max_section_chars=limits.max_section_chars)
        if re.search(r"^#{1,6}\s", body, flags=re.M):
            _feed_markdown(builder, body)
        else:
            _feed_plain(builder, body, take_title=False)
        key = rec.get("id")
        meta = {
            "id": str(key) if key is not None else None,
            "questions": questions,
            "lang": rec.get("lang"),
            "category": rec.get("category"),
        }
        docs.append(_finish(builder, path, meta, f"{title}\n{body}"))
    if not docs:
        raise ReadError("no records (empty file)")
    return docs


# --------------------------------------------------------------------------------------------


def _opt_str(value: Any) -> str | None:
    return str(value).strip() if value is not None and str(value).strip() else None


def _finish(builder: SectionBuilder, path: Path, meta: dict[str, Any], text_for_lang: str) -> Document:
    questions = meta.get("questions") or []
    if isinstance(questions, str):
        questions = [questions]
    if not isinstance(questions, list):
        raise ReadError(f"'questions' must be a list of questions, not {type(questions).__name__}")
    doc = builder.build(
        fallback_title=path.stem,
        key=_opt_str(meta.get("id")),
        lang="zh",
        category=_opt_str(meta.get("category")),
        questions=[str(q) for q in questions],
    )
    if not doc.sections:
        raise ReadError(f"'{doc.title}': no text besides headings")
    lang = _opt_str(meta.get("lang"))
    sample = doc.title + " " + " ".join(s.text for s in doc.sections[:3])
    doc.lang = lang if lang in ("zh", "en") else detect_lang(sample or text_for_lang)
    return doc


_READERS: dict[str, Callable[[Path, bytes, ReadLimits], list[Document]]] = {
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".txt": read_text,
    ".docx": read_docx,
    ".pdf": read_pdf,
    ".html": read_html,
    ".htm": read_html,
    ".jsonl": read_jsonl,
}


_NAMES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".htm": "html"}


def reader_name(path: Path) -> str:
    """The name of the reader for ``path`` ('markdown', 'text', 'docx', 'pdf', 'html', 'jsonl')."""
    suffix = path.suffix.lower()
    return _NAMES.get(suffix, suffix.lstrip("."))


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (line breaks too) made one space."""
    return " ".join(str(text).split())


def read_file(path: Path, data: bytes, limits: ReadLimits | None = None) -> list[Document]:
    """Read ``data`` (the bytes of ``path``) with the reader for its suffix.

    Returns:
        One document, or one per record for ``.jsonl``.

    Raises:
        ReadError: unsupported suffix, or why the reader refused the file, on one line that starts
            with the reader's name ("docx reader: ..."). A reader's own bug (an unexpected
            exception) is a ReadError too, naming the exception, with its traceback in ``trace``.
    """
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise ReadError(f"unsupported file type '{path.suffix}' (supported: {', '.join(SUFFIXES)})")
    if not data.strip():
        raise ReadError("empty file")
    name = reader_name(path)
    try:
        return reader(path, data, limits or ReadLimits())
    except ReadError as exc:
        raise ReadError(f"{name} reader: {one_line(str(exc))}") from exc
    except MemoryError as exc:
        raise ReadError(f"{name} reader: out of memory") from exc
    except RecursionError as exc:
        raise ReadError(f"{name} reader: the file nests too deeply to read") from exc
    except Exception as exc:  # a reader's bug on odd input must not stop the batch
        message = f"{name} reader failed: {exc.__class__.__name__}: {one_line(str(exc))}"
        raise ReadError(message, trace=traceback.format_exc()) from exc
