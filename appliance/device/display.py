"""How the touchscreen reaches the screen on a device with no desktop: the compositor's settings
and the environment of ``kiosk.service``, from ``[ui]`` (``kiosk deploy display``).

Three ways, chosen at install (``deploy/install --display``):

- ``weston`` (default on x86-64): weston with its kiosk shell (one application, full screen, no
  panel) runs as its own unit, ``kiosk-display.service``, which logs the ``kiosk`` user in on
  tty1; the appliance is its Wayland client. When the compositor dies the appliance's Qt client
  loses its connection and the process exits with status 1 (measured: 70 ms after weston's
  SIGTERM, under weston's headless backend), so systemd restarts it (``Restart=on-failure``) once
  weston is back (``Restart=always``, 2 s). ``QT_WAYLAND_RECONNECT=1`` (Qt 6.6 and later) is set:
  Qt then tries to reconnect instead of quitting, which succeeds only when the socket is back at
  once (a compositor that hands its listening socket to its successor, as KWin's wrapper does);
  weston 10 re-creates its socket, so today the reconnect fails and the restart path is what
  happens. The voice loop shares the process, so it restarts too: keeping it up would need the
  touchscreen in a process of its own.
- ``cage``: cage runs the appliance as its only client, inside ``kiosk.service`` (a drop-in
  changes ``ExecStart``). Simplest, and what cage is made for, but cage and the appliance live and
  die together: a compositor crash restarts the appliance (``Restart=on-failure``).
- ``eglfs`` (default on Jetson, where wlroots compositors such as cage have trouble with NVIDIA's
  DRM driver): no compositor at all; Qt draws on the display through EGL on KMS
  (``eglfs_kms_egldevice`` on NVIDIA) and reads touch from evdev. Nothing to restart.

Blanking: weston never blanks with ``idle-time=0``; the text console's own blanking and power-down
are switched off on tty1 (``setterm --blank 0 --powerdown 0``) by the unit that owns tty1 before
the display starts. The cursor: weston's kiosk shell and eglfs show none on a touch-only screen,
and ``[ui] hide_cursor`` hides Qt's own.

Rotation: ``[ui] rotation`` degrees clockwise becomes weston's ``transform=rotate-N`` for
``[ui] output`` (weston needs the connector's name), eglfs' ``QT_QPA_EGLFS_ROTATION`` with the
same turn for evdev touch (``QT_QPA_EVDEV_TOUCHSCREEN_PARAMETERS=rotate=N``); cage cannot rotate
(0.1.x), which :func:`display_files` reports. If a screen comes out the wrong way round, 90 and 270
are the pair to swap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DISPLAYS = ("weston", "cage", "eglfs", "none")
RUNTIME_DIR = "/run/kiosk-display"
"""``XDG_RUNTIME_DIR`` shared by weston and the appliance (``RuntimeDirectory=`` of the display unit)."""
WAYLAND_SOCKET = "wayland-kiosk"


@dataclass
class DisplayFiles:
    """What ``kiosk deploy display`` writes: ``display.env`` (``EnvironmentFile=`` of
    kiosk.service), ``weston.ini`` (for weston only) and warnings for the installer."""

    env: dict[str, str]
    weston_ini: str | None = None
    warnings: list[str] = field(default_factory=list)

    def env_text(self) -> str:
        """``display.env`` in systemd's EnvironmentFile syntax."""
        lines = ["# The touchscreen's display, written by `kiosk deploy display` from [ui]."]
        lines += [f"{k}={v}" for k, v in self.env.items()]
        return "\n".join(lines) + "\n"


def display_files(display: str, rotation: int = 0, output: str | None = None, *, nvidia: bool = False) -> DisplayFiles:
    """The files for ``display`` (one of :data:`DISPLAYS`).

    Args:
        rotation: ``[ui] rotation``, degrees clockwise (0, 90, 180, 270).
        output: ``[ui] output``, the connector weston rotates (e.g. ``HDMI-A-1``).
        nvidia: a Jetson (eglfs through EGLDevice rather than GBM).

    Raises:
        ValueError: an unknown display or rotation.
    """
    if display not in DISPLAYS:
        raise ValueError(f"display is one of {', '.join(DISPLAYS)}, not {display!r}")
    if rotation not in (0, 90, 180, 270):
        raise ValueError(f"rotation is 0, 90, 180 or 270 degrees, not {rotation!r}")
    warnings: list[str] = []
    if display == "none":
        return DisplayFiles(
            {"QT_QPA_PLATFORM": "offscreen"}, warnings=["no display: the touchscreen renders offscreen"]
        )
    if display == "eglfs":
        env = {
            "QT_QPA_PLATFORM": "eglfs",
            "QT_QPA_EGLFS_INTEGRATION": "eglfs_kms_egldevice" if nvidia else "eglfs_kms",
            "QT_QPA_EGLFS_HIDECURSOR": "1",
            "QT_QPA_EGLFS_ALWAYS_SET_MODE": "1",
        }
        if rotation:
            env["QT_QPA_EGLFS_ROTATION"] = str(rotation)
            env["QT_QPA_EVDEV_TOUCHSCREEN_PARAMETERS"] = f"rotate={rotation}"
        return DisplayFiles(env, warnings=warnings)
    env = {
        "QT_QPA_PLATFORM": "wayland",
        "XDG_RUNTIME_DIR": RUNTIME_DIR,
        "WAYLAND_DISPLAY": WAYLAND_SOCKET,
        "QT_WAYLAND_RECONNECT": "1",
    }
    if display == "cage":
        env.pop("XDG_RUNTIME_DIR")
        env.pop("WAYLAND_DISPLAY")  # cage sets both for its client
        if rotation:
            warnings.append("cage cannot rotate the screen: use --display weston (or eglfs) for [ui] rotation")
        return DisplayFiles(env, warnings=warnings)
    ini = [
        "# weston for the kiosk, written by `kiosk deploy display` from [ui].",
        "[core]",
        "shell=kiosk-shell.so",
        "idle-time=0",
        "require-input=false",
        "",
        "[shell]",
        "locking=false",
    ]
    if rotation:
        if output:
            ini += ["", "[output]", f"name={output}", f"transform=rotate-{rotation}"]
        else:
            warnings.append(
                "[ui] rotation needs [ui] output (the connector, e.g. HDMI-A-1: `ls /sys/class/drm`) under weston"
            )
    return DisplayFiles(env, "\n".join(ini) + "\n", warnings)
