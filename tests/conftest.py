"""Shared fixtures. Fixture modules live in tests/support and are registered here."""

pytest_plugins: list[str] = ["tests.support.origin", "tests.support.redis_servers"]
