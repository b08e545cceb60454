"""What the touchscreen is driven by: the appliance core, assembled outside the UI.

The UI never calls a model: it holds a :class:`~appliance.text_conversation.Responder` (the voice
loop or the text conversation) and reads the knowledge base and journal only through
:class:`ui.bridge.Background` jobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.body import Body
    from appliance.config import Settings
    from appliance.journal import Journal
    from appliance.knowledge.store import KnowledgeBase
    from appliance.network import NetworkProbe
    from appliance.site import Site
    from appliance.staff import PinLock
    from appliance.text_conversation import Responder
    from voice.playback import Playback


@dataclass
class KioskServices:
    """The core pieces the screen talks to.

    Attributes:
        responder: answers typed, tapped and spoken questions; narrates tours.
        voice: True when the microphone, speech models and speaker are running.
        voice_note: why voice is off (shown to residents as a notice), None when it is on.
        body: the robot's behaviours (None without a body).
        pin: the staff PIN (None: staff mode cannot be opened).
        network: the online/offline probe (None: not shown).
        sink: the speaker (its ``gain`` is the volume), None without audio.
    """

    settings: Settings
    site: Site
    kb: KnowledgeBase
    journal: Journal | None
    responder: Responder
    voice: bool = False
    voice_note: str | None = None
    body: Body | None = None
    pin: PinLock | None = None
    network: NetworkProbe | None = None
    sink: Playback | None = None
