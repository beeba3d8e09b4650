"""Fetching through the cache: one ``Fetch`` in, the response out, an exit status back.

The body goes to stdout as bytes, exactly as the session returns it (no charset
decoding; a Content-Encoding such as gzip removed, as browsers and httpie do), or
formatted when --pretty says so (JSON on a terminal), or to a file with ``-o`` /
``-d`` (``downloads``). What else is printed (``--print``) is ``printing``'s job;
``-v`` puts heads and the cache status on stderr, so stdout stays the body.

No typer here: ``fast.py`` runs this for ``hc get URL`` without loading typer.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import inputs, output, printing
from .config import CacheOptions, check_duration
from .errors import CliError, usage
from .exit_codes import ExitStatus, for_http_status
from .spec import PRETTY

CHUNK = 64 * 1024
AUTH_TYPES = ("basic", "digest", "bearer")
#: Longer than this, a timeout is surely a typo (and sockets refuse some larger ones).
MAX_TIMEOUT = 365 * 86400.0
YES = ("yes", "true", "y", "1", "on")
NO = ("no", "false", "n", "0", "off")


@dataclass
class Fetch:
    """One fetch, as the options describe it."""

    request: inputs.RequestInput
    output: Path | None = None
    download: bool = False
    resume: bool = False
    #: What to print on stdout (letters of H, B, h, b, m); "" for the default.
    print_: str = ""
    verbose: bool = False
    pretty: str | None = None
    style: str | None = None
    sort_keys: bool = True
    expire_after: str | None = None
    refresh: bool = False
    force_refresh: bool = False
    offline: bool = False
    no_cache: bool = False
    timeout: float | None = None
    follow: bool = False
    max_redirects: int = 30
    check_status: bool = False
    auth: str | None = None
    auth_type: str | None = None
    verify: str | None = None
    insecure: bool = False
    cert: Path | None = None
    cert_key: Path | None = None
    #: The cache, whose own files no download may replace (set by ``check``).
    cache_options: CacheOptions | None = field(default=None, compare=False, repr=False)

    @property
    def saves_to_file(self) -> bool:
        return self.download or (self.output is not None and str(self.output) != "-")

    @property
    def tls_is_default(self) -> bool:
        return self.verify_value() is True and self.cert is None

    def what(self) -> str:
        """The letters of --print in effect (HEAD prints its head by default)."""
        if self.print_:
            return self.print_
        return "h" if self.request.method == "HEAD" else "b"

    def check(self, options: CacheOptions | None = None) -> None:
        check_duration(self.expire_after, "--expire-after")
        chosen = [
            name
            for name, on in (
                ("--offline", self.offline),
                ("--refresh", self.refresh),
                ("--force-refresh", self.force_refresh),
                ("--no-cache", self.no_cache),
            )
            if on
        ]
        if len(chosen) > 1:
            raise usage(f"{chosen[0]} and {chosen[1]} contradict each other", "choose one")
        unknown = set(self.print_) - set("HBhbm")
        if unknown:
            raise usage(
                f"--print {self.print_!r}: unknown {''.join(sorted(unknown))!r}",
                "use the letters H, B, h, b and m (such as -p Hh)",
            )
        if self.pretty is not None and self.pretty not in PRETTY:
            raise usage(f"--pretty {self.pretty!r}", "use all, colors, format or none")
        if self.timeout is not None and not (0.001 <= self.timeout <= MAX_TIMEOUT):
            raise usage(
                f"--timeout {self.timeout:g} is out of range",
                "give seconds between 0.001 and a year, such as --timeout 30",
            )
        if self.max_redirects < 0:
            raise usage(f"--max-redirects {self.max_redirects}", "give 0 or more")
        if self.style is not None:
            _check_style(self.style)
        if self.auth_type is not None and self.auth_type.lower() not in AUTH_TYPES:
            raise usage(f"--auth-type {self.auth_type!r}", "use basic, digest or bearer")
        if self.auth_type is not None and self.auth is None:
            raise usage("--auth-type without --auth", "give the credentials with -a USER[:PASS]")
        self.verify_value()
        for option, path in (("--cert", self.cert), ("--cert-key", self.cert_key)):
            if path is not None and not path.expanduser().is_file():
                raise usage(f"{option} {path}: no such file", "give the path of a PEM file")
        if self.cert_key is not None and self.cert is None:
            raise usage("--cert-key without --cert", "give the certificate with --cert FILE")
        if self.resume and self.output is None:
            raise usage("--continue needs -o FILE", "name the partial file: -c -o FILE")
        if options is not None:
            self.cache_options = options
        if options is not None and self.output is not None and str(self.output) != "-":
            from . import downloads  # only what saves a file needs it

            downloads.refuse_cache_files(self.output, options)

    def verify_value(self) -> bool | str:
        """--verify and -k as requests takes ``verify``: True, False or a CA path."""
        if self.insecure:
            if self.verify is not None and self.verify.lower() not in NO:
                raise usage(f"-k and --verify {self.verify} contradict each other", "choose one")
            return False
        if self.verify is None or self.verify.lower() in YES:
            return True
        if self.verify.lower() in NO:
            return False
        path = Path(self.verify).expanduser()
        if not path.exists():
            raise usage(
                f"--verify {self.verify}: no such CA bundle",
                "use yes, no, or the path of a CA bundle (PEM)",
            )
        return str(path)


def _check_style(style: str) -> None:
    from pygments.styles import get_all_styles

    names = sorted(get_all_styles())
    if style not in names:
        shown = ", ".join(n for n in names if n in ("monokai", "default", "friendly", "native"))
        raise usage(f"--style {style!r}: no such style", f"such as {shown}")


def make_fetch(method: str, values: dict[str, Any]) -> Fetch:
    """A ``Fetch`` from parsed option values (by parameter name); missing ones default."""
    return Fetch(
        request=inputs.build(
            method,
            values["url"],
            headers=values.get("header"),
            params=values.get("param"),
            raw=values.get("raw"),
            items=values.get("items"),
            mode=inputs.body_mode(
                bool(values.get("json")), bool(values.get("form")), bool(values.get("multipart"))
            ),
        ),
        output=values.get("output"),
        download=bool(values.get("download")),
        resume=bool(values.get("resume")),
        print_=_print_letters(values),
        verbose=bool(values.get("verbose")),
        pretty=values.get("pretty"),
        style=values.get("style"),
        sort_keys=not values.get("unsorted") or bool(values.get("sorted_")),
        expire_after=values.get("expire_after"),
        refresh=bool(values.get("refresh")),
        force_refresh=bool(values.get("force_refresh")),
        offline=bool(values.get("offline")),
        no_cache=bool(values.get("no_cache")),
        timeout=values.get("timeout"),
        follow=bool(values.get("follow")),
        max_redirects=values.get("max_redirects", 30),
        check_status=bool(values.get("check_status")),
        auth=values.get("auth"),
        auth_type=values.get("auth_type"),
        verify=values.get("verify"),
        insecure=bool(values.get("insecure")),
        cert=values.get("cert"),
        cert_key=values.get("cert_key"),
    )


def _print_letters(values: dict[str, Any]) -> str:
    if values.get("print_"):
        return str(values["print_"])
    if values.get("headers_only"):
        return "h"
    if values.get("body_only"):
        return "b"
    if values.get("include"):
        return "hb"
    return ""


def run(options: CacheOptions, fetch: Fetch) -> ExitStatus:
    """Perform ``fetch``; return the exit status (errors raise ``CliError``)."""
    fetch.check(options)
    auth = _auth(fetch)
    if options.backend == "memory" and fetch.request.method in ("GET", "HEAD"):
        output.err("hc: warning: --backend memory keeps nothing once hc exits")
    session = options.open_session()
    try:
        response = _send(session, fetch, auth)
        try:
            return _deliver(response, fetch)
        finally:
            response.close()
            # stale-while-revalidate: the refresh started in the background finishes
            # before hc exits, so the next run finds it (RFC 5861 §3).
            session.wait_for_background()
    finally:
        session.close()
        session.cache.close()


def _auth(fetch: Fetch) -> Any:
    """What requests takes as ``auth`` (a bearer token is a header instead)."""
    if fetch.auth is None:
        return None
    kind = (fetch.auth_type or "basic").lower()
    if kind == "bearer":
        fetch.request.headers["Authorization"] = f"Bearer {fetch.auth}"
        return None
    user, sep, password = fetch.auth.partition(":")
    if not sep:
        password = _ask_password(user)
    if kind == "digest":
        from requests.auth import HTTPDigestAuth

        return HTTPDigestAuth(user, password)
    return (user, password)


def _ask_password(user: str) -> str:
    if not output.is_terminal(sys.stdin):
        raise usage(f"--auth {user}: no password", "give it as USER:PASSWORD, or run on a terminal")
    import getpass

    return getpass.getpass(f"hc: password for {user}: ")


def _send(session: Any, fetch: Fetch, auth: Any = None) -> Any:
    request = fetch.request
    session.max_redirects = fetch.max_redirects
    kwargs: dict[str, Any] = {
        "headers": request.headers,
        "params": request.params,
        "data": request.form_fields if request.files else request.body,
        "timeout": fetch.timeout,
        "allow_redirects": fetch.follow,
        "stream": True,
        "only_if_cached": fetch.offline,
        "refresh": fetch.refresh,
        "force_refresh": fetch.force_refresh,
    }
    if request.files:
        kwargs["files"] = request.files
    if auth is not None:
        kwargs["auth"] = auth
    if not fetch.tls_is_default:
        kwargs["verify"] = fetch.verify_value()
        if fetch.cert is not None:
            cert = str(fetch.cert.expanduser())
            kwargs["cert"] = (cert, str(fetch.cert_key.expanduser())) if fetch.cert_key else cert
    if fetch.expire_after is not None:
        kwargs["expire_after"] = fetch.expire_after
    if fetch.resume:
        from . import downloads

        assert fetch.output is not None
        kwargs["headers"] = downloads.resume_headers(fetch.output, request.headers)
    if fetch.no_cache:
        with session.cache_disabled():
            return session.request(request.method, request.url, **kwargs)
    return session.request(request.method, request.url, **kwargs)


def _deliver(response: Any, fetch: Fetch) -> ExitStatus:
    status_name = str(getattr(response, "cache_status", ""))
    if status_name == "only-if-cached":
        raise CliError(
            f"not in the cache: {fetch.request.method} {output.safe(response.url)}",
            "drop --offline to fetch it; 'hc explain --offline URL' says why",
            ExitStatus.ERROR_NOT_CACHED,
        )
    if fetch.offline and (status_name == "stale" or getattr(response, "is_expired", False)):
        output.err("hc: warning: --offline: the stored response is stale, served as it is")
    if fetch.verbose:
        printing.verbose(response, fetch)
    if fetch.resume and _already_complete(response, fetch):
        printing.drain(response)
        output.err(f"hc: {output.safe(str(fetch.output))} is already complete")
        return ExitStatus.SUCCESS
    check = fetch.check_status or fetch.saves_to_file
    status = for_http_status(response.status_code, fetch.follow) if check else ExitStatus.SUCCESS
    printing.status_lines(response, fetch, warned=bool(status))
    if fetch.saves_to_file:
        if status:
            printing.drain(response)
            raise CliError(
                f"HTTP {response.status_code} {output.safe(response.reason or '')}".rstrip()
                + ": nothing saved",
                "the server answered with an error; -v shows its headers",
                status,
            )
        printing.to_stdout(response, fetch.what().replace("b", ""), fetch, read_body=False)
        from . import downloads

        downloads.save(response, fetch)
        return status
    printing.to_stdout(response, fetch.what(), fetch)
    if status:
        output.err(f"hc: warning: {printing.status_text(response)}")
    return status


def _already_complete(response: Any, fetch: Fetch) -> bool:
    from . import downloads

    return downloads.already_complete(response, fetch)
