"""The Qt Quick window: QML engine, translations, fonts, the tour image provider.

:class:`KioskUI` loads ``ui/qml/Main.qml`` with three context objects: ``kiosk`` (the
:class:`~ui.controller.KioskController`), ``theme`` (:mod:`ui.theme`) and ``viewConfig`` (window
size and orientation). Strings in the QML are Simplified Chinese inside ``qsTr()``; English comes
from ``ui/i18n/kiosk_en.qm`` (Qt Linguist; regenerate with ``scripts/translations``) and switches
at run time with :meth:`QQmlEngine.retranslate`.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QSize, Qt, QTranslator, QUrl
from PySide6.QtGui import QFont, QGuiApplication, QImage
from PySide6.QtQml import QQmlApplicationEngine
from PySide6.QtQuick import QQuickImageProvider, QQuickWindow

from ui.bridge import Background, Bridge
from ui.controller import KioskController
from ui.services import KioskServices
from ui.theme import theme

log = logging.getLogger(__name__)

QML_DIR = Path(__file__).parent / "qml"
I18N_DIR = Path(__file__).parent / "i18n"
FONT_FAMILIES = ["Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "Droid Sans Fallback", "sans-serif"]


class UIError(RuntimeError):
    """The touchscreen cannot start (no display, a QML error)."""


def application(argv: list[str] | None = None) -> QGuiApplication:
    """The process's QGuiApplication (created once), with a CJK font and high-DPI scaling.

    Without a display (no ``DISPLAY`` / ``WAYLAND_DISPLAY`` on Linux) Qt would abort, so the
    ``offscreen`` platform is chosen unless ``QT_QPA_PLATFORM`` is set.
    """
    app = QGuiApplication.instance()
    if app is not None:
        return app
    if sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM"):
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
            log.warning("no display: the touchscreen runs offscreen (QT_QPA_PLATFORM=offscreen)")
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QGuiApplication(argv or [sys.argv[0]])
    app.setApplicationName("kiosk")
    font = QFont()
    font.setFamilies(FONT_FAMILIES)
    app.setFont(font)
    return app


class TourImages(QQuickImageProvider):
    """``image://tour/<tour_id>/<name>``: a tour's slide images, read from the knowledge base."""

    def __init__(self, kb):
        super().__init__(QQuickImageProvider.ImageType.Image)
        self.kb = kb

    def requestImage(self, image_id: str, size: QSize, requested: QSize) -> QImage:  # noqa: N802 (Qt API)
        tour_id, _, name = image_id.partition("/")
        found = self.kb.tour_media(tour_id, name)
        image = QImage()
        if found is not None:
            mime, data = found
            fmt = {"image/svg+xml": "SVG", "image/png": "PNG", "image/jpeg": "JPG"}.get(mime)
            image.loadFromData(data, fmt)
        if image.isNull():
            log.warning("tour image %s cannot be shown", image_id)
            image = QImage(8, 8, QImage.Format.Format_ARGB32)
            image.fill(Qt.GlobalColor.transparent)
        elif requested.isValid() and requested.width() > 0 and requested.height() > 0:
            image = image.scaled(
                requested, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
        if size is not None:
            size.setWidth(image.width())
            size.setHeight(image.height())
        return image


class _TouchWatcher(QObject):
    """Tells the controller about every press (the resident is still there)."""

    def __init__(self, controller: KioskController):
        super().__init__()
        self.controller = controller

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() in (QEvent.Type.MouseButtonPress, QEvent.Type.TouchBegin, QEvent.Type.KeyPress):
            self.controller.touched()
        return False


class KioskUI:
    """The window and everything it needs; close with :meth:`close`.

    Args:
        services: the appliance core.
        fullscreen: frameless full screen (``ui.fullscreen``); else a window of ``size``.
        size: (width, height) px of a windowed UI.
        language: the starting language ('zh' or 'en').
        hide_cursor: hide the mouse cursor (touch screens).

    Raises:
        UIError: the QML failed to load (the message lists the QML errors).
    """

    def __init__(
        self,
        services: KioskServices,
        *,
        fullscreen: bool = False,
        size: tuple[int, int] = (1920, 1080),
        language: str = "zh",
        hide_cursor: bool = False,
    ):
        self.app = application()
        self.services = services
        self.bridge = Bridge()
        self.background = Background(self.bridge)
        self.translator: QTranslator | None = None
        self.engine = QQmlApplicationEngine()
        self.controller = KioskController(services, self.bridge, self.background, language, self.set_language)
        self.engine.addImageProvider("tour", TourImages(services.kb))
        ctx = self.engine.rootContext()
        ctx.setContextProperty("kiosk", self.controller)
        ctx.setContextProperty("theme", theme())
        ctx.setContextProperty("viewConfig", {"fullscreen": fullscreen, "width": size[0], "height": size[1]})
        self.set_language(language)
        errors: list[str] = []
        self.engine.warnings.connect(lambda ws: errors.extend(w.toString() for w in ws))
        self.engine.load(QUrl.fromLocalFile(str(QML_DIR / "Main.qml")))
        roots = self.engine.rootObjects()
        if not roots:
            raise UIError("the touchscreen's QML failed to load:\n" + "\n".join(errors))
        self.window: QQuickWindow = roots[0]
        self._watcher = _TouchWatcher(self.controller)
        self.window.installEventFilter(self._watcher)
        if hide_cursor:
            self.window.setCursor(Qt.CursorShape.BlankCursor)
        self.qml_warnings = errors

    def on_event(self, event: object) -> None:
        """Conversation events from any thread (the responder's ``on_event``)."""
        self.bridge.post(lambda: self.controller.on_event(event))

    def kb_swapped(self, kb) -> None:
        """The engine now answers from another knowledge base (a sync or a rollback, taken over
        between conversations; any thread): the screen reads it from now on, and its topics,
        notices and status are loaded again."""
        self.services.kb = kb

        def reload() -> None:
            self.controller.refresh_content()
            self.controller.refresh_status()

        self.bridge.post(reload)

    def set_language(self, lang: str) -> None:
        """Install the translations for ``lang`` ('zh' is the source language) and retranslate."""
        if self.translator is not None:
            self.app.removeTranslator(self.translator)
            self.translator = None
        if lang == "en":
            translator = QTranslator()
            if translator.load(str(I18N_DIR / "kiosk_en.qm")):
                self.app.installTranslator(translator)
                self.translator = translator
            else:
                log.warning("English translations not found in %s", I18N_DIR)
        self.engine.retranslate()

    def resize(self, width: int, height: int) -> None:
        """Set the window's size (screenshots and tests: landscape or portrait)."""
        self.window.setWidth(width)
        self.window.setHeight(height)

    def close(self) -> None:
        """Stop timers and workers, remove this window's translator, delete the window."""
        if self.translator is not None:  # installed on the application, which outlives the window
            self.app.removeTranslator(self.translator)
            self.translator = None
        self.controller.close()
        self.background.close()
        self.window.close()
        # The QML goes first, while the objects its bindings read are still alive.
        for obj in self.engine.rootObjects():
            obj.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
        self.engine.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
