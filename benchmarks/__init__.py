"""Side-by-side benchmarks of httpcache, requests-cache and CacheControl."""
