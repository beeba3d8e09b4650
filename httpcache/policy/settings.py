"""What shapes one decision of the policy: the caller's options, resolved per request."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..heuristics import BaseHeuristic
from .expiration import Expiration

#: How long past expiry an entry with validators is kept for revalidation.
DEFAULT_REVALIDATION_GRACE = 86_400.0


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything that shapes one decision, resolved by the session for one request."""

    cache_control: bool = True
    #: The caller's expiration (request, else URL pattern, else session); None: headers.
    expiration: Expiration | None = None
    shared: bool = False
    cacheable_methods: frozenset[str] = frozenset({"GET", "HEAD"})
    #: Status codes that may be stored; None: every one RFC 9111 §3 allows.
    allowable_codes: frozenset[int] | None = None
    heuristic: BaseHeuristic | None = None
    cache_etags: bool = True
    stale_if_error: float = 0.0
    stale_while_revalidate: float = 0.0
    only_if_cached: bool = False
    refresh: bool = False
    force_refresh: bool = False
    revalidation_grace: float = DEFAULT_REVALIDATION_GRACE
    #: Request fields whose values are secrets: kept only as digests in ``Entry.vary``.
    sensitive_headers: frozenset[str] = field(default_factory=frozenset)
    #: Keep a 301 or 308 without freshness of its own, as CacheControl does, so that
    #: the permanent redirect is followed from the cache (its face sets this).
    permanent_redirects: bool = False

    @property
    def caller_sets_lifetime(self) -> bool:
        """The lifetime is the caller's (``expire_after``, or ``cache_control=False``)."""
        return self.expiration is not None or not self.cache_control

    def allows_status(self, status: int) -> bool:
        """Whether the caller lets ``status`` be stored (``allowable_codes``; without
        it, every status with ``cache_control``, else 200 only)."""
        if self.allowable_codes is not None:
            return status in self.allowable_codes
        return self.cache_control or status == 200

    def caller_expiration(self, status: int) -> Expiration | None:
        """The caller's ``expire_after`` for a response of ``status``: it applies to 200
        (and its parts, 206) and to the caller's own ``allowable_codes``, so an error
        is never kept for the caller's hour by accident; other statuses go by their
        header fields."""
        if self.expiration is None:
            return None
        if status in (200, 206) or (  # a 206 is a part of a 200 (RFC 9111 §3.3)
            self.allowable_codes is not None and status in self.allowable_codes
        ):
            return self.expiration
        return None

    def lifetime_is_callers(self, status: int) -> bool:
        """The lifetime of a ``status`` response is the caller's, not the headers'."""
        return not self.cache_control or self.caller_expiration(status) is not None
