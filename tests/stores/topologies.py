"""Real Redis topologies on loopback, started by the tests: a Redis Cluster and a Sentinel set.

- **Cluster**: six ``redis-server`` processes with ``cluster-enabled yes``, joined by ``redis-cli --cluster create
  --cluster-replicas 1`` into three masters, each with one replica.
- **Sentinel**: a master, a replica (``--replicaof``) and three sentinels watching the master with a quorum of 2.

Every process binds a port of its own on 127.0.0.1 and persists nothing. Time-outs are short (a node is judged down
after a second) so that the fail-over tests are quick. Each topology stops every process it started; processes
still running when the interpreter exits are killed then, so a failed test leaves none behind.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
import redis

from tests.support import free_port

SERVICE = "mymaster"
# How long a node may be silent before it is judged down: the cluster's cluster-node-timeout and the sentinels'
# down-after-milliseconds. Short, for the fail-over tests; far above any pause of a loopback Redis.
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000
START_SECONDS = 20  # the most any topology may take to come up

_RUNNING: set[subprocess.Popen[bytes]] = set()


def _kill_leftovers() -> None:
    for process in list(_RUNNING):
        process.kill()
        process.wait(timeout=5)


atexit.register(_kill_leftovers)


class TopologyError(RuntimeError):
    """A topology did not come up, in words that say which process and what it was waiting for."""


def cannot_run_reason() -> str | None:
    """Why this machine cannot run the topologies (no redis-server or redis-cli, or a Redis before 7), or None.

    Redis 7 is needed for ``cluster-port``: each node's bus port is chosen free like its client port, where
    Redis 6 would take the client port plus 10,000, which may be above 65,535 or taken.
    """
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        missing = "redis-server" if server is None else "redis-cli"
        return f"{missing} is not on PATH: these tests start a Redis Cluster and Sentinel (Debian: redis-server)"
    version = subprocess.run([server, "--version"], capture_output=True, text=True, timeout=10, check=False).stdout
    found = re.search(r"v=(\d+)\.(\d+)", version)
    if found is None or int(found[1]) < 7:
        return f"Redis 7 or later is needed (cluster-port); {server} --version says {version.strip()!r}"
    return None


Topology = TypeVar("Topology", "Cluster", "SentinelSet")


def start_for_test(start: Callable[[Path], Topology], directory: Path) -> Topology:
    """``start(directory)`` for a fixture: skipped, with the reason, on a machine that cannot run it; failed, in
    plain words, when it does not come up."""
    reason = cannot_run_reason()
    if reason is not None:
        pytest.skip(reason)
    try:
        return start(directory)
    except TopologyError as exc:
        pytest.fail(f"{start.__name__}: {exc}")


def wait_until(what: str, condition: Callable[[], bool], seconds: float) -> float:
    """Wait until ``condition()`` holds, checking every 50 ms; how long it took. TopologyError naming ``what``
    after ``seconds``. A Redis error while checking counts as not yet."""
    started = time.monotonic()
    while True:
        try:
            if condition():
                return time.monotonic() - started
        except redis.RedisError:
            pass
        if time.monotonic() - started > seconds:
            raise TopologyError(f"waited {seconds:g} s for {what}")
        time.sleep(0.05)


@dataclass
class Node:
    """One redis-server process (a data node or a sentinel) on a loopback port; its output goes to ``log``."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        """A plain connection to this process alone (close it after use)."""
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, socket_connect_timeout=2)

    def info(self, section: str) -> dict[str, object]:
        with self.client() as client:
            return dict(client.info(section))

    def pause(self) -> None:
        """``kill -STOP``: the process holds its port but answers nothing, as a machine that hangs."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        """``kill -9``: no chance to tell anyone, as when a machine dies."""
        self.process.kill()
        self.process.wait(timeout=5)
        _RUNNING.discard(self.process)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        _RUNNING.discard(self.process)

    def answers(self) -> bool:
        """Whether this process, not another on the port, answers (False once it has exited)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                return int(str(self.info("server")["process_id"])) == self.process.pid
            except redis.ConnectionError:
                time.sleep(0.05)
        return False


