"""One process at a time builds a knowledge base: a lock file next to it.

Several front ends may start at once on a new data dir (``kiosk run`` from systemd, a ``kiosk ask``
from a shell, the screenshot tool): the first to take the lock creates the file and builds the
demo into it (:func:`appliance.bootstrap.build_appliance`), the others wait for it and then find
it built. The lock is an ``flock`` on ``<kb file>.lock`` (:func:`appliance.locking.exclusive`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from filelock import Timeout

from appliance.knowledge.store import KnowledgeBaseError
from appliance.locking import exclusive

log = logging.getLogger(__name__)

#: How long a process waits for another one building the knowledge base, seconds. Building the
#: demo takes seconds; embedding it with a model whose vectors do not ship, about a minute on a
#: small board.
BUILD_WAIT_S = 600.0


def lock_path(kb_file: Path) -> Path:
    """The lock file of the knowledge base ``kb_file``: ``kb.sqlite`` -> ``kb.sqlite.lock``."""
    return kb_file.with_name(kb_file.name + ".lock")


@contextmanager
def building(kb_file: Path, wait_s: float = BUILD_WAIT_S) -> Iterator[None]:
    """Hold the build lock of ``kb_file`` for the block (its folder is created), waiting up to
    ``wait_s`` seconds for another process that holds it.

    Raises:
        KnowledgeBaseError: the lock was not free within ``wait_s``, or its file cannot be created
            (a folder the appliance may not write to).
    """
    path = lock_path(Path(kb_file))
    with ExitStack() as stack:
        try:
            stack.enter_context(exclusive(path, wait_s))
        except Timeout:
            raise KnowledgeBaseError(
                f"waited {wait_s:.0f} s for another kiosk process building the knowledge base {kb_file} "
                f"(it holds {path}); try again once it has finished"
            ) from None
        except OSError as exc:
            raise KnowledgeBaseError(f"cannot lock the knowledge base {kb_file} ({path}): {exc}") from exc
        yield
