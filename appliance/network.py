"""Whether the appliance is online, for the touchscreen's status strip and (later) knowledge-base sync.

Two ways to tell, chosen by ``[network] probe``:

- ``probe = "host:port"`` (e.g. the sync server, ``"10.0.0.5:443"`` or ``"[fd00::5]:443"``): online
  when a TCP connection to it opens within ``probe_timeout_s`` seconds. The connection is closed at
  once; nothing is sent. Name resolution is not bounded by that timeout (the system resolver
  decides), so give an address or a name from ``/etc/hosts`` where DNS may be missing.
- no probe: online when the IPv4 routing table (``/proc/net/route``) has a default route on an
  interface whose ``/sys/class/net/<if>/operstate`` is "up" or "unknown" (not "down", "dormant"
  and the like). This says the device has a way out, not that anything answers behind it. IPv6-only networks need a probe.

:meth:`NetworkProbe.check` never raises: a failure is an offline state whose ``how`` says why. It
blocks for up to ``probe_timeout_s`` seconds with a probe: call it from a worker thread, never from
the GUI thread; the status strip re-checks every ``check_every_s`` seconds.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from appliance.config import NetworkSettings

log = logging.getLogger(__name__)

# operstate values (Linux Documentation/networking/operstates.rst, RFC 2863) under which traffic
# passes: "up", and "unknown", which is normal for tunnels, PPP and drivers that do not report it.
# "down", "lowerlayerdown", "notpresent", "dormant" (e.g. Wi-Fi waiting for 802.1X) and "testing"
# do not count.
_USABLE_STATES = frozenset({"up", "unknown"})
_RTF_UP = 0x0001


@dataclass(frozen=True)
class NetworkState:
    """One check's answer.

    Attributes:
        online: the probe connected, or (without a probe) a default route is on a usable interface.
        how: what was checked and what it found, for the status strip's detail and the logs:
            "tcp 10.0.0.5:443", "tcp 10.0.0.5:443: timed out", "default route via eth0",
            "no default route", ...
        checked_at: when, seconds since the epoch.
    """

    online: bool
    how: str
    checked_at: float


def parse_probe(probe: str) -> tuple[str, int]:
    """``"host:port"`` or ``"[ipv6]:port"`` as (host, port).

    Raises:
        ValueError: no host, no port, or a port that is not a number from 1 to 65535.
    """
    text = probe.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"network probe {probe!r}: write an IPv6 address as [addr]:port")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ValueError(f"network probe {probe!r} has no port: write host:port, e.g. 10.0.0.5:443")
        if ":" in host:
            raise ValueError(f"network probe {probe!r}: write an IPv6 address as [addr]:port")
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"network probe {probe!r} has no host: write host:port, e.g. 10.0.0.5:443")
    if not port_text.isascii() or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"network probe {probe!r}: the port must be a number from 1 to 65535")
    return host, int(port_text)


class NetworkProbe:
    """Checks whether the appliance is online (see the module doc).

    Args:
        settings: ``[network]``: ``probe`` ("host:port" or None) and ``probe_timeout_s`` (seconds).
        route_file: the kernel's IPv4 routing table (tests pass a fake one).
        connect: ``socket.create_connection`` or a fake with its signature (``address, timeout``).
        sys_net: the folder of network interfaces with their ``operstate`` (tests pass a fake one).
        clock: seconds since the epoch, for ``checked_at``.

    Raises:
        ValueError: ``settings.probe`` is not "host:port".
    """

    def __init__(
        self,
        settings: NetworkSettings,
        route_file: Path = Path("/proc/net/route"),
        connect: Callable[..., socket.socket] = socket.create_connection,
        sys_net: Path = Path("/sys/class/net"),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.target = parse_probe(settings.probe) if settings.probe else None
        self.route_file = Path(route_file)
        self.connect = connect
        self.sys_net = Path(sys_net)
        self.clock = clock

    def check(self) -> NetworkState:
        """Check once. Never raises; blocks up to ``probe_timeout_s`` seconds with a probe."""
        try:
            online, how = self._tcp() if self.target else self._route()
        except Exception as exc:  # a status strip must keep running whatever goes wrong
            log.exception("network check failed")
            online, how = False, f"check failed: {exc}"
        return NetworkState(online, how, self.clock())

    def _tcp(self) -> tuple[bool, str]:
        host, port = self.target
        where = f"tcp [{host}]:{port}" if ":" in host else f"tcp {host}:{port}"
        try:
            sock = self.connect((host, port), timeout=self.settings.probe_timeout_s)
        except (OSError, ValueError) as exc:  # refused, unreachable, timed out, unknown name, bad IDNA
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            return False, f"{where}: {reason}"
        try:
            sock.close()
        except OSError:
            pass
        return True, where

    def _route(self) -> tuple[bool, str]:
        try:
            lines = self.route_file.read_text(encoding="ascii", errors="replace").splitlines()
        except OSError as exc:
            return False, f"cannot read {self.route_file}: {exc.strerror or exc}"
        defaults: list[tuple[int, str]] = []
        for line in lines[1:]:  # the first line is the header
            fields = line.split()
            if len(fields) < 8:
                continue
            iface, dest, flags, metric, mask = fields[0], fields[1], fields[3], fields[6], fields[7]
            try:
                if int(dest, 16) or int(mask, 16) or not int(flags, 16) & _RTF_UP:
                    continue
                defaults.append((int(metric), iface))
            except ValueError:
                continue
        if not defaults:
            return False, "no default route"
        down: list[str] = []
        for _, iface in sorted(defaults):
            state = self._operstate(iface)
            if state not in _USABLE_STATES:
                down.append(f"{iface} {state}")
                continue
            return True, f"default route via {iface}"
        return False, f"default route only via interfaces that are not up ({', '.join(down)})"

    def _operstate(self, iface: str) -> str:
        """The interface's operstate, or "unknown" when sysfs does not say (it then counts as up)."""
        if "/" in iface or iface in (".", ".."):
            return "unknown"
        try:
            return (self.sys_net / iface / "operstate").read_text(encoding="ascii").strip().lower() or "unknown"
        except (OSError, UnicodeDecodeError):
            return "unknown"
