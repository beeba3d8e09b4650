"""Global options (flags and ``HC_*`` environment variables) -> the library's objects.

The CLI keeps no caching logic: the backend comes from ``httpcache.caches.make_backend``,
the heuristic from ``httpcache.heuristics``, durations are checked by the library's
own parser, and every command works through a ``CachedSession``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from .errors import CliError, usage
from .exit_codes import ExitStatus

if TYPE_CHECKING:
    from httpcache import CachedSession
    from httpcache.caches import BaseCache
    from httpcache.heuristics import BaseHeuristic

DEFAULT_BACKEND = "sqlite"
DEFAULT_CACHE_NAME = "http_cache"
DEFAULT_REDIS_URL = "redis://localhost:6379/0"
HEURISTICS = ("last-modified", "one-day", "expires-after=DURATION")
#: A longer duration is surely a typo (and past the calendar's end): say "never".
MAX_DURATION = 100 * 365.25 * 86400

#: Environment variables, by the global option they stand for.
ENV = {
    "backend": "HC_BACKEND",
    "cache_name": "HC_CACHE_NAME",
    "cache_dir": "HC_CACHE_DIR",
    "redis_url": "HC_REDIS_URL",
    "heuristic": "HC_HEURISTIC",
    "expire_after": "HC_EXPIRE_AFTER",
}

#: ``--backend memory`` lives as long as the process: one cache per name, shared by
#: every command run in it (tests with CliRunner, hc explain).
_MEMORY: dict[str, BaseCache] = {}


@dataclass(frozen=True)
class CacheOptions:
    """What the global options say about the cache."""

    backend: str = DEFAULT_BACKEND
    cache_name: str = DEFAULT_CACHE_NAME
    cache_dir: str | None = None
    redis_url: str = DEFAULT_REDIS_URL
    heuristic: str | None = None
    expire_after: str | None = None
    #: The options whose value came from their environment variable (for messages).
    from_env: frozenset[str] = field(default=frozenset(), compare=False)

    def check(self) -> None:
        """Raise a usage error now for a bad heuristic or duration (before any I/O);
        a value from the environment is named by its variable."""
        try:
            make_heuristic(self.heuristic)
        except CliError as exc:
            raise self._named(exc, "heuristic") from exc
        check_duration(self.expire_after, self.label("expire_after", "--expire-after"))
        if not self.cache_name or "/" in self.cache_name or self.cache_name in (".", ".."):
            where = self.label("cache_name", "")
            raise usage(
                f"{where + ': ' if where else ''}bad cache name {self.cache_name!r}",
                "a name such as http_cache; choose the folder with --cache-dir",
            )

    def label(self, name: str, flag: str) -> str:
        """``flag``, or the environment variable that gave the value."""
        return f"{ENV[name]} (environment variable)" if name in self.from_env else flag

    def _named(self, exc: CliError, name: str) -> CliError:
        if name in self.from_env:
            exc.message = f"{self.label(name, '')}: {exc.message}"
        return exc

    @property
    def directory(self) -> Path:
        if self.cache_dir:
            return Path(self.cache_dir).expanduser()
        from platformdirs import user_cache_dir

        return Path(user_cache_dir("httpcache"))

    @property
    def path(self) -> Path | None:
        """Where a file backend keeps the cache (None for memory and redis)."""
        if self.backend == "sqlite":
            name = self.cache_name
            return self.directory / (name if Path(name).suffix else name + ".sqlite")
        if self.backend in ("filesystem", "separate-body"):
            return self.directory / f"{self.cache_name}.{self.backend}"
        return None

    def location(self) -> str:
        """Where the cache is, for people (passwords in a Redis URL hidden)."""
        if self.backend == "redis":
            return f"{_hide_password(self.redis_url)} namespace {self.cache_name}"
        if self.backend == "memory":
            return "memory (this process only)"
        return str(self.path)

    def open_cache(self) -> BaseCache:
        from httpcache.caches import make_backend

        if self.backend == "memory":
            cache = _MEMORY.get(self.cache_name)
            if cache is None:
                cache = _MEMORY[self.cache_name] = make_backend("memory", self.cache_name)
            return cache
        if self.backend == "redis":
            return _open_redis(self.redis_url, self.cache_name)
        path = self.path
        assert path is not None
        make_private_dir(self.directory, read_only_ok=path.exists())
        return make_backend(self.backend, str(path))

    def open_session(self) -> CachedSession:
        """A session on this cache, with the global heuristic and expire_after."""
        from httpcache import CachedSession, __version__

        self.check()
        options: dict[str, object] = {"heuristic": make_heuristic(self.heuristic)}
        if self.expire_after is not None:
            options["expire_after"] = self.expire_after
        session = CachedSession(self.cache_name, backend=self.open_cache(), **options)
        session.headers["User-Agent"] = f"hc/{__version__}"
        return session


def from_environment() -> CacheOptions:
    """The options the environment alone gives (what the flags default to)."""
    values = {name: os.environ.get(var) for name, var in ENV.items()}
    given = {k: v for k, v in values.items() if v}
    return CacheOptions(**given, from_env=frozenset(given))


def make_heuristic(spec: str | None) -> BaseHeuristic | None:
    """``last-modified``, ``one-day``, ``expires-after=DURATION`` (or none) -> an instance."""
    if spec is None or spec.strip().lower() in ("", "none"):
        return None
    from httpcache.heuristics import ExpiresAfter, LastModified, OneDayCache

    name, sep, value = spec.partition("=")
    name = name.strip().lower()
    if name == "last-modified" and not sep:
        return LastModified()
    if name == "one-day" and not sep:
        return OneDayCache()
    if name == "expires-after" and value.strip():
        return ExpiresAfter(seconds=parse_duration(value, "--heuristic expires-after"))
    raise usage(
        f"unknown heuristic {spec!r}",
        "use last-modified, one-day or expires-after=DURATION (such as expires-after=1h)",
    )


def parse_duration(text: str, option: str) -> float:
    """Seconds in a duration string, by the library's parser; a usage error if bad."""
    from httpcache.errors import ConfigurationError
    from httpcache.policy.expiration import parse_duration as library_parse

    try:
        seconds = library_parse(text)
    except ConfigurationError as exc:
        raise usage(f"{option}: {exc}", "durations look like 90s, 15m, 2h30m, 1d, 1w") from exc
    _within_reason(seconds, text, option)
    return seconds


