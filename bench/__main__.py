"""``python -m bench``: complete journeys against the federation under gunicorn, for each crypto backend.

For each backend it starts Redis, the hub (several gunicorn workers, ``CRYPTO_BACKEND`` set for the hub only)
and the stubs as separate processes on loopback, drives N complete journeys (stub service → hub → stub IDP →
hub → matching → stub service) with C concurrent clients, and reports journeys per second, hub CPU per
journey from the hub processes' own accounting, latency percentiles of each hub endpoint, Redis memory per
active journey, hub RSS, and the crypto floor (RSA operations per journey times their measured cost here).
Figures go to a JSON file and a table; compare backends as ratios from one run, since the machine is noisy.

``--scaling`` (or ``--store`` and ``--hub-workers`` lists) measures instead each store (its own redis-server, a
Sentinel set, a Redis Cluster, both started as ``tests/stores/topologies.py`` starts them) with each number of hub
workers: journeys per second, hub CPU per journey and p95, in one table (``bench/results-scaling.json``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from multiprocessing.queues import Queue
from pathlib import Path

import requests

from bench.client import matched_journey
from bench.federation import RunningFederation
from bench.figures import crypto_floor_ms, percentiles

STORES = ("single", "sentinel", "cluster")
OTHERS = ("stub_idp", "stub_service", "clients", "redis")  # what shares the machine with the hub
HUB_PATHS = (
    "/SAML2/SSO",
    "/start",
    "/which-of-these-do-you-have",
    "/choose-a-certified-company",
    "/SAML2/SSO/Response/POST",
    "/response-processing",
)


class Progress:
    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.done, self.failed = total, label, 0, 0
        self._lock = threading.Lock()

    def tick(self, ok: bool) -> None:
        with self._lock:
            self.done += 1
            self.failed += not ok
            filled = int(30 * self.done / self.total)
            sys.stderr.write(
                f"\r{self.label:<10} [{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}"
                f"{f'  failed {self.failed}' if self.failed else ''}"
            )
            if self.done == self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


def _one_journey(
    federation: RunningFederation, timings: dict[str, list[float]], lock: threading.Lock, think_seconds: float
) -> tuple[bool, float]:
    """One journey: whether it ended at the matched record, and how long it took."""
    hub = federation.live.urls["hub"]

    def observe(response: requests.Response, *args: object, **kwargs: object) -> None:
        url = response.url
        if url.startswith(hub):
            path = url[len(hub) :].split("?", 1)[0]
            with lock:
                timings.setdefault(path, []).append(response.elapsed.total_seconds() * 1000)

    started = time.perf_counter()
    try:
        ok = matched_journey(federation.live.urls, observe, think_seconds)
    except (AssertionError, OSError) as exc:
        sys.stderr.write(f"\njourney failed: {type(exc).__name__}: {str(exc)[:120]}\n")
        ok = False
    return ok, time.perf_counter() - started


def _clients(
    federation: RunningFederation, count: int, threads: int, think_seconds: float, out: Queue[tuple[object, ...]]
) -> None:
    """One client process: ``count`` journeys on ``threads`` threads; each result, then the timings, to ``out``."""
    federation.pin_to_others()
    timings: dict[str, list[float]] = {}
    lock = threading.Lock()
    cpu = time.process_time()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for ok, seconds in pool.map(lambda _: _one_journey(federation, timings, lock, think_seconds), range(count)):
            out.put(("journey", ok, seconds))
    out.put(("done", timings, time.process_time() - cpu))


def _drive(
    federation: RunningFederation,
    count: int,
    concurrency: int,
    label: str,
    client_processes: int = 1,
    think_seconds: float = 0.0,
    pooled: bool = False,
) -> dict[str, object]:
    """Run ``count`` journeys, ``concurrency`` at a time, from ``client_processes`` processes (forked, so each
    has the federation's settings): the clients' own CPU and GIL then delay the hub's responses less.

    With ``think_seconds`` each citizen pauses on the pages a person reads (``bench.client.reading``), so the
    journeys are in flight together as people's are, rather than each asking again the moment it is answered."""
    processes = max(1, min(client_processes, concurrency, count))
    progress = Progress(count, label)
    context = multiprocessing.get_context("fork")
    out: Queue[tuple[object, ...]] = context.Queue()
    cpu_before = federation.cpu_seconds()
    started = time.perf_counter()
    children = []
    for index in range(processes):
        share = count // processes + (index < count % processes)
        threads = concurrency // processes + (index < concurrency % processes)
        children.append(
            context.Process(target=_clients, args=(federation, share, threads, think_seconds, out), daemon=True)
        )
        children[-1].start()
    timings: dict[str, list[float]] = {}
    client_cpu = journey_seconds = 0.0
    journey_times: list[float] = []
    finished = 0
    while finished < processes:
        message = out.get(timeout=600)
        if message[0] == "journey":
            progress.tick(bool(message[1]))
            journey_seconds += float(message[2])  # type: ignore[arg-type]
            journey_times.append(float(message[2]) * 1000)  # type: ignore[arg-type]
            continue
        finished += 1
        for path, values in message[1].items():  # type: ignore[attr-defined]
            timings.setdefault(path, []).extend(values)
        client_cpu += float(message[2])  # type: ignore[arg-type]
    for child in children:
        child.join(timeout=30)
    elapsed = time.perf_counter() - started
    cpu = {name: seconds - cpu_before.get(name, 0.0) for name, seconds in federation.cpu_seconds().items()}
    cpu["clients"] = client_cpu
    result: dict[str, object] = {
        "journeys": count,
        "completed": count - progress.failed,
        "seconds": round(elapsed, 2),
        "journeys_per_second": round(count / elapsed, 2),
        "hub_cpu_ms_per_journey": round(cpu["hub"] * 1000 / count, 2),
        "cpu_ms_per_journey_by_process": {name: round(value * 1000 / count, 1) for name, value in cpu.items()},
        "client_processes": processes,
        "think_ms": round(think_seconds * 1000),
        # Little's law: the time journeys spent in flight over the time the run took.
        "journeys_in_flight": round(journey_seconds / elapsed, 1),
        "journey_seconds_mean": round(journey_seconds / count, 2),
        "endpoints_ms": {path: percentiles(values) for path, values in sorted(timings.items())},
    }
    if pooled:
        result["hub_requests_ms"] = percentiles([value for values in timings.values() for value in values])
        result["journey_ms"] = percentiles(journey_times)
    return result


def run_backend(backend: str, args: argparse.Namespace, work: Path) -> dict[str, object]:
    hub_cpus = {int(cpu) for cpu in args.hub_cpus.split(",")} if args.hub_cpus else None
    with RunningFederation(backend, hub_workers=args.hub_workers, work=work / backend, hub_cpus=hub_cpus) as federation:
        _drive(federation, args.warmup, min(args.concurrency, args.warmup), f"{backend} warm", args.client_processes)
        result = _drive(
            federation, args.journeys, args.concurrency, backend, args.client_processes, args.think_ms / 1000
        )
        rss_start = federation.hub_rss_mb()
        if args.soak and backend == "inprocess":  # RSS flatness is a property of the backend we run
            soak = _drive(federation, args.soak, args.concurrency, f"{backend} soak", args.client_processes)
            result["soak"] = {
                "journeys": args.soak,
                "completed": soak["completed"],
                "hub_rss_mb_before": rss_start,
                "hub_rss_mb_after": federation.hub_rss_mb(),
            }
        result["redis_bytes_per_active_journey"] = federation.redis_bytes_per_active_journey(args.active)
        result["hub_rss_mb"] = federation.hub_rss_mb()
        result["hub_peak_rss_mb"] = federation.hub_peak_rss_mb()
        result["hub_workers"] = args.hub_workers
        dashboard = work / f"dashboard-{backend}.html"
        cards = federation.save_dashboard(dashboard)
        print(
            f"\nDashboard of the {backend} run ({federation.operations_url}/ while it ran) saved to {dashboard}: "
            + "; ".join(f"{label} {value}" for label, value in cards.items()),
            flush=True,
        )
        return result


@contextmanager
def store_running(store: str, work: Path) -> Iterator[tuple[str | None, list[int]]]:
    """The store's URL and processes: none for ``single`` (each federation starts its own redis-server), or a
    Sentinel set or Redis Cluster on loopback, started as the store tests start them and stopped at the end."""
    if store == "single":
        yield None, []
        return
    from tests.stores import topologies  # only here: the default run needs neither redis-cli nor Redis 7

    reason = topologies.cannot_run_reason()
    if reason is not None:
        raise SystemExit(reason)
    folder = work / f"store-{store}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    if store == "sentinel":
        sentinels = topologies.start_sentinel_set(folder)
        try:
            yield sentinels.url, [node.process.pid for node in [*sentinels.data, *sentinels.sentinels]]
        finally:
            sentinels.stop()
    else:
        cluster = topologies.start_cluster(folder)
        try:
            yield cluster.url, [node.process.pid for node in cluster.nodes]
        finally:
            cluster.stop()


def run_scaling(
    args: argparse.Namespace, stores: list[str], workers: list[int], work: Path
) -> dict[str, dict[str, object]]:
    """Each store with each number of hub workers, for each backend: one federation each, the store shared by a
    store's runs (journeys' keys expire by themselves)."""
    hub_cpus = {int(cpu) for cpu in args.hub_cpus.split(",")} if args.hub_cpus else None
    backends = args.backends.split(",")
    results: dict[str, dict[str, object]] = {}
    for store in stores:
        with store_running(store, work) as (url, processes):
            for count in workers:
                for backend in backends:
                    label = f"{store}, {count} worker{'s' * (count > 1)}" + (
                        f", {backend}" if len(backends) > 1 else ""
                    )
                    with RunningFederation(
                        backend,
                        hub_workers=count,
                        work=work / f"{store}-{count}-{backend}",
                        hub_cpus=hub_cpus,
                        redis_url=url,
                        store_processes=processes,
                    ) as federation:
                        _drive(
                            federation, args.warmup, min(args.concurrency, args.warmup), "warm", args.client_processes
                        )
                        result = _drive(
                            federation,
                            args.journeys,
                            args.concurrency,
                            f"{store} {count}",
                            args.client_processes,
                            args.think_ms / 1000,
                            pooled=True,
                        )
                    results[label] = {"store": store, "hub_workers": count, "backend": backend, **result}
    return results


def _scaling_table(results: dict[str, dict[str, object]]) -> str:
    """One row a store and worker count. The p95 of ``/SAML2/SSO/Response/POST`` (which waits for the matching
    service) apart from the slowest p95 of the other hub endpoints: pooled, the first would be most of the tail."""
    lines = [
        "| store | hub workers | journeys completed | journeys per second | hub CPU ms per journey | "
        "p95 ms, `/SAML2/SSO/Response/POST` | p95 ms, slowest other hub endpoint | p95 ms, whole journey | "
        "Redis CPU ms per journey |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    answer = "/SAML2/SSO/Response/POST"
    for r in results.values():
        endpoints = _endpoints(r)
        others = max((values["p95"] for path, values in endpoints.items() if path != answer), default="-")
        journey: dict[str, float] = r["journey_ms"]  # type: ignore[assignment]
        by_process: dict[str, float] = r["cpu_ms_per_journey_by_process"]  # type: ignore[assignment]
        store = str(r["store"]) + ("" if r["backend"] == "inprocess" else f" ({r['backend']})")
        lines.append(
            f"| {store} | {r['hub_workers']} | {r['completed']}/{r['journeys']} | {r['journeys_per_second']} | "
            f"{r['hub_cpu_ms_per_journey']} | {endpoints.get(answer, {}).get('p95', '-')} | {others} | "
            f"{journey['p95']} | {by_process.get('redis', '-')} |"
        )
    return "\n".join(lines)


def _endpoints(result: dict[str, object]) -> dict[str, dict[str, float]]:
    endpoints = result["endpoints_ms"]
    assert isinstance(endpoints, dict)
    return endpoints


def _table(results: dict[str, dict[str, object]], floor: dict[str, float]) -> str:
    lines = ["| figure | " + " | ".join(results) + " |", "|---|" + "---|" * len(results)]

    def row(label: str, values: list[object]) -> None:
        lines.append(f"| {label} | " + " | ".join(str(v) for v in values) + " |")

    row("journeys completed", [f"{r['completed']}/{r['journeys']}" for r in results.values()])
    row("journeys per second", [r["journeys_per_second"] for r in results.values()])
    row(
        "journeys in flight (mean); think time per page",
        [f"{r['journeys_in_flight']}; {r['think_ms']} ms" for r in results.values()],
    )
    row("hub CPU ms per journey", [r["hub_cpu_ms_per_journey"] for r in results.values()])
    row(
        "hub CPU / crypto floor",
        [
            round(float(r["hub_cpu_ms_per_journey"]) / floor["floor_ms"], 1)  # type: ignore[arg-type]
            for r in results.values()
        ],
    )
    row(
        "CPU ms per journey: stub IDP / stub service and matching / clients / Redis",
        [
            " / ".join(str(r["cpu_ms_per_journey_by_process"].get(n, "-")) for n in OTHERS)  # type: ignore[attr-defined]
            for r in results.values()
        ],
    )
    for path in HUB_PATHS:
        row(
            f"p50/p95/p99 ms {path}",
            [
                "/".join(str(_endpoints(r).get(path, {}).get(k, "-")) for k in ("p50", "p95", "p99"))
                for r in results.values()
            ],
        )
    row("Redis bytes per active journey", [r["redis_bytes_per_active_journey"] for r in results.values()])
    row(
        "hub RSS MB (all workers): at the end / peak",
        [f"{r['hub_rss_mb']} / {r['hub_peak_rss_mb']}" for r in results.values()],
    )
    if any("soak" in r for r in results.values()):
        row(
            "hub RSS MB before/after soak (journeys)",
            [
                f"{r['soak']['hub_rss_mb_before']}/{r['soak']['hub_rss_mb_after']} ({r['soak']['journeys']})"  # type: ignore[index]
                if "soak" in r
                else "-"
                for r in results.values()
            ],
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--journeys", type=int, default=200, help="measured journeys per backend (default 200)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument(
        "--hub-workers",
        default=None,
        help="hub gunicorn workers (default 4); a comma-separated list (1,2,4) measures each, as --scaling does",
    )
    parser.add_argument(
        "--store",
        default=None,
        help="single (a redis-server, the default), sentinel, cluster, a comma-separated list, or all",
    )
    parser.add_argument(
        "--scaling",
        action="store_true",
        help="each store with 1, 2 and 4 hub workers, in-process backend (unless --store, --hub-workers or "
        "--backends say otherwise): journeys per second, hub CPU per journey and p95, to bench/results-scaling.json",
    )
    parser.add_argument(
        "--hub-cpus",
        default="",
        help="CPUs (e.g. 1) to run the hub on, everything else on the others: as if the hub had its own machine",
    )
    parser.add_argument(
        "--client-processes", type=int, default=4, help="processes the clients run in, as threads (default 4)"
    )
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0,
        help="mean pause on each page a person reads (default 0: each client asks again at once, saturating)",
    )
    parser.add_argument("--warmup", type=int, default=10, help="journeys before measuring (default 10)")
    parser.add_argument("--active", type=int, default=200, help="journeys held open to weigh Redis (default 200)")
    parser.add_argument(
        "--soak", type=int, default=0, help="extra in-process journeys to watch hub RSS over (e.g. 10000)"
    )
    parser.add_argument("--backends", default=None, help="comma-separated (default both; inprocess with --scaling)")
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help="where to write figures (bench/results.json, or with --scaling bench/results-scaling.json)",
    )
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "ida-hub-bench", help="scratch folder"
    )
    args = parser.parse_args(argv)
    stores = STORES if args.store == "all" else (args.store or ("all" if args.scaling else "single")).split(",")
    stores = list(STORES) if stores == ["all"] else list(stores)
    workers = [int(count) for count in (args.hub_workers or ("1,2,4" if args.scaling else "4")).split(",")]
    if sorted(set(stores) - set(STORES)):
        parser.error(f"--store: {args.store!r}; use single, sentinel, cluster, a list of them, or all")
    if args.scaling or stores != ["single"] or len(workers) > 1:
        args.backends = args.backends or "inprocess"
        args.json = args.json or Path("bench/results-scaling.json")
        return main_scaling(args, stores, workers)
    args.hub_workers, args.backends = workers[0], args.backends or "inprocess,xmlsec1"
    args.json = args.json or Path("bench/results.json")
    del args.store, args.scaling  # the settings written are those of the run before the scaling mode existed
    floor = crypto_floor_ms()
    results = {backend: run_backend(backend, args, args.work) for backend in args.backends.split(",")}
    report: dict[str, object] = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "crypto_floor": floor,
        "results": results,
    }
    if "inprocess" in results and "xmlsec1" in results:
        xmlsec1, inprocess = (
            results["xmlsec1"]["hub_cpu_ms_per_journey"],
            results["inprocess"]["hub_cpu_ms_per_journey"],
        )
        assert isinstance(xmlsec1, float) and isinstance(inprocess, float)
        report["xmlsec1_over_inprocess_cpu"] = round(xmlsec1 / inprocess, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"\nCrypto floor: {floor['private_ops_per_journey']} RSA private + {floor['public_ops_per_journey']} public "
        f"operations per journey = {floor['floor_ms']} ms on this machine"
    )
    print(_table(results, floor))
    if "xmlsec1_over_inprocess_cpu" in report:
        print(f"\nxmlsec1 backend uses {report['xmlsec1_over_inprocess_cpu']}x the hub CPU of the in-process backend")
    print(f"Figures written to {args.json}")
    return 0 if all(r["completed"] == r["journeys"] for r in results.values()) else 1


def _about_the_machine() -> dict[str, object]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }


def main_scaling(args: argparse.Namespace, stores: list[str], workers: list[int]) -> int:
    started = time.perf_counter()
    results = run_scaling(args, stores, workers, args.work / "scaling")
    report: dict[str, object] = {
        "machine": _about_the_machine(),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds": round(time.perf_counter() - started),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "results": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{_scaling_table(results)}")
    print(f"Figures written to {args.json}")
    return 0 if all(r["completed"] == r["journeys"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
