"""Reading and writing the learned detectors' model files: JSON, gzipped when the name ends in
``.gz`` (as the shipped files do), shared by every model kind of :mod:`appliance.triage`."""

from __future__ import annotations

import gzip
import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Self  # Python 3.11+; annotations are not evaluated


class StoredModel:
    """Adds :meth:`to_json`, :meth:`from_json`, :meth:`save` and :meth:`load` to a model class
    that has ``to_dict`` and ``from_dict`` (a model to a JSON object, and back).

    Subclasses set :attr:`shipped_file` (the file beside :mod:`appliance.triage` that :meth:`load`
    reads by default) and :attr:`kind` (what such a file is called in error messages).
    """

    shipped_file = ""
    kind = "a model"

    def to_dict(self) -> dict:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def to_json(self) -> str:
        """:meth:`to_dict` as compact JSON (what :meth:`save` stores)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict) -> Self:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    @classmethod
    def from_json(cls, text: str) -> Self:
        """Inverse of :meth:`to_json`.

        Raises:
            ValueError: not a model file of this kind (a missing field, a wrong type), or
                inconsistent shapes.
        """
        try:
            return cls.from_dict(json.loads(text))
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not {cls.kind} file: {exc}") from exc

    def save(self, path: Path) -> None:
        """Write :meth:`to_json` to ``path``, gzipped when it ends in ``.gz`` (the weights compress
        to about a third). The gzip header carries no time stamp, so the same model always gives the
        same bytes."""
        data = (self.to_json() + "\n").encode("utf-8")
        path.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)

    @classmethod
    def load(cls, path: Path | None = None) -> Self:
        """Load a model file, gzipped (``.gz``) or plain JSON (default: the shipped
        :attr:`shipped_file` beside this module).

        Raises:
            ValueError: the file is not such a model (or not valid gzip); OSError: it cannot be read.
        """
        if path is None:
            source = resources.files("appliance.triage").joinpath(cls.shipped_file)
            name, data = cls.shipped_file, source.read_bytes()
        else:
            name, data = path.name, path.read_bytes()
        if name.endswith(".gz"):
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError) as exc:
                raise ValueError(f"not {cls.kind} file: {exc}") from exc
        return cls.from_json(data.decode("utf-8"))
