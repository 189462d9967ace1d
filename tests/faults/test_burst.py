"""A mass erasure arriving at once: 2,000 distinct signed callbacks through gunicorn, nothing lost."""

from __future__ import annotations

import random
import time

import pytest

from tests.faults.audit import audit_callbacks
from tests.faults.conftest import address
from tests.support.load import DELETE_KIND, deliver_until_answered, fire, register_requests, sign_callbacks

pytestmark = [pytest.mark.slow, pytest.mark.timing]

BURST = 2000
CONCURRENCY = 32


def test_a_burst_of_2000_callbacks_loses_none(launcher, app_env, signer, report):
    """Invariant: every 200 has its own durable ``callbacks`` row (accepted, the request
    completed by it); each request accepted exactly once; an identical resend is answered
    ``duplicate`` and records nothing. What failed (no answer, 5xx) is re-signed and resent."""
    kinds = {f"burst-{i:05d}": DELETE_KIND for i in range(BURST)}
    register_requests(
        app_env["DATABASE_URL"], secret_key=app_env["SECRET_KEY"], signature_key=signer.signature_key, kinds=kinds
    )
    corpus = sign_callbacks(signer, kinds)
    web = launcher.start_web(app_env, workers=4)

    started = time.perf_counter()
    first = fire(address(web), corpus, concurrency=CONCURRENCY)
    seconds = time.perf_counter() - started
    failed = [answer.delivery for answer in first if answer.status != 200]
    resent, final = deliver_until_answered(
        address(web), signer, [signer.resign(d) for d in failed], concurrency=CONCURRENCY
    )
    replays = fire(address(web), random.Random(5).sample(corpus, 50), concurrency=8)

    audit = audit_callbacks(app_env["DATABASE_URL"], first + resent + replays)
    counts = report(
        **audit.counts(),
        first_pass_200s=len(first) - len(failed),
        resent=len(resent),
        first_pass_failures=sorted({a.status or a.error for a in first if a.status != 200}, key=str),
        per_second=round(BURST / seconds),
        resends_duplicate=sum(a.verdict == "duplicate" for a in replays),
    )
    assert not audit.problems, f"{counts}: {audit.problems[:5]}"
    assert audit.accepted == BURST and audit.records == audit.ok - len(replays), counts
    assert all(a.retryable for a in first if a.status != 200), f"only no answer or a 5xx may be resent: {counts}"
    assert all(a.status == 200 for a in final) and {a.delivery.request_id for a in final} == {
        d.request_id for d in failed
    }, counts
    assert [answer.verdict for answer in replays] == ["duplicate"] * len(replays), counts
