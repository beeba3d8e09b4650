"""Collects the WARNING records of the "httpcache" logger, for tests that count them."""

from __future__ import annotations

import logging


class Warnings(logging.Handler):
    """The WARNING (and worse) messages of the "httpcache" logger while installed:
    ``with Warnings() as warnings: ...`` then ``warnings.messages``."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def __enter__(self) -> Warnings:
        logging.getLogger("httpcache").addHandler(self)
        return self

    def __exit__(self, *_: object) -> None:
        logging.getLogger("httpcache").removeHandler(self)
