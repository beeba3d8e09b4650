"""RedisCache's Lua scripts, and the pipeline that runs them by digest.

Each script touches the keys of one slot only (one entry's keys share a hash tag),
so it runs on a Redis Cluster as on one server. Scripts run by digest (``EVALSHA``);
a server that lacks one (restarted, ``SCRIPT FLUSH``, a new primary after a
failover) gets it loaded and the call sent again, so a lost script costs one round
trip, never a failure.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from typing import Any

import redis
from redis.cluster import RedisCluster

from ...errors import StorageError
from .heads import LINE_MAX

Client = redis.Redis | RedisCluster

# Scripts run by digest (EVALSHA through ``_Batch``, which a pipeline can carry on a
# cluster too), loaded when the server lacks them. A body list's name is its resource's body
# prefix (a declared key) and a generation: the same hash tag, so the same slot.

_LUA_HELPERS = """
local function sane_set(key)
  local kind = redis.call('TYPE', key).ok
  if kind ~= 'set' and kind ~= 'none' then redis.call('DEL', key) end
end
-- The fields of a head's line (see ``heads``): false if it is not a head's value.
local function head_line(value)
  if type(value) ~= 'string' then return false end
  local v, g, n, s, c, k, len = string.match(value,
    '^(%d+) (%x+) (%d+) (%d+) (%S+) (%d+) (%d+)\\n')
  if not v then return false end
  return {v = v, g = g, n = tonumber(n), s = s, c = c, k = k, len = tonumber(len),
          start = #v + #g + #n + #s + #c + #k + #len + 8}
end
local function read_line(head)
  return head_line(redis.pcall('GETRANGE', head, 0, LINE_MAX - 1))
end
-- A Vary variant's key joins its resource's set, which lives as long as its longest
-- lived member (an entry without Vary is found under its primary key, in no set).
local function add_variant(variants, member, ttl)
  sane_set(variants)
  local set_ttl = redis.call('PTTL', variants)
  redis.call('SADD', variants, member)
  if ttl > 0 then
    if set_ttl == -2 or (set_ttl >= 0 and set_ttl < ttl) then
      redis.call('PEXPIRE', variants, ttl)
    end
  else
    redis.call('PERSIST', variants)
  end
end
local function set_head(head, value, ttl)
  if ttl > 0 then redis.call('SET', head, value, 'PX', ttl) else redis.call('SET', head, value) end
end
-- The hit and miss counts a call carries.
local function add_counts(stats, hits, misses)
  if hits > 0 then redis.call('HINCRBY', stats, 'hits', hits) end
  if misses > 0 then redis.call('HINCRBY', stats, 'misses', misses) end
end
local function expire_body(body, ttl)
  if ttl > 0 then redis.call('PEXPIRE', body, ttl) else redis.call('PERSIST', body) end
end
-- A replaced or deleted body list lives ``grace`` ms more; returns the ms it has left
-- (0: gone already).
local function retire(body, grace)
  local left = redis.call('PTTL', body)
  if left == -1 or left > grace then
    redis.call('PEXPIRE', body, grace)
    return grace
  end
  return math.max(left, 0)
end
-- The body list of a head (false if inline or none) and its size.
local function old_body(head, prefix)
  local line = read_line(head)
  if line and line.n > 0 then return prefix .. line.g, tonumber(line.s) or 0 end
  return false, 0
end
""".replace("LINE_MAX", str(LINE_MAX))

# Body lists in their grace count for ``max_size`` until they go: the ``grace`` sorted
# set holds "<size> <name>" scored by when Redis drops the list, the size is in the
# ``bytes`` total meanwhile.
_RETIRED = """
local function count_retired(grace_key, bytes_key, now, name, size, left)
  if left <= 0 or size <= 0 then return end
  redis.call('ZADD', grace_key, tonumber(now) + left / 1000, size .. ' ' .. name)
  redis.call('INCRBY', bytes_key, size)
end
local function uncount(grace_key, bytes_key, members)
  if #members == 0 then return end
  local freed = 0
  for i = 1, #members do freed = freed + (tonumber(string.match(members[i], '^%d+')) or 0) end
  redis.call('ZREM', grace_key, unpack(members))
  redis.call('DECRBY', bytes_key, freed)
end
local function prune_retired(grace_key, bytes_key, now)
  uncount(grace_key, bytes_key,
          redis.call('ZRANGEBYSCORE', grace_key, '-inf', now, 'LIMIT', 0, 64))
end
"""

# K: head, variants, new body list, body prefix.
# A: 1 gen, 2 the head's value (with the body when inline), 3 size, 4 chunks pushed,
#    5 last chunk ('': none; always for an inline body), 6 ttl ms (0: none), 7 member,
#    8 grace ms, 9 '1': a Vary variant (its key joins the variant set).
# Returns 1 (or -1 if the body list lost chunks before the commit) and the body list
# it retired: name ('': none), size, ms left (see ``count_retired``).
_COMMIT_FUNCTION = (
    _LUA_HELPERS
    + """
local function commit(K, A)
  local previous, previous_size = old_body(K[1], K[4])
  local pushed = tonumber(A[4])
  local ttl = tonumber(A[6])
  if pushed > 0 then
    local chunks = pushed
    local length = redis.call('LLEN', K[3])
    if A[5] ~= '' then
      chunks = pushed + 1
      if length == pushed then length = redis.call('RPUSH', K[3], A[5]) end
    end
    if length ~= chunks then return {-1, '', 0, 0} end
    expire_body(K[3], ttl)
  end
  set_head(K[1], A[2], ttl)
  if A[9] == '1' then add_variant(K[2], A[7], ttl) end
  if previous and previous ~= K[3] then
    local left = retire(previous, tonumber(A[8]))
    if left > 0 then return {1, previous, previous_size, left} end
  end
  return {1, '', 0, 0}
end
"""
)

# KEYS and ARGV: K and A of ``commit``. Returns what it returns.
_COMMIT = _COMMIT_FUNCTION + "return commit(KEYS, ARGV)\n"

# KEYS: head, variants, body prefix. ARGV: 1 created_at, 2 entry, 3 ttl ms (0: none),
# 4 member, 5 size, 6 head format, 7 '1': a Vary variant. Returns {1}, {0} if the head
# is gone or holds another response, {2, size} if the stored body has another size
# than ARGV[5]. The head keeps its line's other fields and its inline body.
_UPDATE_HEAD_FUNCTION = (
    _LUA_HELPERS
    + """
local function update_head(K, A)
  local value = redis.pcall('GET', K[1])
  local f = head_line(value)
  if not f or f.v ~= A[6] or f.c ~= A[1] then return {0} end
  if f.s ~= A[5] then return {2, f.s} end
  local ttl = tonumber(A[3])
  local line = table.concat({f.v, f.g, f.n, f.s, f.c, f.k, #A[2]}, ' ') .. '\\n'
  local new = line .. A[2] .. string.sub(value, f.start + f.len)
  set_head(K[1], new, ttl)
  if A[7] == '1' then add_variant(K[2], A[4], ttl) end
  if f.n > 0 then expire_body(K[3] .. f.g, ttl) end
  return {1}
end
"""
)
_UPDATE_HEAD = _UPDATE_HEAD_FUNCTION + "return update_head(KEYS, ARGV)\n"

# KEYS: head, variants, body prefix. ARGV: member, grace ms (a body list goes after
# it, so that a reader in the middle of it finishes), and for a damaged entry the
# value read from it: the entry goes only if its head still holds that (a
# rewrite meanwhile stays). Returns 1 if the head existed (and went), and the body
# list it retired as ``commit`` does.
_DELETE = (
    _LUA_HELPERS
    + """
if ARGV[3] then
  local value = redis.pcall('GET', KEYS[1])
  if type(value) == 'string' and value ~= ARGV[3] then return 0 end
end
local body, size = old_body(KEYS[1], KEYS[3])
local existed = redis.call('DEL', KEYS[1])
local left = 0
if body then left = retire(body, tonumber(ARGV[2])) end
sane_set(KEYS[2])
redis.call('SREM', KEYS[2], ARGV[1])
if left > 0 then return {existed, body, size, left} end
return {existed, '', 0, 0}
"""
)

# ARGV: a msgpack array of [head, variants, body prefix, member] (one server, not a
# cluster: entries of many slots), grace ms, the grace and bytes keys, now. _DELETE for
# each, the bodies it retires counted; returns a string of '1' (the head existed) or
# '0' for each.
_DELETE_MANY = (
    _LUA_HELPERS
    + _RETIRED
    + """
local grace = tonumber(ARGV[2])
local existed = {}
for i, it in ipairs(cmsgpack.unpack(ARGV[1])) do
  local body, size = old_body(it[1], it[3])
  existed[i] = redis.call('DEL', it[1])
  if body then count_retired(ARGV[3], ARGV[4], ARGV[5], body, size, retire(body, grace)) end
  sane_set(it[2])
  redis.call('SREM', it[2], it[4])
end
return table.concat(existed)
"""
)

# KEYS: variants, then the head of each member in ARGV. Drops members without a head.
_DROP_ABSENT = """
for i = 1, #ARGV do
  if redis.call('EXISTS', KEYS[i + 1]) == 0 then redis.call('SREM', KEYS[1], ARGV[i]) end
end
return 0
"""

# ARGV: a msgpack array of key names (one server, not a cluster: keys of many slots,
# passed as one value, which is cheaper to send than a key each). Returns a string of
# '1' or '0' for each.
_EXISTS_EACH = """
local names = cmsgpack.unpack(ARGV[1])
local found = {}
for i = 1, #names do found[i] = redis.call('EXISTS', names[i]) end
return table.concat(found)
"""

# K: expires, gone, lru, meta, sizes, bytes (and grace). A: key, expires score, gone
# score, now, row, cost. Writes the key's index row; returns the new total cost.
_INDEX_WRITE = """
local function write_row(K, A)
  local old_cost = tonumber(redis.call('HGET', K[5], A[1]) or '0') or 0
  redis.call('ZADD', K[1], A[2], A[1])
  redis.call('ZADD', K[2], A[3], A[1])
  redis.call('ZADD', K[3], A[4], A[1])
  redis.call('HSET', K[4], A[1], A[5])
  redis.call('HSET', K[5], A[1], A[6])
  return redis.call('INCRBY', K[6], tonumber(A[6]) - old_cost)
end
"""

# KEYS and ARGV: as _INDEX_WRITE, with the grace key; retired bodies gone by now stop
# counting. Returns the new total cost and the row it replaced ('' if none).
_INDEX_PUT = (
    _INDEX_WRITE
    + _RETIRED
    + """
local old_row = redis.call('HGET', KEYS[4], ARGV[1]) or ''
prune_retired(KEYS[7], KEYS[6], ARGV[4])
return {write_row(KEYS, ARGV), old_row}
"""
)

# One server (not a cluster: the keys of two slots): ``commit`` and ``index_put`` in
# one call, and the hit and miss counts. ARGV: 1 a msgpack array [K of commit, A of
# commit without its 2nd and 5th, the index keys, the row (as _INDEX_WRITE's A), the
# stats key, hits, misses], 2 the head's value, 3 the last chunk (A[2] and A[5] of
# commit: sent apart, not copied into the array). Returns the status of
# ``commit`` (no row is written unless 1), the new total cost, the row replaced.
_STORE = (
    _COMMIT_FUNCTION
    + _INDEX_WRITE
    + _RETIRED
    + """
local a = cmsgpack.unpack(ARGV[1])
local A, I, row = a[2], a[3], a[4]
A[2], A[5] = ARGV[2], ARGV[3]
add_counts(a[5], a[6], a[7])
local done = commit(a[1], A)
if done[1] ~= 1 then return {done[1], 0, ''} end
local old_row = redis.call('HGET', I[4], row[1]) or ''
prune_retired(I[7], I[6], row[4])
count_retired(I[7], I[6], row[4], done[2], done[3], done[4])
local total = write_row(I, row)
return {1, total, old_row}
"""
)

# KEYS: grace, bytes. ARGV: now, then name, size and ms left of each body list retired
# (what ``commit`` and ``delete`` return on a cluster). Counts them.
_COUNT_RETIRED = (
    _RETIRED
    + """
for i = 2, #ARGV, 3 do
  count_retired(KEYS[1], KEYS[2], ARGV[1], ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]))
end
return 0
"""
)

# KEYS: grace, bytes. ARGV: bytes wanted. Stops counting the bodies longest in their
# grace, until as many bytes are freed (at most 64 bodies), and returns their names
# (the caller removes them at once: ``max_size`` needs the room).
_DROP_RETIRED = (
    _RETIRED
    + """
local members = redis.call('ZRANGE', KEYS[1], 0, 63)
local wanted, freed, taken, names = tonumber(ARGV[1]), 0, {}, {}
for i = 1, #members do
  if freed >= wanted then break end
  freed = freed + (tonumber(string.match(members[i], '^%d+')) or 0)
  taken[i] = members[i]
  names[i] = string.match(members[i], '^%d+ (.*)$')
end
uncount(KEYS[1], KEYS[2], taken)
return names
"""
)

_INDEX_DROP = """
local function drop(key)
  local freed = tonumber(redis.call('HGET', KEYS[5], key) or '0') or 0
  redis.call('ZREM', KEYS[1], key)
  redis.call('ZREM', KEYS[2], key)
  redis.call('ZREM', KEYS[3], key)
  redis.call('HDEL', KEYS[4], key)
  redis.call('HDEL', KEYS[5], key)
  return freed
end
"""

# KEYS: as _INDEX_WRITE. ARGV: as _INDEX_WRITE, then created_at.
# Rewrites the row of a freshened head: only if the row there is of the same response
# (a commit of another one may be in flight). Returns 1, 0 (another row) or -1 (none).
_INDEX_FRESHEN_FUNCTION = (
    _INDEX_WRITE
    + """
local function freshen_row(K, A)
  local old_row = redis.call('HGET', K[4], A[1])
  if not old_row then return -1 end
  local ok, fields = pcall(cmsgpack.unpack, old_row)
  if not ok or type(fields) ~= 'table' or fields[7] ~= tonumber(A[7]) then return 0 end
  write_row(K, A)
  return 1
end
"""
)
_INDEX_FRESHEN = _INDEX_FRESHEN_FUNCTION + "return freshen_row(KEYS, ARGV)\n"

# One server (not a cluster: the keys of two slots): ``update_head`` and
# ``index_freshen`` in one call, and the hit and miss counts. ARGV: 1 a msgpack array
# [K and A of update_head (A without its 2nd), the index keys, A of index_freshen,
# the stats key, hits, misses] (every value of the two A's a string), 2 the entry
# (A[2] of update_head: sent apart). Returns what ``update_head`` returns, and then
# what ``index_freshen`` returns when it ran.
_FRESHEN = (
    _UPDATE_HEAD_FUNCTION
    + _INDEX_FRESHEN_FUNCTION
    + """
local a = cmsgpack.unpack(ARGV[1])
local A = a[2]
A[2] = ARGV[2]
add_counts(a[5], a[6], a[7])
local done = update_head(a[1], A)
if done[1] ~= 1 then return done end
return {1, freshen_row(a[3], a[4])}
"""
)

# KEYS: expires, gone, lru, meta, sizes, bytes. ARGV: pairs of key and expected row
# ('': any). Returns the cost freed.
_INDEX_REMOVE = (
    _INDEX_DROP
    + """
local freed = 0
for i = 1, #ARGV, 2 do
  if ARGV[i + 1] == '' or redis.call('HGET', KEYS[4], ARGV[i]) == ARGV[i + 1] then
    freed = freed + drop(ARGV[i])
  end
end
if freed ~= 0 then redis.call('DECRBY', KEYS[6], freed) end
return freed
"""
)

# KEYS: expires, gone, lru, meta, sizes, bytes. ARGV: cutoff, limit. Drops the rows of
# entries whose TTL ran out before the cutoff (Redis dropped them). Returns how many.
_INDEX_PRUNE = (
    _INDEX_DROP
    + """
local keys = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local freed = 0
for i = 1, #keys do freed = freed + drop(keys[i]) end
if freed ~= 0 then redis.call('DECRBY', KEYS[6], freed) end
return #keys
"""
)

# KEYS: a variant set. Deletes it if it is not a set.
_SANE_SET = _LUA_HELPERS + "sane_set(KEYS[1])\nreturn 0\n"

# Listings read the index through these: each returns many values packed in one
# msgpack string, which the client reads much faster than as a reply item each.
# KEYS: meta. ARGV: cursor, count. One ``HSCAN`` step: the next cursor, then a
# msgpack array of the keys and one of their rows.
_INDEX_SCAN = """
local reply = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local flat, keys, rows = reply[2], {}, {}
for i = 1, #flat, 2 do
  keys[#keys + 1] = flat[i]
  rows[#rows + 1] = flat[i + 1]
end
return {reply[1], cmsgpack.pack(keys), cmsgpack.pack(rows)}
"""
# KEYS: meta. ARGV: a msgpack array of keys (at most a few thousand). Returns a msgpack
# array of their rows (false: none).
_INDEX_ROWS = """
local keys = cmsgpack.unpack(ARGV[1])
if #keys == 0 then return cmsgpack.pack({}) end
return cmsgpack.pack(redis.call('HMGET', KEYS[1], unpack(keys)))
"""
# KEYS: expires. ARGV: min, max. Returns a msgpack array of the keys scored in between.
_INDEX_RANGE = "return cmsgpack.pack(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2]))\n"

SCRIPTS: dict[str, str] = {
    "sane_set": _SANE_SET,
    "commit": _COMMIT,
    "store": _STORE,
    "count_retired": _COUNT_RETIRED,
    "drop_retired": _DROP_RETIRED,
    "update_head": _UPDATE_HEAD,
    "delete": _DELETE,
    "delete_many": _DELETE_MANY,
    "drop_absent": _DROP_ABSENT,
    "exists_each": _EXISTS_EACH,
    "index_put": _INDEX_PUT,
    "index_freshen": _INDEX_FRESHEN,
    "freshen": _FRESHEN,
    "index_remove": _INDEX_REMOVE,
    "index_prune": _INDEX_PRUNE,
    "index_scan": _INDEX_SCAN,
    "index_rows": _INDEX_ROWS,
    "index_range": _INDEX_RANGE,
}
DIGESTS = {name: hashlib.sha1(source.encode()).hexdigest() for name, source in SCRIPTS.items()}


class Batch:
    """A pipeline without a transaction, whose scripts run by digest (``EVALSHA``, not
    resent each time); a script the server lacks (restarted, flushed) is loaded and
    its calls are sent again, and only they."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.pipe = client.pipeline(transaction=False)
        self._evals: list[tuple[int, str, list[str], list[Any]]] = []

    def eval(self, name: str, keys: list[str], args: list[Any]) -> None:
        self._evals.append((len(self.pipe), name, keys, args))
        self.pipe.execute_command("EVALSHA", DIGESTS[name], len(keys), *keys, *args)

    def execute(self) -> list[Any]:
        """Every reply, errors in place (connection failures raise)."""
        results = self.pipe.execute(raise_on_error=False)
        missing = [
            e for e in self._evals if isinstance(results[e[0]], redis.exceptions.NoScriptError)
        ]
        if missing:
            for name in {name for _, name, _, _ in missing}:
                self.client.script_load(SCRIPTS[name])
            again = Batch(self.client)
            for _, name, keys, args in missing:
                again.eval(name, keys, args)
            for (index, *_), result in zip(missing, again.execute(), strict=True):
                results[index] = result
        return results


def run_script(client: Client, name: str, keys: list[str], args: list[Any]) -> Any:
    """One script call, by digest; loaded first if the server lacks it."""
    command = ("EVALSHA", DIGESTS[name], len(keys), *keys, *args)
    # redis-py leaves execute_command unannotated
    try:
        return client.execute_command(*command)  # type: ignore[no-untyped-call]
    except redis.exceptions.NoScriptError:
        client.script_load(SCRIPTS[name])
        return client.execute_command(*command)  # type: ignore[no-untyped-call]


#: What redis-py raises for a failure of the server or of the connection.
REDIS_ERRORS = (redis.RedisError, redis.exceptions.RedisClusterException)


@contextlib.contextmanager
def storage_errors(owner: object, what: str) -> Iterator[None]:
    """Every Redis failure becomes ``StorageError`` (the driver falls back to the network)."""
    try:
        yield
    except REDIS_ERRORS as exc:
        raise StorageError(f"{owner!r}: could not {what}: {exc}") from exc


def take_connection(pool: Any) -> Any:
    """A connection of ``pool``, for the caller to release."""
    try:
        return pool.get_connection()
    except TypeError:  # redis-py before 5.3 wants a command's name
        return pool.get_connection("EVALSHA")


def read_replies(connection: Any, count: int) -> list[Any]:
    """The next ``count`` replies on ``connection``, an error reply in place (a failure
    of the connection raises)."""
    replies: list[Any] = []
    for _ in range(count):
        try:
            replies.append(connection.read_response())
        except redis.ResponseError as exc:
            replies.append(exc)
    return replies


def send_all(client: Any, commands: list[tuple[Any, ...]]) -> list[Any]:
    """Commands in one round trip on one server, replies in order (an error reply in
    place): a pipeline without redis-py's pipeline machinery (it costs a lookup about
    a quarter of its time). A connection found closed is dropped and the commands are
    sent once more on another (a stale one after a restart); a timeout is not waited
    out twice."""
    pool = client.connection_pool
    for attempt in (1, 2):
        connection = take_connection(pool)
        try:
            connection.send_packed_command(connection.pack_commands(commands))
            return read_replies(connection, len(commands))
        except redis.TimeoutError:
            connection.disconnect()
            raise
        except redis.ConnectionError:
            connection.disconnect()
            if attempt == 2:
                raise
        finally:
            pool.release(connection)
    raise AssertionError("unreachable")


def raise_errors(results: list[Any]) -> list[Any]:
    """A pipeline's replies, the first error among them raised."""
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results


def batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
