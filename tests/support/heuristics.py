"""CacheControl's documented custom heuristic, written as its users write it."""

from __future__ import annotations

import calendar
import datetime
from email.utils import formatdate, parsedate

from httpcache.heuristics import BaseHeuristic


class OneWeekHeuristic(BaseHeuristic):
    """CacheControl's documentation example, as users have it."""

    def update_headers(self, response):  # type: ignore[no-untyped-def]
        date = parsedate(response.headers["date"])
        expires = datetime.datetime(*date[:6]) + datetime.timedelta(weeks=1)
        return {
            "expires": formatdate(calendar.timegm(expires.timetuple())),
            "cache-control": "public",
        }

    def warning(self, response):  # type: ignore[no-untyped-def]
        return '110 - "Automatically cached! Response is Stale."'