def _within_reason(seconds: float, text: str, option: str) -> None:
    if seconds > MAX_DURATION:
        raise usage(
            f"{option}: {text} is longer than 100 years",
            "use a shorter duration, or never for no expiry",
        )


def check_duration(text: str | None, option: str) -> None:
    """Check an expire_after value with the library's own rules (``never`` welcome)."""
    if text is None:
        return
    from httpcache.errors import ConfigurationError
    from httpcache.policy.expiration import validate

    try:
        validate(text)
    except ConfigurationError as exc:
        raise usage(
            f"{option}: {exc}", "durations look like 90s, 15m, 2h30m, 1d, 1w, or never"
        ) from exc
    from httpcache.policy.expiration import parse_duration as library_parse

    try:
        seconds = library_parse(text)
    except ConfigurationError:
        return  # never, -1 ...: no length to check
    _within_reason(seconds, text, option)


def make_private_dir(folder: Path, read_only_ok: bool = False) -> None:
    """Create ``folder`` and missing parents 0700; fail with a hint if it is unwritable
    (unless ``read_only_ok``: an existing cache read where it cannot be written)."""
    from httpcache._dirs import make_private_dirs

    hint = "choose another folder with --cache-dir or HC_CACHE_DIR"
    try:
        make_private_dirs(folder)
    except OSError as exc:
        raise CliError(
            f"cannot create the cache folder {folder}: {exc.strerror}",
            hint,
            ExitStatus.ERROR_CANNOT_WRITE,
        ) from exc
    if not folder.is_dir():
        raise CliError(
            f"the cache folder {folder} is not a folder", hint, ExitStatus.ERROR_CANNOT_WRITE
        )
    if not os.access(folder, os.W_OK | os.X_OK) and not read_only_ok:
        raise CliError(
            f"the cache folder {folder} is not writable", hint, ExitStatus.ERROR_CANNOT_WRITE
        )


def _open_redis(url: str, namespace: str) -> BaseCache:
    from httpcache.caches import make_backend
    from httpcache.errors import HttpCacheError

    hint = "start redis-server, or point --redis-url (HC_REDIS_URL) at a running one"
    shown = _hide_password(url)
    try:
        cache = make_backend("redis", namespace, url=url)
    except ValueError as exc:  # redis-py: a URL it cannot read
        if isinstance(exc, HttpCacheError):
            raise
        raise usage(f"bad Redis URL {shown!r}: {exc}", "such as redis://localhost:6379/0") from exc
    try:
        cache.client.ping()  # type: ignore[attr-defined]
    except Exception as exc:  # any redis-py failure: the server is not usable
        cache.close()
        raise CliError(
            f"cannot reach Redis at {shown}: {exc}", hint, ExitStatus.ERROR_CACHE_UNAVAILABLE
        ) from exc
    return cache


def _hide_password(url: str) -> str:
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = f"{parts.username}:" if parts.username else ":"
        return urlunsplit(parts._replace(netloc=f"{user}***@{netloc}"))
    except ValueError:
        return url


def options_of(ctx: object) -> CacheOptions:
    """The global options of this invocation (set by the app's callback)."""
    meta = getattr(ctx, "meta", {})
    found = meta.get(META_KEY)
    return found if isinstance(found, CacheOptions) else from_environment()


META_KEY = "hc.options"
