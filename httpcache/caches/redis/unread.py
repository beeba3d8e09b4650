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
Calls of a script wait for their reply until one has found it on the server, and
again after a reply says the scripts were lost (a restart, ``SCRIPT FLUSH``).

A lookup that follows a store sends its commands on the store's connection and reads
both replies (``send_behind``): the store's reply costs no round trip, no connection
taken from the pool, of its own.
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

from .scripts import DIGESTS, REDIS_ERRORS, read_replies, run_script, take_connection

logger = logging.getLogger("httpcache")

_ALL: weakref.WeakSet[Unread] = weakref.WeakSet()
#: What handles a reply read later (a failure in it is the handler's to log).
OnReply = Callable[[Any], None]
#: A call sent and not read: its connection, ``[script name, args]``, its handler.
Pending = tuple[Any, list[Any], OnReply]


class Unread:
    """The stores of one cache sent without waiting, one per thread at most."""

    def __init__(self, client: Any, owner: object) -> None:
        self.client = client
        self.owner = owner
        self._lock = threading.Lock()
        self._pending: dict[int, Pending] = {}
        #: The scripts the server is known to have: until a call waited for has found
        #: its script, calls of it wait (one sent to a server without its script
        #: would be lost until its reply is read).
        self.loaded: set[str] = set()
        _ALL.add(self)

    def send(self, name: str, args: list[Any], on_reply: OnReply) -> bool:
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
            self._pending[threading.get_ident()] = (connection, [name, args], on_reply)
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

    def claim(self) -> Pending | None:
        """This thread's unread store, taken from the others, for ``send_behind``."""
        if not self._pending:
            return None
        with self._lock:
            return self._pending.pop(threading.get_ident(), None)

    def send_behind(self, pending: Pending, commands: list[tuple[Any, ...]]) -> list[Any] | None:
        """Send ``commands`` on the connection of a claimed store, then read the store's
        reply and theirs, in order (an error reply in place): one round trip for both.
        None if that connection failed (the store is settled apart, as ``settle``
        would: the caller sends its commands anew); a timeout is raised."""
        connection, call, on_reply = pending
        pool = self.client.connection_pool
        try:
            # A closed connection would open anew on send, the store's reply lost with
            # the old one, and the next reply read as the store's.
            if getattr(connection, "_sock", None) is None:
                self._handle(on_reply, self._again(*call))
                return None
            try:
                connection.send_packed_command(connection.pack_commands(commands))
            except REDIS_ERRORS:  # closed (a restart): the store's reply is lost with it
                connection.disconnect()
                self._handle(on_reply, self._again(*call))
                return None
            if not self._read(connection, call, on_reply, timeouts=True):
                # Run again after the commands were sent: they are sent anew, to see it.
                connection.disconnect()
                return None
            try:
                return read_replies(connection, len(commands))
            except redis.TimeoutError:
                connection.disconnect()
                raise
            except redis.ConnectionError:
                connection.disconnect()
                return None
        finally:
            pool.release(connection)

    def _finish(self, connection: Any, call: list[Any], on_reply: OnReply) -> None:
        try:
            self._read(connection, call, on_reply)
        finally:
            self.client.connection_pool.release(connection)

    def _read(
        self, connection: Any, call: list[Any], on_reply: OnReply, timeouts: bool = False
    ) -> bool:
        """Read and handle the reply of the store sent on ``connection``; False if it
        was not run there (the script was lost, or the connection failed: it was run
        again on another connection, or warned of).
        ``timeouts``: a timeout is raised too (after the warning), not waited twice."""
        name, args = call
        try:
            reply = connection.read_response()
        except redis.exceptions.NoScriptError:
            self.loaded.clear()
            self._handle(on_reply, self._again(name, args))
            return False
        except redis.ResponseError as exc:
            logger.warning("%r: a store may not have been kept: %s", self.owner, exc)
            return True
        except redis.TimeoutError as exc:  # not waited out twice
            logger.warning("%r: a store may not have been kept: %s", self.owner, exc)
            if timeouts:
                raise
            return False
        except REDIS_ERRORS:  # the connection was closed (a restart): once more
            self._handle(on_reply, self._again(name, args))
            return False
        self._handle(on_reply, reply)
        return True

    def _handle(self, on_reply: OnReply, reply: Any) -> None:
        if reply is not None:
            on_reply(reply)

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
