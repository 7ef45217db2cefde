"""Percentiles and the crypto floor: the least CPU any hub doing this protocol could spend per journey."""

from __future__ import annotations

import statistics
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# RSA operations the hub performs per matched journey (hub/*.py):
#   private: sign the IDP AuthnRequest; decrypt 2 assertion keys; sign the matching evidence assertion and the
#            AttributeQuery; sign the service's assertion and its Response                               = 7
#   public:  verify the service's AuthnRequest, the IDP Response and its 2 assertions, the matching answer;
#            encrypt a key to the matching service and to the service                                   = 7
PRIVATE_OPS_PER_JOURNEY = 7
PUBLIC_OPS_PER_JOURNEY = 7


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if len(ordered) < 2:
        return {"n": len(ordered), "p50": round(ordered[0], 1) if ordered else 0.0, "p95": 0.0, "p99": 0.0}
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"n": len(ordered), "p50": round(cuts[49], 1), "p95": round(cuts[94], 1), "p99": round(cuts[98], 1)}


def _per_op_ms(operation: object, rounds: int) -> float:
    started = time.process_time()
    for _ in range(rounds):
        operation()  # type: ignore[operator]
    return (time.process_time() - started) * 1000 / rounds


def crypto_floor_ms() -> dict[str, float]:
    """Measure RSA-2048 private and public operations here, and multiply by what a journey needs."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    message = b"x" * 64
    signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    public = key.public_key()
    private_ms = _per_op_ms(lambda: key.sign(message, padding.PKCS1v15(), hashes.SHA256()), 300)
    public_ms = _per_op_ms(lambda: public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256()), 3000)
    floor = PRIVATE_OPS_PER_JOURNEY * private_ms + PUBLIC_OPS_PER_JOURNEY * public_ms
    return {
        "rsa2048_private_ms": round(private_ms, 3),
        "rsa2048_public_ms": round(public_ms, 4),
        "private_ops_per_journey": PRIVATE_OPS_PER_JOURNEY,
        "public_ops_per_journey": PUBLIC_OPS_PER_JOURNEY,
        "floor_ms": round(floor, 2),
    }