def start_node(directory: Path, name: str, arguments: Callable[[int], list[str]]) -> Node:
    """redis-server with ``arguments(port)`` on a free port, which it binds itself: if another process took the
    port first, another port is tried rather than talk to someone else's Redis."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise TopologyError("redis-server is not on PATH")
    for _ in range(5):
        port = free_port()
        log = directory / f"{name}-{port}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [binary, *arguments(port)], stdout=output, stderr=subprocess.STDOUT, cwd=directory
            )
        _RUNNING.add(process)
        node = Node(port, process, log)
        if node.answers():
            return node
        node.stop()
    raise TopologyError(f"{name}: redis-server did not start on a free port; see {directory}")


def _data_node(directory: Path, port: int) -> list[str]:
    """A data node's arguments: loopback only, nothing persisted, and a replica served at once (Redis 7 waits 5 s
    for more replicas before a diskless full sync, by default)."""
    return [
        "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(directory),
        "--repl-diskless-sync-delay", "0",
    ]  # fmt: skip


def _stop_all(nodes: list[Node]) -> None:
    for node in nodes:
        node.stop()


# ---- Redis Cluster ---------------------------------------------------------------------------------------------


@dataclass
class Cluster:
    """Three masters and three replicas; ``url`` names one node, as a deployment's ``REDIS_URL`` would."""

    nodes: list[Node]
    directory: Path
    formed_seconds: float = 0.0

    @property
    def url(self) -> str:
        return self.url_naming(self.nodes[0])

    @staticmethod
    def url_naming(*nodes: Node) -> str:
        """``redis+cluster://`` naming ``nodes`` to start from (the client finds the others)."""
        return f"redis+cluster://{','.join(node.address for node in nodes)}"

    def client(self) -> redis.cluster.RedisCluster:
        """A cluster client for the tests' own use (emptying it between tests; close it after use)."""
        return redis.cluster.RedisCluster(host="127.0.0.1", port=self.nodes[0].port, socket_timeout=2)

    def running(self) -> list[Node]:
        return [node for node in self.nodes if node.process.poll() is None]

    def masters(self) -> list[Node]:
        """The running nodes that say they are masters now."""
        return [node for node in self.running() if node.info("replication").get("role") == "master"]

    def state(self, node: Node) -> dict[str, str]:
        with node.client() as client:
            return {str(k): str(v) for k, v in client.cluster("info").items()}

    def is_ok(self) -> bool:
        """Whether every running node says ``cluster_state:ok``, with three masters serving slots."""
        states = [self.state(node) for node in self.running()]
        return all(state["cluster_state"] == "ok" and state["cluster_size"] == "3" for state in states)

    def wait_until_ok(self, what: str, seconds: float = START_SECONDS) -> float:
        return wait_until(f"{what}: cluster_state:ok on every node", self.is_ok, seconds)

    def stop(self) -> None:
        _stop_all(self.nodes)


def start_cluster(directory: Path) -> Cluster:
    """Six nodes, then ``redis-cli --cluster create --cluster-replicas 1``, then wait for ``cluster_state:ok``
    everywhere. Each node's cluster bus gets a free port of its own (``cluster-port``)."""

    def arguments(port: int) -> list[str]:
        return [
            *_data_node(directory, port),
            "--cluster-enabled", "yes",
            "--cluster-port", str(free_port()),
            "--cluster-config-file", str(directory / f"nodes-{port}.conf"),
            "--cluster-node-timeout", str(DOWN_AFTER_MS),
        ]  # fmt: skip

    nodes: list[Node] = []
    try:
        nodes.extend(start_node(directory, "cluster-node", arguments) for _ in range(6))
        cluster = Cluster(nodes, directory)
        started = time.monotonic()
        command = [shutil.which("redis-cli") or "redis-cli", "--cluster", "create"]
        command += [node.address for node in nodes] + ["--cluster-replicas", "1", "--cluster-yes"]
        created = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if created.returncode != 0:
            raise TopologyError(f"redis-cli --cluster create failed: {(created.stdout + created.stderr)[-600:]}")
        cluster.wait_until_ok("a new cluster")
        wait_until("every node to know all six", lambda: _all_known(cluster), START_SECONDS)
        cluster.formed_seconds = time.monotonic() - started
        return cluster
    except BaseException:
        _stop_all(nodes)
        raise


