"""Private folders for a cache's files: created 0700 whatever the umask.

Its own small module so that ``hc`` can make its cache folder without importing a
backend (start-up time)."""

from __future__ import annotations

import os
from pathlib import Path


def make_private_dirs(folder: Path) -> None:
    """Create ``folder`` and missing parents, each 0700 whatever the umask (folders
    that already exist are left as they are)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for created in reversed(missing):
        try:
            created.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(created, 0o700)
