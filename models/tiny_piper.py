"""A tiny synthetic Piper voice, built on the spot, so the real piper-tts code path runs without real voices.

:func:`write_tiny_piper_voice` writes ``<name>.onnx`` and ``<name>.onnx.json`` shaped like the voices the
kiosk installs (``zh_CN-huayan-medium``, ``en_US-lessac-medium`` from rhasspy/piper-voices): the same config
keys, ``phoneme_type`` ``espeak`` with eSpeak voice ``cmn`` or ``en-us``, piper's espeak phoneme-id map, and a
graph with a VITS export's input and output names, dtypes and shapes. ``piper.PiperVoice.load`` loads it and
``synthesize`` runs piper's own phonemisation (the eSpeak-NG bundled in the piper-tts wheel), id mapping,
sentence splitting and onnxruntime inference.

The audio is tones, not speech: every phoneme id becomes ``round(hop_length * length_scale)`` samples of a
sine whose frequency depends on the id, so the length is proportional to the number of ids times
``length_scale``. ``noise_scale`` and ``noise_w`` are ignored; the output is deterministic.

Requires the ``onnx`` package (a development dependency) and piper-tts.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx

HOP_LENGTH = 256
"""Samples per phoneme id at ``length_scale`` 1 (a medium Piper voice's hop length)."""

OPSET = 15
"""ONNX opset of the graph (the one Piper's exporter uses)."""

IR_VERSION = 8
"""ONNX IR version of the file (the one paired with opset 15; any onnxruntime since 1.10 reads it)."""

_LANGUAGES: dict[str, tuple[str, dict[str, str]]] = {
    "zh": (
        "cmn",
        {
            "code": "zh_CN",
            "family": "zh",
            "region": "CN",
            "name_native": "简体中文",
            "name_english": "Chinese",
            "country_english": "China",
        },
    ),
    "en": (
        "en-us",
        {
            "code": "en_US",
            "family": "en",
            "region": "US",
            "name_native": "English",
            "name_english": "English",
            "country_english": "United States",
        },
    ),
}


def write_tiny_piper_voice(
    folder: Path, lang: str = "zh", *, sample_rate: int = 22050, name: str | None = None
) -> Path:
    """Write a tiny Piper voice (``<name>.onnx`` + ``<name>.onnx.json``) into ``folder``.

    Args:
        folder: directory to write into (created if missing).
        lang: ``"zh"`` (eSpeak voice ``cmn``, like zh_CN-huayan-medium) or ``"en"`` (``en-us``, like
            en_US-lessac-medium).
        sample_rate: ``audio.sample_rate`` of the config; the tones are computed at this rate.
        name: file stem; defaults to ``zh_CN-tiny-medium`` / ``en_US-tiny-medium``.

    Returns:
        Path of the ``.onnx`` file; its config is the same path with ``.json`` appended.

    Raises:
        ValueError: ``lang`` is not ``"zh"`` or ``"en"``, or ``sample_rate`` is not positive.
        ImportError: the ``onnx`` or ``piper`` package is missing.
    """
    if lang not in _LANGUAGES:
        raise ValueError(f"tiny Piper voice language must be one of {sorted(_LANGUAGES)}, not {lang!r}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, not {sample_rate}")
    from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP

    espeak_voice, language = _LANGUAGES[lang]
    name = name or f"{language['code']}-tiny-medium"
    folder.mkdir(parents=True, exist_ok=True)
    onnx_path = folder / f"{name}.onnx"

    # Without vowel_clusters piper feeds single NFD codepoints, so multi-codepoint keys could never match.
    id_map = {p: list(ids) for p, ids in DEFAULT_PHONEME_ID_MAP.items() if len(p) == 1}
    config = {
        "dataset": "tiny",
        "audio": {"sample_rate": sample_rate, "quality": "medium"},
        "espeak": {"voice": espeak_voice},
        "language": language,
        "inference": {"noise_scale": 0.667, "length_scale": 1, "noise_w": 0.8},
        "phoneme_type": "espeak",
        "phoneme_map": {},
        "phoneme_id_map": id_map,
        "num_symbols": 256,
        "num_speakers": 1,
        "speaker_id_map": {},
        "piper_version": "1.0.0",
    }
    onnx_path.write_bytes(_tone_model(sample_rate).SerializeToString())
    Path(f"{onnx_path}.json").write_text(json.dumps(config, ensure_ascii=False, indent=4) + "\n", encoding="utf-8")
    return onnx_path


def _tone_model(sample_rate: int) -> onnx.ModelProto:
    """The graph: ``output[0, 0, t] = 0.5 * sin(2π (200 + 15 * id) * (t mod seg) / sample_rate)``.

    ``seg = max(1, round(HOP_LENGTH * scales[1]))`` and ``id = input[0, t // seg]`` for ``t`` in
    ``[0, input_lengths[0] * seg)``.
    """
    from onnx import TensorProto, helper

    def const(name: str, value: float | int | list[int], dtype: int) -> onnx.NodeProto:
        dims = [len(value)] if isinstance(value, list) else []
        vals = value if isinstance(value, list) else [value]
        return helper.make_node("Constant", [], [name], value=helper.make_tensor(name, dtype, dims, vals))

    f32, i64 = TensorProto.FLOAT, TensorProto.INT64
    node = helper.make_node
    nodes = [
        const("one_idx", 1, i64),
        const("zero_idx", 0, i64),
        const("hop", float(HOP_LENGTH), f32),
        const("one", 1, i64),
        const("zero", 0, i64),
        const("axes0", [0], i64),
        const("axes01", [0, 1], i64),
        const("base_hz", 200.0, f32),
        const("step_hz", 15.0, f32),
        const("omega", 2.0 * math.pi / sample_rate, f32),
        const("amp", 0.5, f32),
        # samples per phoneme id
        node("Gather", ["scales", "one_idx"], ["length_scale"], axis=0),
        node("Mul", ["hop", "length_scale"], ["seg_f"]),
        node("Round", ["seg_f"], ["seg_r"]),
        node("Cast", ["seg_r"], ["seg_raw"], to=i64),
        node("Max", ["seg_raw", "one"], ["seg"]),
        # sample positions and the phoneme id each belongs to
        node("Gather", ["input_lengths", "zero_idx"], ["n"], axis=0),
        node("Mul", ["n", "seg"], ["total"]),
        node("Range", ["zero", "total", "one"], ["t"]),
        node("Div", ["t", "seg"], ["pos"]),
        node("Mod", ["t", "seg"], ["local"]),
        node("Squeeze", ["input", "axes0"], ["ids_row"]),
        node("Gather", ["ids_row", "pos"], ["ids"], axis=0),
        # tone per id
        node("Cast", ["ids"], ["ids_f"], to=f32),
        node("Mul", ["ids_f", "step_hz"], ["id_hz"]),
        node("Add", ["id_hz", "base_hz"], ["hz"]),
        node("Cast", ["local"], ["local_f"], to=f32),
        node("Mul", ["local_f", "omega"], ["rad_per_hz"]),
        node("Mul", ["rad_per_hz", "hz"], ["phase"]),
        node("Sin", ["phase"], ["sine"]),
        node("Mul", ["sine", "amp"], ["wave"]),
        node("Unsqueeze", ["wave", "axes01"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_piper",
        inputs=[
            helper.make_tensor_value_info("input", i64, ["batch_size", "phonemes"]),
            helper.make_tensor_value_info("input_lengths", i64, ["batch_size"]),
            helper.make_tensor_value_info("scales", f32, [3]),
        ],
        outputs=[helper.make_tensor_value_info("output", f32, ["batch_size", 1, "time"])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="kiosk.models.tiny_piper",
        doc_string="Tiny Piper-shaped voice for tests: one tone per phoneme id, not speech.",
    )
    model.ir_version = IR_VERSION
    return model
