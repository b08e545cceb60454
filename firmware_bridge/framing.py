"""Wire framing: header, CRC-16 and COBS with a 0x00 delimiter (see PROTOCOL.md, "Framing").

One frame on the wire is ``COBS(header | payload | crc) 0x00``:

=========  =====  ==========================================================================
field      bytes  meaning
=========  =====  ==========================================================================
version    1      protocol version (:data:`PROTOCOL_VERSION`)
type       1      message type (:class:`firmware_bridge.messages.MsgType`)
seq        2      sequence number, little-endian u16, per direction, wraps 65535 -> 0
flags      1      :class:`Flags` bits
length     2      payload length in bytes, little-endian u16, at most :data:`MAX_PAYLOAD`
payload    length the message's fixed little-endian struct
crc        2      CRC-16/IBM-3740 over version..payload, little-endian
=========  =====  ==========================================================================

COBS (Cheshire & Baker, "Consistent Overhead Byte Stuffing", IEEE/ACM ToN 7(2), 1999) removes every
0x00 from the frame so that 0x00 marks frame ends; this is the framing of Arduino's PacketSerial
(``COBSPacketSerial``), so a controller built on it reads these frames unchanged.

CRC-16/IBM-3740, also called CRC-16/CCITT-FALSE (catalogue of parametrised CRC algorithms,
reveng.sourceforge.io): width 16, poly 0x1021, init 0xFFFF, refin false, refout false, xorout
0x0000, check("123456789") = 0x29B1.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from cobs import cobs
from crc import Calculator, Crc16

PROTOCOL_VERSION = 1
"""The protocol version this code speaks; a peer with another version is refused at HELLO."""

HEADER = struct.Struct("<BBHBH")
"""version u8, type u8, seq u16, flags u8, payload length u16 (7 bytes, little-endian)."""
CRC = struct.Struct("<H")
MAX_PAYLOAD = 255
"""Largest payload, bytes. Every message of protocol v1 fits; a controller needs a 266-byte buffer."""
MAX_FRAME = HEADER.size + MAX_PAYLOAD + CRC.size
"""Largest unencoded frame, bytes (264)."""
MAX_ENCODED = MAX_FRAME + MAX_FRAME // 254 + 1
"""Largest COBS-encoded frame without its delimiter, bytes (COBS adds one byte per started 254-byte block: n // 254 + 1)."""
DELIMITER = b"\x00"

_crc16 = Calculator(Crc16.IBM_3740, optimized=True)


def crc16(data: bytes) -> int:
    """CRC-16/IBM-3740 (CCITT-FALSE) of ``data``: poly 0x1021, init 0xFFFF, no reflection, no xorout.

    >>> hex(crc16(b"123456789"))
    '0x29b1'
    """
    return _crc16.checksum(data)


class Flags(enum.IntFlag):
    """Frame flag bits.

    ACK_REQUESTED: the receiver answers with an ACK carrying this frame's seq, and executes a
        repeated seq only once (the frame is "reliable"; the sender retries until acknowledged).
    RETRY: this is a retransmission of an earlier frame with the same seq (informational).
    REPLY: on HELLO only: this HELLO answers the peer's HELLO (a HELLO without it is sent
        unprompted, after a boot).
    """

    NONE = 0
    ACK_REQUESTED = 0x01
    RETRY = 0x02
    REPLY = 0x04


class FrameError(ValueError):
    """A frame that cannot be decoded. ``kind`` is 'cobs', 'crc', 'length', 'short' or 'overflow'."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    Attributes:
        type: message type code (u8).
        seq: sequence number (u16).
        flags: :class:`Flags`.
        payload: the message's payload bytes (decoded by :mod:`firmware_bridge.messages`).
        version: protocol version the sender put in the header.
    """

    type: int
    seq: int
    flags: Flags = Flags.NONE
    payload: bytes = b""
    version: int = PROTOCOL_VERSION

    @property
    def reliable(self) -> bool:
        """True when the sender asked for an ACK."""
        return bool(self.flags & Flags.ACK_REQUESTED)


def pack_frame(frame: Frame) -> bytes:
    """The unencoded frame: header, payload and CRC (no COBS, no delimiter).

    Raises:
        ValueError: payload longer than :data:`MAX_PAYLOAD`, or a field out of its range.
    """
    if len(frame.payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(frame.payload)} bytes exceeds {MAX_PAYLOAD}")
    body = HEADER.pack(frame.version, frame.type, frame.seq & 0xFFFF, int(frame.flags), len(frame.payload))
    body += frame.payload
    return body + CRC.pack(crc16(body))


def encode(frame: Frame) -> bytes:
    """The frame as sent on the wire: COBS-encoded, followed by the 0x00 delimiter.

    Raises:
        ValueError: see :func:`pack_frame`.
    """
    return cobs.encode(pack_frame(frame)) + DELIMITER


def unpack_frame(raw: bytes) -> Frame:
    """Check and split an unencoded frame (what :func:`pack_frame` made).

    Raises:
        FrameError: too short ('short'), CRC mismatch ('crc'), or a length field disagreeing with
            the frame size ('length'). The version is not checked here: the link layer reads a
            HELLO of any version (to report a mismatch) and drops other frames of other versions.
    """
    if len(raw) < HEADER.size + CRC.size:
        raise FrameError("short", f"frame of {len(raw)} bytes is shorter than header and CRC")
    body, (received,) = raw[:-2], CRC.unpack(raw[-2:])
    computed = crc16(body)
    if computed != received:
        raise FrameError("crc", f"CRC mismatch: frame says {received:#06x}, computed {computed:#06x}")
    version, mtype, seq, flags, length = HEADER.unpack_from(body)
    if length != len(body) - HEADER.size:
        raise FrameError("length", f"length field {length} but {len(body) - HEADER.size} payload bytes")
    return Frame(mtype, seq, Flags(flags & 0xFF), bytes(body[HEADER.size :]), version)


def decode(packet: bytes) -> Frame:
    """Decode one COBS packet (the bytes between two delimiters, without them).

    Raises:
        FrameError: bad COBS ('cobs') or any error of :func:`unpack_frame`.
    """
    try:
        raw = cobs.decode(packet)
    except cobs.DecodeError as exc:
        raise FrameError("cobs", f"COBS decode error: {exc}") from None
    return unpack_frame(raw)


@dataclass
class DecoderStats:
    """What a :class:`StreamDecoder` has seen: good frames and each kind of damage."""

    frames: int = 0
    cobs_errors: int = 0
    crc_errors: int = 0
    length_errors: int = 0
    short_errors: int = 0
    overflows: int = 0
    bytes: int = 0

    def count(self, kind: str) -> None:
        """Count one error of ``kind`` (a :class:`FrameError` kind or 'overflow')."""
        name = "overflows" if kind == "overflow" else f"{kind}_errors"
        setattr(self, name, getattr(self, name) + 1)

    @property
    def errors(self) -> int:
        """All damaged frames."""
        return self.cobs_errors + self.crc_errors + self.length_errors + self.short_errors + self.overflows


@dataclass
class StreamDecoder:
    """Bytes in, frames out: splits a byte stream at 0x00 and decodes each packet.

    Never raises on input: a damaged packet is counted in :attr:`stats` and dropped, and decoding
    resumes after the next delimiter. A run of bytes longer than :data:`MAX_ENCODED` without a
    delimiter (line noise, a wrong baud rate) is dropped as an overflow; the buffer never grows
    beyond that. Empty packets (two delimiters in a row, used by some senders to flush the line)
    are ignored.

    Args:
        on_error: called with each :class:`FrameError` (for monitors and logs); optional.
    """

    on_error: Callable[[FrameError], None] | None = None
    stats: DecoderStats = field(default_factory=DecoderStats)
    _buffer: bytearray = field(default_factory=bytearray)
    _overflowing: bool = False

    def feed(self, data: bytes) -> Iterator[Frame]:
        """Take received bytes; yield every complete, valid frame in order."""
        self.stats.bytes += len(data)
        start = 0
        while True:
            end = data.find(DELIMITER, start)
            if end < 0:
                self._append(data[start:])
                return
            self._append(data[start:end])
            packet, overflowed = bytes(self._buffer), self._overflowing
            self._buffer.clear()
            self._overflowing = False
            start = end + 1
            if overflowed:
                continue
            if not packet:
                continue
            try:
                frame = decode(packet)
            except FrameError as exc:
                self.stats.count(exc.kind)
                if self.on_error is not None:
                    self.on_error(exc)
                continue
            self.stats.frames += 1
            yield frame

    def _append(self, chunk: bytes) -> None:
        if self._overflowing or not chunk:
            return
        if len(self._buffer) + len(chunk) > MAX_ENCODED:
            self._buffer.clear()
            self._overflowing = True
            self.stats.count("overflow")
            if self.on_error is not None:
                self.on_error(FrameError("overflow", f"more than {MAX_ENCODED} bytes without a delimiter"))
            return
        self._buffer.extend(chunk)
