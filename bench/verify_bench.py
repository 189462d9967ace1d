"""Time our verifiers against MessageBird's own SDK and a plain HMAC baseline.

    .venv/bin/python bench/verify_bench.py          # about 15 s
    .venv/bin/python bench/verify_bench.py --quick  # about 3 s

- ``verify_jwt`` against ``messagebird.request_validator.RequestValidator.validate_signature``
  on the very same tokens (valid ones, real clock, no replay cache: the SDK has none).
- ``verify_hmac_signature`` against a plain verifier written the obvious way (split the
  header, check the window, ``hmac.new`` and ``hmac.compare_digest``), because the SDK
  has no validator for ``X-MessageBird-Signature``. The plain verifier gets the same
  inputs as ours, the ``signatureKey`` as MessageBird hands it out (base64 text), and
  decodes it per call as plain code would; a second run gives it the key already
  decoded, the best a hand-written verifier can do, for reference.

The candidates run in interleaved rounds, in a rotating order, so a noisy machine
slows both sides of a comparison alike; the figures are medians over the rounds
and each ratio is ours / theirs per call (below 1 means ours is faster).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import secrets
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from messagebird.request_validator import RequestValidator

from verification import verify_hmac_signature, verify_jwt
from verification.testing import sign_hmac, sign_jwt

URL = "https://gdpr.example.com/callbacks/messagebird?request=4a2a1b3c&attempt=1"
BODY = (
    b'{"requestId":"4a2a1b3c5d6e7f","requestKind":"KIND_PERSONAL_GET","result":"done",'
    b'"data":"https://archive.messagebird.com/personaldata/4a2a1b3c5d6e7f.zip?token=' + b"x" * 300 + b'"}'
)


def plain_hmac_verify(header: str, body: bytes, key: str, tolerance: int = 300) -> bool:
    """The obvious hand-written verifier: the baseline for ``verify_hmac_signature``."""
    return plain_hmac_verify_decoded(header, body, base64.b64decode(key), tolerance)


def plain_hmac_verify_decoded(header: str, body: bytes, key: bytes, tolerance: int = 300) -> bool:
    fields = dict(item.split("=", 1) for item in header.split(","))
    t = fields["t"]
    if abs(time.time() - int(t)) > tolerance:
        return False
    expected = hmac.new(key, t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


def candidates() -> dict[str, Callable[[], object]]:
    signing_key = secrets.token_urlsafe(32)
    signature_key = base64.b64encode(secrets.token_bytes(32)).decode()
    token = sign_jwt(signing_key, URL, BODY)
    header = sign_hmac(signature_key, BODY)
    validator = RequestValidator(signing_key)
    raw_key = base64.b64decode(signature_key)
    runs = {
        "ours: verify_jwt": lambda: verify_jwt(token, url=URL, body=BODY, keys=[signing_key]),
        "SDK: validate_signature": lambda: validator.validate_signature(token, URL, BODY),
        "ours: verify_hmac_signature": lambda: verify_hmac_signature(header, body=BODY, key=signature_key),
        "plain hmac + compare_digest": lambda: plain_hmac_verify(header, BODY, signature_key),
        "plain, key decoded beforehand": lambda: plain_hmac_verify_decoded(header, BODY, raw_key),
    }
    for name, run in runs.items():
        if not run():
            raise SystemExit(f"{name} refused a valid request; nothing to time")
    return runs


def calibrate(run: Callable[[], object], seconds: float) -> int:
    """How many calls take about ``seconds``."""
    number, elapsed = timeit.Timer(run).autorange()
    return max(1, int(number * seconds / elapsed))


def measure(runs: dict[str, Callable[[], object]], rounds: int, seconds: float) -> dict[str, list[float]]:
    """Seconds per call for each candidate in each round, the order rotating every round."""
    numbers = {name: calibrate(run, seconds) for name, run in runs.items()}
    names = list(runs)
    per_call: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(rounds):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            per_call[name].append(timeit.Timer(runs[name]).timeit(numbers[name]) / numbers[name])
    return per_call


def report(per_call: dict[str, list[float]], pairs: list[tuple[str, str]]) -> None:
    for name, times in per_call.items():
        print(f"{name:34} {statistics.median(times) * 1e6:8.2f} µs/call")
    print()
    for ours, theirs in pairs:
        ratios = [mine / other for mine, other in zip(per_call[ours], per_call[theirs], strict=True)]
        print(
            f"{ours} / {theirs}: {statistics.median(ratios):.2f}"
            f"  (per round: min {min(ratios):.2f}, max {max(ratios):.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 3 s instead of about 15 s")
    arguments = parser.parse_args()
    rounds, seconds = (6, 0.08) if arguments.quick else (20, 0.12)
    runs = candidates()
    print(f"Python {sys.version.split()[0]}, {rounds} interleaved rounds, body {len(BODY)} bytes\n")
    per_call = measure(runs, rounds, seconds)
    report(
        per_call,
        [
            ("ours: verify_jwt", "SDK: validate_signature"),
            ("ours: verify_hmac_signature", "plain hmac + compare_digest"),
            ("ours: verify_hmac_signature", "plain, key decoded beforehand"),
        ],
    )


if __name__ == "__main__":
    main()
