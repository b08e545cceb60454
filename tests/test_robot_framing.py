"""Robot serial protocol: framing (COBS, CRC-16, header), message payloads, and the test vectors,
tables and reference code of firmware_bridge/PROTOCOL.md (the document firmware is written from)."""

from __future__ import annotations

import enum
import inspect
import re
import shutil
import struct
import subprocess
import typing
from dataclasses import fields
from pathlib import Path

import pytest
from cobs import cobs
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import messages as m
from firmware_bridge.framing import (
    HEADER,
    MAX_ENCODED,
    MAX_FRAME,
    MAX_PAYLOAD,
    Flags,
    Frame,
    FrameError,
    StreamDecoder,
    crc16,
    decode,
    encode,
    pack_frame,
    unpack_frame,
)
from firmware_bridge.sim import controller as sim

PROTOCOL_MD = Path(__file__).resolve().parents[1] / "firmware_bridge" / "PROTOCOL.md"
FUZZ = settings(max_examples=200, deadline=None)
ROUND_TRIP = settings(max_examples=60, deadline=None)


def _doc() -> str:
    return PROTOCOL_MD.read_text(encoding="utf-8")


def _section(doc: str, heading: str) -> str:
    """The text under the heading that starts with ``heading`` up to the next heading of the same or
    a higher level."""
    match = re.search(rf"^(#+) {re.escape(heading)}.*$", doc, re.MULTILINE)
    assert match, f"PROTOCOL.md has no heading {heading!r}"
    level = len(match.group(1))
    end = re.compile(rf"^#{{1,{level}}} ", re.MULTILINE).search(doc, match.end())
    return doc[match.end() : end.start() if end else len(doc)]


def _hex(text: str) -> bytes:
    text = text.strip()
    return b"" if text == "(none)" else bytes.fromhex(text)


# -- frames -----------------------------------------------------------------------------------------
SAMPLE_FRAMES = [
    Frame(m.MsgType.STOP, 0),
    Frame(m.MsgType.LOOK, 7, Flags.ACK_REQUESTED, m.Look(1500, -500, 60).pack()),
    Frame(m.MsgType.GESTURE, 65535, Flags.ACK_REQUESTED | Flags.RETRY, b"\x01"),
    Frame(0x7F, 1234, Flags.NONE, bytes(range(256))[:MAX_PAYLOAD]),
    Frame(m.MsgType.DISPLAY_TEXT, 9, Flags.ACK_REQUESTED, b"\x00" * MAX_PAYLOAD),
    Frame(m.MsgType.DISPLAY_TEXT, 9, Flags.ACK_REQUESTED, b"\xff" * MAX_PAYLOAD),
    Frame(m.MsgType.HELLO, 3, Flags.NONE, b"\x02\x00\x00\x00", version=2),  # any version decodes
]


@pytest.mark.parametrize("frame", SAMPLE_FRAMES, ids=lambda f: f"type{f.type:#04x}-len{len(f.payload)}")
def test_frame_round_trip(frame: Frame) -> None:
    raw = pack_frame(frame)
    assert len(raw) == HEADER.size + len(frame.payload) + 2
    assert unpack_frame(raw) == frame
    wire = encode(frame)
    assert wire.endswith(b"\x00") and b"\x00" not in wire[:-1]
    assert len(wire) - 1 <= MAX_ENCODED
    assert decode(wire[:-1]) == frame
    assert list(StreamDecoder().feed(wire)) == [frame]


def test_header_layout_is_little_endian() -> None:
    raw = pack_frame(Frame(0x11, 0x1234, Flags(0x03), b"\xaa\xbb"))
    assert raw[:7] == bytes([1, 0x11, 0x34, 0x12, 0x03, 0x02, 0x00])
    assert raw[7:9] == b"\xaa\xbb"
    assert raw[9:] == struct.pack("<H", crc16(raw[:9]))


def test_sizes() -> None:
    assert (HEADER.size, MAX_PAYLOAD, MAX_FRAME, MAX_ENCODED) == (7, 255, 264, 266)
    worst = encode(Frame(1, 1, Flags.NONE, b"\x01" * MAX_PAYLOAD))  # no zero bytes: most COBS codes
    assert len(worst) - 1 <= MAX_ENCODED


