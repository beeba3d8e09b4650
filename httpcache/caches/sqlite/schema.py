"""The SQLite cache's tables, and what a file found at the cache's path holds.

Tables (one file, WAL journal):

- ``entries``: one row per stored variant, the metadata the inspection API filters
  on in columns. Its ``id`` is ordered by expiry (the millisecond of ``expires`` in
  the high bits, random low bits; see ``index``), so the expired entries are always
  the first rows: ``remove_expired`` deletes a contiguous range instead of rows
  scattered on every page. Lookups go through small integer indexes on hashes of
  the key, the primary key and the URL (the text is compared too).
- ``heads``: the whole head as a ``dumps_entry`` blob (which ends with its own
  CRC-32), under the entry's ``id``, the CRC-32 of the body (``crc``), and the body
  itself when it is smaller than one chunk (``body_id`` NULL): a hit on a small entry
  is one row, and its store one transaction.
- ``bodies``: ``(body_id, seq, data)``, a larger body cut into chunks so that neither
  writing nor reading ever holds a whole body in memory; ``chunks`` in ``entries``
  says how many.
- ``writers``: bodies being written. Its ``AUTOINCREMENT`` key hands out body ids
  that are never reused, and ``touched_at`` tells a live writer from one whose
  process died (its chunks are deleted once ``ORPHAN_AGE`` has passed).
- ``counters``: hits and misses, the number of entries, and the bytes of bodies
  and of heads, kept up to date in the transactions that change them, so
  ``len()``, ``max_size`` and ``stats()`` need no scan.
- ``meta``: the schema version.

The file is created with ``auto_vacuum = INCREMENTAL``: pages freed by deletions go
to its free list and are used again by later writes; ``compact()`` (``hc cache
compact``, and ``clear``) gives them back to the file system without copying the
file, as a full ``VACUUM`` would.
"""

from __future__ import annotations

import logging
import sqlite3
from enum import Enum

logger = logging.getLogger("httpcache")

#: 3: heads carry the CRC-32 of their body. 4: the file vacuums incrementally.
SCHEMA_VERSION = 4

STATEMENTS = (
    """CREATE TABLE IF NOT EXISTS entries (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        key_hash INTEGER NOT NULL,
        primary_key TEXT NOT NULL,
        primary_hash INTEGER NOT NULL,
        method TEXT NOT NULL,
        url TEXT NOT NULL,
        url_hash INTEGER NOT NULL,
        host TEXT NOT NULL,
        status INTEGER NOT NULL,
        size INTEGER NOT NULL,
        head_size INTEGER NOT NULL,
        created_at REAL NOT NULL,
        expires REAL,
        stale_until REAL,
        request_time REAL NOT NULL,
        response_time REAL NOT NULL,
        last_access REAL NOT NULL,
        body_id INTEGER,
        chunks INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS entries_key ON entries (key_hash)",
    "CREATE INDEX IF NOT EXISTS entries_primary_key ON entries (primary_hash)",
    "CREATE INDEX IF NOT EXISTS entries_url ON entries (url_hash)",
    # ``body``: the whole body when it is stored inline (``entries.body_id`` NULL).
    """CREATE TABLE IF NOT EXISTS heads (
        id INTEGER PRIMARY KEY, head BLOB NOT NULL, crc INTEGER NOT NULL, body BLOB
    )""",
    """CREATE TABLE IF NOT EXISTS bodies (
        body_id INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (body_id, seq)
    )""",
    """CREATE TABLE IF NOT EXISTS writers (
        body_id INTEGER PRIMARY KEY AUTOINCREMENT,
        touched_at REAL NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    """INSERT OR IGNORE INTO counters (name, value) VALUES
       ('hits', 0), ('misses', 0), ('entries', 0), ('body_bytes', 0), ('head_bytes', 0)""",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value)",
)
#: Made by the first eviction: a cache without ``max_size`` never orders by it.
LAST_ACCESS_INDEX = "CREATE INDEX IF NOT EXISTS entries_last_access ON entries (last_access)"
TABLES = ("entries", "heads", "bodies", "writers", "counters", "meta")
#: SQLite's own tables, present in a file of any application.
_INTERNAL = ("sqlite_sequence", "sqlite_stat1", "sqlite_stat4")


class Found(Enum):
    """What a file at the cache's path holds."""

    EMPTY = "empty"  # no tables: a new cache
    CURRENT = "current"  # this version's schema
    OLDER = "older"  # an older httpcache's schema: dropped and made anew
    NEWER = "newer"  # a newer httpcache's: left alone, not used
    FOREIGN = "foreign"  # another application's tables: moved aside


def examine(conn: sqlite3.Connection) -> tuple[Found, int | None]:
    """What the file holds, and its schema version if it is a cache's. Raises
    ``sqlite3.DatabaseError`` for a file that is not a database."""
    tables = {
        name
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if name not in _INTERNAL
    }
    if not tables:
        return Found.EMPTY, None
    version = _schema_version(conn) if "meta" in tables else None
    if version is None or not tables <= {*TABLES, *_OLDER_TABLES}:
        return Found.FOREIGN, version
    if version == SCHEMA_VERSION:
        return Found.CURRENT, version
    return (Found.NEWER if version > SCHEMA_VERSION else Found.OLDER), version


#: Tables earlier versions had that this one does not.
_OLDER_TABLES: tuple[str, ...] = ()


def _schema_version(conn: sqlite3.Connection) -> int | None:
    try:
        row = conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
    except sqlite3.OperationalError:  # a "meta" table of another shape
        return None
    return row[0] if row and type(row[0]) is int else None


def create(conn: sqlite3.Connection, found: Found, version: int | None, path: object) -> None:
    """Create this version's tables (inside the caller's write transaction), dropping
    an older version's first."""
    if found is Found.OLDER:
        logger.warning("SQLite cache %s: schema %s of an older httpcache dropped", path, version)
        for table in (*TABLES, *_OLDER_TABLES):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
    for statement in STATEMENTS:
        conn.execute(statement)
    conn.execute(
        "INSERT OR REPLACE INTO meta (name, value) VALUES ('schema', ?)", (SCHEMA_VERSION,)
    )
