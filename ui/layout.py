"""Text that does not fit: overflowing its box or its card, cut by a clip, or over another item.

A screen is laid out by QML at any size and text scale, so a long notice, an English translation
or a 1280×800 panel can push text out of where it belongs without any error. This walks the live
item tree of a window and reports each visible text that

- draws more than its own box holds (``contentHeight``/``contentWidth`` beyond ``height``/``width``
  of an item that neither clips nor elides, outside a scroller);
- draws outside the nearest opaque container it sits on (a ``Rectangle`` with a visible colour,
  or the window), i.e. runs off its card or off the screen;
- is cut by a clipping ancestor that is not a scroller (a ``Flickable``'s content is meant to move
  under its viewport; the scroll marks say so);
- overlaps another text, or runs under an opaque rectangle (a button, a card) drawn after it.

A card or button (an opaque ``Rectangle``) outside the card or screen it sits on, outside a
scroller, is reported too ("off-card": a key row pushed under the action bar).

A text wholly under an opaque item drawn after it is hidden on purpose (the still-there prompt
over the conversation, a panel over its screen) and is not checked.

Boxes are in scene pixels; a text's drawn box is its ``contentWidth`` × ``contentHeight`` placed
by its alignment inside its item, and clipped by its scrollers' viewports. Overlaps and overflows of
up to ``TOLERANCE_PX`` are ignored (anti-aliasing and rounding of layouts).
"""

from __future__ import annotations

from dataclasses import dataclass

TOLERANCE_PX = 2.0


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle in scene pixels: left, top, right, bottom (right ≥ left)."""

    left: float
    top: float
    right: float
    bottom: float

    def intersect(self, other: Box) -> Box | None:
        """The common part, or None when they share less than :data:`TOLERANCE_PX` either way."""
        box = Box(
            max(self.left, other.left),
            max(self.top, other.top),
            min(self.right, other.right),
            min(self.bottom, other.bottom),
        )
        if box.right - box.left <= TOLERANCE_PX or box.bottom - box.top <= TOLERANCE_PX:
            return None
        return box

    def inside(self, other: Box) -> bool:
        """Whether this box lies within ``other``, give or take :data:`TOLERANCE_PX`."""
        return (
            self.left >= other.left - TOLERANCE_PX
            and self.top >= other.top - TOLERANCE_PX
            and self.right <= other.right + TOLERANCE_PX
            and self.bottom <= other.bottom + TOLERANCE_PX
        )

    def __str__(self) -> str:
        return f"({self.left:.0f},{self.top:.0f})–({self.right:.0f},{self.bottom:.0f})"


@dataclass(frozen=True)
class LayoutFault:
    """One text that does not fit: ``kind`` is "overflow", "off-card", "cut" or "overlap"."""

    kind: str
    text: str
    detail: str

    def __str__(self) -> str:
        shown = self.text if len(self.text) <= 40 else self.text[:39] + "…"
        return f"{self.kind}: {shown!r} {self.detail}"


def _scene_box(item, x: float = 0.0, y: float = 0.0, w: float | None = None, h: float | None = None) -> Box:
    from PySide6.QtCore import QPointF

    w = item.width() if w is None else w
    h = item.height() if h is None else h
    a = item.mapToScene(QPointF(x, y))
    b = item.mapToScene(QPointF(x + w, y + h))
    return Box(min(a.x(), b.x()), min(a.y(), b.y()), max(a.x(), b.x()), max(a.y(), b.y()))


def shown(item) -> bool:
    """Whether a QQuickItem is drawn: it and every ancestor visible and not fully transparent."""
    while item is not None:
        if not item.isVisible() or item.opacity() == 0:
            return False
        item = item.parentItem()
    return True


def _opaque(item) -> bool:
    if not item.inherits("QQuickRectangle") or item.width() <= 0 or item.height() <= 0:
        return False
    return item.property("color").alpha() > 0


def _label(item) -> str:
    return " ".join(str(item.property("text") or "").split())


def _drawn_box(text) -> Box:
    """Where the glyphs of a Text item are, by its content size and alignment (item coordinates
    mapped to the scene)."""
    from PySide6.QtCore import Qt

    w, h = text.width(), text.height()
    cw, ch = float(text.property("contentWidth")), float(text.property("contentHeight"))
    x = _offset(
        _enum(text, "effectiveHorizontalAlignment"), w - cw, Qt.AlignmentFlag.AlignHCenter, Qt.AlignmentFlag.AlignRight
    )
    y = _offset(_enum(text, "verticalAlignment"), h - ch, Qt.AlignmentFlag.AlignVCenter, Qt.AlignmentFlag.AlignBottom)
    return _scene_box(text, x, y, cw, ch)


def _offset(align: int, free: float, centre, end) -> float:
    """Where content starts in its box along one axis: ``free`` is the box's length minus the
    content's; ``centre`` and ``end`` the Qt.AlignmentFlag of that axis."""
    if align & centre.value:
        return free / 2
    if align & end.value:
        return free
    return 0.0


def _enum(item, name: str) -> int:
    """An enum property's value (PySide cannot convert QQuickText's enums through ``property``)."""
    from PySide6.QtQml import QQmlEngine, QQmlExpression

    expression = QQmlExpression(QQmlEngine.contextForObject(item), item, f"{name} + 0")
    value, failed = expression.evaluate()
    return 0 if failed else int(value)


