"""Messages of protocol v1: types, payload structs and the enums they carry (see PROTOCOL.md).

Every payload is a fixed little-endian struct, optionally followed by one string: a u8 byte count
then that many bytes of UTF-8 (no terminator), at most the message's stated maximum. Units: angles in
centidegrees (i16, 0.01 deg), speeds in deg/s (u16), accelerations in deg/s^2 (u16), distances in cm,
times in ms.

Use :func:`pack` and :func:`unpack` to go between a message object and ``(type, payload bytes)``.
"""

from __future__ import annotations

import enum
import functools
import struct
import typing
from dataclasses import dataclass, fields
from typing import ClassVar


class MsgType(enum.IntEnum):
    """Message type codes (frame header byte 1)."""

    HELLO = 0x01  # both ways
    ACK = 0x02  # both ways, never acknowledged
    HEARTBEAT = 0x03  # both ways, unacknowledged, ~5 Hz
    DONE = 0x04  # controller -> host, reliable: a long motion finished
    PING = 0x05  # host -> controller, reliable no-op (round-trip time)
    STOP = 0x10
    LOOK = 0x11
    GESTURE = 0x12
    TURN = 0x13
    FACE = 0x14
    MOUTH = 0x15  # unacknowledged stream, >= 20 Hz
    LED = 0x16
    DISPLAY_TEXT = 0x17
    ESTOP_RESET = 0x18
    EV_TOUCH = 0x20
    EV_PRESENCE = 0x21
    EV_ESTOP = 0x22
    EV_BATTERY = 0x23
    EV_FAULT = 0x24


class Result(enum.IntEnum):
    """ACK and DONE results."""

    ACCEPTED = 0  # done at once (or started, for a setpoint such as LOOK)
    IN_PROGRESS = 1  # a long motion started; a DONE follows
    DONE = 2  # (DONE message) the motion finished
    REJECTED_BUSY = 3  # the part is busy with another motion; nothing was done
    REJECTED_LIMIT = 4  # outside a position, speed or acceleration limit; nothing was done
    UNSUPPORTED = 5  # unknown type, missing capability or protocol version mismatch
    FAILED = 6  # tried and failed (hardware fault), or a malformed payload
    REJECTED_ESTOP = 7  # e-stop latched, or the deadman watchdog tripped; nothing was done
    STOPPED = 8  # (DONE message) the motion was cut short by STOP, e-stop or the watchdog


class Reason(enum.IntEnum):
    """Why a command was rejected or failed (ACK/DONE ``reason``); NONE when it was not."""

    NONE = 0
    PAN_RANGE = 1
    TILT_RANGE = 2
    SPEED_LIMIT = 3
    ACCEL_LIMIT = 4
    TURN_RANGE = 5
    UNKNOWN_GESTURE = 6
    UNKNOWN_FACE = 7
    UNKNOWN_PATTERN = 8
    TEXT_TOO_LONG = 9
    BAD_PAYLOAD = 10
    ESTOP_LATCHED = 11
    ESTOP_PRESSED = 12  # ESTOP_RESET while the button is still pressed
    WATCHDOG = 13
    NO_CAPABILITY = 14
    VERSION = 15
    UNKNOWN_TYPE = 16
    HARDWARE = 17
    NOT_HELLO = 18  # a command before the HELLO exchange


class Capability(enum.IntFlag):
    """HELLO capability bits (u32): what the controller has."""

    HEAD = 1 << 0  # LOOK
    ARMS = 1 << 1  # GESTURE
    BASE = 1 << 2  # TURN
    FACE = 1 << 3  # FACE, MOUTH
    LED = 1 << 4
    DISPLAY = 1 << 5  # DISPLAY_TEXT
    TOUCH = 1 << 6
    PRESENCE = 1 << 7
    BATTERY = 1 << 8
    ESTOP = 1 << 9  # a hardware e-stop button is fitted


class Gesture(enum.IntEnum):
    """Named gestures (GESTURE ``gesture``)."""

    WAVE = 1
    NOD = 2
    POINT_LEFT = 3
    POINT_RIGHT = 4
    BOW = 5
    IDLE_BREATHE = 6


