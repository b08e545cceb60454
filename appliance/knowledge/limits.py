"""What reading one file may cost: the caps every reader works under, and the zip-container check.

A cap that only fires after parsing is no cap: a 3 MB ``.docx`` can unpack to a gigabyte of XML.
So each limit here is checked before the memory is spent: a zip container from its central
directory (sizes and entry count as declared there; :mod:`zipfile` never returns more than the
declared size of a member, so a lying directory makes the member fail its CRC instead of growing),
HTML from its byte size before parsing, text as it is extracted. What no format-specific check
can bound (a slow page of a PDF, a parser bug) is bounded by the time and memory budget of the
reader process (:mod:`appliance.knowledge.isolation`).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.config import IngestSettings

MiB = 2**20


class ReadError(ValueError):
    """A file that cannot be turned into documents; the message is the reason shown to staff.

    Attributes:
        trace: the traceback of a reader's own failure (an unexpected exception), for
            ``--verbose``; None for an ordinary refusal.
    """

    def __init__(self, message: str, trace: str | None = None):
        super().__init__(message)
        self.trace = trace


def size_text(n: float) -> str:
    """A byte count for people: '1.1 GB', '200 MB', '640 KB' (powers of 1024, as the limits are set)."""
    for unit, scale in (("GB", 2**30), ("MB", MiB), ("KB", 1024)):
        if n >= scale:
            value = n / scale
            return f"{value:.1f} {unit}" if value < 10 and value != int(value) else f"{value:.0f} {unit}"
    return f"{n:.0f} bytes"


@dataclass(frozen=True)
class ReadLimits:
    """Caps that make a reader refuse input no service guide would be.

    Attributes:
        max_text_chars: extracted text per file (per record for ``.jsonl``), characters.
        max_section_chars: sections longer than this are split into parts.
        max_unpacked_bytes: a zip container (``.docx``): total unpacked size of its members as its
            central directory declares them, bytes.
        max_zip_entries: a zip container: number of members.
        max_xml_part_bytes: a zip container: unpacked size of its largest XML part
            (``word/document.xml``), bytes; the parsed tree takes several times this in memory.
        max_html_bytes: an HTML file's size, bytes, checked before parsing.
        max_seconds: time budget per file, seconds; a reader still running is stopped (only
            when reading in a reader process, see :class:`~appliance.knowledge.isolation.ReaderProcess`).
        max_memory_bytes: address-space cap of the reader process, bytes.
    """

    max_text_chars: int = 1_000_000
    max_section_chars: int = 900
    max_unpacked_bytes: int = 200 * MiB
    max_zip_entries: int = 2000
    max_xml_part_bytes: int = 10 * MiB
    max_html_bytes: int = 5 * MiB
    max_seconds: float = 30.0
    max_memory_bytes: int = 1024 * MiB

    @classmethod
    def from_settings(cls, ingest: IngestSettings) -> ReadLimits:
        """The limits of ``[ingest]`` (:class:`appliance.config.IngestSettings`, sizes there in MiB)."""
        return cls(
            max_text_chars=ingest.max_text_chars,
            max_section_chars=ingest.max_section_chars,
            max_unpacked_bytes=int(ingest.max_unpacked_mb * MiB),
            max_zip_entries=ingest.max_zip_entries,
            max_xml_part_bytes=int(ingest.max_xml_part_mb * MiB),
            max_html_bytes=int(ingest.max_html_mb * MiB),
            max_seconds=ingest.read_timeout_s,
            max_memory_bytes=int(ingest.reader_memory_mb * MiB),
        )


def check_text_size(n_chars: int, limits: ReadLimits) -> None:
    """Raises:
    ReadError: ``n_chars`` is over ``limits.max_text_chars``."""
    if n_chars > limits.max_text_chars:
        raise ReadError(
            f"too much text: {n_chars:,} characters (limit {limits.max_text_chars:,}); "
            "split it into one file per service guide"
        )


def check_zip(data: bytes, limits: ReadLimits) -> None:
    """Check a zip container from its central directory, before any member is unpacked.

    Raises:
        ReadError: not a zip archive; more members than ``max_zip_entries``; a total unpacked size
            over ``max_unpacked_bytes``; an XML part over ``max_xml_part_bytes``.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise ReadError("damaged or not a .docx file (the zip archive cannot be opened)") from exc
    if len(members) > limits.max_zip_entries:
        raise ReadError(f"{len(members):,} members in the zip archive (limit {limits.max_zip_entries:,})")
    total = sum(m.file_size for m in members)
    if total > limits.max_unpacked_bytes:
        raise ReadError(
            f"unpacked size {size_text(total)} over the {size_text(limits.max_unpacked_bytes)} limit "
            f"({size_text(len(data))} packed)"
        )
    xml = [m for m in members if m.filename.lower().endswith((".xml", ".rels"))]
    biggest = max(xml, key=lambda m: m.file_size, default=None)
    if biggest is not None and biggest.file_size > limits.max_xml_part_bytes:
        raise ReadError(
            f"{biggest.filename} unpacks to {size_text(biggest.file_size)}, over the "
            f"{size_text(limits.max_xml_part_bytes)} limit for one part"
        )