def test_seq_wraps_and_payload_limit() -> None:
    assert unpack_frame(pack_frame(Frame(1, 65536 + 5))).seq == 5
    with pytest.raises(ValueError):
        pack_frame(Frame(1, 0, Flags.NONE, b"\x00" * (MAX_PAYLOAD + 1)))


def test_unknown_flag_bits_survive() -> None:
    frame = unpack_frame(pack_frame(Frame(1, 2, Flags(0x81), b"")))
    assert int(frame.flags) == 0x81 and frame.reliable
    assert not unpack_frame(pack_frame(Frame(1, 2, Flags.RETRY))).reliable


@FUZZ
@given(
    mtype=st.integers(0, 255),
    seq=st.integers(0, 0xFFFF),
    flags=st.integers(0, 255),
    payload=st.binary(max_size=MAX_PAYLOAD),
    version=st.integers(0, 255),
)
def test_frame_round_trip_fuzzed(mtype: int, seq: int, flags: int, payload: bytes, version: int) -> None:
    frame = Frame(mtype, seq, Flags(flags), payload, version)
    wire = encode(frame)
    assert b"\x00" not in wire[:-1] and len(wire) - 1 <= MAX_ENCODED
    assert decode(wire[:-1]) == frame


# -- CRC --------------------------------------------------------------------------------------------
def test_crc_check_value() -> None:
    assert crc16(b"123456789") == 0x29B1
    assert crc16(b"") == 0xFFFF