class Face(enum.IntEnum):
    """Face expressions (FACE ``face``)."""

    NEUTRAL = 0
    SMILE = 1
    LISTENING = 2
    THINKING = 3
    SPEAKING = 4
    SAD = 5
    ALERT = 6


class LedPattern(enum.IntEnum):
    """LED patterns (LED ``pattern``)."""

    OFF = 0
    SOLID = 1
    BREATHE = 2
    BLINK = 3
    FLASH = 4  # fast, for alerts


class Health(enum.IntFlag):
    """Controller HEARTBEAT ``state`` bits."""

    ESTOP_LATCHED = 1 << 0
    ESTOP_PRESSED = 1 << 1
    WATCHDOG_TRIPPED = 1 << 2
    MOVING = 1 << 3
    FAULT = 1 << 4
    CHARGING = 1 << 5
    HOST_SEEN = 1 << 6  # host heartbeats are arriving (the watchdog is armed and fed)


class HostHealth(enum.IntFlag):
    """Host HEARTBEAT ``state`` bits (for the controller's display and logs)."""

    APPLIANCE_OK = 1 << 0
    SPEAKING = 1 << 1
    LISTENING = 1 << 2
    DEGRADED = 1 << 3  # models or knowledge base missing
    EMERGENCY = 1 << 4


def _str_bytes(value: str, maximum: int, name: str) -> bytes:
    data = value.encode("utf-8")
    if len(data) > maximum:
        raise ValueError(f"{name} is {len(data)} bytes of UTF-8; at most {maximum}")
    return bytes([len(data)]) + data


def clip_utf8(text: str, max_bytes: int) -> str:
    """``text`` shortened to at most ``max_bytes`` of UTF-8 without splitting a character (for
    diagnostic strings such as ACK detail; display text is refused, never cut)."""
    data = text.encode("utf-8")[:max_bytes]
    return data.decode("utf-8", errors="ignore")


class PayloadError(ValueError):
    """A payload that does not match its message type's struct (wrong size, bad UTF-8, bad enum).

    Attributes:
        reason: the :class:`Reason` a controller puts in its ACK for it.
    """

    def __init__(self, message: str, reason: Reason = Reason.BAD_PAYLOAD):
        super().__init__(message)
        self.reason = reason


_ENUM_REASONS = {Gesture: Reason.UNKNOWN_GESTURE, Face: Reason.UNKNOWN_FACE, LedPattern: Reason.UNKNOWN_PATTERN}