@dataclass
class _Placed:
    item: object
    box: Box  # the visible part, after scrollers' viewports
    order: int  # paint order: a later item is drawn over an earlier one
    ancestors: frozenset[int]
    faults: tuple[LayoutFault, ...] = ()  # a text's own misfits (its box, clip and card)


def _painted(root):
    """``root`` (shown) and the shown items under it in paint order (pre-order, siblings by z),
    each with its parents, nearest first. Only shown items are descended into, so an item is
    shown when it is itself visible and not fully transparent."""
    stack = [(root, [])]
    while stack:
        item, parents = stack.pop()
        yield item, parents
        children = sorted(item.childItems(), key=lambda c: c.z())  # stable: equal z keeps tree order
        stack.extend((c, [item, *parents]) for c in reversed(children) if c.isVisible() and c.opacity() != 0)


def layout_faults(window) -> list[LayoutFault]:
    """Every text on ``window`` (a QQuickWindow, laid out and polished) that does not fit.

    A text wholly covered by an opaque item drawn after it (a full-screen overlay such as the
    still-there prompt, a panel shown over its screen) is hidden, not at fault, and is skipped.

    Returns:
        The faults, in paint order; empty when everything fits.
    """
    root = window.contentItem()
    screen = _scene_box(root)
    texts: list[_Placed] = []
    blocks: list[_Placed] = []
    for order, (item, parents) in enumerate(_painted(root)):
        if item is root:
            continue
        ids = frozenset(id(p) for p in parents)
        view = _viewport(parents)  # None: not in a scroller
        if _opaque(item):
            own = _scene_box(item)
            box = own if view is None else own.intersect(view)
            if box is not None:
                faults = () if view is not None else tuple(_block_misfits(item, own, parents))
                blocks.append(_Placed(item, box, order, ids, faults))
        if not item.inherits("QQuickText") or not _label(item) or item.width() <= 0:
            continue
        drawn = _drawn_box(item)
        visible = drawn if view is None else drawn.intersect(view)
        if visible is not None:
            texts.append(_Placed(item, visible, order, ids, tuple(_misfits(item, drawn, parents, view, screen))))
    return _unhidden(texts, blocks)


def _misfits(item, drawn: Box, parents, view: Box | None, screen: Box) -> list[LayoutFault]:
    """How a text (its glyphs at ``drawn``) fails its own box, its clip and its card; ``view``:
    its scrollers' viewport (None: not in a scroller)."""
    text, own = _label(item), _scene_box(item)
    faults = []
    scrolled = view is not None  # the rest scrolls into view
    if not scrolled and not item.clip() and not item.property("truncated") and not drawn.inside(own):
        faults.append(LayoutFault("overflow", text, f"draws {drawn} beyond its box {own}"))
    for parent in parents:
        if parent.inherits("QQuickFlickable"):
            break
        if parent.clip() and not drawn.inside(_scene_box(parent)):
            faults.append(LayoutFault("cut", text, f"{drawn} is clipped by {_scene_box(parent)}"))
            break
        if _opaque(parent) or parent.parentItem() is None:
            card = _scene_box(parent)
            if not drawn.inside(card):
                faults.append(LayoutFault("off-card", text, f"draws {drawn} outside its card {card}"))
            break
    if not scrolled and not drawn.inside(screen):
        faults.append(LayoutFault("off-card", text, f"draws {drawn} off the screen {screen}"))
    return faults


def _block_misfits(item, box: Box, parents) -> list[LayoutFault]:
    """A card or button (at ``box``, not in a scroller) outside the card or screen it sits on."""
    for parent in parents:
        if _opaque(parent) or parent.parentItem() is None:
            card = _scene_box(parent)
            if not box.inside(card):
                name = item.objectName() or _label(_first_text(item)) or item.metaObject().className()
                return [LayoutFault("off-card", name, f"a box {box} outside its card {card}")]
            return []
    return []


def _first_text(item):
    """The first text inside ``item`` (for naming a button), else ``item``."""
    stack = [item]
    while stack:
        it = stack.pop(0)
        if it.inherits("QQuickText") and _label(it):
            return it
        stack.extend(it.childItems())
    return item


def _viewport(parents) -> Box | None:
    """The intersection of the scrollers' viewports around an item (None: not in a scroller)."""
    view = None
    for parent in parents:
        if parent.inherits("QQuickFlickable"):
            box = _scene_box(parent)
            view = box if view is None else (view.intersect(box) or Box(0, 0, 0, 0))
    return view


def _unhidden(texts: list[_Placed], blocks: list[_Placed]) -> list[LayoutFault]:
    """The misfits and overlaps of the texts that show (not wholly under an item drawn later)."""
    showing = [
        t
        for t in texts
        if not any(b.order > t.order and id(b.item) not in t.ancestors and t.box.inside(b.box) for b in blocks)
    ]
    kept = [f for t in showing for f in t.faults] + [f for b in blocks for f in b.faults]
    for i, a in enumerate(showing):
        for b in showing[i + 1 :]:
            if id(b.item) not in a.ancestors and id(a.item) not in b.ancestors:
                common = a.box.intersect(b.box)
                if common is not None:
                    kept.append(LayoutFault("overlap", _label(a.item), f"overlaps {_label(b.item)!r} at {common}"))
        for block in blocks:
            if block.order < a.order or id(a.item) in block.ancestors:
                continue  # drawn before the text (its background), or the text's own parent
            common = a.box.intersect(block.box)
            if common is not None:
                name = block.item.objectName() or block.item.metaObject().className()
                kept.append(LayoutFault("overlap", _label(a.item), f"runs under {name} at {common}"))
    return kept
