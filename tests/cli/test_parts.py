"""The CLI's small parts: inputs, config (flags -> the library's classes), output."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from httpcache.caches import DictCache, FileCache, SeparateBodyFileCache, SQLiteCache
from httpcache.heuristics import ExpiresAfter, LastModified, OneDayCache
from httpcache_cli import config, inputs, items, output
from httpcache_cli.errors import CliError

# ---- inputs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("example.org", "http://example.org"),
        ("localhost:8000/a?b=1", "http://localhost:8000/a?b=1"),
        ("https://example.org/x", "https://example.org/x"),
        ("HTTP://Example.org/", "HTTP://Example.org/"),
    ],
)
def test_parse_url(given: str, url: str) -> None:
    assert inputs.parse_url(given) == url


@pytest.mark.parametrize(
    "bad", ["", "ftp://x", "http://", "http://h:0/", "http://h:x/", "http://a b/"]
)
def test_parse_url_rejects(bad: str) -> None:
    with pytest.raises(CliError) as caught:
        inputs.parse_url(bad)
    assert caught.value.status == 64
    assert caught.value.hint


def test_parse_headers() -> None:
    headers = inputs.parse_headers(["A: 1", "a: 2", "B:", "C:  spaced  "])
    assert headers == {"A": "1, 2", "B": None, "C": "spaced"}
    for bad in ["nocolon", "Bad Name: x", ": empty"]:
        with pytest.raises(CliError):
            inputs.parse_headers([bad])


def test_parse_params_keeps_order_and_repeats() -> None:
    assert inputs.parse_params(["a=1", "a=2", "b="]) == [("a", "1"), ("a", "2"), ("b", "")]


def test_build_defaults_content_type_unless_given() -> None:
    form = inputs.build("post", "x.test", raw="a=1")
    assert form.method == "POST"
    assert form.headers["Content-Type"] == inputs.FORM
    own = inputs.build("POST", "x.test", headers=["content-type: text/csv"], raw="a,b")
    assert own.headers == {"content-type": "text/csv"}


@pytest.mark.parametrize(
    ("item", "split"),
    [
        ("Accept:text/html", ("Accept", ":", "text/html")),
        ("X-Time:12:30", ("X-Time", ":", "12:30")),
        ("q==a=b", ("q", "==", "a=b")),
        ("name=a:b@c", ("name", "=", "a:b@c")),
        ("n:=[1, 2]", ("n", ":=", "[1, 2]")),
        ("f@/tmp/x", ("f", "@", "/tmp/x")),
        ("@/tmp/x", ("", "@", "/tmp/x")),
        ("t=@/tmp/x", ("t", "=@", "/tmp/x")),
        ("j:=@/tmp/x", ("j", ":=@", "/tmp/x")),
        ("a\\=b=c", ("a=b", "=", "c")),
        ("a\\:b:c", ("a:b", ":", "c")),
        ("X-Empty;", ("X-Empty", ";", "")),
        ("plain", None),
    ],
)
def test_request_items_split_at_their_first_separator(
    item: str, split: tuple[str, str, str] | None
) -> None:
    assert items.split_item(item) == split


def test_data_items_make_a_json_object_or_a_form(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("from file")
    (tmp_path / "j.json").write_text('{"k": [1]}')
    fields = ["a=1", "n:=2", "a=3", f"t=@{tmp_path / 't.txt'}", f"j:=@{tmp_path / 'j.json'}"]
    sent = inputs.build("POST", "x.test", items=fields)
    assert json.loads(sent.body or b"") == {
        "a": ["1", "3"], "n": 2, "t": "from file", "j": {"k": [1]},
    }  # fmt: skip
    assert sent.headers["Content-Type"] == "application/json"
    form = inputs.build("POST", "x.test", items=["a=1", "b=x y"], mode="form")
    assert form.body == b"a=1&b=x+y"
    assert form.headers["Content-Type"].startswith(inputs.FORM)
    upload = inputs.build("POST", "x.test", items=["a=1", f"f@{tmp_path / 't.txt'}"])
    assert upload.body is None
    assert upload.form_fields == [("a", "1")]
    assert upload.files == [("f", ("t.txt", b"from file", "text/plain"))]


def test_header_items_set_drop_and_empty() -> None:
    sent = inputs.build("GET", "x.test", items=["X-A:1", "Accept:", "X-Empty;", "q==1"])
    assert sent.headers == {"X-A": "1", "Accept": None, "X-Empty": ""}
    assert sent.params == [("q", "1")]
    assert sent.body is None


# ---- config: every flag reaches the library's classes ----------------------------------------


@pytest.mark.parametrize(
    ("spec", "cls"),
    [
        ("last-modified", LastModified),
        ("one-day", OneDayCache),
        ("expires-after=90m", ExpiresAfter),
        ("Expires-After=1d", ExpiresAfter),
    ],
)
def test_heuristics_are_the_library_classes(spec: str, cls: type) -> None:
    assert type(config.make_heuristic(spec)) is cls


def test_expires_after_duration() -> None:
    heuristic = config.make_heuristic("expires-after=2h30m")
    assert isinstance(heuristic, ExpiresAfter)
    assert heuristic.delta.total_seconds() == 9000
    assert config.make_heuristic(None) is None
    assert config.make_heuristic("none") is None


@pytest.mark.parametrize(
    ("backend", "cls", "name"),
    [
        ("memory", DictCache, None),
        ("sqlite", SQLiteCache, "http_cache.sqlite"),
        ("filesystem", FileCache, "http_cache.filesystem"),
        ("separate-body", SeparateBodyFileCache, "http_cache.separate-body"),
    ],
)
def test_backends_are_the_library_classes(
    tmp_path: Path, backend: str, cls: type, name: str | None
) -> None:
    options = config.CacheOptions(backend=backend, cache_dir=str(tmp_path / "c"))
    cache = options.open_cache()
    try:
        assert type(cache) is cls
        if name is not None:
            assert options.location() == str(tmp_path / "c" / name)
            assert (tmp_path / "c").stat().st_mode & 0o777 == 0o700
        else:
            assert "memory" in options.location()
    finally:
        cache.close()


def test_memory_cache_lives_as_long_as_the_process() -> None:
    options = config.CacheOptions(backend="memory")
    assert options.open_cache() is options.open_cache()
    assert config.CacheOptions(backend="memory", cache_name="other").open_cache() is not (
        options.open_cache()
    )


def test_default_folder_is_the_user_cache_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    from platformdirs import user_cache_dir

    assert config.CacheOptions().directory == Path(user_cache_dir("httpcache"))
    assert config.CacheOptions().path == Path(user_cache_dir("httpcache")) / "http_cache.sqlite"
    monkeypatch.setenv("HC_CACHE_DIR", "/srv/cache")
    monkeypatch.setenv("HC_BACKEND", "filesystem")
    assert config.from_environment().path == Path("/srv/cache/http_cache.filesystem")


def test_session_gets_the_options(tmp_path: Path) -> None:
    options = config.CacheOptions(
        backend="memory", heuristic="one-day", expire_after="1h", cache_dir=str(tmp_path)
    )
    session = options.open_session()
    try:
        assert isinstance(session.settings.heuristic, OneDayCache)
        assert session.expire_after == "1h"
        assert session.headers["User-Agent"].startswith("hc/")
    finally:
        session.close()


def test_redis_location_hides_the_password() -> None:
    options = config.CacheOptions(backend="redis", redis_url="redis://me:pw@host:6379/1")
    assert options.location() == "redis://me:***@host:6379/1 namespace http_cache"


# ---- output -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59.6, "1m"), (75, "1m15s"), (600, "10m"), (3660, "1h01m"), (86400 * 2, "2d"),
     (-30, "30s"), (math.inf, "forever")],
)  # fmt: skip
def test_human_duration(seconds: float, text: str) -> None:
    assert output.human_duration(seconds) == text


def test_relative_and_sizes() -> None:
    assert output.relative(160, 100) == "in 1m"
    assert output.relative(40, 100) == "1m ago"
    assert output.relative(None, 100) == "never"
    assert output.human_size(999) == "999 B"
    assert output.human_size(2310) == "2.3 kB"
    assert output.iso(0) == "1970-01-01T00:00:00Z"


def fake_response(status: str, code: int = 200, **extra: object) -> SimpleNamespace:
    values = {
        "cache_status": status,
        "status_code": code,
        "expires": None,
        "created_at": None,
        "cache_key": "k",
        "request": SimpleNamespace(method="GET"),
    }
    values.update(extra)
    return SimpleNamespace(**values)


def test_cache_status_in_rfc_9211_style() -> None:
    soon = datetime.fromtimestamp(output.now() + 100, UTC)
    hit = output.cache_status(fake_response("hit", expires=soon))
    assert hit.startswith("httpcache; hit; ttl=")
    assert hit.endswith('; key="k"; detail=hit')
    stored = output.cache_status(fake_response("miss", created_at=soon, expires=soon))
    assert stored.startswith("httpcache; fwd=uri-miss; fwd-status=200; ttl=")
    assert "; stored;" in stored
    assert "fwd=stale; fwd-status=304" in output.cache_status(fake_response("revalidated"))
    assert "fwd=request; fwd-status=304" in output.cache_status(
        fake_response("revalidated"), refresh=True
    )
    assert "fwd=stale; fwd-status=200" in output.cache_status(fake_response("expired"))
    assert "fwd=bypass" in output.cache_status(fake_response("bypass"))
    assert "fwd=request" in output.cache_status(fake_response("bypass"), force_refresh=True)
    post = fake_response("bypass", request=SimpleNamespace(method="POST"))
    assert "fwd=method" in output.cache_status(post)
    assert "fwd=miss; key" in output.cache_status(fake_response("only-if-cached", 504))
    stale = output.cache_status(
        fake_response("stale", expires=datetime.fromtimestamp(output.now() - 50, UTC))
    )
    assert stale.startswith("httpcache; hit; ttl=-")
