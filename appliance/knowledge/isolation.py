"""Readers in a separate process, with a time budget and a memory cap per file.

The format checks of :mod:`appliance.knowledge.limits` refuse the hostile files known; a reader
can still be slow or greedy in ways no check foresees (a crafted PDF page, a parser bug). So the
readers run in a child process (``python -P -m appliance.knowledge.isolation``, started once per
ingest run and reused from file to file) whose address space is capped with ``RLIMIT_AS``. A file
whose reader is still running when its time is up is refused and the child killed; the next file
gets a fresh child. The knowledge base is written by the parent only, so a killed reader leaves
nothing half-written.

Protocol, over the child's stdin/stdout (its own ``print`` output goes to stderr): each message is
an 8-byte big-endian length and a payload. The child first says ``["ready"]`` once the readers
are imported (the time budget starts after that, so a slow start is not charged to the first
file); then for each request, ``(path, limits)`` (a pickle: the parent is trusted) followed by the
file's bytes as a message of their own (no copy), it replies ``["ok", documents]`` or
``["error", reason, traceback or null, restart]``. Replies are JSON, checked field by field when
they arrive (:func:`documents_from_json`): the child parses hostile files, so what it sends is
never unpickled, and a malformed reply refuses the file like any reader failure.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import select
import struct
import subprocess
import sys
import time
from pathlib import Path

from appliance.knowledge.limits import ReadError, ReadLimits, size_text
from appliance.knowledge.model import Document, Section

_HEADER = struct.Struct(">Q")


class MalformedReply(ValueError):
    """A reply from the reader process that is not what the protocol allows."""


START_TIMEOUT_S = 120.0
"""How long a new reader process may take to import the readers before it is given up on."""


class ReaderProcess:
    """A reader child process: :meth:`read` is :func:`~appliance.knowledge.readers.read_file`
    under ``limits.max_seconds`` and ``limits.max_memory_bytes``.

    Use as a context manager (the child is stopped on exit); it is started at the first
    :meth:`read` and again after a file that had it killed.
    """

    def __init__(self, limits: ReadLimits):
        self.limits = limits
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ReaderProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the child (it exits when its stdin closes; killed if it does not within 2 s)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()

    def _start(self) -> subprocess.Popen[bytes]:
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        level = logging.getLogger("appliance").getEffectiveLevel()
        # -P: the working directory (perhaps the folder being ingested) is not on sys.path. Python
        # 3.10 has no -P: the child drops that entry itself before it imports anything of ours.
        if sys.version_info >= (3, 11):
            command = [sys.executable, "-P", "-m", __name__]
        else:
            run = f"import runpy, sys; del sys.path[0]; runpy.run_module({__name__!r}, run_name='__main__', alter_sys=True)"
            command = [sys.executable, "-c", run]
        return subprocess.Popen(
            [*command, str(self.limits.max_memory_bytes), str(level)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd="/",
            env=env,
            close_fds=True,
        )

    def _kill(self) -> int | None:
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        proc.kill()
        code = proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream:
                stream.close()
        return code

    def read(self, path: Path, data: bytes) -> list[Document]:
        """The documents of ``data`` (the bytes of ``path``), read in the child.

        Raises:
            ReadError: the reader refused the file (with the traceback of a reader's own failure
                in ``trace``); or it ran over the time budget, out of memory or died, naming the
                reader ("docx reader: ...").
        """
        from appliance.knowledge.readers import reader_name

        name = reader_name(path)
        request = pickle.dumps((path, self.limits), protocol=pickle.HIGHEST_PROTOCOL)
        for attempt in (1, 2):
            if self._proc is None:
                self._proc = self._start()
                try:
                    _receive(self._proc, time.monotonic() + START_TIMEOUT_S)
                except (TimeoutError, EOFError, MalformedReply):
                    code = self._kill()
                    raise ReadError(f"{name} reader: the reader process did not start (exit code {code})") from None
            try:
                _send(self._proc, request)
                _send(self._proc, data)
                break
            except (BrokenPipeError, ConnectionResetError):  # a child that died since the last file
                self._kill()
                if attempt == 2:
                    raise ReadError(f"{name} reader: the reader process could not be started") from None
        proc = self._proc
        assert proc is not None
        try:
            reply = _receive(proc, time.monotonic() + self.limits.max_seconds)
        except TimeoutError:
            self._kill()
            raise ReadError(
                f"{name} reader: still running after {self.limits.max_seconds:g} s, the time budget per file; stopped"
            ) from None
        except MalformedReply as exc:
            self._kill()
            raise ReadError(f"{name} reader: the reader process sent a malformed reply ({exc})") from None
        except EOFError:
            code = self._kill()
            reason = (
                f"out of memory (limit {size_text(self.limits.max_memory_bytes)})"
                if code in (-9, 137)
                else f"the reader process died (exit code {code})"
            )
            raise ReadError(f"{name} reader: {reason}") from None
        try:
            if reply[0] == "ok" and len(reply) == 2:
                return documents_from_json(reply[1])
            kind, reason, trace, restart = reply
            if kind != "error" or not isinstance(reason, str) or not isinstance(trace, str | None):
                raise ValueError("not an error reply")
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            self._kill()
            raise ReadError(f"{name} reader: the reader process sent a malformed reply ({exc})") from None
        if restart:  # after a MemoryError the child may be in no state to go on
            self._kill()
        raise ReadError(reason, trace=trace)


def _send(proc: subprocess.Popen[bytes], payload: bytes) -> None:
    assert proc.stdin is not None
    proc.stdin.write(_HEADER.pack(len(payload)))
    proc.stdin.write(payload)
    proc.stdin.flush()


def _receive(proc: subprocess.Popen[bytes], deadline: float) -> list:
    """One reply from the child, waiting until ``deadline`` (time.monotonic()).

    Raises:
        TimeoutError: no complete reply by the deadline.
        EOFError: the child closed its stdout (it died).
        MalformedReply: the reply is not JSON.
    """
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = bytearray()
    need = _HEADER.size
    size: int | None = None
    while True:
        while len(buf) < need:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
            block = os.read(fd, max(need - len(buf), 1 << 16))
            if not block:
                raise EOFError
            buf += block
        if size is None:
            (size,) = _HEADER.unpack(buf[: _HEADER.size])
            need = _HEADER.size + size
            continue
        try:
            return json.loads(bytes(buf[_HEADER.size : need]))
        except ValueError as exc:  # not JSON: a child that lost its mind, or was made to
            raise MalformedReply(f"not JSON ({exc})") from None


def documents_to_json(documents: list[Document]) -> list[dict]:
    """Documents as plain JSON values (the child's reply; inverse of :func:`documents_from_json`)."""
    return [
        {
            "title": d.title,
            "sections": [[list(x.heading_path), x.text, x.kind] for x in d.sections],
            "questions": list(d.questions),
            "key": d.key,
            "lang": d.lang,
            "category": d.category,
        }
        for d in documents
    ]


def _text(value: object, what: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} is not text")
    return value


def documents_from_json(value: object) -> list[Document]:
    """The documents of a reply, every field checked for its type.

    Raises:
        ValueError: a field missing or of the wrong type.
    """
    if not isinstance(value, list):
        raise ValueError("documents are not a list")
    out = []
    for d in value:
        if (
            not isinstance(d, dict)
            or not isinstance(d.get("sections"), list)
            or not isinstance(d.get("questions"), list)
        ):
            raise ValueError("a document is not an object with sections and questions")
        sections = []
        for sec in d["sections"]:
            if not isinstance(sec, list) or len(sec) != 3 or not isinstance(sec[0], list):
                raise ValueError("a section is not [headings, text, kind]")
            path = tuple(_text(h, "a heading") for h in sec[0])
            sections.append(Section(path, _text(sec[1], "a section"), _text(sec[2], "a section kind")))
        out.append(
            Document(
                _text(d.get("title"), "a title"),
                sections,
                [_text(q, "a question") for q in d["questions"]],
                _text(d.get("key"), "a key", optional=True),
                _text(d.get("lang"), "a language"),
                _text(d.get("category"), "a category", optional=True),
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# The child


def _read_exactly(fh, n: int) -> bytes | None:
    chunks = []
    while n > 0:
        block = fh.read(n)
        if not block:
            return None
        chunks.append(block)
        n -= len(block)
    return b"".join(chunks)


def _serve(requests, replies) -> None:

    from appliance.knowledge.readers import read_file

    _reply(replies, ("ready",))
    while (header := _read_exactly(requests, _HEADER.size)) is not None:
        request = _read_exactly(requests, _HEADER.unpack(header)[0])
        size = _read_exactly(requests, _HEADER.size)
        data = _read_exactly(requests, _HEADER.unpack(size)[0]) if size is not None else None
        if request is None or data is None:
            return
        path, limits = pickle.loads(request)
        try:
            reply: tuple = ("ok", read_file(path, data, limits))
        except ReadError as exc:
            memory = isinstance(exc.__cause__, MemoryError)
            reason = f"{exc} (limit {size_text(limits.max_memory_bytes)})" if memory else str(exc)
            reply = ("error", reason, exc.trace, memory)
        except MemoryError:
            reply = ("error", f"out of memory (limit {size_text(limits.max_memory_bytes)})", None, True)
        del data
        _reply(replies, reply)


def _reply(replies, reply: tuple) -> None:
    if reply[0] == "ok":
        reply = ("ok", documents_to_json(reply[1]))
    out = json.dumps(reply, ensure_ascii=False).encode("utf-8")
    replies.write(_HEADER.pack(len(out)))
    replies.write(out)
    replies.flush()


def main(argv: list[str]) -> None:
    """The child: cap the address space, then answer requests until stdin closes."""
    import resource

    memory, level = int(argv[0]), int(argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # The protocol gets private descriptors; anything a library prints goes to stderr.
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    _serve(requests, replies)


if __name__ == "__main__":
    main(sys.argv[1:])
