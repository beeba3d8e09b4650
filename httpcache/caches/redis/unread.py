"""Stores whose reply is read later.

A store on one server (not a cluster) that nothing needs the answer of at once (its
body inline, so it cannot fail for lost chunks, and no ``max_size`` to enforce with
the total it returns) is sent, and its reply read when this thread next uses the
cache (``settle``), or at ``close()`` and at exit. The caller does not wait for
Redis to run the script; Redis runs a connection's commands in order, and every
call of this thread on the cache reads the reply first, so the thread sees its own
write. A store whose reply says the script was lost is run again (loaded first); one
whose connection was closed is sent once more on another; else (a timeout, an error,
a second failure) it is a logged warning, as any failed store.
Stores wait for their reply until one has found the script on the server, and again
after a reply says it was lost (a restart, ``SCRIPT FLUSH``).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

import redis

from .scripts import DIGESTS, REDIS_ERRORS, run_script, take_connection

logger = logging.getLogger("httpcache")

_ALL: weakref.WeakSet[Unread] = weakref.WeakSet()


class Unread:
    """The stores of one cache sent without waiting, one per thread at most."""

    def __init__(self, client: Any, owner: object, on_reply: Callable[[Any, Any], None]) -> None:
        """``on_reply(tag, reply)`` handles a reply (``tag``: what ``send`` was given)."""
        self.client = client
        self.owner = owner
        self._on_reply = on_reply
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[Any, list[Any], Any]] = {}
        #: Whether the server is known to have the scripts: until a store waited for
        #: has found them, stores wait (one sent to a server without its script would
        #: be lost until its reply is read).
        self.ready = False
        _ALL.add(self)

    def send(self, name: str, args: list[Any], tag: Any) -> bool:
        """Send script ``name`` (no keys) with ``args``; False if it could not be sent
        (the caller runs it and waits instead)."""
        self.settle()
        pool = self.client.connection_pool
        try:
            connection = take_connection(pool)
        except REDIS_ERRORS:
            return False
        try:
            connection.send_command("EVALSHA", DIGESTS[name], 0, *args)
        except BaseException:
            connection.disconnect()
            pool.release(connection)
            return False
        with self._lock:
            self._pending[threading.get_ident()] = (connection, [name, args], tag)
        return True

    def settle(self) -> None:
        """Read this thread's unread reply, if any."""
        if not self._pending:
            return
        with self._lock:
            item = self._pending.pop(threading.get_ident(), None)
        if item is not None:
            self._finish(*item)

    def settle_all(self) -> None:
        """Read every thread's unread reply (``close``, exit)."""
        with self._lock:
            items = list(self._pending.values())
            self._pending.clear()
        for item in items:
            self._finish(*item)

    def forget_all(self) -> None:
        """In a forked child: the replies are the parent's to read."""
        self._pending = {}
        self._lock = threading.Lock()

    def _finish(self, connection: Any, call: list[Any], tag: Any) -> None:
        name, args = call
        pool = self.client.connection_pool
        try:
            try:
                reply = connection.read_response()
            finally:
                pool.release(connection)
        except redis.exceptions.NoScriptError:
            self.ready = False
            reply = self._again(name, args)
        except (redis.ResponseError, redis.TimeoutError) as exc:  # a timeout: not twice
            logger.warning("%r: a store may not have been kept: %s", self.owner, exc)
            return
        except REDIS_ERRORS:  # the connection was closed (a restart): once more
            reply = self._again(name, args)
        if reply is not None:
            self._on_reply(tag, reply)

    def _again(self, name: str, args: list[Any]) -> Any:
        try:
            return run_script(self.client, name, [], args)
        except REDIS_ERRORS as exc:
            logger.warning("%r: a store may not have been kept: %s", self.owner, exc)
            return None


@atexit.register
def _settle_at_exit() -> None:
    for unread in list(_ALL):
        with contextlib.suppress(Exception):
            unread.settle_all()


def _forget_in_child() -> None:
    for unread in list(_ALL):
        unread.forget_all()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)
