"""Prometheus metrics: journeys by outcome, IDP and service; endpoint and matching latency; crypto operations;
errors by type. Labels are entity IDs, endpoints and outcomes only: nothing personal.

The apps only count; the operations app (``hub.operations``), on an internal port, serves /metrics. Under
gunicorn with several workers, or with the operations app in a process of its own, give every process the
same empty folder in ``PROMETHEUS_MULTIPROC_DIR`` so that /metrics adds up every worker of every process
(prometheus-client's multiprocess mode).

Only the metrics themselves live here, free of Flask; ``federation.web`` times each request and serves them.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

JOURNEYS = Counter("ida_journeys_total", "Journeys ended, by outcome", ["relying_service", "idp", "outcome"])
MATCHING_SECONDS = Histogram("ida_matching_seconds", "Matching service round trips", ["relying_service", "result"])
REQUEST_SECONDS = Histogram("ida_request_seconds", "Time to answer a request", ["app", "endpoint", "status"])
CRYPTO_OPERATIONS = Counter("ida_crypto_operations_total", "XML signature and encryption operations", ["operation"])
ERRORS = Counter("ida_errors_total", "Requests refused or failed, by error type", ["app", "error"])
