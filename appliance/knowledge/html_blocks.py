"""HTML to text blocks, streamed: no document tree is built, and the text limit stops the parse.

A tree (Beautiful Soup, lxml) costs hundreds of bytes per element before a single character of
text is counted: 48 MiB of ``<p>x</p>`` took 6.9 GB. Here the standard library's tokenizer
(:class:`html.parser.HTMLParser`, the one Beautiful Soup's ``html.parser`` builder drives) feeds a
stack of open element names and the blocks being collected; finished blocks are kept as one line
each, and the parse stops as soon as their text passes the limit.

The blocks are what the Beautiful Soup reader took, with the same rules:

* ``h1``-``h6`` are headings; ``p``, ``li``, ``tr``, ``dt``, ``dd``, ``pre`` and ``blockquote``
  are blocks, taken whole (their text joined with spaces) unless inside another such block;
  a table row's line is made from its ``td``/``th`` cells;
* ``script``, ``style``, ``noscript``, ``nav``, ``header``, ``footer``, ``template`` and ``svg``
  are dropped with everything inside them, and ruby annotations (``rt``, ``rp``) are not text;
* when the page has a ``body``, only blocks inside the first one count; the first ``title`` is the
  page title;
* an end tag closes the most recent open element of its name (and everything opened inside it);
  an end tag with no such open element is ignored; void elements (``br``, ``img`` ...) hold nothing;
* strings are split where Beautiful Soup splits them (at tags, comments and declarations, but not
  at a ``</br>`` that answers an earlier ``<br>``), and CDATA sections are text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser

from appliance.knowledge.limits import ReadError

BLOCKS = ("p", "li", "tr", "dt", "dd", "pre", "blockquote")
HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
JUNK = frozenset({"script", "style", "noscript", "nav", "header", "footer", "template", "svg"})
NOT_TEXT = frozenset({"rt", "rp"})
VOID = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "menuitem", "meta",
        "param", "source", "track", "wbr", "basefont", "bgsound", "command", "frame", "image", "isindex",
        "nextid", "spacer",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Block:
    """One block of a page: its tag ('p', 'li', 'tr', 'h2', ...) and its text on one line."""

    tag: str
    text: str


@dataclass(frozen=True)
class PageText:
    """The text of an HTML page: its title (None without a ``title`` element) and its blocks in order."""

    title: str | None
    blocks: list[Block]


class _Item:
    """A block being collected."""

    __slots__ = ("tag", "slot", "in_body", "pieces", "rows", "open_cells")

    def __init__(self, tag: str, slot: int, in_body: bool):
        self.tag = tag
        self.slot = slot
        self.in_body = in_body
        self.pieces: list[str] = []  # stripped strings (get_text(" ", strip=True))
        self.rows: list[list[str]] = []  # a row's cells, each as its raw strings
        self.open_cells: list[list[str]] = []


class _Open:
    """An element on the stack and what closing it ends."""

    __slots__ = ("name", "item", "cells", "junk", "not_text", "body", "title")

    def __init__(self, name: str):
        self.name = name
        self.item: _Item | None = None
        self.cells: list[tuple[_Item, list[str]]] = []
        self.junk = self.not_text = self.body = self.title = False


class _Blocks(HTMLParser):
    def __init__(self, row_line: Callable[[list[str]], str]):
        super().__init__(convert_charrefs=True)
        self._row_line = row_line
        self._stack: list[_Open] = []
        self._junk = self._not_text = 0
        self._buf: list[str] = []
        self._closed_void: list[str] = []  # void start tags not yet answered by an end tag
        self._active: list[_Item] = []
        self._in_body = False
        self.body_seen = False
        self._title_parts: list[str] | None = None
        self.title: str | None = None
        self.out: list[tuple[str, str, bool] | None] = []  # by start order: (tag, line, in body)
        self.chars = 0  # characters of the finished blocks

    # -- tokenizer events
    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._flush()
        self._open(tag)
        if tag in VOID:
            self._closed_void.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self._flush()
        self._open(tag)
        self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._closed_void:
            self._closed_void.remove(tag)  # "</br>" after "<br>": nothing happens
            return
        self._flush()
        self._close(tag)

    def handle_data(self, data: str) -> None:
        self._buf.append(data)  # a string may arrive in pieces across feeds: joined at the next tag

    def handle_comment(self, data: str) -> None:
        self._flush()

    def handle_decl(self, decl: str) -> None:
        self._flush()

    def handle_pi(self, data: str) -> None:
        self._flush()

    def unknown_decl(self, data: str) -> None:
        self._flush()
        if data.upper().startswith("CDATA["):  # a string of its own, text even inside rt/rp
            self._deliver(data[len("CDATA[") :], cdata=True)

    # -- tree
    def _open(self, tag: str) -> None:
        if tag in VOID:
            return
        entry = _Open(tag)
        if tag in JUNK:
            self._junk += 1
            entry.junk = True
        if tag in NOT_TEXT:
            self._not_text += 1
            entry.not_text = True
        if not self._junk:
            if tag == "body" and not self.body_seen:
                self.body_seen = self._in_body = entry.body = True
            if tag == "title" and self.title is None and self._title_parts is None:
                self._title_parts = []
                entry.title = True
            if tag in HEADINGS or (tag in BLOCKS and not any(i.tag in BLOCKS for i in self._active)):
                entry.item = _Item(tag, len(self.out), self._in_body)
                self.out.append(None)
                self._active.append(entry.item)
            if tag in ("td", "th"):
                for item in self._active:
                    if item.tag == "tr":
                        cell: list[str] = []
                        item.rows.append(cell)
                        item.open_cells.append(cell)
                        entry.cells.append((item, cell))
        self._stack.append(entry)

    def _close(self, tag: str) -> None:
        if tag in VOID:
            return
        for depth in range(len(self._stack) - 1, -1, -1):
            if self._stack[depth].name == tag:
                break
        else:
            return  # nothing of that name is open
        while len(self._stack) > depth:
            self._pop(self._stack.pop())

    def _pop(self, entry: _Open) -> None:
        self._junk -= entry.junk
        self._not_text -= entry.not_text
        for item, cell in entry.cells:
            item.open_cells = [c for c in item.open_cells if c is not cell]
        if entry.body:
            self._in_body = False
        if entry.title and self._title_parts is not None:
            self.title = " ".join(self._title_parts)
            self._title_parts = None
        item = entry.item
        if item is not None:
            self._active = [i for i in self._active if i is not item]
            line = self._row_line(["".join(c) for c in item.rows]) if item.tag == "tr" else " ".join(item.pieces)
            if line:
                self.out[item.slot] = (item.tag, line, item.in_body)
                self.chars += len(line)

    def _flush(self) -> None:
        if self._buf:
            text = "".join(self._buf)
            self._buf.clear()
            self._deliver(text)

    def _deliver(self, text: str, cdata: bool = False) -> None:
        if self._junk or (self._not_text and not cdata):
            return
        stripped = text.strip()
        if self._title_parts is not None and stripped:
            self._title_parts.append(stripped)
        for item in self._active:
            if item.tag == "tr":
                for cell in item.open_cells:
                    cell.append(text)
            elif stripped:
                item.pieces.append(stripped)

    def finish(self) -> None:
        """Close the parse: everything still open ends at the end of the page."""
        self.close()
        self._flush()
        while self._stack:
            self._pop(self._stack.pop())


def page_text(
    html: str,
    max_chars: int,
    row_line: Callable[[list[str]], str],
    *,
    chunk_chars: int = 1 << 18,
) -> PageText:
    """The title and blocks of an HTML page, parsed in pieces of ``chunk_chars``.

    Args:
        max_chars: stop and refuse the page once its finished blocks hold more text than this.
        row_line: a table row's line from its cells' texts (Beautiful Soup's ``cell.text``).

    Raises:
        ReadError: more than ``max_chars`` characters of text.
    """
    parser = _Blocks(row_line)
    for start in range(0, len(html), chunk_chars):
        parser.feed(html[start : start + chunk_chars])
        if parser.chars > max_chars:
            done = min(start + chunk_chars, len(html))
            raise ReadError(
                f"too much text: over {max_chars:,} characters in the first {done:,} of {len(html):,} "
                "characters of HTML; split it into one file per service guide"
            )
    parser.finish()
    kept = [b for b in parser.out if b is not None and (b[2] or not parser.body_seen)]
    return PageText(parser.title, [Block(tag, line) for tag, line, _ in kept])
