"""The names of a Redis cache's keys (``ns`` is the namespace; ``{...}`` is a Redis
Cluster hash tag, so every key of one resource, i.e. all variants of one primary
key, lives in one slot):

- ``ns:{pk}:h:<key>``         head of one variant, a string (see ``heads``); an entry
                              without Vary has the primary key as its key
- ``ns:{pk}:b:<key>:<gen>``   a body of several chunks: a list of ``chunk_size`` pieces
- ``ns:{pk}:v``               the set of the resource's Vary variant keys (``find``)
- ``ns:{ns}:expires``         index: sorted set, key -> ``expires`` (``+inf``: never)
- ``ns:{ns}:gone``            index: sorted set, key -> when Redis drops the entry (its
                              TTL; ``+inf``: never): what ``len`` and pruning go by
- ``ns:{ns}:meta``            index: hash, key -> msgpack row (url, status, size ...)
- ``ns:{ns}:lru``             sorted set, key -> last use (``max_size``)
- ``ns:{ns}:sizes``/``bytes`` what each entry counts for ``max_size``, and the sum
                              (body lists in their grace included)
- ``ns:{ns}:grace``           sorted set, "<size> <body list>" -> when Redis drops a
                              replaced or deleted body list (see ``scripts``)
- ``ns:{ns}:stats``           hash: hits and misses (``clear`` keeps them)

``pk`` is the primary key itself, or ``#`` and a digest of it when it cannot be a
hash tag (empty, braces, or a leading ``#``).
"""

from __future__ import annotations

import hashlib

#: What names a head, and a body list, after the entry's hash tag (see ``entry``).
_HEAD_MARK = b"}:h:"
_BODY_MARK = b"}:b:"


class Keyspace:
    """The key names of one namespace."""

    def __init__(self, namespace: str) -> None:
        self.namespace = ns = namespace
        names = ("expires", "gone", "lru", "meta", "sizes", "bytes", "grace")
        #: The index keys, in the order the index scripts take them.
        self.index = [f"{ns}:{{{ns}}}:{name}" for name in names]
        self.expires, self.gone, self.lru, self.meta, self.sizes, self.bytes = self.index[:6]
        self.grace = self.index[6]
        self.stats = f"{ns}:{{{ns}}}:stats"

    def entry(self, primary_key: str, key: str) -> tuple[str, str, str]:
        """Head, variant set and body prefix of an entry."""
        base = f"{self.namespace}:{{{tag(primary_key)}}}"
        return f"{base}:h:{key}", f"{base}:v", f"{base}:b:{key}:"

    def head(self, primary_key: str, key: str) -> str:
        """The head of an entry alone (listings check a head per row)."""
        return f"{self.namespace}:{{{tag(primary_key)}}}:h:{key}"

    @staticmethod
    def is_body(name: bytes) -> bool:
        """Whether a key's name (as ``SCAN`` gives it) is a body list's."""
        return _BODY_MARK in name

    @staticmethod
    def is_head(name: bytes) -> bool:
        return _HEAD_MARK in name

    @staticmethod
    def body_of_head(head: bytes, gen: str) -> bytes:
        """The name of the body list of generation ``gen`` of the entry whose head is
        named ``head`` (the entry's prefix, then ``:h:<key>``; see ``entry``)."""
        at = head.index(_HEAD_MARK)
        rest = head[at + len(_HEAD_MARK) :]
        return head[:at] + _BODY_MARK + rest + b":" + gen.encode("ascii")

    def every_key(self) -> str:
        """A ``SCAN`` pattern matching every key of the namespace and nothing else."""
        return glob_escape(self.namespace) + ":{*"


def tag(primary_key: str) -> str:
    """The hash tag of a primary key: itself, or a digest when it cannot be one."""
    if primary_key and not ("{" in primary_key or "}" in primary_key or primary_key[0] == "#"):
        return primary_key
    data = primary_key.encode("utf-8", "surrogatepass")
    return "#" + hashlib.blake2b(data, digest_size=16).hexdigest()


def glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def text(value: bytes | str) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