def _all_known(cluster: Cluster) -> bool:
    return all(cluster.state(node)["cluster_known_nodes"] == "6" for node in cluster.running())


# ---- Redis Sentinel --------------------------------------------------------------------------------------------


@dataclass
class SentinelSet:
    """One master, one replica and three sentinels watching ``SERVICE`` with a quorum of 2."""

    master: Node
    replica: Node
    sentinels: list[Node]
    directory: Path

    @property
    def data(self) -> list[Node]:
        """The two data nodes, whichever is master now."""
        return [self.master, self.replica]

    @property
    def url(self) -> str:
        return f"redis+sentinel://{','.join(node.address for node in self.sentinels)}/{SERVICE}/0"

    def master_address(self) -> str:
        """The master that the first sentinel that answers names now."""
        for sentinel in self.sentinels:
            if sentinel.process.poll() is None:
                with sentinel.client() as client:
                    host, port = client.sentinel_get_master_addr_by_name(SERVICE)
                    return f"{host.decode()}:{port}"
        raise TopologyError("no sentinel is running")

    def wait_for_master_other_than(self, old: Node, seconds: float) -> float:
        """Wait until every running sentinel names a master other than ``old``, and that node says it is master;
        how long that took."""

        def promoted() -> bool:
            named = set()
            for sentinel in self.sentinels:
                with sentinel.client() as client:
                    host, port = client.sentinel_get_master_addr_by_name(SERVICE)
                named.add(f"{host.decode()}:{port}")
            if named == {old.address} or len(named) != 1:
                return False
            new = next(node for node in self.data if node.address in named)
            return new.info("replication").get("role") == "master"

        return wait_until(f"the sentinels to promote a master other than {old.address}", promoted, seconds)

    def current_master(self) -> Node:
        address = self.master_address()
        return next(node for node in self.data if node.address == address)

    def client(self) -> redis.Redis:
        """A client of the current master, for the tests' own use (close it after use)."""
        return self.current_master().client()

    def is_watched(self) -> bool:
        """Whether every sentinel knows the master, its replica and the two other sentinels (a fail-over needs
        two of three to agree, so they must have found each other)."""
        for sentinel in self.sentinels:
            with sentinel.client() as client:
                master = client.sentinel_master(SERVICE)
            if master["num-slaves"] != 1 or master["num-other-sentinels"] != 2:
                return False
        return True

    def replica_in_sync(self, replica: Node) -> bool:
        return replica.info("replication").get("master_link_status") == "up"

    def stop(self) -> None:
        _stop_all([*self.sentinels, *self.data])


def start_sentinel_set(directory: Path) -> SentinelSet:
    """The master, its replica once in sync, then three sentinels from small config files (Sentinel rewrites its
    file, so each has its own), and a wait until all three know each other and the replica."""
    started: list[Node] = []
    try:
        master = start_node(directory, "master", lambda port: _data_node(directory, port))
        started.append(master)
        replica = start_node(
            directory,
            "replica",
            lambda port: [*_data_node(directory, port), "--replicaof", "127.0.0.1", str(master.port)],
        )
        started.append(replica)
        sentinels = SentinelSet(master, replica, [], directory)
        wait_until("the replica to sync with the master", lambda: sentinels.replica_in_sync(replica), START_SECONDS)

        def sentinel(port: int) -> list[str]:
            config = directory / f"sentinel-{port}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {master.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {SERVICE} 1\n",
                encoding="utf-8",
            )
            return [str(config), "--sentinel"]

        for _ in range(3):
            node = start_node(directory, "sentinel", sentinel)
            started.append(node)
            sentinels.sentinels.append(node)
        wait_until("the three sentinels to find each other and the replica", sentinels.is_watched, START_SECONDS)
        return sentinels
    except BaseException:
        _stop_all(started)
        raise
