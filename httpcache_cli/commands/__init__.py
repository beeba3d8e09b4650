"""The commands of ``hc``: fetching (``fetch``), the cache (``cache``), ``explain``."""
