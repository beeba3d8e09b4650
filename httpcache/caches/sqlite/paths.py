"""Where a SQLite cache lives on disk: its path, private folders and file, and moving
an unusable file aside."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

#: What SQLite keeps beside the database file (WAL mode, and a rollback journal).
COMPANIONS = ("-wal", "-shm", "-journal")


def resolve_path(path: str | os.PathLike[str], use_cache_dir: bool = False) -> Path:
    """Where the database file goes: ``.sqlite`` added when there is no suffix, a
    relative path put in the user's cache folder with ``use_cache_dir``."""
    resolved = Path(path).expanduser()
    if use_cache_dir and not resolved.is_absolute():
        from platformdirs import user_cache_dir

        resolved = Path(user_cache_dir("httpcache")) / resolved
    if not resolved.suffix:
        resolved = resolved.with_name(resolved.name + ".sqlite")
    return resolved


def create_private_file(path: Path) -> None:
    """Create an empty database file 0600 (SQLite gives -wal and -shm the same mode);
    a file already there is left as it is."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    try:
        os.chmod(path, 0o600)
    finally:
        os.close(fd)


def file_id(path: Path) -> tuple[int, int] | None:
    """Which file ``path`` names now (device, inode), or None if none."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def move_aside(path: Path, expected: tuple[int, int] | None) -> Path | None:
    """Rename the database file to ``<name>.corrupt-<time>`` (its WAL goes with it,
    its shared-memory index is removed) and return the new name; None if ``path``
    no longer names the ``expected`` file (another process moved it already)."""
    if expected is not None and file_id(path) != expected:
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    try:
        os.rename(path, target)
    except FileNotFoundError:
        return None
    # What is set aside may hold cached responses: private, as every cache file is.
    with contextlib.suppress(OSError):
        os.chmod(target, 0o600)
    for suffix in COMPANIONS:
        companion = path.with_name(path.name + suffix)
        with contextlib.suppress(FileNotFoundError):
            if suffix == "-wal":
                os.rename(companion, target.with_name(target.name + suffix))
                with contextlib.suppress(OSError):
                    os.chmod(target.with_name(target.name + suffix), 0o600)
            else:
                os.unlink(companion)
    return target


def disk_bytes(path: Path) -> tuple[int, int]:
    """The bytes of the database file and of its WAL (0 for one that is absent)."""
    sizes = []
    for name in (path.name, path.name + "-wal"):
        try:
            sizes.append(os.stat(path.with_name(name)).st_size)
        except OSError:
            sizes.append(0)
    return sizes[0], sizes[1]
