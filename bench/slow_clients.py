"""``python -m bench.slow_clients``: journeys while 100 clients send their requests one byte at a time.

A client that sends its headers and then its body a byte every few seconds holds whatever reads the body
until it stops. gunicorn's threaded workers read it in one of their 8 threads, so about as many such clients
as the hub has threads leave no thread for anyone else. nginx (deploy/nginx) reads the whole body before it
asks the hub, in its event loop, where one more slow client costs a few kilobytes.

This runs the federation twice, each time under gunicorn as ``make run`` runs it with Redis (hub: 4 workers
of 8 threads): behind nginx, and with the apps answering directly. Each time it drives citizens' journeys
(alice through Check your PAYE tax, as ``python -m bench`` does), first alone, then while 100 slow clients
post to the hub at the address citizens use, spread over 10 loopback addresses (127.0.0.10 to .19) so that
nginx's per-address limit is not what stops them. The slow clients stop by themselves after
``--slow-seconds``; the journeys that started while they were there are timed until they end. It prints the
figures; it asserts nothing about time. docs/reverse-proxy.md has a run's figures.
"""

from __future__ import annotations

import argparse
import os
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

import yaml

from bench.client import matched_journey
from federation.config import DEFAULT_FEDERATION_FILE, DEFAULT_KEYS_DIR
from keys.__main__ import main as generate_keys
from launcher.localrun import redis_command, serve, wait_for
from tests.support import free_port

# A form post to the hub's SAML endpoint, which reads its body: what a relying service's page sends.
_HEAD = (
    "POST /SAML2/SSO HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    "Content-Length: {length}\r\n\r\n"
)
_BODY_LENGTH = 4096  # under every size limit: the body is refused for being slow or not at all


class SlowClients:
    """``count`` connections to ``host:port``, from ``addresses`` loopback addresses (127.0.0.10 on), each
    sending a request's headers and its body's first byte at once, then one more byte every ``interval``
    seconds, until ``seconds`` have passed or the block ends; then each closes.

    ``answered`` counts the connections the server answered (or closed) before that: a proxy refusing them
    (too many from one address) or the body timing out; ``kept`` those still sending at the end.
    """

    def __init__(
        self, host: str, port: int, *, count: int = 100, addresses: int = 10, interval: float = 2.0, seconds: float = 20
    ) -> None:
        self.host, self.port, self.count, self.addresses = host, port, count, addresses
        self.interval, self.seconds = interval, seconds
        self.answered = self.kept = 0
        self._sockets: list[socket.socket] = []
        self._stop = threading.Event()
        self.stopped = threading.Event()  # set once every one has closed
        self._thread = threading.Thread(target=self._dribble, daemon=True)

    def __enter__(self) -> SlowClients:
        head = _HEAD.format(host=f"{self.host}:{self.port}", length=_BODY_LENGTH).encode()
        try:
            for index in range(self.count):
                sock = socket.socket()
                self._sockets.append(sock)
                sock.bind((f"127.0.0.{10 + index % self.addresses}", 0))
                sock.connect((self.host, self.port))
                sock.sendall(head + b"S")
                sock.setblocking(False)
        except OSError:
            for sock in self._sockets:
                sock.close()
            raise
        self._deadline = time.monotonic() + self.seconds
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def open(self) -> int:
        """How many are still sending."""
        return len(self._sockets)

    def _dribble(self) -> None:
        try:
            while not self._stop.wait(self.interval) and time.monotonic() < self._deadline:
                self._poll()
                for sock in list(self._sockets):
                    try:
                        sock.send(b"A")
                    except OSError:
                        self._close(sock, answered=True)
        finally:
            for sock in list(self._sockets):
                self._close(sock, answered=False)
            self.stopped.set()

    def _poll(self) -> None:
        """Close the connections the server has answered or closed."""
        with selectors.DefaultSelector() as selector:
            for sock in self._sockets:
                selector.register(sock, selectors.EVENT_READ)
            for key, _ in selector.select(timeout=0):
                self._close(key.fileobj, answered=True)  # type: ignore[arg-type]

    def _close(self, sock: socket.socket, *, answered: bool) -> None:
        self._sockets.remove(sock)
        self.answered += answered
        self.kept += not answered
        sock.close()


