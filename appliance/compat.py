"""What Python 3.10 (JetPack 6's) lacks and 3.11+ has, in one place for ``appliance`` and ``ui``.

* ``tomllib``: the standard TOML reader from 3.11; before it, ``tomli``, the same parser under its
  original name (a dependency only where ``python_version < '3.11'``).
* :class:`StrEnum`: ``enum.StrEnum`` from 3.11; before it, a ``str`` mixin ``Enum`` whose
  ``str()`` is its value, as StrEnum's.

``models`` and ``firmware_bridge`` do not import ``appliance`` (they sit below it), so
``models/catalog.py`` and ``firmware_bridge/link.py`` carry their own two lines.
"""

from __future__ import annotations

import enum
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:

    class StrEnum(str, enum.Enum):
        """``enum.StrEnum`` of Python 3.11, for 3.10: members are strings, ``str()`` the value."""

        __str__ = str.__str__


__all__ = ["StrEnum", "tomllib"]
