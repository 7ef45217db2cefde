"""Use-once writes that redis-py retries after losing Redis's answer.

A real fault, not a mock: a loopback proxy between the store and a real redis-server passes each command on,
and for the first use-once write (a SET … NX) drops Redis's answer and closes the connection, as a node that
freezes or fails after applying a write does. redis-py then sends the same commands again on a new connection;
the store must still see its own write as the first.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from federation.store import RedisStore
from tests.support import RedisServer


class AnswerDroppingProxy:
    """Forwards loopback connections to Redis; drops the answer to the first command batch holding ``NX``."""

    def __init__(self, redis_port: int) -> None:
        self._redis_port = redis_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.dropped = 0
        self._armed = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._redis_port))
            threading.Thread(target=self._relay, args=(client, upstream), daemon=True).start()

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        with client, upstream:
            while chunk := client.recv(65536):
                upstream.sendall(chunk)
                answer = upstream.recv(65536)
                if self._armed and b"NX" in chunk:
                    self._armed = False
                    self.dropped += 1
                    return  # Redis applied the write; its answer never reaches the store
                client.sendall(answer)

    def close(self) -> None:
        self._listener.close()


@pytest.fixture()
def proxied(redis_server: RedisServer) -> Iterator[tuple[RedisStore, AnswerDroppingProxy]]:
    proxy = AnswerDroppingProxy(redis_server.port)
    store = RedisStore(f"redis://127.0.0.1:{proxy.port}/0", f"retries-{id(proxy)}")
    yield store, proxy
    proxy.close()


def test_a_retried_add_once_still_counts_as_the_first_use(proxied: tuple[RedisStore, AnswerDroppingProxy]) -> None:
    store, proxy = proxied
    assert store.add_once("message-1", 60) is True
    assert proxy.dropped == 1  # the answer really was lost, and the write retried
    assert store.add_once("message-1", 60) is False  # and a real second use is still refused


def test_a_retried_add_once_many_still_counts_as_the_first_use(proxied: tuple[RedisStore, AnswerDroppingProxy]) -> None:
    store, proxy = proxied
    assert store.add_once_many([("assertion-1", 60), ("assertion-2", 60)]) == [True, True]
    assert proxy.dropped == 1
    assert store.add_once_many([("assertion-1", 60), ("assertion-3", 60)]) == [False, True]


def test_a_retried_take_and_add_once_still_takes_the_value(proxied: tuple[RedisStore, AnswerDroppingProxy]) -> None:
    store, proxy = proxied
    store.put("outstanding", {"journey": "j"}, 60)
    assert store.take_and_add_once("outstanding", "answer", 60) == ({"journey": "j"}, True)
    assert proxy.dropped == 1
    assert store.take_and_add_once("outstanding", "answer", 60) == (None, False)
    assert store.get("outstanding") is None


def test_a_retried_take_still_takes_the_value_once(proxied: tuple[RedisStore, AnswerDroppingProxy]) -> None:
    store, proxy = proxied
    store.put("pending", {"request": "r"}, 60)
    assert store.take("pending") == {"request": "r"}
    assert proxy.dropped == 1
    assert store.take("pending") is None and store.get("pending") is None


def test_a_retried_put_and_add_once_still_counts_as_the_first_use(
    proxied: tuple[RedisStore, AnswerDroppingProxy],
) -> None:
    store, proxy = proxied
    assert store.put_and_add_once("journey", {"stage": "started"}, 60, "request-1", 60) is True
    assert proxy.dropped == 1
    assert store.get("journey") == {"stage": "started"}
    assert store.put_and_add_once("journey-2", {"stage": "started"}, 60, "request-1", 60) is False
