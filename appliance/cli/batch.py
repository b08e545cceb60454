"""Questions one per stdin line (``kiosk ask -``, ``kiosk kb search -``): every line is answered or
reported, and the batch always reaches its last line.

Input need not be valid UTF-8: each line is decoded with undecodable bytes replaced, then the
replacement characters and control characters are dropped and what is left is answered. A line
with nothing left is reported, not answered; so is a line whose answer raised. The command exits
with status 1 after the last line when any line failed.
"""

from __future__ import annotations

import logging
import sys
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

import click
import typer
from rich.markup import escape

from appliance.cli.common import err, note, print_json

log = logging.getLogger(__name__)

_DROPPED_CATEGORIES = {"Cc", "Cf", "Cs"}  # control, format (zero-width, BOM), lone surrogates


@dataclass(frozen=True)
class Line:
    """One input line.

    Attributes:
        number: 1-based line number in the input (blank lines counted).
        text: the line as cleaned by :func:`clean`; "" when nothing was left.
        dropped: characters removed by cleaning (undecodable bytes, control characters).
    """

    number: int
    text: str
    dropped: int = 0


def clean(raw: bytes) -> tuple[str, int]:
    """Decode one line of input and remove what is not text.

    UTF-8 with each undecodable byte sequence replaced by U+FFFD; then U+FFFD, control and
    format characters (zero-width space, byte-order mark) are dropped, white space of any kind
    (tab, CR, ideographic space) becomes a plain space, and the ends are stripped.

    Returns:
        (text, number of characters dropped).
    """
    kept: list[str] = []
    dropped = 0
    for ch in raw.decode("utf-8", errors="replace"):
        if ch.isspace():
            kept.append(" ")
        elif ch == "\ufffd" or unicodedata.category(ch) in _DROPPED_CATEGORIES:
            dropped += 1
        else:
            kept.append(ch)
    return "".join(kept).strip(), dropped


def _binary(stream) -> BinaryIO | Iterable[bytes]:
    """``stream``'s bytes: its ``buffer`` when it is a text stream over one, else its lines re-encoded."""
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        return buffer
    return (line.encode("utf-8", errors="surrogateescape") for line in stream)


def read_lines(stream: BinaryIO | Iterable[bytes]) -> Iterator[Line]:
    """Every line of ``stream`` (bytes) that is not blank, as a cleaned :class:`Line`.

    Lines of nothing but white space are skipped; a line that was not blank but is empty after
    cleaning is yielded with ``text == ""`` for the caller to report.
    """
    for number, raw in enumerate(stream, start=1):
        if raw.strip():
            text, dropped = clean(raw)
            yield Line(number, text, dropped)


class Batch:
    """The lines of one command's input, each answered or reported.

    Args:
        arg: the command's argument: a question, or ``-`` for one question per stdin line.
        key: the name of the question in JSON error objects ("question" for ask, "query" for search).
        as_json: report a failed line as ``{"line", KEY, "error"}`` on stdout, one JSON object per
            line; otherwise as ``error: line N: QUESTION: REASON`` on stderr.
        stdin: where ``-`` reads from (default: ``sys.stdin``, as bytes).

    Iterate it for the lines to answer; answer each inside :meth:`guard`; call :meth:`finish`
    after the loop. A single question (``arg`` not ``-``) is yielded as it is, and its errors
    propagate as before.
    """

    def __init__(self, arg: str, key: str, as_json: bool, stdin=None):
        self.arg = arg
        self.key = key
        self.as_json = as_json
        self.stdin = stdin
        self.failed = 0

    @property
    def from_stdin(self) -> bool:
        """Whether the questions come from stdin (``-``)."""
        return self.arg == "-"

    def __iter__(self) -> Iterator[Line]:
        if not self.from_stdin:
            yield Line(1, self.arg)
            return
        for line in read_lines(_binary(self.stdin if self.stdin is not None else sys.stdin)):
            if not line.text:
                self.report(line, f"nothing left after dropping {line.dropped} undecodable or control character(s)")
                continue
            if line.dropped:
                note(f"line {line.number}: {line.dropped} undecodable or control character(s) dropped")
            yield line

    def report(self, line: Line, reason: str) -> None:
        """Count ``line`` as failed and say why (JSON on stdout, or one line on stderr)."""
        self.failed += 1
        reason = " ".join(reason.split())
        if self.as_json:
            print_json({"line": line.number, self.key: line.text, "error": reason})
        else:
            where = f"line {line.number}: {line.text}: " if line.text else f"line {line.number}: "
            err.print(f"[bold red]error:[/] {escape(where + reason)}", markup=True)

    @contextmanager
    def guard(self, line: Line) -> Iterator[None]:
        """Run the answer to ``line``; with ``-``, an exception becomes a report and the batch goes on.

        Exits (``typer.Exit``, click's usage errors) and KeyboardInterrupt still stop the batch.
        """
        if not self.from_stdin:
            yield
            return
        try:
            yield
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # one line's failure must not lose the lines after it
            log.info("line %d failed", line.number, exc_info=True)  # the traceback, with --verbose
            self.report(line, f"{type(exc).__name__}: {exc}")

    def finish(self) -> None:
        """After the last line: exit with status 1 when any line failed.

        Raises:
            typer.Exit: code 1, some line was reported.
        """
        if self.failed:
            raise typer.Exit(1)
