"""Benchmark: what the fallback chain adds on top of a direct provider call (simulator).

Prints the median seconds per request of a direct ``provider.generate`` call and of the same
request through a one-link chain and through a chain whose first link answers 429, with the
ratios. Run: ``python benchmarks/bench_chain.py [repeats]``.
"""

from __future__ import annotations

import statistics
import sys
import time

from imgkit.catalog.validation import validate_request
from imgkit.providers import provider_for_model
from imgkit.providers.chain import Chain, ChainLink
from imgkit.simulator import serve

MODEL, SIZE = "gemini-3.1-flash-image", "512x512"


def _median(call, repeats: int) -> float:
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(repeats: int = 30) -> None:
    with serve(seed=0) as sim:
        provider = provider_for_model(MODEL, base_url=sim.gemini_base_url)
        direct = _median(
            lambda i: provider.generate(validate_request(MODEL, f"p{i}", size=SIZE)), repeats
        )
        single = Chain([ChainLink(MODEL, {"size": SIZE})], server=sim, retry_delay_s=0)
        chained = _median(lambda i: single.generate(f"p{i}"), repeats)
        fallback = Chain(
            [ChainLink("gpt-image-2", {"quality": "low"}), ChainLink(MODEL, {"size": SIZE})],
            server=sim,
            retry_delay_s=0,
        )
        sim.configure(faults="openai:429=1.0")
        after_429 = _median(lambda i: fallback.generate(f"p{i}"), repeats)
        for closable in (provider, single, fallback):
            closable.close()
    print(f"direct provider call      median {direct * 1000:7.1f} ms")
    print(f"one-link chain            median {chained * 1000:7.1f} ms  "
          f"ratio {chained / direct:.2f}")  # fmt: skip
    print(f"429 then fallback         median {after_429 * 1000:7.1f} ms  "
          f"ratio {after_429 / direct:.2f}")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
