"""Real Redis servers for tests: one standalone server and one 3-node cluster per session.

Both run on free loopback ports in temporary folders, never on the machine's own
Redis (6379). A missing ``redis-server`` is a failure, not a skip: CI installs it.

- ``redis_server`` (session): a ``RedisServer`` with ``stop()``/``start()`` (kill and
  restart on the same port) and ``pause()``/``resume()`` (SIGSTOP/SIGCONT) for outages.
- ``redis_client`` (function): a client of that server, emptied before each test.
- ``redis_cluster`` (session): a ``RedisClusterHandle`` (``startup_nodes``, ``client()``).
- ``redis_cluster_client`` (function): a ``RedisCluster`` client, every node emptied.
- ``redis_namespace`` (function): a namespace unique to the test.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster

#: How long a server may take to answer PING, and a cluster to reach ``cluster_state:ok``.
START_TIMEOUT = 15.0
CLUSTER_TIMEOUT = 30.0


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not on PATH: the Redis tests need a real Redis server "
            "(apt-get install redis-server, brew install redis); they are never skipped",
            pytrace=False,
        )
    return path


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_next_port = itertools.count((os.getpid() * 7) % 35_000)


def free_port(cluster_bus: bool = False) -> int:
    """A free loopback port other than 6379; with ``cluster_bus`` port + 10000 is free too."""
    for _ in range(2_000):
        port = 20_000 + next(_next_port) % 35_000
        if port == 6379 or not _port_free(port):
            continue
        if cluster_bus and not _port_free(port + 10_000):
            continue
        return port
    raise RuntimeError("no free port found for a test Redis server")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the server gets SIGKILL if the test process dies, so none is ever left over.

    (The signal comes when the *thread* that started the server ends: the fixtures and
    tests start servers from pytest's main thread.)
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class RedisServer:
    """One ``redis-server`` process on ``127.0.0.1:port`` with its files in ``directory``."""

    def __init__(self, port: int, directory: Path, extra_args: tuple[str, ...] = ()) -> None:
        self.port = port
        self.directory = directory
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False
        directory.mkdir(parents=True, exist_ok=True)
        atexit.register(self.stop)  # a safety net; the fixtures stop servers themselves

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def client(self, **kwargs: object) -> redis.Redis:
        options: dict[str, object] = {"socket_timeout": 5, "socket_connect_timeout": 2}
        options.update(kwargs)
        return redis.Redis(host="127.0.0.1", port=self.port, **options)

    def start(self) -> None:
        """Start the server (again, on the same port) and wait until it answers PING."""
        if self.running:
            return
        args = [
            _binary("redis-server"),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            *self.extra_args,
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            )
        self.paused = False
        self._wait_until_ready()

    def stop(self) -> None:
        """Kill the server (SIGKILL: an outage, not a shutdown) and reap it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()  # works on a paused (SIGSTOPped) process too
        self.process.wait(timeout=10)
        self.process = None
        self.paused = False

    def pause(self) -> None:
        """Freeze the server: connections hang (timeouts) instead of being refused."""
        assert self.process is not None, "the server is not running"
        self.process.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        if self.process is not None and self.paused:
            self.process.send_signal(signal.SIGCONT)
        self.paused = False

    def ensure_up(self) -> None:
        """Undo an outage a previous test may have left behind."""
        self.resume()
        self.start()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        client = self.client(socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited: {self._log_tail()}")
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
                    pass  # not listening yet, or still loading
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server did not answer PING: {self._log_tail()}")
                time.sleep(0.02)
        finally:
            client.close()

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"


def _cluster_ok(info: object) -> bool:
    """``CLUSTER INFO`` says ``cluster_state:ok`` (redis-py may have parsed it to a dict)."""
    if isinstance(info, dict):
        return info.get("cluster_state") in ("ok", b"ok")
    return b"cluster_state:ok" in info if isinstance(info, bytes) else False


class RedisClusterHandle:
    """A running 3-primary Redis Cluster on loopback."""

    def __init__(self, nodes: list[RedisServer]) -> None:
        self.nodes = nodes
        self._shared: RedisCluster | None = None

    @property
    def startup_nodes(self) -> list[ClusterNode]:
        return [ClusterNode("127.0.0.1", node.port) for node in self.nodes]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def client(self, **kwargs: object) -> RedisCluster:
        options: dict[str, object] = {"socket_timeout": 5, "socket_connect_timeout": 2}
        options.update(kwargs)
        return RedisCluster(startup_nodes=self.startup_nodes, **options)

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        ports = [f"127.0.0.1:{node.port}" for node in self.nodes]
        result = subprocess.run(
            [_binary("redis-cli"), "--cluster", "create", *ports,
             "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, timeout=CLUSTER_TIMEOUT, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {result.stdout!r}")
        self._wait_until_ok()

    def shared_client(self) -> RedisCluster:
        """One client for the session (building one costs a slot map round)."""
        if self._shared is None:
            self._shared = self.client()
        return self._shared

    def stop(self) -> None:
        if self._shared is not None:
            self._shared.close()
            self._shared = None
        for node in self.nodes:
            node.stop()

    def _wait_until_ok(self) -> None:
        deadline = time.monotonic() + CLUSTER_TIMEOUT
        for node in self.nodes:
            client = node.client()
            try:
                while not _cluster_ok(client.execute_command("CLUSTER INFO")):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"cluster node {node.port} never reached state ok")
                    time.sleep(0.05)
            finally:
                client.close()


#: Attempts at starting on a free port (another program may take it first).
START_ATTEMPTS = 3


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    directory = tmp_path_factory.mktemp("redis-server")
    server = RedisServer(free_port(), directory)
    try:
        for attempt in range(START_ATTEMPTS):
            try:
                server.start()
                break
            except RuntimeError:
                if attempt == START_ATTEMPTS - 1:
                    raise
                server.port = free_port()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client of the private test server, emptied first (FLUSHDB is fine there)."""
    redis_server.ensure_up()
    client = redis_server.client()
    client.flushdb()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterHandle]:
    root = tmp_path_factory.mktemp("redis-cluster")
    cluster = RedisClusterHandle([])
    try:
        for attempt in range(START_ATTEMPTS):
            cluster.stop()
            shutil.rmtree(root, ignore_errors=True)
            cluster = RedisClusterHandle([_cluster_node(root, n) for n in range(3)])
            try:
                cluster.start()
                break
            except RuntimeError:
                if attempt == START_ATTEMPTS - 1:
                    raise
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def _cluster_node(root: Path, n: int) -> RedisServer:
    extra = (
        "--cluster-enabled", "yes",
        "--cluster-config-file", str(root / f"nodes-{n}.conf"),
        "--cluster-node-timeout", "5000",
    )  # fmt: skip
    return RedisServer(free_port(cluster_bus=True), root / f"node-{n}", extra)


@pytest.fixture
def redis_cluster_client(redis_cluster: RedisClusterHandle) -> Iterator[RedisCluster]:
    """The session's cluster client, every primary emptied first."""
    client = redis_cluster.shared_client()
    client.flushdb(target_nodes=RedisCluster.PRIMARIES)
    yield client


@pytest.fixture
def redis_namespace() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"