def _bitwise_crc(data: bytes) -> int:
    """CRC-16/IBM-3740 straight from its parameters, independent of the ``crc`` package."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


@FUZZ
@given(st.binary(max_size=300))
def test_crc_matches_its_parameters(data: bytes) -> None:
    assert crc16(data) == _bitwise_crc(data)


# -- errors -----------------------------------------------------------------------------------------
def _raw_with_length(length_field: int, payload: bytes) -> bytes:
    body = HEADER.pack(1, 0x11, 5, 1, length_field) + payload
    return body + struct.pack("<H", crc16(body))


GOOD = Frame(m.MsgType.LOOK, 7, Flags.ACK_REQUESTED, m.Look(1500, -500, 60).pack())
DAMAGED = {
    "cobs": b"\x05\x01",  # the code byte promises 4 more bytes
    "crc": cobs.encode(pack_frame(GOOD)[:-1] + bytes([pack_frame(GOOD)[-1] ^ 0x01])),
    "length": cobs.encode(_raw_with_length(9, b"\x00" * 8)),
    "short": cobs.encode(b"\x01" * 8),  # header + CRC need 9 bytes
}


@pytest.mark.parametrize("kind", sorted(DAMAGED))
def test_decode_error_kinds(kind: str) -> None:
    with pytest.raises(FrameError) as info:
        decode(DAMAGED[kind])
    assert info.value.kind == kind


def test_unpack_frame_error_kinds() -> None:
    raw = pack_frame(GOOD)
    for bad, kind in [
        (raw[:8], "short"),
        (b"", "short"),
        (raw[:3] + bytes([raw[3] ^ 0x80]) + raw[4:], "crc"),  # one flipped bit in the seq
        (_raw_with_length(7, b"\x00" * 8), "length"),
        (_raw_with_length(300, b""), "length"),
    ]:
        with pytest.raises(FrameError) as info:
            unpack_frame(bad)
        assert info.value.kind == kind, bad.hex()


def test_stream_decoder_counts_each_error_kind() -> None:
    seen: list[str] = []
    decoder = StreamDecoder(on_error=lambda exc: seen.append(exc.kind))
    good = encode(GOOD)
    kinds = ["cobs", "crc", "length", "short"]
    stream = (
        good
        + b"".join(DAMAGED[kind] + b"\x00" for kind in kinds)
        + b"\x00\x00"  # empty packets: ignored, not errors
        + b"\x55" * (MAX_ENCODED + 1)  # overflow
        + b"\x00"
        + good
    )
    assert list(decoder.feed(stream)) == [GOOD, GOOD]
    s = decoder.stats
    assert (s.frames, s.cobs_errors, s.crc_errors, s.length_errors, s.short_errors, s.overflows) == (2, 1, 1, 1, 1, 1)
    assert s.errors == 5
    assert s.bytes == len(stream)
    assert seen == [*kinds, "overflow"]


def test_frame_split_byte_by_byte() -> None:
    decoder = StreamDecoder()
    wire = encode(Frame(m.MsgType.DISPLAY_TEXT, 9, Flags.ACK_REQUESTED, m.DisplayText("欢迎光临" * 8).pack())) * 2
    wire += encode(Frame(0x30, 1, Flags.NONE, b"\x00" * MAX_PAYLOAD))  # a maximal frame, all zeros
    frames = [f for i in range(len(wire)) for f in decoder.feed(wire[i : i + 1])]
    assert [f.type for f in frames] == [m.MsgType.DISPLAY_TEXT, m.MsgType.DISPLAY_TEXT, 0x30]
    assert m.DisplayText.unpack(frames[0].payload) == m.DisplayText("欢迎光临" * 8)
    assert frames[2].payload == b"\x00" * MAX_PAYLOAD
    assert decoder.stats.errors == 0


def test_oversize_garbage_is_dropped_then_the_next_frame_decodes() -> None:
    decoder = StreamDecoder()
    garbage = bytes(range(1, 256)) * 4  # 1020 bytes, no delimiter
    out = [f for i in range(0, len(garbage), 37) for f in decoder.feed(garbage[i : i + 37])]
    assert out == []
    assert decoder.stats.overflows == 1  # once per run, however long
    assert len(decoder._buffer) <= MAX_ENCODED
    assert list(decoder.feed(b"\x00" + encode(GOOD))) == [GOOD]
    assert decoder.stats.overflows == 1 and decoder.stats.frames == 1


def test_overflow_boundary() -> None:
    decoder = StreamDecoder()
    list(decoder.feed(b"\x01" * MAX_ENCODED + b"\x00"))  # just fits: decoded, and is bad
    assert decoder.stats.overflows == 0 and decoder.stats.errors == 1
    list(decoder.feed(b"\x01" * (MAX_ENCODED + 1) + b"\x00"))
    assert decoder.stats.overflows == 1 and decoder.stats.errors == 2


@FUZZ
@given(chunks=st.lists(st.binary(max_size=400), max_size=8))
def test_stream_decoder_never_raises(chunks: list[bytes]) -> None:
    decoder = StreamDecoder()
    for chunk in chunks:
        for frame in decoder.feed(chunk):
            assert isinstance(frame, Frame)
        assert len(decoder._buffer) <= MAX_ENCODED
    assert decoder.stats.bytes == sum(map(len, chunks))


@FUZZ
@given(
    garbage=st.binary(max_size=600),
    payload=st.binary(max_size=MAX_PAYLOAD),
    seq=st.integers(0, 0xFFFF),
    cut=st.integers(1, 64),
)
def test_stream_decoder_resynchronises(garbage: bytes, payload: bytes, seq: int, cut: int) -> None:
    frame = Frame(m.MsgType.DISPLAY_TEXT, seq, Flags.ACK_REQUESTED, payload)
    stream = garbage + b"\x00" + encode(frame)
    decoder = StreamDecoder()
    out = [f for i in range(0, len(stream), cut) for f in decoder.feed(stream[i : i + cut])]
    assert out and out[-1] == frame


# -- PacketSerial compatibility ---------------------------------------------------------------------
def _packetserial_encode(data: bytes) -> bytes:
    """COBS::encode of Arduino PacketSerial (src/Encoding/COBS.h), transcribed."""
    out = bytearray(len(data) + len(data) // 254 + 1)
    read, write, code_index, code = 0, 1, 0, 1
    while read < len(data):
        if data[read] == 0:
            out[code_index] = code
            code, code_index = 1, write
            write += 1
            read += 1
        else:
            out[write] = data[read]
            write += 1
            read += 1
            code += 1
            if code == 0xFF:
                out[code_index] = code
                code, code_index = 1, write
                write += 1
    out[code_index] = code
    return bytes(out[:write])


def _packetserial_decode(encoded: bytes) -> bytes | None:
    """COBS::decode of Arduino PacketSerial, transcribed; None where it returns 0 (an error)."""
    out = bytearray()
    read = 0
    while read < len(encoded):
        code = encoded[read]
        if read + code > len(encoded) and code != 1:
            return None
        read += 1
        for _ in range(1, code):
            out.append(encoded[read])
            read += 1
        if code != 0xFF and read != len(encoded):
            out.append(0)
    return bytes(out)


@FUZZ
@given(
    st.one_of(
        st.binary(min_size=9, max_size=MAX_FRAME),
        st.binary(min_size=250, max_size=MAX_FRAME).map(lambda b: b.replace(b"\x00", b"\x01")),
    )
)
def test_cobs_is_packetserial_compatible(raw: bytes) -> None:
    ours = cobs.encode(raw)
    theirs = _packetserial_encode(raw)
    assert len(theirs) <= MAX_ENCODED
    assert _packetserial_decode(ours) == raw
    assert cobs.decode(theirs) == raw


def test_packetserial_encodes_the_doc_frames_identically() -> None:
    for vector in _vectors():
        assert _packetserial_encode(_hex(vector["frame"])) + b"\x00" == _hex(vector["wire"])


# -- PROTOCOL.md test vectors -----------------------------------------------------------------------
def _vectors() -> list[dict[str, str]]:
    section = _section(_doc(), "4.2 Frame test vectors")
    vectors = []
    for block in re.findall(r"```text\n(.*?)```", section, re.DOTALL):
        vector: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line.startswith(" ") and key:
                vector[key] += " " + line.strip()
            elif line.strip():
                key, _, value = line.partition(":")
                vector[key] = value.strip()
        vectors.append(vector)
    return vectors


def test_doc_has_the_required_frame_vectors() -> None:
    vectors = _vectors()
    assert len(vectors) >= 4
    types = {int(re.search(r"type=(0x[0-9a-f]+)", v["header"]).group(1), 16) for v in vectors}
    assert {m.MsgType.HELLO, m.MsgType.LOOK, m.MsgType.ACK, m.MsgType.DISPLAY_TEXT} <= types
    assert any(not v["message"].isascii() for v in vectors)  # Chinese text
    assert any("detail='" in v["message"] and "detail=''" not in v["message"] for v in vectors)


@pytest.mark.parametrize("vector", _vectors(), ids=lambda v: v["vector"])
def test_doc_frame_vector(vector: dict[str, str]) -> None:
    header = dict(item.split("=") for item in vector["header"].split())
    payload = _hex(vector["payload"])
    assert int(header["length"]) == len(payload)
    frame = Frame(
        int(header["type"], 16), int(header["seq"]), Flags(int(header["flags"], 16)), payload, int(header["version"])
    )
    raw = pack_frame(frame)
    assert raw == _hex(vector["frame"])
    assert crc16(raw[:-2]) == int(vector["crc"], 16)
    assert raw[-2:] == struct.pack("<H", int(vector["crc"], 16))
    assert encode(frame) == _hex(vector["wire"])
    assert list(StreamDecoder().feed(_hex(vector["wire"]))) == [frame]
    table = m.HOST_TO_CONTROLLER if vector["direction"] == "host -> controller" else m.CONTROLLER_TO_HOST
    message = m.unpack(frame.type, payload, table)
    assert m.describe(message) == vector["message"]
    assert message.pack() == payload


def test_look_vector_is_stable() -> None:
    """A fixed anchor, independent of PROTOCOL.md: fielded firmware depends on these bytes."""
    frame = Frame(m.MsgType.LOOK, 7, Flags.ACK_REQUESTED, m.Look(1500, -500, 60, 0).pack())
    assert encode(frame) == bytes.fromhex("04 01 11 07 03 01 08 06 dc 05 0c fe 3c 01 01 03 90 c3 00")


def test_doc_crc_vectors() -> None:
    rows = re.findall(
        r"^\|[^|\n]*\|\s*(?:`([0-9a-f ]+)`|—)\s*\|\s*`0x([0-9A-F]{4})`\s*\|$", _section(_doc(), "4.1 CRC"), re.MULTILINE
    )
    assert len(rows) >= 5
    assert ("31 32 33 34 35 36 37 38 39", "29B1") in rows
    assert ("", "FFFF") in rows
    for data, crc in rows:
        assert crc16(bytes.fromhex(data)) == int(crc, 16), data


def test_doc_c_crc_reference(tmp_path: Path) -> None:
    """The C implementation printed in PROTOCOL.md compiles and agrees with the Python CRC."""
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        pytest.skip("no C compiler")
    code = next(c for c in re.findall(r"```c\n(.*?)```", _doc(), re.DOTALL) if "crc16_ibm3740" in c)
    samples = [b"123456789", b"", b"\x00", bytes(range(256)), "欢迎光临".encode()]
    main = ["#include <stdio.h>", "int main(void) {"]
    for data in samples:
        literal = "".join(f"\\x{b:02x}" for b in data)
        main.append(f'    printf("%04X\\n", crc16_ibm3740((const uint8_t *)"{literal}", {len(data)}));')
    main += ["    return 0;", "}"]
    (tmp_path / "crc.c").write_text(code + "\n" + "\n".join(main) + "\n")
    subprocess.run(
        [compiler, "-std=c99", "-Wall", "-Werror", "-o", str(tmp_path / "crc"), str(tmp_path / "crc.c")], check=True
    )
    out = subprocess.run([str(tmp_path / "crc")], check=True, capture_output=True, text=True).stdout.split()
    assert out == [f"{crc16(d):04X}" for d in samples]


# -- PROTOCOL.md tables -----------------------------------------------------------------------------
def _classes_by_type() -> dict[int, list[type[m.Message]]]:
    by_type: dict[int, list[type[m.Message]]] = {}
    for cls in {*m.HOST_TO_CONTROLLER.values(), *m.CONTROLLER_TO_HOST.values()}:
        by_type.setdefault(cls.TYPE, []).append(cls)
    return by_type


def test_doc_message_summary_table() -> None:
    rows = re.findall(
        r"^\|\s*`0x([0-9A-F]{2})`\s*\|\s*([A-Z_]+)\s*\|\s*([^|]+?)\s*\|\s*(yes|no)\s*\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|$",
        _section(_doc(), "9.1 Summary"),
        re.MULTILINE,
    )
    by_type = _classes_by_type()
    assert sorted(int(r[0], 16) for r in rows) == sorted(m.MsgType) == sorted(by_type)
    for code, name, direction, reliable, sizes, capability in rows:
        mtype = m.MsgType(int(code, 16))
        assert mtype.name == name
        classes = by_type[mtype]
        h2c, c2h = mtype in m.HOST_TO_CONTROLLER, mtype in m.CONTROLLER_TO_HOST
        assert direction == {(True, True): "both", (True, False): "H→C", (False, True): "C→H"}[(h2c, c2h)], name
        assert {cls.RELIABLE for cls in classes} == {reliable == "yes"}, name
        expected = set()
        for cls in classes:
            size = struct.calcsize("<" + cls.FORMAT)
            expected |= {size + 1, size + 1 + cls.TEXT_MAX} if cls.TEXT_MAX else {size}
        assert {int(n) for n in re.findall(r"\d+", sizes)} == expected, name
        need = m.REQUIRES.get(mtype)
        assert capability == (need.name if need else "—"), name


ENUMS = [m.Result, m.Reason, m.Gesture, m.Face, m.LedPattern]
FLAG_SETS = [m.Capability, m.Health, m.HostHealth, Flags]


@pytest.mark.parametrize("enum_type", ENUMS, ids=lambda e: e.__name__)
def test_doc_enum_tables(enum_type: type[enum.IntEnum]) -> None:
    doc = _doc()
    for member in enum_type:
        assert re.search(rf"^\|\s*{int(member)}\s*\|\s*{member.name}\s*\|", doc, re.MULTILINE), member


@pytest.mark.parametrize("flag_type", FLAG_SETS, ids=lambda e: e.__name__)
def test_doc_flag_tables(flag_type: type[enum.IntFlag]) -> None:
    doc = _doc()
    for member in flag_type:
        if not member:
            continue
        bit = int(member).bit_length() - 1
        assert re.search(rf"^\|\s*{bit}\s*\|\s*`0x0*{int(member):X}`\s*\|\s*{member.name}\s*\|", doc, re.MULTILINE), (
            member
        )


def test_doc_gesture_durations() -> None:
    section = _section(_doc(), "10.1 Gesture")
    for gesture, ms in sim.GESTURE_MS.items():
        assert re.search(rf"^\|\s*{int(gesture)}\s*\|\s*{gesture.name}\s*\|\s*{ms}\s*\|", section, re.MULTILINE), (
            gesture
        )
    assert set(sim.GESTURE_MS) == set(m.Gesture)


def test_doc_reference_limits() -> None:
    section = _section(_doc(), "11. Reference limits")
    limits = sim.Limits()
    for f in fields(limits):
        row = re.search(rf"^\|[^|]*\|\s*`{f.name}`\s*\|\s*([^|]+)\|", section, re.MULTILINE)
        assert row, f.name
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", row.group(1))]
        value = getattr(limits, f.name)
        assert numbers == (list(value) if isinstance(value, tuple) else [value]), f.name


def test_doc_timing_constants() -> None:
    section = _section(_doc(), "12. Timing constants")

    def value(name: str) -> str:
        row = re.search(rf"`{re.escape(name)}`[^|]*\|\s*([^|]+?)\s*\|$", section, re.MULTILINE)
        assert row, name
        return row.group(1)

    assert value("WATCHDOG_S") == f"{sim.WATCHDOG_S * 1000:.0f} ms"
    assert value("HEARTBEAT_PERIOD_S") == f"{sim.HEARTBEAT_PERIOD_S * 1000:.0f} ms"
    assert value("MOUTH_TIMEOUT_S") == f"{sim.MOUTH_TIMEOUT_S * 1000:.0f} ms"
    from firmware_bridge.link import RobotLink
    from firmware_bridge.reliable import DuplicateFilter, ReliableSender

    params = inspect.signature(RobotLink.__init__).parameters
    assert value("heartbeat_hz") == f"{params['heartbeat_hz'].default:g} Hz"
    assert value("link_timeout_s") == f"{params['link_timeout_s'].default * 1000:.0f} ms"
    assert value("ack_timeout_s") == f"{params['ack_timeout_s'].default * 1000:.0f} ms"
    rto = inspect.signature(ReliableSender.__init__).parameters["min_rto_s"].default
    assert value("min_rto_s") == f"{rto * 1000:.0f} ms"
    assert value("retries") == str(params["retries"].default)
    assert value("DuplicateFilter.window") == f"{DuplicateFilter().window} seqs"


# -- messages ---------------------------------------------------------------------------------------
_INT_RANGES = {
    "B": (0, 0xFF),
    "b": (-0x80, 0x7F),
    "H": (0, 0xFFFF),
    "h": (-0x8000, 0x7FFF),
    "I": (0, 0xFFFFFFFF),
}
ALL_MESSAGES = sorted(
    {*m.HOST_TO_CONTROLLER.values(), *m.CONTROLLER_TO_HOST.values()}, key=lambda c: (c.TYPE, c.__name__)
)


def _utf8_text(max_bytes: int) -> st.SearchStrategy[str]:
    """Strings of at most ``max_bytes`` UTF-8 bytes, often multi-byte."""
    return st.text(alphabet=st.characters(codec="utf-8"), max_size=max_bytes).map(
        lambda s: s.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")
    )


def message_strategy(cls: type[m.Message]) -> st.SearchStrategy[m.Message]:
    """Any valid instance of ``cls``, every field over its whole range."""
    hints = typing.get_type_hints(cls)
    formats = iter(cls.FORMAT)
    args = []
    for i, f in enumerate(fields(cls)):
        hint = hints[f.name]
        if cls.TEXT_MAX and i == len(fields(cls)) - 1:
            args.append(_utf8_text(cls.TEXT_MAX))
        elif isinstance(hint, type) and issubclass(hint, enum.IntEnum):
            next(formats)
            args.append(st.sampled_from(list(hint)))
        else:
            args.append(st.integers(*_INT_RANGES[next(formats)]))
    assert next(formats, None) is None, cls
    return st.tuples(*args).map(lambda values: cls(*values))


def test_message_tables_cover_every_class() -> None:
    assert set(ALL_MESSAGES) == set(m.Message.__subclasses__())
    assert len(ALL_MESSAGES) == 20


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=lambda c: c.__name__)
def test_message_round_trip(cls: type[m.Message]) -> None:
    table = m.HOST_TO_CONTROLLER if m.HOST_TO_CONTROLLER.get(cls.TYPE) is cls else m.CONTROLLER_TO_HOST

    @ROUND_TRIP
    @given(message_strategy(cls), st.integers(0, 0xFFFF))
    def check(message: m.Message, seq: int) -> None:
        payload = message.pack()
        assert cls.unpack(payload) == message
        flags = Flags.ACK_REQUESTED if cls.RELIABLE else Flags.NONE
        (frame,) = StreamDecoder().feed(encode(Frame(cls.TYPE, seq, flags, payload)))
        assert m.unpack(frame.type, frame.payload, table) == message
        assert frame.reliable == cls.RELIABLE

    check()


@pytest.mark.parametrize(
    ("cls", "payload", "reason"),
    [
        (m.GestureCmd, b"\x00", m.Reason.UNKNOWN_GESTURE),
        (m.GestureCmd, b"\x07", m.Reason.UNKNOWN_GESTURE),
        (m.FaceCmd, b"\x07", m.Reason.UNKNOWN_FACE),
        (m.Led, bytes([255, 0, 0, 5, 0, 0]), m.Reason.UNKNOWN_PATTERN),
        (m.DisplayText, bytes([97]) + b"a" * 97, m.Reason.TEXT_TOO_LONG),
        (m.DisplayText, bytes([99]) + ("欢迎光临" * 8 + "欢").encode(), m.Reason.TEXT_TOO_LONG),  # 33 characters
        (m.FaultEvent, b"\x01\x00" + bytes([65]) + b"x" * 65, m.Reason.TEXT_TOO_LONG),
        (m.Look, b"\x00" * 7, m.Reason.BAD_PAYLOAD),
        (m.Look, b"\x00" * 9, m.Reason.BAD_PAYLOAD),
        (m.Stop, b"\x00", m.Reason.BAD_PAYLOAD),
        (m.DisplayText, b"", m.Reason.BAD_PAYLOAD),  # no length prefix
        (m.DisplayText, b"\x05abc", m.Reason.BAD_PAYLOAD),  # prefix longer than the rest
        (m.DisplayText, b"\x01abc", m.Reason.BAD_PAYLOAD),  # trailing bytes after the string
        (m.DisplayText, b"\x02\xff\xfe", m.Reason.BAD_PAYLOAD),  # not UTF-8
        (m.DisplayText, b"\x02" + "欢".encode()[:2], m.Reason.BAD_PAYLOAD),  # cut inside a character
        (m.Hello, b"\x01\x01\x00\x00\x00\x00\x00\x00\x02\xc3\x28", m.Reason.BAD_PAYLOAD),
        (m.Ack, b"\x01\x00\x63\x00\x00", m.Reason.BAD_PAYLOAD),  # result 99 is no Result
        (m.Done, b"\x01\x00\x02\x63", m.Reason.BAD_PAYLOAD),  # reason 99 is no Reason
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else getattr(v, "name", None),
)
def test_payload_errors(cls: type[m.Message], payload: bytes, reason: m.Reason) -> None:
    with pytest.raises(m.PayloadError) as info:
        cls.unpack(payload)
    assert info.value.reason == reason


def test_longest_strings_are_accepted() -> None:
    text = "欢迎光临" * 8  # 96 bytes: the display maximum
    assert len(text.encode()) == 96
    assert m.DisplayText.unpack(m.DisplayText(text).pack()) == m.DisplayText(text)
    assert m.DisplayText.unpack(b"\x00") == m.DisplayText("")


def test_unknown_type_and_wrong_direction() -> None:
    with pytest.raises(m.PayloadError) as info:
        m.unpack(0x30, b"", m.HOST_TO_CONTROLLER)
    assert info.value.reason == m.Reason.UNKNOWN_TYPE
    assert m.result_for(info.value.reason) == m.Result.UNSUPPORTED
    with pytest.raises(m.PayloadError):
        m.unpack(m.MsgType.LOOK, m.Look(0, 0, 10).pack(), m.CONTROLLER_TO_HOST)
    with pytest.raises(m.PayloadError):
        m.unpack(m.MsgType.EV_TOUCH, b"\x01", m.HOST_TO_CONTROLLER)
    assert m.unpack(m.MsgType.HEARTBEAT, m.HostHeartbeat(1, 1).pack(), m.HOST_TO_CONTROLLER) == m.HostHeartbeat(1, 1)
    assert isinstance(
        m.unpack(m.MsgType.HEARTBEAT, m.ControllerHeartbeat(1, 2, 3, -4).pack(), m.CONTROLLER_TO_HOST),
        m.ControllerHeartbeat,
    )


@pytest.mark.parametrize(
    "message",
    [
        m.DisplayText("x" * 97),
        m.DisplayText("欢迎光临" * 8 + "欢"),  # 99 bytes, only 33 characters
        m.Ack(1, m.Result.FAILED, m.Reason.HARDWARE, "d" * 49),
        m.Hello(1, 1, 0, 0, 0, "i" * 33),
        m.FaultEvent(1, "f" * 65),
        m.Look(9001 * 4, 0, 10),  # i16 overflow
        m.Look(0, 0, -1),  # u16 underflow
        m.Mouth(256),
        m.Ping(1 << 32),
    ],
    ids=lambda msg: type(msg).__name__,
)
def test_pack_out_of_range_raises(message: m.Message) -> None:
    with pytest.raises(ValueError):
        message.pack()


def test_payload_layouts() -> None:
    """Offsets of PROTOCOL.md section 9 (packed, little-endian)."""
    assert m.Hello(1, 2, 3, 4, 0x03FF, "ab").pack() == bytes([1, 2, 3, 4, 0xFF, 0x03, 0, 0, 2]) + b"ab"
    assert m.Ack(0x0102, m.Result.IN_PROGRESS, m.Reason.NONE).pack() == bytes([0x02, 0x01, 1, 0, 0])
    assert m.ControllerHeartbeat(0x01020304, 0x0041, 87, -5, 0x0A0B).pack() == bytes(
        [4, 3, 2, 1, 0x41, 0, 87, 0xFB, 0x0B, 0x0A]
    )
    assert m.Turn(-9000, 30, 0).pack() == struct.pack("<hHH", -9000, 30, 0)
    assert m.Led(1, 2, 3, m.LedPattern.BLINK, 500).pack() == bytes([1, 2, 3, 3]) + struct.pack("<H", 500)
    assert m.PresenceEvent(1, 0x0102, -100).pack() == bytes([1, 0x02, 0x01]) + struct.pack("<h", -100)
    assert m.FaultEvent(0x0201, "x").pack() == bytes([1, 2, 1]) + b"x"
    assert m.Stop().pack() == b"" and m.EstopReset().pack() == b""


def test_describe() -> None:
    assert m.describe(m.Look(1500, -500, 60)) == "LOOK pan_cdeg=1500 tilt_cdeg=-500 speed_dps=60 accel_dps2=0"
    assert (
        m.describe(m.Ack(8, m.Result.REJECTED_LIMIT, m.Reason.PAN_RANGE, "pan 120 outside -90..90"))
        == "ACK acked_seq=8 result=REJECTED_LIMIT reason=PAN_RANGE detail='pan 120 outside -90..90'"
    )
    assert m.describe(m.GestureCmd.unpack(b"\x05")) == "GESTURE gesture=BOW"
    assert m.describe(m.DisplayText("欢迎")) == "DISPLAY_TEXT text='欢迎'"
    assert m.describe(m.Stop()) == "STOP"
