"""Strict settings models, and validation errors told in one line.

Every model read from a file or from the environment (the sections of ``kiosk.toml``, ``site.toml``)
derives from :class:`StrictModel`: an unknown key is an error instead of being ignored, and a path
given as "" is an error instead of meaning the current directory. :func:`problems` turns a pydantic
``ValidationError`` into (key, reason) pairs, naming the nearest valid key for a typo;
:func:`environment_names` and :func:`unknown_environment` do the same for environment variables,
which pydantic-settings would otherwise ignore when they match no field.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

Loc = tuple[str | int, ...]

EMPTY_PATH = "empty path (leave the key out to get the default)"


def _args(annotation: Any) -> tuple[Any, ...]:
    """The type arguments of ``annotation`` (``Path | None`` -> (Path, NoneType)), Annotated unwrapped."""
    return typing.get_args(annotation)


def _mentions_path(annotation: Any) -> bool:
    """Whether a field of this type holds a path anywhere (``Path``, ``Path | None``, ``dict[str, Path]``)."""
    if isinstance(annotation, type) and issubclass(annotation, PurePath):
        return True
    return any(_mentions_path(a) for a in _args(annotation))


def _has_blank_string(value: Any) -> bool:
    """Whether ``value`` is, or a dict's or list's item is, a string of nothing but white space."""
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, Mapping):
        return any(_has_blank_string(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_blank_string(v) for v in value)
    return False


def reject_empty_paths(cls: type[BaseModel], value: Any, info: ValidationInfo) -> Any:
    """A ``field_validator("*", mode="before")``: a path field given "" (or blanks) is an error.

    Without it ``Path("")`` is ``Path(".")``: ``KIOSK_DATA_DIR=`` would put the databases in
    whatever the current directory is.

    Raises:
        ValueError: the field holds paths and ``value`` is, or contains, a blank string.
    """
    field = cls.model_fields.get(info.field_name or "")
    if field is not None and _mentions_path(field.annotation) and _has_blank_string(value):
        raise ValueError(EMPTY_PATH)
    return value


class StrictModel(BaseModel):
    """Base of every settings section and file model: unknown keys and empty paths are errors.

    Derive new sections from it (``class FooSettings(StrictModel)``); a ``BaseSettings`` class
    takes it as a second base (``class Settings(BaseSettings, StrictModel)``).
    """

    model_config = ConfigDict(extra="forbid")

    _empty_paths = field_validator("*", mode="before")(reject_empty_paths)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model class a field of this type holds (``Foo``, ``Foo | None``), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for a in _args(annotation):
            if (m := _model_of(a)) is not None:
                return m
    return None


def _is_table(annotation: Any) -> bool:
    """Whether a field of this type is a mapping (``dict[str, Path]``, ``dict[...] | None``)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_table(a) for a in _args(annotation))
    if annotation is dict:
        return True
    return isinstance(origin, type) and issubclass(origin, Mapping)


def field_names_at(model: type[BaseModel], path: Loc) -> list[str]:
    """The keys valid at ``path`` inside ``model`` (``()``: its own fields); [] when not a model there."""
    current: type[BaseModel] | None = model
    for part in path:
        field = current.model_fields.get(str(part)) if current is not None else None
        current = _model_of(field.annotation) if field is not None else None
    return list(current.model_fields) if current is not None else []


def nearest(word: str, valid: Iterable[str]) -> str | None:
    """The valid word closest to ``word`` (difflib ratio), None when there is no valid word at all."""
    found = difflib.get_close_matches(word, list(valid), n=1, cutoff=0.0)
    return found[0] if found else None


