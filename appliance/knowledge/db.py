"""Opening SQLite files, with sqlite-vec when this Python can load it.

sqlite-vec is a loadable extension, and some CPython builds (pyenv's among them) compile the
``sqlite3`` module without ``enable_load_extension``. :func:`sqlite_module` detects that and falls
back to the packaged SQLite of ``pysqlite3-binary`` (x86-64 Linux); on Debian's and Jetson's system
Pythons the standard module works as is. When neither can load extensions, the knowledge base
still works, lexical-only, and :attr:`Connection.vec_error` says why.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any


@cache
def sqlite_module() -> tuple[ModuleType, str | None]:
    """The DB-API module to use and, when it cannot load extensions, the reason.

    Returns:
        ``(module, None)`` for a module whose connections have ``enable_load_extension`` and FTS5;
        ``(sqlite3, reason)`` when no such module is installed.
    """
    candidates: list[ModuleType] = [sqlite3]
    try:
        from pysqlite3 import dbapi2 as pysqlite3  # type: ignore[import-not-found]

        candidates.append(pysqlite3)
    except ImportError:
        pass
    for module in candidates:
        conn = module.connect(":memory:")
        try:
            if hasattr(conn, "enable_load_extension"):
                conn.execute("CREATE VIRTUAL TABLE t USING fts5(x)")
                return module, None
        except module.Error:
            continue
        finally:
            conn.close()
    return sqlite3, (
        "this Python's sqlite3 cannot load extensions and pysqlite3-binary is not installed "
        "(x86-64: pip install pysqlite3-binary; or use the system Python)"
    )


@dataclass
class Database:
    """An open SQLite connection and whether the sqlite-vec extension is loaded in it.

    Attributes:
        conn: the DB-API connection (autocommit off; use ``with db.conn:`` for a transaction).
        vec_error: None when sqlite-vec is loaded, else why not.
    """

    conn: Any
    vec_error: str | None
    path: Path

    @property
    def has_vec(self) -> bool:
        """True when ``vec0`` tables can be created and queried."""
        return self.vec_error is None

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def connect(path: Path | str, *, load_vec: bool = True, readonly: bool = False) -> Database:
    """Open (creating when needed, unless ``readonly``) a SQLite file.

    WAL journal mode and foreign keys are switched on. ``readonly`` opens with ``mode=ro``.

    Raises:
        sqlite3.Error (or pysqlite3's): the file cannot be opened or is not a database.
    """
    module, reason = sqlite_module()
    path = Path(path)
    if readonly:
        conn = module.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = module.connect(str(path), check_same_thread=False)
    conn.execute("PRAGMA foreign_keys = ON")
    if not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    vec_error = reason
    if load_vec and reason is None:
        try:
            import sqlite_vec

            conn.enable_load_extension(True)
            sqlite_vec.load(conn)
            conn.enable_load_extension(False)
        except (ImportError, AttributeError, module.Error) as exc:
            vec_error = f"sqlite-vec could not be loaded: {exc}"
    elif not load_vec:
        vec_error = "not requested"
    return Database(conn=conn, vec_error=vec_error, path=path)
