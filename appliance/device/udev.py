"""The udev rule that gives the robot's controller a stable name.

A USB CDC-ACM controller appears as ``/dev/ttyACM0`` or ``ttyACM1`` depending on what else is
plugged in and in which order. The rule matches it by USB vendor and product id (and serial
number, when several controllers of one kind could be attached) and adds the symlink
``/dev/kiosk-robot`` (``[robot] port``'s default on a device), owned by group ``dialout`` with
mode 0660. ModemManager probes new serial ports with AT commands, which would reach the
controller and delay its port by seconds; ``ID_MM_DEVICE_IGNORE`` tells it to leave the device
alone (ModemManager's own rules, 77-mm-usb-device-blacklist.rules, use the same property), set
on both the USB device and its tty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RULE_FILE = "70-kiosk-robot.rules"
"""Its name under ``/etc/udev/rules.d``: before ModemManager's 77-mm-* rules read the property."""
SYMLINK = "kiosk-robot"
GROUP = "dialout"

_ID = re.compile(r"^([0-9A-Fa-f]{4}):([0-9A-Fa-f]{4})(?::([A-Za-z0-9._-]{1,64}))?$")


@dataclass(frozen=True)
class UsbId:
    """A USB device's identity: vendor and product id (4 hex digits each), optional serial."""

    vid: str
    pid: str
    serial: str | None = None

    @classmethod
    def parse(cls, text: str) -> UsbId:
        """``VID:PID`` or ``VID:PID:SERIAL`` (hex ids; the serial of letters, digits, ``.``, ``_``, ``-``).

        Raises:
            ValueError: anything else (a serial with quotes or spaces could break out of the rule).
        """
        m = _ID.match(text.strip())
        if not m:
            raise ValueError(f"a USB id is VID:PID[:SERIAL] in hex (e.g. 2E8A:000A), not {text!r}")
        return cls(m.group(1).lower(), m.group(2).lower(), m.group(3))


def udev_rule(usb: UsbId) -> str:
    """The rules file's text for the controller ``usb``.

    sysfs writes ``idVendor``/``idProduct`` in lower-case hex, which is how they are matched.
    """
    ids = f'ATTRS{{idVendor}}=="{usb.vid}", ATTRS{{idProduct}}=="{usb.pid}"'
    if usb.serial:
        ids += f', ATTRS{{serial}}=="{usb.serial}"'
    usb_ids = ids.replace("ATTRS{", "ATTR{")
    return (
        "# The kiosk's robot controller: a stable name, the serial group, and ModemManager kept away.\n"
        "# Written by `kiosk deploy udev-rule` from [robot] usb_id; re-run it after changing that.\n"
        f'ACTION=="add|change", SUBSYSTEM=="usb", ENV{{DEVTYPE}}=="usb_device", {usb_ids}, '
        'ENV{ID_MM_DEVICE_IGNORE}="1"\n'
        f'ACTION=="add|change", SUBSYSTEM=="tty", {ids}, '
        f'SYMLINK+="{SYMLINK}", GROUP="{GROUP}", MODE="0660", ENV{{ID_MM_DEVICE_IGNORE}}="1"\n'
    )