@dataclass(frozen=True)
class Message:
    """Base of all messages. Subclasses set TYPE, FORMAT (struct fields in declaration order), and
    optionally TEXT_MAX (a trailing length-prefixed UTF-8 string held in the last field)."""

    TYPE: ClassVar[MsgType]
    FORMAT: ClassVar[str] = ""
    TEXT_MAX: ClassVar[int] = 0  # 0: no trailing string

    RELIABLE: ClassVar[bool] = True  # sent with ACK_REQUESTED and retried

    def pack(self) -> bytes:
        """The payload bytes.

        Raises:
            ValueError: a field out of its struct range, or a string over its maximum.
        """
        values = [getattr(self, f.name) for f in fields(self)]
        text = values.pop() if self.TEXT_MAX else None
        try:
            data = struct.pack("<" + self.FORMAT, *[int(v) for v in values])
        except struct.error as exc:
            raise ValueError(f"{type(self).__name__}: {exc}") from None
        if text is not None:
            data += _str_bytes(text, self.TEXT_MAX, f"{type(self).__name__} text")
        return data

    @classmethod
    def unpack(cls, payload: bytes) -> Message:
        """Parse a payload.

        Raises:
            PayloadError: wrong length, string over its maximum or not UTF-8.
        """
        size = struct.calcsize("<" + cls.FORMAT)
        if len(payload) < size or (not cls.TEXT_MAX and len(payload) != size):
            raise PayloadError(f"{cls.__name__} payload is {len(payload)} bytes; expected {size}")
        values: list = list(struct.unpack_from("<" + cls.FORMAT, payload))
        if cls.TEXT_MAX:
            rest = payload[size:]
            if not rest or rest[0] != len(rest) - 1:
                raise PayloadError(f"{cls.__name__} string length prefix does not match the payload")
            if rest[0] > cls.TEXT_MAX:
                raise PayloadError(
                    f"{cls.__name__} string of {rest[0]} bytes exceeds {cls.TEXT_MAX}", Reason.TEXT_TOO_LONG
                )
            try:
                values.append(bytes(rest[1:]).decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise PayloadError(f"{cls.__name__} string is not UTF-8: {exc}") from None
        for i, enum_type in cls._enum_fields():
            try:
                values[i] = enum_type(values[i])
            except ValueError:
                reason = _ENUM_REASONS.get(enum_type, Reason.BAD_PAYLOAD)
                raise PayloadError(f"{cls.__name__}: {values[i]} is not a {enum_type.__name__}", reason) from None
        return cls(*values)

    @classmethod
    @functools.cache
    def _enum_fields(cls) -> tuple[tuple[int, type[enum.IntEnum]], ...]:
        """(index, enum type) of the fields declared with an IntEnum type; worked out once per
        class (``typing.get_type_hints`` is most of an unpack's cost otherwise)."""
        hints = typing.get_type_hints(cls)
        return tuple(
            (i, hints[f.name])
            for i, f in enumerate(fields(cls))
            if isinstance(hints[f.name], type) and issubclass(hints[f.name], enum.IntEnum)
        )


@dataclass(frozen=True)
class Hello(Message):
    """HELLO: who I am. Host sends first after opening the port; the controller answers with its own
    (and sends one unprompted after it boots). device_id: at most 32 bytes."""

    TYPE = MsgType.HELLO
    FORMAT = "BBBBI"
    TEXT_MAX = 32
    RELIABLE = False
    protocol: int
    fw_major: int
    fw_minor: int
    fw_patch: int
    capabilities: int
    device_id: str

    @property
    def firmware(self) -> str:
        """Firmware version as 'major.minor.patch'."""
        return f"{self.fw_major}.{self.fw_minor}.{self.fw_patch}"


@dataclass(frozen=True)
class Ack(Message):
    """ACK of a reliable frame: its seq, the result and the reason; detail: at most 48 bytes."""

    TYPE = MsgType.ACK
    FORMAT = "HBB"
    TEXT_MAX = 48
    RELIABLE = False
    acked_seq: int
    result: Result
    reason: Reason = Reason.NONE
    detail: str = ""


@dataclass(frozen=True)
class Done(Message):
    """DONE: the long motion started by command ``cmd_seq`` ended (result DONE, STOPPED or FAILED)."""

    TYPE = MsgType.DONE
    FORMAT = "HBB"
    cmd_seq: int
    result: Result
    reason: Reason = Reason.NONE


@dataclass(frozen=True)
class HostHeartbeat(Message):
    """Host HEARTBEAT (~5 Hz): host uptime ms, host state bits."""

    TYPE = MsgType.HEARTBEAT
    FORMAT = "IB"
    RELIABLE = False
    uptime_ms: int
    state: int = 0


@dataclass(frozen=True)
class ControllerHeartbeat(Message):
    """Controller HEARTBEAT (~5 Hz): uptime ms, :class:`Health` bits, battery %, temperature deg C,
    last fault code (0 = none)."""

    TYPE = MsgType.HEARTBEAT
    FORMAT = "IHBbH"
    RELIABLE = False
    uptime_ms: int
    state: int
    battery_pct: int
    temperature_c: int
    fault_code: int = 0


@dataclass(frozen=True)
class Ping(Message):
    """PING: a reliable no-op; the ACK gives the round-trip time. nonce is echoed in nothing."""

    TYPE = MsgType.PING
    FORMAT = "I"
    nonce: int = 0


@dataclass(frozen=True)
class Stop(Message):
    """STOP: stop all motion now (head, arms, base), decelerating at the controller's limit."""

    TYPE = MsgType.STOP


@dataclass(frozen=True)
class Look(Message):
    """LOOK: head to pan/tilt (centidegrees; pan + is left, tilt + is up) at speed deg/s and
    acceleration deg/s^2 (0 = the controller's default)."""

    TYPE = MsgType.LOOK
    FORMAT = "hhHH"
    pan_cdeg: int
    tilt_cdeg: int
    speed_dps: int
    accel_dps2: int = 0


@dataclass(frozen=True)
class GestureCmd(Message):
    """GESTURE: play a named gesture once (a long motion: IN_PROGRESS, then DONE)."""

    TYPE = MsgType.GESTURE
    FORMAT = "B"
    gesture: Gesture


@dataclass(frozen=True)
class Turn(Message):
    """TURN: rotate the base by angle (centidegrees, + is anticlockwise seen from above) at speed
    deg/s and acceleration deg/s^2 (0 = default); a long motion."""

    TYPE = MsgType.TURN
    FORMAT = "hHH"
    angle_cdeg: int
    speed_dps: int
    accel_dps2: int = 0


@dataclass(frozen=True)
class FaceCmd(Message):
    """FACE: show an expression."""

    TYPE = MsgType.FACE
    FORMAT = "B"
    face: Face


@dataclass(frozen=True)
class Mouth(Message):
    """MOUTH: mouth opening 0-255 for lip-sync, sent at >= 20 Hz while speaking; unacknowledged
    (each supersedes the last; the controller closes the mouth if none arrives for 200 ms)."""

    TYPE = MsgType.MOUTH
    FORMAT = "B"
    RELIABLE = False
    level: int


@dataclass(frozen=True)
class Led(Message):
    """LED: colour (0-255 each) and pattern; period ms for BREATHE/BLINK/FLASH (0 = default)."""

    TYPE = MsgType.LED
    FORMAT = "BBBBH"
    r: int
    g: int
    b: int
    pattern: LedPattern
    period_ms: int = 0


@dataclass(frozen=True)
class DisplayText(Message):
    """DISPLAY_TEXT: a short line on the chest display, at most 96 bytes of UTF-8 (32 CJK
    characters); "" clears it. Longer text is rejected (TEXT_TOO_LONG), never cut."""

    TYPE = MsgType.DISPLAY_TEXT
    TEXT_MAX = 96
    text: str


@dataclass(frozen=True)
class EstopReset(Message):
    """ESTOP_RESET: a staff member clears the latched e-stop (refused while the button is pressed)."""

    TYPE = MsgType.ESTOP_RESET


@dataclass(frozen=True)
class TouchEvent(Message):
    """EV_TOUCH: a touch zone (1 head, 2 left hand, 3 right hand, 4 chest; others vendor-defined)."""

    TYPE = MsgType.EV_TOUCH
    FORMAT = "B"
    zone: int


@dataclass(frozen=True)
class PresenceEvent(Message):
    """EV_PRESENCE: a person detected (1) or gone (0), distance cm, bearing centidegrees (+ left)."""

    TYPE = MsgType.EV_PRESENCE
    FORMAT = "BHh"
    present: int
    distance_cm: int
    bearing_cdeg: int = 0


@dataclass(frozen=True)
class EstopEvent(Message):
    """EV_ESTOP: the e-stop button was pressed (1) or released (0). Pressing latches the e-stop."""

    TYPE = MsgType.EV_ESTOP
    FORMAT = "B"
    pressed: int


@dataclass(frozen=True)
class BatteryEvent(Message):
    """EV_BATTERY: battery percent and charging (1/0), sent on a change of at least 1 %."""

    TYPE = MsgType.EV_BATTERY
    FORMAT = "BB"
    percent: int
    charging: int


@dataclass(frozen=True)
class FaultEvent(Message):
    """EV_FAULT: a fault code (0x0000 = cleared) and text of at most 64 bytes."""

    TYPE = MsgType.EV_FAULT
    FORMAT = "H"
    TEXT_MAX = 64
    code: int
    text: str = ""


HOST_TO_CONTROLLER: dict[int, type[Message]] = {
    m.TYPE: m
    for m in (
        Hello,
        Ack,
        HostHeartbeat,
        Ping,
        Stop,
        Look,
        GestureCmd,
        Turn,
        FaceCmd,
        Mouth,
        Led,
        DisplayText,
        EstopReset,
    )
}
CONTROLLER_TO_HOST: dict[int, type[Message]] = {
    m.TYPE: m
    for m in (Hello, Ack, ControllerHeartbeat, Done, TouchEvent, PresenceEvent, EstopEvent, BatteryEvent, FaultEvent)
}
MOTION = frozenset({MsgType.LOOK, MsgType.GESTURE, MsgType.TURN})
"""Commands that move a joint: refused while the e-stop is latched or the watchdog has tripped."""
REQUIRES: dict[MsgType, Capability] = {
    MsgType.LOOK: Capability.HEAD,
    MsgType.GESTURE: Capability.ARMS,
    MsgType.TURN: Capability.BASE,
    MsgType.FACE: Capability.FACE,
    MsgType.MOUTH: Capability.FACE,
    MsgType.LED: Capability.LED,
    MsgType.DISPLAY_TEXT: Capability.DISPLAY,
}


def result_for(reason: Reason) -> Result:
    """The ACK result for a payload the receiver could not take: UNSUPPORTED for an unknown
    type, gesture, face or pattern; REJECTED_LIMIT for a too-long string; FAILED otherwise."""
    if reason in (Reason.UNKNOWN_TYPE, Reason.UNKNOWN_GESTURE, Reason.UNKNOWN_FACE, Reason.UNKNOWN_PATTERN):
        return Result.UNSUPPORTED
    if reason == Reason.TEXT_TOO_LONG:
        return Result.REJECTED_LIMIT
    return Result.FAILED


def unpack(mtype: int, payload: bytes, table: dict[int, type[Message]]) -> Message:
    """Parse a payload of type ``mtype`` with one of the direction tables above.

    Raises:
        PayloadError: unknown type for this direction, or a malformed payload.
    """
    cls = table.get(mtype)
    if cls is None:
        raise PayloadError(f"unknown message type {mtype:#04x}", Reason.UNKNOWN_TYPE)
    return cls.unpack(payload)


def describe(message: Message) -> str:
    """One line for logs and ``kiosk robot monitor``: 'LOOK pan_cdeg=1500 tilt_cdeg=0 ...'."""
    parts = []
    for f in fields(message):
        value = getattr(message, f.name)
        parts.append(f"{f.name}={value.name}" if isinstance(value, enum.Enum) else f"{f.name}={value!r}")
    return " ".join([message.TYPE.name, *parts])


# -- names and reference limits (what the appliance's files may say: tours, behaviours, the CLI) --

GESTURES = {g.name.lower().replace("_", "-"): g for g in Gesture}
"""Gesture names as typed on the CLI and used by behaviours: wave, nod, point-left, ..."""
FACES = {f.name.lower(): f for f in Face}
"""Face names: neutral, smile, listening, thinking, speaking, sad, alert."""
PATTERNS = {p.name.lower(): p for p in LedPattern}


def parse_named(name: str, table: dict, what: str):
    """``table[name]`` (case-insensitive, '_' or '-'), or ValueError listing the valid names."""
    key = name.strip().lower().replace("_", "-")
    if key not in table:
        raise ValueError(f"unknown {what} {name!r}; one of: {', '.join(table)}")
    return table[key]


@dataclass(frozen=True)
class Limits:
    """Joint limits the controller enforces (the reference values of PROTOCOL.md, "Limits").

    Angles in degrees, speeds in deg/s, accelerations in deg/s^2.
    """

    pan: tuple[float, float] = (-90.0, 90.0)
    tilt: tuple[float, float] = (-20.0, 30.0)
    head_speed: float = 120.0
    head_accel: float = 360.0
    turn: tuple[float, float] = (-180.0, 180.0)
    base_speed: float = 60.0
    base_accel: float = 120.0
    default_head_accel: float = 240.0
    default_base_accel: float = 90.0
