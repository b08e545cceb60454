"""Opening the controller's port with pyserial, and the reader thread's byte-to-frame protocol.

Port specs (config ``robot.port``, ``--port``):

* a device path: ``/dev/ttyACM0``, ``/dev/serial/by-id/usb-...``, ``COM3``;
* a USB device by ids: ``usb:2E8A:000A`` (VID:PID, hex), optionally ``usb:2E8A:000A:SERIAL``;
* a USB device by serial number alone: ``serial:E6614C311B7A5B2C``;
* any pyserial URL: ``loop://``, ``socket://host:port``, ``rfc2217://host:port``,
  ``spy://PORT?file=log.txt`` (logs every byte, for field diagnosis).
"""

from __future__ import annotations

from collections.abc import Callable

import serial
import serial.threaded
from serial.tools import list_ports

from firmware_bridge.framing import DecoderStats, Frame, FrameError, StreamDecoder


class PortNotFound(OSError):
    """No port matches a ``usb:`` or ``serial:`` spec; the message lists the ports there are."""


def _available() -> str:
    ports = [
        f"{p.device} ({p.vid:04X}:{p.pid:04X} serial {p.serial_number or '-'})" if p.vid else p.device
        for p in list_ports.comports()
    ]
    return ", ".join(ports) or "none"


def resolve_port(spec: str) -> str:
    """The device path or URL for ``spec`` (``usb:`` and ``serial:`` specs are looked up).

    Raises:
        PortNotFound: no USB serial device has those ids or that serial number.
        ValueError: a malformed ``usb:`` spec.
    """
    if spec.startswith("usb:"):
        parts = spec[4:].split(":")
        if len(parts) not in (2, 3):
            raise ValueError(f"usb port spec is usb:VID:PID[:SERIAL] in hex, not {spec!r}")
        try:
            vid, pid = int(parts[0], 16), int(parts[1], 16)
        except ValueError:
            raise ValueError(f"usb port spec is usb:VID:PID[:SERIAL] in hex, not {spec!r}") from None
        wanted_serial = parts[2] if len(parts) == 3 else None
        for p in list_ports.comports():
            if p.vid == vid and p.pid == pid and (wanted_serial is None or p.serial_number == wanted_serial):
                return p.device
        raise PortNotFound(f"no USB serial device {spec[4:]} is connected; ports: {_available()}")
    if spec.startswith("serial:"):
        for p in list_ports.comports():
            if p.serial_number and p.serial_number == spec[7:]:
                return p.device
        raise PortNotFound(f"no USB serial device with serial number {spec[7:]}; ports: {_available()}")
    return spec


def open_port(spec: str, baudrate: int = 115200) -> serial.SerialBase:
    """Open the port ``spec`` (see the module docstring) for the reader thread.

    Args:
        baudrate: bits per second for UARTs (ignored by USB CDC and sockets).

    Raises:
        PortNotFound, ValueError: see :func:`resolve_port`.
        serial.SerialException: the port exists but cannot be opened (busy, gone, no permission:
            on Linux the user needs the ``dialout`` group).
    """
    target = resolve_port(spec)
    kwargs = {"baudrate": baudrate, "timeout": 0.2, "write_timeout": 1.0}
    if "://" not in target:
        kwargs["exclusive"] = True  # a second kiosk process must not share the port
    return serial.serial_for_url(target, **kwargs)


class ReaderThread(serial.threaded.ReaderThread):
    """pyserial's reader thread, which also reports a plain OSError as a lost connection.

    pyserial 3.5's loop catches only SerialException, but ``in_waiting`` raises OSError (EIO) once a
    USB device or pseudo-terminal has hung up; the thread would then die without calling
    ``connection_lost``.
    """

    def run(self) -> None:
        """The read loop (see :class:`serial.threaded.ReaderThread`)."""
        try:
            super().run()
        except OSError as exc:
            self.alive = False
            if self.protocol is not None:
                self.protocol.connection_lost(exc)


class FrameProtocol(serial.threaded.Protocol):
    """pyserial ``serial.threaded`` protocol: bytes to frames, through a :class:`StreamDecoder`.

    Args:
        on_frame: called on the reader thread with each valid frame.
        on_lost: called once with the exception (None on a clean close) when the port goes.
        on_error: called with each damaged frame's :class:`FrameError` (optional).
        stats: decoder counters to add to (kept across connections); default: fresh ones.
    """

    def __init__(
        self,
        on_frame: Callable[[Frame], None],
        on_lost: Callable[[BaseException | None], None],
        on_error: Callable[[FrameError], None] | None = None,
        stats: DecoderStats | None = None,
    ):
        self.decoder = StreamDecoder(on_error=on_error, stats=stats or DecoderStats())
        self.on_frame = on_frame
        self.on_lost = on_lost
        self.transport = None

    def connection_made(self, transport) -> None:
        """Keep the transport (the ReaderThread)."""
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        """Decode and hand on every frame in ``data``."""
        for frame in self.decoder.feed(data):
            self.on_frame(frame)

    def connection_lost(self, exc: BaseException | None) -> None:
        """The port closed or failed."""
        self.transport = None
        self.on_lost(exc)
