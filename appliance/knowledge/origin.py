"""What the knowledge base holds: no guides, the fictional demo, or the site's own.

The shipped demo guides describe a made-up community (示例市, phone numbers 010-0000-…). A kiosk
must never present them as a real site's, nor pretend to know a site's procedures when it holds
no guides at all, so the touchscreen's status strip, ``kiosk health`` and the operator notes say
which of these the knowledge base is (:func:`kb_state`). Whether the demo may be built into a
knowledge base is decided by its persistent :attr:`~appliance.knowledge.store.KnowledgeBase.origin`
(see :func:`appliance.bootstrap.ensure_demo`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appliance.knowledge.store import KnowledgeBase

#: The kinds of :class:`KbState`, in the order a field engineer should worry about them.
KINDS = ("empty", "mixed", "demo", "site")

_DEMO_PARTS = ("appliance", "demo", "kb")


def looks_like_demo(source: str, demo: Path | None = None) -> bool:
    """True for a file of the shipped demo: one inside ``demo`` (the demo folder in use, when
    given), or inside an ``appliance/demo/kb`` folder: this installation's, or another's (a
    knowledge base built before the package moved, e.g. to a new virtualenv)."""
    path = Path(source)
    if demo is not None and path.is_relative_to(demo):
        return True
    parts = path.parts
    return any(parts[i : i + 3] == _DEMO_PARTS for i in range(len(parts) - 2))


@dataclass(frozen=True)
class KbState:
    """What the knowledge base holds now.

    Attributes:
        kind: ``'empty'`` (no guides: service questions get no answer; emergencies and handoffs
            still work), ``'demo'`` (only the fictional demo guides), ``'mixed'`` (a site's guides
            with demo guides still among them) or ``'site'`` (only the site's own).
        documents: guides stored.
        demo_documents: how many of them are the demo's.
        origin: the knowledge base's recorded origin ('demo', 'site' or None; see
            :attr:`~appliance.knowledge.store.KnowledgeBase.origin`).
    """

    kind: str
    documents: int
    demo_documents: int
    origin: str | None

    @property
    def shows_demo(self) -> bool:
        """Some answers can come from the fictional demo: the screen marks the kiosk "示例"."""
        return self.kind in ("demo", "mixed")

    def describe(self) -> str:
        """One line for ``kiosk health`` and the operator notes (English)."""
        if self.kind == "empty":
            return (
                "no guides: the knowledge base is empty, so service questions get no answer (emergencies "
                "and handoffs still work); add the site's guides with `kiosk kb ingest PATH`"
            )
        if self.kind == "demo":
            return (
                f"demo knowledge base: {self.documents} fictional example guides (a made-up community and "
                "phone numbers), not a real site's; `kiosk kb ingest PATH` adds the site's guides, `kiosk kb "
                "remove` takes the demo's out"
            )
        if self.kind == "mixed":
            return (
                f"site knowledge base, but {self.demo_documents} of its {self.documents} documents are the "
                "fictional demo guides; remove them with `kiosk kb remove` (see `kiosk kb list`)"
            )
        return f"site knowledge base: {self.documents} documents"

    def as_dict(self) -> dict[str, Any]:
        """The fields and :meth:`describe` (``summary``) as a JSON-ready dict."""
        return {**asdict(self), "summary": self.describe()}


def kb_state(kb: KnowledgeBase, demo: Path) -> KbState:
    """What ``kb`` holds, with ``demo`` the shipped demo folder (:func:`appliance.bootstrap.demo_kb_dir`).

    One query over the documents (no analysis); fine to call every few seconds from a worker
    thread. A knowledge base whose origin is 'demo' holds only demo guides wherever their files
    are; otherwise a guide counts as the demo's when its file :func:`looks_like_demo`.
    """
    per_source = kb.documents_per_source()
    total = sum(per_source.values())
    origin = kb.origin
    if total == 0:
        return KbState("empty", 0, 0, origin)
    if origin == "demo":
        demo_docs = total
    else:
        demo = demo.resolve()
        demo_docs = sum(n for source, n in per_source.items() if looks_like_demo(source, demo))
    kind = "demo" if demo_docs == total else "mixed" if demo_docs else "site"
    return KbState(kind, total, demo_docs, origin)
