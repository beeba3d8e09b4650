"""hc: a command-line HTTP client with a cache, and an inspector of that cache."""
