"""The public names of ``httpcache``: stable, importable as before, loaded on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest

import httpcache

#: The contract's names and where each is defined (a submodule itself: None).
PUBLIC = {
    "DEFAULT_IGNORED_PARAMETERS": "httpcache.keys",
    "DO_NOT_CACHE": "httpcache.policy.expiration",
    "EXPIRE_IMMEDIATELY": "httpcache.policy.expiration",
    "NEVER_EXPIRE": "httpcache.policy.expiration",
    "BackendNotAvailableError": "httpcache.errors",
    "BaseCache": "httpcache.caches",
    "BaseHeuristic": "httpcache.heuristics",
    "CacheConfig": "httpcache.config",
    "CacheControl": "httpcache.session",
    "CacheControlAdapter": "httpcache.adapter",
    "CacheMixin": "httpcache.session",
    "CacheStatus": "httpcache.policy.actions",
    "CachedResponse": "httpcache._views",
    "CachedSession": "httpcache.session",
    "ConfigurationError": "httpcache.errors",
    "DeserializationError": "httpcache.errors",
    "DictCache": "httpcache.caches",
    "Entry": "httpcache.models",
    "ExpiresAfter": "httpcache.heuristics",
    "Headers": "httpcache.models",
    "HttpCacheError": "httpcache.errors",
    "LastModified": "httpcache.heuristics",
    "OneDayCache": "httpcache.heuristics",
    "Request": "httpcache.models",
    "RequestOptions": "httpcache.config",
    "Response": "httpcache.models",
    "StorageError": "httpcache.errors",
    "__version__": "httpcache._version",
    "caches": None,
    "clear": "httpcache.patcher",
    "create_key": "httpcache.keys",
    "disabled": "httpcache.patcher",
    "enabled": "httpcache.patcher",
    "get_cache": "httpcache.patcher",
    "heuristics": None,
    "install_cache": "httpcache.patcher",
    "is_installed": "httpcache.patcher",
    "remove_expired_responses": "httpcache.patcher",
    "uninstall_cache": "httpcache.patcher",
}


def test_all_is_the_contract() -> None:
    assert sorted(httpcache.__all__) == sorted(PUBLIC)
    assert len(set(httpcache.__all__)) == len(httpcache.__all__)


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_each_name_is_the_object_of_its_module(name: str) -> None:
    import importlib

    where = PUBLIC[name]
    value = getattr(httpcache, name)
    if where is None:
        assert value is importlib.import_module(f"httpcache.{name}")
    else:
        assert value is getattr(importlib.import_module(where), name)
    namespace: dict[str, object] = {}
    exec(f"from httpcache import {name}", namespace)
    assert namespace[name] is value
    assert name in dir(httpcache)


def test_star_import() -> None:
    namespace: dict[str, object] = {}
    exec("from httpcache import *", namespace)
    assert set(PUBLIC) <= set(namespace)


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        httpcache.nope  # noqa: B018
    with pytest.raises(ImportError):
        exec("from httpcache import nope", {})


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_httpcache_is_light() -> None:
    """Neither requests nor the policy until a name needs them."""
    out = run_python(
        "import sys, httpcache\n"
        "print(httpcache.__version__)\n"
        "print(sorted(m for m in ('requests', 'urllib3', 'httpcache.session', 'httpcache.adapter',"
        " 'httpcache.policy.controller') if m in sys.modules))\n"
        "from httpcache.caches.sqlite import SQLiteCache\n"
        "from httpcache.config import CacheConfig\n"
        "print('requests' in sys.modules)\n"
        "httpcache.CachedSession\n"
        "print('requests' in sys.modules)\n"
    )
    assert out.split("\n")[:4] == [httpcache.__version__, "[]", "False", "True"]


def test_every_name_works_without_redis() -> None:
    out = run_python(
        "import sys\n"
        "sys.modules['redis'] = None  # as if not installed: importing it fails\n"
        "import httpcache\n"
        "from httpcache import *\n"
        "names = [getattr(httpcache, n) for n in httpcache.__all__]\n"
        "s = httpcache.CachedSession(backend='memory')\n"
        "try:\n"
        "    httpcache.caches.RedisCache\n"
        "except httpcache.BackendNotAvailableError:\n"
        "    print('redis unavailable')\n"
        "print(len(names))\n"
    )
    assert out.split() == ["redis", "unavailable", str(len(PUBLIC))]
