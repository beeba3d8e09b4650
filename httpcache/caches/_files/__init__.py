"""What the two file backends share, in parts: ``cache`` (``FileCacheBase``: layout,
reading, writing, deleting), ``frames`` (the entry file's frame and its checks),
``primitives`` (files, temporary files, flock, names), ``locks``, ``writer``
(``StagedWriter``), ``stats_log`` (hit and miss counts) and ``size_limit``."""

from __future__ import annotations

import logging

from .cache import FileCacheBase
from .frames import (
    CRC_AT,
    FRAME,
    HEAD_READ,
    SMALL_BODY,
    Frame,
    HeadMemo,
    HeldFiles,
    Opened,
    frame_prefix,
    open_verified,
    read_frame,
)
from .locks import LOCK_TIMEOUT, FlockLock
from .primitives import (
    CREATE_FLAGS,
    TempFile,
    cache_folder,
    list_names,
    name_of,
    open_file,
    open_regular,
    read_at,
    remove_file,
    storage_errors,
    sweep_temps,
)
from .stats_log import FOLD_AT
from .writer import StagedWriter

logger = logging.getLogger("httpcache")

__all__ = [
    "CRC_AT",
    "CREATE_FLAGS",
    "FOLD_AT",
    "FRAME",
    "HEAD_READ",
    "LOCK_TIMEOUT",
    "SMALL_BODY",
    "FileCacheBase",
    "FlockLock",
    "Frame",
    "HeadMemo",
    "HeldFiles",
    "Opened",
    "StagedWriter",
    "TempFile",
    "cache_folder",
    "frame_prefix",
    "list_names",
    "logger",
    "name_of",
    "open_file",
    "open_regular",
    "open_verified",
    "read_at",
    "read_frame",
    "remove_file",
    "storage_errors",
    "sweep_temps",
]
