"""Case 4: foreign and hostile entries. A pickle planted in the store never runs,
whoever reads it (the session, ``hc cache ls``, ``inspect``, ``stats``); an entry
file that is a symbolic link is not followed, neither to read nor to write.

The design: "Serialization is msgpack in a versioned envelope. Never pickle: loading
an entry never runs code."
"""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path
from typing import Any

import pytest

from httpcache.caches._files import name_of
from tests.faults._backends import (  # noqa: F401 - fixture
    FILE_BACKENDS,
    Store,
    byte_store,
    make_store,
)
from tests.support.origin import Origin, counter_handler

FRESH = {"Cache-Control": "max-age=600"}


class _Planted:
    """Unpickling this creates ``marker`` (through ``open``): proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def payload(marker: Path, protocol: int) -> bytes:
    return pickle.dumps(_Planted(marker), protocol=protocol)


@pytest.mark.parametrize("protocol", [0, pickle.HIGHEST_PROTOCOL])
def test_planted_pickle_never_runs(
    origin: Origin,
    byte_store: Store,  # noqa: F811
    tmp_path: Path,
    protocol: int,
) -> None:
    control = tmp_path / "control"
    pickle.loads(payload(control, protocol)).close()
    assert control.exists(), "the payload must run when unpickled, or this test proves nothing"

    marker = tmp_path / "marker"
    url = origin.route("/planted", counter_handler(FRESH))
    session = byte_store.session()
    key = session.get(url).cache_key
    byte_store.plant_head(key, payload(marker, protocol))
    if byte_store.name in FILE_BACKENDS:  # and a whole entry file that is a pickle
        other = origin.route("/planted-file", counter_handler(FRESH))
        byte_store.entry_file(session.get(other).cache_key).write_bytes(payload(marker, protocol))

    for args in (("cache", "ls", "--json"), ("cache", "stats"), ("cache", "inspect", url)):
        result = byte_store.cli(*args)
        assert result.exit_code in (0, 66), result.output  # 66: not listed, so not found
    assert byte_store.cli("cache", "ls").exit_code == 0
    assert byte_store.cli("cache", "inspect", key).exit_code in (0, 66)

    refetched = session.get(url)
    assert not refetched.from_cache and refetched.text == "body 2"
    assert byte_store.session().get(url).from_cache  # overwritten with a real entry
    assert not marker.exists()


def _store_and_move_out(origin: Origin, made: Store, outside: Path) -> tuple[str, str, Path, Path]:
    url = origin.route("/linked", counter_handler(FRESH))
    key = made.session().get(url).cache_key
    entry = made.entry_file(key)
    outside.mkdir()
    target = outside / name_of(key)
    entry.rename(target)
    return url, key, entry, target


@pytest.mark.parametrize("backend", FILE_BACKENDS)
def test_symlinked_entry_file_is_neither_read_nor_written(
    origin: Origin,
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    made = make_store(request, backend, tmp_path)
    # A valid entry for this very key, moved out and linked back in: followed, it
    # would be a hit.
    url, key, entry, target = _store_and_move_out(origin, made, tmp_path / "outside")
    entry.symlink_to(target)
    before = target.read_bytes()

    session = made.session()
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        response = session.get(url)
    assert not response.from_cache and response.text == "body 2"
    assert any("symbolic link" in r.getMessage() for r in caplog.records)
    assert target.read_bytes() == before  # not written through the link
    assert entry.is_file() and not entry.is_symlink()  # the link itself was replaced
    assert session.get(url).from_cache

    # A link to another file of the user's: hc neither shows nor changes it.
    secret = tmp_path / "outside" / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    entry.unlink()
    entry.symlink_to(secret)
    for args in (("cache", "ls", "--json"), ("cache", "stats", "--json")):
        result = made.cli(*args)
        assert result.exit_code == 0 and "TOP-SECRET" not in result.output
    listed = json.loads(made.cli("cache", "ls", "--json").stdout)
    assert key not in {row["key"] for row in listed}
    shown = made.cli("cache", "inspect", key)
    assert shown.exit_code == 66 and "TOP-SECRET" not in shown.output
    assert made.cli("cache", "rm", "--url", "*").exit_code == 0
    assert secret.read_text() == "TOP-SECRET-CONTENT"
    made.close()


def test_symlinked_body_file_is_not_followed(
    origin: Origin, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    made = make_store(request, "separate-body", tmp_path)
    url = origin.route("/body-linked", counter_handler(FRESH))
    key = made.session().get(url).cache_key
    kd = name_of(key)
    [body] = list((made.path / "bodies" / kd[:2]).glob(f"{kd}.*"))
    moved = tmp_path / "moved-body"
    body.rename(moved)
    body.symlink_to(moved)  # same bytes: followed, it would be a hit

    response = made.session().get(url)
    assert not response.from_cache and response.text == "body 2"
    assert moved.read_bytes() == b"body 1"
    made.close()
