"""Errors as users see them: one line on stderr, a hint, and an exit status.

Commands raise ``CliError`` for what they detect themselves; ``translate`` turns the
library's and requests' exceptions into one at the boundary, so no traceback ever
reaches a user.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from .exit_codes import ExitStatus


class CliError(Exception):
    """A failure to report as ``hc: error: MESSAGE (hint: HINT)`` with ``status``."""

    def __init__(self, message: str, hint: str = "", status: ExitStatus = ExitStatus.ERROR):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.status = status

    def line(self) -> str:
        """The one line; control characters escaped (a message may quote a server)."""
        from .output import safe

        hint = f" (hint: {self.hint})" if self.hint else ""
        return safe(f"hc: error: {self.message}{hint}")


def usage(message: str, hint: str = "") -> CliError:
    return CliError(message, hint, ExitStatus.ERROR_USAGE)


#: The argument parser's validator wording -> plain words.
_VALIDATOR_WORDS = (
    (r"Input should be a valid number, unable to parse string as a number", "not a number"),
    (
        r"Input should be a valid integer, unable to parse string as an integer",
        "not a whole number",
    ),
    (r"Input should be a valid integer", "not a whole number"),
    (r"Input should be greater than or equal to (\S+)", r"must be \1 or more"),
    (r"Input should be less than or equal to (\S+)", r"must be \1 or less"),
    (r"Value error, ", ""),
    (r"Input should be ", "must be "),
)


def plain_usage(message: str, argv: list[str], environ: dict[str, str]) -> str:
    """A usage message of the argument parser in hc's words: no validator jargon, and
    an environment variable named as such when the value came from it."""
    import re

    for pattern, words in _VALIDATOR_WORDS:
        message = re.sub(pattern, words, message)
    message = re.sub(r" is not one of ((?:'[^']*'(?:, )?)+)\.", _choices, message)
    found = re.match(r"Invalid value for '([^']+)' \(env var: '([^']+)'\): ", message)
    if found is not None:
        option, variable = found.groups()
        given = any(a == option or a.startswith(option + "=") for a in argv)
        source = (
            option if given or variable not in environ else f"{variable} (environment variable)"
        )
        message = f"{source}: " + message[found.end() :]
    else:
        message = re.sub(r"^Invalid value for '([^']+)': ", r"\1: ", message)
    return message


def _choices(match: object) -> str:
    import re

    names = re.findall(r"'([^']*)'", match.group(1))  # type: ignore[attr-defined]
    return " is not one of: " + ", ".join(names)


def translate(exc: BaseException) -> CliError | None:
    """The ``CliError`` for an exception hc knows how to explain, else None."""
    if isinstance(exc, CliError):
        return exc
    from httpcache.errors import BackendNotAvailableError, ConfigurationError, StorageError

    if isinstance(exc, BackendNotAvailableError):  # its hint names what to install
        return CliError(
            str(exc), "hc --help lists the backends", ExitStatus.ERROR_CACHE_UNAVAILABLE
        )
    if isinstance(exc, ConfigurationError):
        return usage(str(exc))
    if isinstance(exc, StorageError):
        return CliError(
            f"the cache failed: {exc}",
            "check the cache with 'hc cache stats', or start afresh with 'hc cache clear'",
            ExitStatus.ERROR_STORAGE,
        )
    return _translate_requests(exc)


def _translate_requests(exc: BaseException) -> CliError | None:
    import requests

    url = _url_of(exc)
    where = _netloc(url) or "the server"
    if isinstance(exc, requests.exceptions.Timeout):
        return CliError(
            f"{where} did not answer in time",
            "allow more with --timeout SECONDS, or read the cache with --offline",
            ExitStatus.ERROR_TIMEOUT,
        )
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        return CliError(
            f"too many redirects from {where}",
            "the server redirects in a loop; try without --follow",
            ExitStatus.ERROR_TOO_MANY_REDIRECTS,
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return CliError(
            f"TLS failed with {where}: {_innermost(exc)}",
            "check the URL and the server's certificate",
        )
    if isinstance(exc, requests.exceptions.ConnectionError):
        return _connection_error(exc, url, where)
    if isinstance(
        exc,
        requests.exceptions.InvalidURL
        | requests.exceptions.MissingSchema
        | requests.exceptions.InvalidSchema,
    ):
        return usage(f"bad URL: {exc}", "use a URL such as http://example.org/path")
    if isinstance(exc, requests.exceptions.InvalidHeader):
        return usage(f"bad header: {exc}", "write headers as -H 'Name: value'")
    if isinstance(
        exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError
    ):
        return CliError(
            f"the response from {where} was cut short or damaged: {_innermost(exc)}",
            "try again; nothing incomplete was stored",
        )
    if isinstance(exc, requests.exceptions.RequestException):
        return CliError(f"request failed: {_innermost(exc)}", "check the URL and the options")
    return None


def _connection_error(exc: BaseException, url: str, where: str) -> CliError:
    text = _innermost(exc)
    lowered = text.lower()
    offline = "or read the cache with --offline"
    if (
        "name or service not known" in lowered
        or "nodename nor servname" in lowered
        or ("resolve" in lowered)
    ):
        host = urlsplit(url).hostname or where
        return CliError(f"cannot resolve host {host!r}", f"check the host name, {offline}")
    if "refused" in lowered:
        return CliError(
            f"connection refused by {where}",
            f"is the server running on that port? {offline}",
        )
    return CliError(f"cannot reach {where}: {text}", f"check the URL and the network, {offline}")


def _url_of(exc: BaseException) -> str:
    request = getattr(exc, "request", None)
    return str(getattr(request, "url", "") or "")


def _netloc(url: str) -> str:
    try:
        return urlsplit(url).netloc
    except ValueError:
        return ""


def _innermost(exc: BaseException) -> str:
    """The most specific message in an exception chain (urllib3 nests them deeply)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    message = str(exc)
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            current = reason
        elif current.args and isinstance(current.args[0], BaseException):
            current = current.args[0]
        else:
            current = current.__cause__ or current.__context__
        if current is not None and str(current):
            message = str(current)
    return _strip_object_noise(message)


def _strip_object_noise(message: str) -> str:
    """urllib3 writes '<urllib3.connection.HTTPConnection object at 0x..>: Failed ...'."""
    if message.startswith("<") and ">: " in message:
        message = message.split(">: ", 1)[1]
    return message.strip()
