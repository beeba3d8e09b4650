"""Case 3: damaged entries. Whatever happened to the stored bytes, the entry is a
miss (logged as a warning), the next response overwrites it, and ``hc cache ls``,
``inspect`` and ``stats`` carry on (skipping or marking it) and exit 0.

The design's storage guarantee: "An unknown, old or damaged entry is a miss,
logged, never a crash." The memory backend keeps objects, not bytes: not applicable.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import msgpack
import pytest

from httpcache.caches._files import FRAME
from httpcache_cli.commands.cache import Unreadable
from tests.faults._backends import FILE_BACKENDS, Store, byte_store  # noqa: F401 - fixture
from tests.support.origin import Origin, counter_handler

FRESH = {"Cache-Control": "max-age=600", "ETag": '"e"'}


def _flip_first_bit(head: bytes) -> bytes:
    return bytes([head[0] ^ 0x80]) + head[1:]


def _not_utf8(head: bytes) -> bytes:
    # The envelope's first string, "httpcache", becomes nine bytes that are not UTF-8.
    assert head.count(b"\xa9httpcache") == 1
    return head.replace(b"\xa9httpcache", b"\xa9" + b"\xff" * 9)


#: Damage done to the stored head, which is put back in the backend's own framing.
HEAD_DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda head: b"",
    "half": lambda head: head[: len(head) // 2],
    "bit-flipped": _flip_first_bit,
    "non-UTF-8": _not_utf8,
    "msgpack of the wrong shape": lambda head: msgpack.packb(["httpcache", 1, ["an", "entry"]]),
    "msgpack map instead of the envelope": lambda head: msgpack.packb({"httpcache": 1}),
    "a length claiming 4 GiB": lambda head: b"\xdb\xff\xff\xff\xf0" + b"x" * 64,
    "an array claiming 4 billion items": lambda head: b"\xdd\xff\xff\xff\xff\xc0",
    "deep nesting": lambda head: b"\x91" * 200_000 + b"\xc0",
}


def _truncate_file(fraction: float) -> Callable[[Store, str], None]:
    def damage(store: Store, key: str) -> None:
        path = store.entry_file(key)
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * fraction)])

    return damage


def _frame_claims_gigabytes(store: Store, key: str) -> None:
    path = store.entry_file(key)
    data = path.read_bytes()
    magic, _, crc, length = FRAME.unpack(data[: FRAME.size])
    path.write_bytes(FRAME.pack(magic, 3 << 30, crc, length) + data[FRAME.size :])


#: Damage to a whole entry file (the two file backends only).
FILE_DAMAGE: dict[str, Callable[[Store, str], None]] = {
    "empty file": _truncate_file(0),
    "half a file": _truncate_file(0.5),
    "frame claiming 3 GiB of head": _frame_claims_gigabytes,
}


def damage_of(name: str) -> Callable[[Store, str], None]:
    if name in FILE_DAMAGE:
        return FILE_DAMAGE[name]
    change = HEAD_DAMAGE[name]
    return lambda store, key: store.plant_head(key, change(store.head_bytes(key)))


def test_damaged_entries_are_logged_misses_that_are_overwritten(
    origin: Origin,
    byte_store: Store,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every kind of damage at once, each to its own entry, beside a good entry."""
    damages = [*HEAD_DAMAGE, *(FILE_DAMAGE if byte_store.name in FILE_BACKENDS else ())]
    good_url = origin.route("/good", counter_handler(FRESH))
    session = byte_store.session()
    good_key = session.get(good_url).cache_key
    damaged: dict[str, tuple[str, str]] = {}  # damage -> (url, key)
    for n, damage in enumerate(damages):
        url = origin.route(f"/damaged/{n}", counter_handler(FRESH))
        stored = session.get(url)
        assert stored.text == "body 1"
        damaged[damage] = (url, stored.cache_key)
    for damage, (_, key) in damaged.items():
        damage_of(damage)(byte_store, key)

    # The CLI, with the damaged entries in place: no crash, exit 0, the good one intact.
    listed = byte_store.cli("cache", "ls", "--json")
    assert listed.exit_code == 0, listed.output
    rows = {row["key"]: row for row in json.loads(listed.stdout)}
    assert rows[good_key]["url"] == good_url
    table = byte_store.cli("cache", "ls")
    assert table.exit_code == 0 and good_key[:12] in table.stdout, table.output
    stats = byte_store.cli("cache", "stats", "--json")
    assert stats.exit_code == 0, stats.output
    assert json.loads(stats.stdout)["entries"] >= 1
    for target in (good_key, good_url):
        shown = byte_store.cli("cache", "inspect", "--json", target)
        assert shown.exit_code == 0, shown.output
        assert [e["key"] for e in json.loads(shown.stdout)] == [good_key]
    for damage, (url, key) in damaged.items():
        # SQLite and Redis list entries from their index, which the damage did not
        # touch: ls shows the entry and inspect marks it unreadable. The file backends
        # read every head to list: ls skips the entry, inspect does not know the key.
        if byte_store.name in FILE_BACKENDS:
            assert key not in rows, damage
            for target in (key, url):
                missing = byte_store.cli("cache", "inspect", target)
                assert missing.exit_code == 66, (damage, missing.output)  # not found
                assert "no cached entry" in missing.stderr and "Traceback" not in missing.output
        else:
            assert rows[key]["url"] == url, damage
            for target in (key, url):
                marked = byte_store.cli("cache", "inspect", "--json", target)
                assert marked.exit_code == 0, (damage, marked.output)
                assert json.loads(marked.stdout) == [
                    {"key": key, "state": "unreadable", "note": Unreadable.NOTE}
                ]
            shown = byte_store.cli("cache", "inspect", key)
            assert shown.exit_code == 0 and "unreadable" in shown.stdout, shown.output
            assert byte_store.cli("cache", "inspect", "--body", key).exit_code == 66

    # The library: each is a miss with a warning, and the new response replaces it.
    for damage, (url, _) in damaged.items():
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="httpcache"):
            refetched = session.get(url)
        assert not refetched.from_cache and refetched.text == "body 2", damage
        warnings = [r for r in caplog.records if r.name == "httpcache"]
        assert any(r.levelno == logging.WARNING for r in warnings), damage

    other = byte_store.session()  # another instance reads what is stored now
    for damage, (url, _) in damaged.items():
        hit = other.get(url)
        assert hit.from_cache and hit.text == "body 2", damage
        assert origin.hits(url.removeprefix(origin.base)) == 2
    listed = byte_store.cli("cache", "ls", "--json")
    assert {row["key"] for row in json.loads(listed.stdout)} == {
        good_key,
        *(key for _, key in damaged.values()),
    }