def dotted(loc: Loc) -> str:
    """``('llm', 'n_ctx')`` -> ``llm.n_ctx``; ``('languages', 1)`` -> ``languages[1]``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _shown(value: Any) -> str:
    """`` (got 'fr')`` for a short scalar input, else "" (also for a blank string: the reason says so)."""
    if isinstance(value, str) and not value.strip():
        return ""
    if isinstance(value, str | int | float) and not isinstance(value, bool) and len(repr(value)) <= 60:
        return f" (got {value!r})"
    return ""


def problems(exc: ValidationError, model: type[BaseModel]) -> list[tuple[Loc, str]]:
    """Each error of ``exc`` (raised validating ``model``) as (location, one-line reason).

    An unknown key's reason names the nearest valid key at that place; an invalid mapping key
    (``loc`` ending in pydantic's ``[key]``) is located at the mapping, its reason names the key.
    """
    found: list[tuple[Loc, str]] = []
    for error in exc.errors(include_url=False):
        loc: Loc = tuple(error["loc"])
        message = " ".join(str(error["msg"]).removeprefix("Value error, ").split())
        if error["type"] == "extra_forbidden" and loc:
            best = nearest(str(loc[-1]), field_names_at(model, loc[:-1]))
            where = dotted((*loc[:-1], best)) if best else None
            reason = f"unknown key (nearest valid key: {where})" if where else "unknown key"
        elif len(loc) >= 2 and loc[-1] == "[key]":
            loc, reason = loc[:-2], f"key {loc[-2]!r}: {message}"
        else:
            reason = message + _shown(error.get("input"))
        found.append((loc, reason))
    return found


@dataclass(frozen=True)
class EnvName:
    """One environment variable a settings class reads.

    Attributes:
        path: the field it sets, e.g. ``('llm', 'model')`` for ``KIOSK_LLM__MODEL``.
        json: the value is parsed as JSON (a whole section or a table).
        table: a mapping field: ``NAME__ANYKEY`` sets one of its entries.
    """

    path: tuple[str, ...]
    json: bool
    table: bool


def environment_names(model: type[BaseModel], prefix: str, delimiter: str) -> dict[str, EnvName]:
    """Every variable name (upper case) that sets a field of ``model``, sections recursed into.

    ``environment_names(Settings, "KIOSK_", "__")`` has ``KIOSK_DATA_DIR``, ``KIOSK_LLM`` (the
    section as JSON), ``KIOSK_LLM__MODEL`` ... ``KIOSK_TTS__VOICES`` (a table).
    """
    names: dict[str, EnvName] = {}

    def walk(current: type[BaseModel], path: tuple[str, ...]) -> None:
        for name, field in current.model_fields.items():
            here = (*path, name)
            section = _model_of(field.annotation)
            table = _is_table(field.annotation)
            names[(prefix + delimiter.join(here)).upper()] = EnvName(here, section is not None or table, table)
            if section is not None:
                walk(section, here)

    walk(model, ())
    return names


def env_name_of(variable: str, names: Mapping[str, EnvName], delimiter: str) -> EnvName | None:
    """The :class:`EnvName` ``variable`` (any case) stands for, None when it sets nothing.

    ``KIOSK_TTS__VOICES__ZH`` stands for an entry of the ``KIOSK_TTS__VOICES`` table.
    """
    upper = variable.upper()
    if upper in names:
        return names[upper]
    for name, entry in names.items():
        if entry.table and upper.startswith(name + delimiter) and len(upper) > len(name + delimiter):
            extra = tuple(upper[len(name + delimiter) :].lower().split(delimiter))
            return EnvName((*entry.path, *extra), json=False, table=False)
    return None


def unknown_environment(
    environ: Mapping[str, str], names: Mapping[str, EnvName], prefix: str, delimiter: str, allowed: Iterable[str]
) -> list[tuple[str, str]]:
    """(variable, reason) for each variable starting with ``prefix`` (any case) that sets nothing.

    ``allowed``: names with the prefix read elsewhere than the settings class (``KIOSK_CONFIG``).
    The reason names the nearest valid variable.
    """
    upper_prefix = prefix.upper()
    others = {a.upper() for a in allowed}
    choices = {n[len(upper_prefix) :]: n for n in [*names, *others]}
    found = []
    for variable in sorted(environ):
        upper = variable.upper()
        if not upper.startswith(upper_prefix) or upper in others or env_name_of(variable, names, delimiter):
            continue
        best = nearest(upper[len(upper_prefix) :], choices)
        found.append((variable, f"unknown setting (nearest valid: {choices[best]})" if best else "unknown setting"))
    return found
