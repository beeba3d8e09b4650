"""hc: a command-line HTTP client with a cache, and an inspector of that cache."""

#: The name on the package index (``pip install httpcache-rfc9111``); the import names
#: stay ``httpcache`` and ``httpcache_cli``. ``httpcache`` there is another project.
DISTRIBUTION = "httpcache-rfc9111"