def _journeys(
    urls: dict[str, str], citizens: int, *, count: int = 0, until: threading.Event | None = None
) -> tuple[list[float], int]:
    """Seconds each completed journey took, and how many failed: ``count`` journeys, ``citizens`` at a time;
    or, with ``until``, each citizen starting journeys back to back until it is set."""
    times: list[float] = []
    failed: list[str] = []
    lock = threading.Lock()

    def more(done: int, share: int) -> bool:
        return not until.is_set() if until is not None else done < share

    def citizen(share: int) -> None:
        done = 0
        while more(done, share):
            started = time.perf_counter()
            try:
                reason = "" if matched_journey(urls) else "it did not end at the matched record"
            except (AssertionError, OSError) as exc:
                reason = f"{type(exc).__name__}: {str(exc)[:100]}"
            with lock:
                if reason:
                    failed.append(reason)
                else:
                    times.append(time.perf_counter() - started)
            done += 1

    with ThreadPoolExecutor(max_workers=citizens) as pool:
        list(pool.map(citizen, [count // citizens + (i < count % citizens) for i in range(citizens)]))
    for reason in failed:
        sys.stderr.write(f"journey failed: {reason}\n")
    return times, len(failed)


def _summary(times: list[float], failed: int) -> str:
    lost = f"; {failed} failed" if failed else ""
    if not times:
        return f"none completed{lost}"
    ordered = sorted(times)
    return f"{len(times)} journeys: median {statistics.median(ordered):.2f} s, slowest {ordered[-1]:.2f} s{lost}"


def run(proxy: bool, args: argparse.Namespace, work: Path, redis_url: str) -> dict[str, str]:
    """The federation behind nginx (``proxy``) or not: journeys alone, then with the slow clients."""
    urls = {name: f"http://127.0.0.1:{free_port()}" for name in ("hub", "stub_idp", "stub_service", "operations")}
    data = yaml.safe_load(DEFAULT_FEDERATION_FILE.read_text(encoding="utf-8"))
    data["urls"] = {name: url for name, url in urls.items() if name != "operations"}
    federation_file = work / f"federation-{'proxy' if proxy else 'direct'}.yaml"
    federation_file.write_text(yaml.safe_dump(data), encoding="utf-8")
    env = {
        "FEDERATION_FILE": str(federation_file),
        "KEYS_DIR": str(DEFAULT_KEYS_DIR),
        "REDIS_URL": redis_url,
        "LOG_LEVEL": "ERROR",
        "OPERATIONS_TOKEN": "",
    }
    label = "behind nginx" if proxy else "direct to gunicorn"
    behind = {name: f"127.0.0.1:{free_port()}" for name in ("hub", "stub_idp", "stub_service")}
    with serve(urls, shared=True, proxy=proxy, behind=behind, env=env, extra=("--log-level", "error")):
        _journeys(urls, args.citizens, count=4 * args.citizens)  # warm the workers' imports, keys and pools
        alone = _journeys(urls, args.citizens, count=args.journeys)
        hub = urls["hub"].removeprefix("http://").split(":")
        slow = SlowClients(
            hub[0],
            int(hub[1]),
            count=args.slow,
            addresses=args.addresses,
            interval=args.interval,
            seconds=args.slow_seconds,
        )
        with slow:
            time.sleep(1)  # the server has read every slow client's headers and first byte
            during = _journeys(urls, args.citizens, until=slow.stopped)
    sys.stderr.write(f"{label}: done\n")
    return {
        "run": label,
        "alone": _summary(*alone),
        "slow": f"{slow.kept} kept sending to the end, {slow.answered} answered and closed by the server",
        "during": _summary(*during),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.slow_clients", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--slow", type=int, default=100, help="slow clients (default 100)")
    parser.add_argument("--addresses", type=int, default=10, help="loopback addresses they come from (default 10)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between their bytes (default 2)")
    parser.add_argument("--slow-seconds", type=float, default=20, help="how long they keep at it (default 20)")
    parser.add_argument("--journeys", type=int, default=20, help="journeys without slow clients (default 20)")
    parser.add_argument("--citizens", type=int, default=4, help="journeys at a time (default 4)")
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "ida-hub-slow-clients", help="scratch folder"
    )
    args = parser.parse_args(argv)
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("the benchmark needs redis-server (apt-get install redis-server)")
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    generate_keys([])
    redis_port = free_port()
    redis = subprocess.Popen(redis_command(binary, redis_port, args.work), stdout=subprocess.DEVNULL)
    try:
        if not wait_for("127.0.0.1", redis_port, 10):
            raise SystemExit("redis-server did not start")
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        results = [run(proxy, args, args.work, redis_url) for proxy in (True, False)]
    finally:
        redis.terminate()
        redis.wait(timeout=10)
    print(
        f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs; {args.slow} slow clients "
        f"from {args.addresses} addresses, a byte every {args.interval:g} s for {args.slow_seconds:g} s; "
        f"{args.citizens} citizens at a time"
    )
    print("| run | journeys alone | slow clients | journeys started while the slow clients were there |")
    print("|---|---|---|---|")
    for result in results:
        print(f"| {result['run']} | {result['alone']} | {result['slow']} | {result['during']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
