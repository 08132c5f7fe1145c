"""The fault soak (bench/reliability.py) at a size CI can afford: every promise must hold.

The full run (200 products, ingest kills included) is ``make bench`` / ``bench/reliability.py``,
with its figures in ``bench/reliability.md``. Here 16 products go through the local stack while
the simulator injects 429s, 500s, dropped connections, slow answers and bad outcomes, submits are
killed right after Aiuta created their operation, and a quarter of the S3 events arrive twice.
Ingest kills are left out: each costs the queue's 6-minute visibility timeout.
"""

from __future__ import annotations

from tests.support.benches import load_bench


def test_a_reduced_fault_soak_keeps_every_promise() -> None:
    soak = load_bench("reliability")
    config = soak.SoakConfig(
        products=16, seed=11, ingest_kills=0, deadline_seconds=30, time_limit_seconds=420
    )

    figures = soak.run_soak(config, say=lambda line: None)

    # Every job ended terminal, with a reason unless it succeeded; SUCCEEDED images are all in the
    # outbox; exactly one create per job, kind and round; no paid operation unaccounted for
    assert soak.problems(figures) == []
    succeeded = figures["statuses"].get("SUCCEEDED", 0)
    assert figures["succeeded_images_expected"] >= succeeded > 0
    assert figures["succeeded_images_in_outbox"] == figures["succeeded_images_expected"]
    assert figures["jobs"] == 16
    assert sum(figures["statuses"].values()) == 16
    assert figures["kills"].get("SubmitFunction", 0) >= 1
    assert figures["dead_letters"] == 0
