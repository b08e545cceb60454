"""Hostile files at ingest: build each probe of issue 13, run the real command on it, measure.

``python -m appliance.bench_hostile`` builds, in a scratch folder, one folder per probe (the
hostile file beside a good guide), runs ``kiosk kb ingest FOLDER`` (``kiosk models import
ARCHIVE`` for the archive) in a child process with its own settings file (embedding model and
LLM off: the figures are the reading's), and prints a table: probe, what happened, the child's
maximum resident set size (``os.wait4``: the largest of the command and the reader process it
waited for) and wall time. Target on a 2-core machine: at most 300 MB and 5 s per probe.

The builders take their sizes as arguments; the tests build the same files, smaller, against
lowered limits.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

GUIDE = "# 居住证办理\n\n## 所需材料\n- 居民身份证\n\n## 办理地点\n社区服务中心一楼\n"
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


# --------------------------------------------------------------------------------------------
# Builders


def alias_bomb(levels: int = 9, width: int = 10) -> bytes:
    """Markdown whose YAML front matter is a "billion laughs": ``width ** levels`` strings once expanded."""
    lines = ["---", f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    lines += [f"title: *l{levels - 1}", "---", "# 指南", "", "正文。", ""]
    return "\n".join(lines).encode()


def _docx_parts() -> dict[str, bytes]:
    import docx

    buf = io.BytesIO()
    docx.Document().save(buf)
    with zipfile.ZipFile(buf) as z:
        return {name: z.read(name) for name in z.namelist() if name != "word/document.xml"}


def docx_with_body(chunks: Iterable[bytes]) -> bytes:
    """A .docx (python-docx's template) whose ``word/document.xml`` body is ``chunks``, streamed
    into the archive deflated, so a body of gigabytes costs only its compressed size in memory."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in _docx_parts().items():
            z.writestr(name, data)
        with z.open("word/document.xml", "w", force_zip64=True) as doc:
            doc.write(f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{W_NS}"><w:body>'.encode())
            for chunk in chunks:
                doc.write(chunk)
            doc.write(b"<w:sectPr/></w:body></w:document>")
    return out.getvalue()


def _repeat(unit: bytes, total: int, block: int = 1 << 20) -> Iterable[bytes]:
    chunk = unit * max(1, block // len(unit))
    left = total
    while left > 0:
        piece = chunk[: min(len(chunk), left)]
        left -= len(piece)
        yield piece


def docx_paragraph_bomb(unpacked: int) -> bytes:
    """A .docx of about ``unpacked`` bytes of one-letter paragraphs."""
    para = b"<w:p><w:r><w:t>x</w:t></w:r></w:p>"
    return docx_with_body(_repeat(para, unpacked - unpacked % len(para)))


def docx_text_node_bomb(unpacked: int) -> bytes:
    """A .docx with one paragraph whose single text node is about ``unpacked`` bytes."""
    return docx_with_body([b"<w:p><w:r><w:t>", *_repeat(b"x", unpacked), b"</w:t></w:r></w:p>"])


def docx_span_bomb(columns: int = 99_999_999) -> bytes:
    """A .docx whose one table cell spans ``columns`` columns (python-docx repeats it per column)."""
    cell = f'<w:tc><w:tcPr><w:gridSpan w:val="{columns}"/></w:tcPr><w:p><w:r><w:t>x</w:t></w:r></w:p></w:tc>'
    return docx_with_body([b"<w:p><w:r><w:t>t</w:t></w:r></w:p>", f"<w:tbl><w:tr>{cell}</w:tr></w:tbl>".encode()])


def html_bomb(size: int) -> bytes:
    """``<p>x</p>`` repeated to ``size`` bytes."""
    return b"<p>x</p>" * (size // 8)


def nested_brackets(size: int) -> bytes:
    """Markdown with one line of ``size`` opening brackets (quadratic for a naive link pattern)."""
    return b"# \xe6\x8c\x87\xe5\x8d\x97\n\n" + b"[" * size + b"\n"


TOUR = """\
id = "fifo-walk"
title = "讲解"
lang = "zh"
summary = "一步"
duration_min = 1

[[steps]]
title = "开场"
narration = "大家好。"
image = "images/plan.png"
"""


def fifo_tour(folder: Path) -> Path:
    """A tour file whose step image ``images/plan.png`` is a FIFO (reading it would wait forever)."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    os.mkfifo(folder / "images" / "plan.png")
    path = folder / "walk.tour.toml"
    path.write_text(TOUR, encoding="utf-8")
    return path


def zeros_model_archive(path: Path, size: int, *, name: str = "mystery", manifest: bool = True) -> Path:
    """A .tar.gz holding ``name/weights.bin`` of ``size`` zero bytes (and a manifest that lists it
    with that size, unless ``manifest`` is False), a few MB whatever ``size`` is: gzip members of
    compressed zeros, concatenated."""
    size -= size % 512
    head = io.BytesIO()
    if manifest:
        data = json.dumps(
            {"name": name, "role": "llm", "files": [{"name": "weights.bin", "size": size, "sha256": "0" * 64}]}
        ).encode()
        info = tarfile.TarInfo(f"{name}/manifest.json")
        info.size = len(data)
        head.write(info.tobuf(format=tarfile.PAX_FORMAT))
        head.write(data + b"\0" * (-len(data) % 512))
    info = tarfile.TarInfo(f"{name}/weights.bin")
    info.size = size
    head.write(info.tobuf(format=tarfile.PAX_FORMAT))
    block = 64 << 20
    zeros = zlib.compressobj(9, zlib.DEFLATED, 31)
    packed_block = zeros.compress(b"\0" * block) + zeros.flush()
    with path.open("wb") as out:
        first = zlib.compressobj(9, zlib.DEFLATED, 31)
        out.write(first.compress(head.getvalue()) + first.flush())
        left = size + 1024  # the data, then the two empty blocks that end a tar archive
        while left >= block:
            out.write(packed_block)
            left -= block
        last = zlib.compressobj(9, zlib.DEFLATED, 31)
        out.write(last.compress(b"\0" * left) + last.flush())
    return path


# --------------------------------------------------------------------------------------------
# Running


@dataclass(frozen=True)
class Probe:
    """One measured run: what was fed, what the command said, its peak memory and time."""

    name: str
    size: str
    outcome: str
    max_rss_mb: float
    seconds: float


def _human(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KB", 1000)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _run(args: list[str], config: Path) -> tuple[int, str, float, float]:
    """Run ``kiosk ARGS`` with ``config``; returns (exit code, output, max RSS MB, seconds)."""
    kiosk = Path(sys.executable).with_name("kiosk")
    cmd = [str(kiosk)] if kiosk.exists() else [sys.executable, "-m", "appliance"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*cmd, "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=config.parent,
    )
    assert proc.stdout is not None
    output = proc.stdout.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, output, usage.ru_maxrss / 1024, seconds


def _outcome(output: str, hostile: str) -> str:
    """What the command said about the hostile file: its skip reason, an error, or that it was read."""
    lines = [line.strip() for line in output.splitlines()]
    for line in lines:
        if hostile and hostile in line and ": skipped (" in line:
            return "refused: " + line.split(": skipped (", 1)[1].removesuffix(")")
        if line.startswith("error:") or (hostile and line.startswith(f"{hostile}: failed")):
            return "refused: " + line.split(":", 1)[1].strip().removeprefix("failed ").strip()
    summary = next((line for line in lines if line.startswith("added ")), None)
    return "read in full: " + summary.split(";")[0] if summary else " ".join(output.split())[-160:]


def _folder(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "good.md").write_text(GUIDE, encoding="utf-8")
    return folder


def run(root: Path, *, full: bool = True) -> list[Probe]:
    """Build every probe under ``root`` and measure the command on it (``full``: the issue's sizes)."""
    scale = 1 if full else 64
    config = root / "kiosk.toml"
    config.write_text(
        f'data_dir = "{root / "data"}"\n[embedding]\nenabled = false\n[llm]\nenabled = false\n', encoding="utf-8"
    )
    probes: list[Probe] = []

    def ingest(name: str, hostile: str, make) -> None:
        folder = _folder(root, f"probe-{len(probes)}")
        make(folder)
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
        shown = _human(size - len(GUIDE.encode())) if size > len(GUIDE.encode()) else "-"
        kb = root / f"probe-{len(probes)}.sqlite"
        _, output, rss, seconds = _run(["kb", "ingest", str(folder), "--kb", str(kb)], config)
        outcome = _outcome(output, hostile)
        if "good.md: skipped" in output or "added 0" in output:
            outcome += "  [good.md NOT ingested]"
        probes.append(Probe(name, shown, outcome, rss, seconds))

    def put(name: str, data: bytes):
        def make(folder: Path) -> None:
            (folder / name).write_bytes(data)

        return make

    ingest("baseline (good.md only)", "", lambda folder: None)
    ingest("alias-bomb front matter .md", "bomb.md", put("bomb.md", alias_bomb(9, 10)))
    ingest("docx, 1.1 GB of paragraphs", "paras.docx", put("paras.docx", docx_paragraph_bomb(1_100_000_000 // scale)))
    ingest("docx, one 1.1 GB text node", "node.docx", put("node.docx", docx_text_node_bomb(1_100_000_000 // scale)))
    ingest("docx, a cell spanning 10**8 columns", "span.docx", put("span.docx", docx_span_bomb()))
    ingest("48 MiB HTML of <p>x</p>", "page.html", put("page.html", html_bomb((48 << 20) // scale)))
    ingest("100 KB of nested [ (.md)", "brackets.md", put("brackets.md", nested_brackets(100_000)))
    ingest("400 KB of nested [ (.md)", "brackets.md", put("brackets.md", nested_brackets(400_000)))
    ingest("FIFO as a tour image", "walk.tour.toml", fifo_tour)

    def passwd(folder: Path) -> None:
        (folder / "passwd.md").symlink_to("/etc/passwd")

    ingest("symlink passwd.md -> /etc/passwd", "passwd.md", passwd)

    for name, size, manifest in (
        ("models archive, 10 GiB of zeros", (10 << 30) // scale, True),
        ("models archive, 4 GiB, no manifest", (4 << 30) // scale, False),
    ):
        archive = zeros_model_archive(root / f"zeros-{size}.tar.gz", size, manifest=manifest)
        _, output, rss, seconds = _run(["models", "import", str(archive)], config)
        shown = f"{_human(archive.stat().st_size)} -> {_human(size)}"
        probes.append(Probe(name, shown, _outcome(output, "mystery"), rss, seconds))
    return probes


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m appliance.bench_hostile [--dir DIR] [--small] [--keep]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--small", action="store_true", help="1/64 of the issue's sizes (a quick look)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="kiosk-hostile-", dir=args.dir))
    try:
        probes = run(root, full=not args.small)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    width = max(len(p.name) for p in probes)
    print(f"{'probe':<{width}}  {'size':>22}  {'max RSS':>8}  {'seconds':>7}  outcome")
    for p in probes:
        flag = "" if p.max_rss_mb <= 300 and p.seconds <= 5 else "  <-- over target"
        print(f"{p.name:<{width}}  {p.size:>22}  {p.max_rss_mb:>5.0f} MB  {p.seconds:>7.2f}  {p.outcome}{flag}")
    print("target: at most 300 MB and 5 s per probe (embedding model and LLM off)")


if __name__ == "__main__":
    main()
