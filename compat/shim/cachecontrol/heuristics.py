from httpcache.heuristics import BaseHeuristic, ExpiresAfter, LastModified, OneDayCache

TIME_FMT = "%a, %d %b %Y %H:%M:%S GMT"

__all__ = ["TIME_FMT", "BaseHeuristic", "ExpiresAfter", "LastModified", "OneDayCache"]
