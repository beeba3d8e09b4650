"""Case 7: secrets never reach storage, and what is stored is private to its owner.

Sentinel tokens travel in credential headers (either letter case), cookies, a URL's
user info, query parameters and JSON and form fields named in ``ignored_parameters``
(the default list). Afterwards nothing that stores or shows the cache contains them:
the SQLite file (with -wal and -shm), the cache folders, a Redis ``DUMP`` of every
key, ``hc cache ls`` and ``hc cache inspect``. Cache files are 0600 and folders 0700
whatever the umask (the design's storage guarantees).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from httpcache import CachedSession
from httpcache.keys import DEFAULT_IGNORED_PARAMETERS
from tests.faults._backends import (  # noqa: F401 - fixtures
    Store,
    all_files,
    make_store,
    store,
)
from tests.support.origin import Origin, Reply, Seen

SENTINELS = {
    name: f"SNTL{n:02d}x{name.replace('-', '').replace('_', '')}Q7z"
    for n, name in enumerate(
        [
            "Authorization",
            "authorization",
            "X-API-Key",
            "x-api-key",
            "Proxy-Authorization",
            "Cookie",
            "basic",
            "userinfo",
            "query-access_token",
            "query-api_key",
            "query-apikey",
            "query-client_secret",
            "query-password",
            "json-password",
            "json-client_secret",
            "json-api_key",
            "form-password",
            "form-access_token",
        ]
    )
}
#: What HTTP basic authentication puts on the wire for the "basic" sentinel.
BASIC_WIRE = base64.b64encode(f"someone:{SENTINELS['basic']}".encode()).decode()


def _needles() -> list[bytes]:
    return [s.encode() for s in SENTINELS.values()] + [BASIC_WIRE.encode()]


def _ok(seen: Seen) -> Reply:
    # Varying on credentials stores their values too (as digests, RFC 9111 §4.1).
    headers = {"Cache-Control": "max-age=600", "Vary": "Authorization, Cookie, X-API-Key"}
    return Reply(200, headers, f"ok {seen.method} {seen.path}".encode())


def run_secret_traffic(origin: Origin, session: CachedSession) -> int:
    """Requests carrying every sentinel; returns how many responses were stored."""
    s = SENTINELS
    url = origin.route("/s", _ok)
    origin.route("/post", _ok)
    for name in ("Authorization", "authorization", "Proxy-Authorization"):
        session.get(url, headers={name: f"Bearer {s[name]}"})
    for name in ("X-API-Key", "x-api-key"):
        session.get(url, headers={name: s[name]})
    session.get(url, headers={"Cookie": f"session={s['Cookie']}"})
    session.get(url, auth=("someone", s["basic"]))
    session.get(url.replace("://", f"://someone:{s['userinfo']}@"))
    query = {name[len("query-") :]: value for name, value in s.items() if name[:6] == "query-"}
    session.get(url, params={**query, "page": "2"})
    document = {
        "password": s["json-password"],
        "nested": {"client_secret": s["json-client_secret"]},
        "list": [{"api_key": s["json-api_key"]}],
        "q": "visible",
    }
    session.post(origin.url("/post"), json=document)
    form = {"password": s["form-password"], "access_token": s["form-access_token"], "x": "1"}
    session.post(origin.url("/post"), data=form)
    return len(session.cache)


def test_the_default_list_covers_the_usual_names() -> None:
    for name in ("Authorization", "Proxy-Authorization", "Cookie", "X-API-Key"):
        assert name in DEFAULT_IGNORED_PARAMETERS
    for name in ("access_token", "api_key", "apikey", "client_secret", "password"):
        assert name in DEFAULT_IGNORED_PARAMETERS


def test_no_secret_reaches_storage_or_hc_output(origin: Origin, store: Store) -> None:  # noqa: F811
    session = store.session(allowable_methods=("GET", "HEAD", "POST"))
    stored = run_secret_traffic(origin, session)
    assert stored >= 8  # the credentials partition the key, so most requests stored apart
    # The secrets did reach the origin: the cache did not drop them from requests.
    sent = json.dumps([seen.headers for seen in origin.log]) + repr([s.body for s in origin.log])
    assert SENTINELS["Authorization"] in sent and SENTINELS["json-password"] in sent

    outputs = []
    listed = store.cli("cache", "ls", "--json")
    assert listed.exit_code == 0, listed.output
    keys = [row["key"] for row in json.loads(listed.stdout)]
    assert len(keys) == stored
    outputs += [listed.output, store.cli("cache", "ls").output]
    for key in keys:
        for args in (("cache", "inspect", key), ("cache", "inspect", "--json", key)):
            shown = store.cli(*args)
            assert shown.exit_code == 0, shown.output
            outputs.append(shown.output)
    shown_text = "\n".join(outputs)
    assert "REDACTED" in shown_text  # the fields were stored, their values were not
    for needle in _needles():
        assert needle.decode() not in shown_text

    if store.name == "memory":
        stored_text = repr([session.cache.get(key) for key in keys])
        assert "REDACTED" in stored_text
        for needle in _needles():
            assert needle.decode() not in stored_text
        return
    dump = store.dump()
    assert b"REDACTED" in dump and b"ok GET /s" in dump  # the dump does hold the entries
    for needle in _needles():
        assert needle not in dump, f"{needle!r} found in the {store.name} storage"


@pytest.fixture(params=[0o000, 0o022, 0o077], ids=["umask-000", "umask-022", "umask-077"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


@pytest.mark.parametrize("backend", ["sqlite", "filesystem", "separate-body"])
def test_files_0600_and_folders_0700_whatever_the_umask(
    origin: Origin,
    backend: str,
    umask: int,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    made = make_store(request, backend, tmp_path)
    session = made.session(allowable_methods=("GET", "HEAD", "POST"))
    run_secret_traffic(origin, session)
    session.cache.remove_expired()
    assert made.cli("cache", "stats").exit_code == 0
    # The CLI creating a cache folder of its own, under the same umask.
    cli_root = tmp_path / "cli" / "nested"
    other = made.__class__(backend, cli_root, made.cache_name)
    assert other.cli("get", origin.url("/s")).exit_code == 0

    modes = {}
    for root in (made.root, tmp_path / "cli"):
        for path in all_files(root):
            info = path.lstat()
            modes[path] = (stat.S_ISDIR(info.st_mode), stat.S_IMODE(info.st_mode))
    assert sum(not is_dir for is_dir, _ in modes.values()) >= 3
    wrong = {
        str(p): oct(mode)
        for p, (is_dir, mode) in modes.items()
        if mode != (0o700 if is_dir else 0o600)
    }
    assert wrong == {}
    made.close()


def test_set_cookie_is_never_stored_nor_replayed(origin: Origin, store: Store) -> None:  # noqa: F811
    sentinel = "SNTLcookieQ7z"
    headers = {"Cache-Control": "max-age=600", "Set-Cookie": f"session={sentinel}; Path=/"}
    url = origin.route("/cookie", Reply(200, headers, b"cookie body"))
    session = store.session()
    first = session.get(url)
    # The live response sets it, as it would without a cache.
    assert first.headers["Set-Cookie"].startswith("session=")
    assert session.cookies.get("session") == sentinel
    session.cookies.clear()

    hit = session.get(url)
    assert hit.from_cache and hit.content == b"cookie body"
    assert "Set-Cookie" not in hit.headers
    assert len(hit.cookies) == 0 and len(session.cookies) == 0  # nothing set again
    other = store.session()  # another session on the same store
    assert other.get(url).from_cache and len(other.cookies) == 0

    entry = session.cache.get(hit.cache_key)
    assert entry is not None and "set-cookie" not in entry.response.headers
    shown = store.cli("cache", "inspect", "--json", hit.cache_key)
    assert shown.exit_code == 0 and sentinel not in shown.output
    if store.name != "memory":
        dump = store.dump()
        assert b"cookie body" in dump  # the entry is there, its cookie is not
        assert sentinel.encode() not in dump


def _echo_token(seen: Seen) -> Reply:
    """Tells requests apart by a digest of what they sent (the secrets themselves must
    not be in the body, which is stored)."""
    sent = hashlib.sha256(seen.query.encode() + seen.body).hexdigest()[:16]
    return Reply(200, {"Cache-Control": "max-age=600"}, f"for {sent}".encode())


def test_credential_parameters_partition_the_cache(origin: Origin, store: Store) -> None:  # noqa: F811
    # Redacted from what is stored, but a response fetched with one token must never
    # answer a request with another (DESIGN: credentials partition the cache).
    url = origin.route("/t", _echo_token)
    session = store.session(allowable_methods=("GET", "POST"))
    first = session.get(url, params={"token": "SNTLtokAQ7z", "q": "1"})
    other = session.get(url, params={"Token": "SNTLtokBQ7z", "q": "1"})
    again = session.get(url, params={"q": "1", "token": "SNTLtokAQ7z"})
    assert not first.from_cache and not other.from_cache
    assert other.text != first.text  # the origin's answer for the other token
    assert again.from_cache and again.text == first.text
    assert origin.hits("/t") == 2
    # The same in a JSON body (POST opted in as a query).
    login = origin.route("/login", _echo_token)
    session.post(login, json={"user": "u", "password": "SNTLpw1Q7z"})
    assert not session.post(login, json={"user": "u", "password": "SNTLpw2Q7z"}).from_cache
    assert session.post(login, json={"password": "SNTLpw1Q7z", "user": "u"}).from_cache
    if store.name != "memory":
        dump = store.dump()
        for needle in (b"SNTLtokAQ7z", b"SNTLtokBQ7z", b"SNTLpw1Q7z", b"SNTLpw2Q7z"):
            assert needle not in dump


def test_a_callers_own_list_shares_what_it_names_and_still_redacts_credentials(
    origin: Origin,
    store: Store,  # noqa: F811
) -> None:
    url = origin.route("/t", _echo_token)
    # Naming ``token`` says it does not change the response: one entry for all tokens.
    shared = store.session(ignored_parameters=["token"])
    shared.get(url, params={"token": "SNTLtokAQ7z"})
    assert shared.get(url, params={"token": "SNTLtokBQ7z"}).from_cache
    # A list that does not name them: credentials stay in the key, and out of storage.
    own = store.session(ignored_parameters=["utm_source"])
    own.get(url, params={"api_key": "SNTLkeyCQ7z", "utm_source": "x"})
    assert own.get(url, params={"api_key": "SNTLkeyCQ7z", "utm_source": "y"}).from_cache
    assert not own.get(url, params={"api_key": "SNTLkeyDQ7z"}).from_cache
    listed = store.cli("cache", "ls", "--json")
    assert "api_key=REDACTED" in listed.output
    assert "SNTLkeyCQ7z" not in listed.output and "SNTLtokAQ7z" not in listed.output
    if store.name != "memory":
        dump = store.dump()
        for needle in (b"SNTLtokAQ7z", b"SNTLtokBQ7z", b"SNTLkeyCQ7z", b"SNTLkeyDQ7z"):
            assert needle not in dump
