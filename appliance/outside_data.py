"""Where the real outside data lives that the benches and tests measure on: recordings, service
guides and FAQs the project did not write (``../shared/data``: see its README).

One place for it: ``$KIOSK_SHARED_DATA`` when set, else ``shared/data`` beside the checkout (the
folder that holds this repository). Benches take it as their default; tests that need it skip with
the path they looked at when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "KIOSK_SHARED_DATA"
CHECKOUT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """The outside data folder (it may not exist: callers check)."""
    named = os.environ.get(ENV)
    return Path(named).expanduser() if named else CHECKOUT.parent / "shared" / "data"


def guangdong_guides() -> Path:
    """The real Guangdong service guides, one JSON record per line."""
    return shared_data_dir() / "kb" / "guangdong_services.jsonl"


def speech_dir() -> Path:
    """The real recordings (WAV, with MANIFEST.tsv)."""
    return shared_data_dir() / "speech"
