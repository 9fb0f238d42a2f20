"""How many image requests per second the simulator serves, through the real ``openai`` SDK.

The simulator must never be the bottleneck of a drill: the target is more than 30 requests per
second at 1024x1024 with zero latency on a 2-core machine. Each round sends ``--requests``
generations from an ``AsyncOpenAI`` client at ``--concurrency`` in flight (client and server
share the machine, so this is a conservative figure) and the benchmark prints the median
throughput over ``--rounds`` rounds and its ratio to the target.

    python benchmarks/bench_simulator.py [--rounds 5] [--requests 60] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import time

import openai

from imgkit.simulator import serve

TARGET_RPS = 30.0


async def _round(base_url: str, model: str, requests: int, concurrency: int, **params) -> float:
    """Requests per second for one round."""
    gate = asyncio.Semaphore(concurrency)
    async with openai.AsyncOpenAI(base_url=base_url, api_key="sim", max_retries=0) as client:

        async def one(i: int) -> int:
            async with gate:
                response = await client.images.generate(
                    model=model, prompt=f"benchmark prompt {i % 7}", size="1024x1024", **params
                )
                # Decode like a real caller would, so the client's share of the work counts.
                return len(base64.b64decode(response.data[0].b64_json))

        start = time.perf_counter()
        sizes = await asyncio.gather(*(one(i) for i in range(requests)))
        elapsed = time.perf_counter() - start
    assert all(sizes)
    return requests / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    cases = {
        "gpt-image-1 low b64 png": ("gpt-image-1", {"quality": "low"}),
        "dall-e-3 standard b64 png": ("dall-e-3", {"response_format": "b64_json"}),
    }
    results = {}
    with serve(seed=0, latency=0.0) as sim:
        for label, (model, params) in cases.items():
            # One warm-up round: imports, caches and connection setup are not throughput.
            asyncio.run(_round(sim.openai_base_url, model, 8, args.concurrency, **params))
            rates = [
                asyncio.run(
                    _round(sim.openai_base_url, model, args.requests, args.concurrency, **params)
                )
                for _ in range(args.rounds)
            ]
            median = statistics.median(rates)
            results[label] = {
                "median_rps": round(median, 1),
                "min_rps": round(min(rates), 1),
                "max_rps": round(max(rates), 1),
                "ratio_to_target": round(median / TARGET_RPS, 2),
            }
        total_images = sim.stats()["total_images"]
    summary = {
        "target_rps": TARGET_RPS,
        "cpus": os.cpu_count(),
        "rounds": args.rounds,
        "requests_per_round": args.requests,
        "concurrency": args.concurrency,
        "size": "1024x1024",
        "images_served": total_images,
        "cases": results,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(
        f"simulator throughput at 1024x1024, zero latency, {os.cpu_count()} CPUs, "
        f"{args.rounds} rounds x {args.requests} requests, concurrency {args.concurrency}"
    )
    for label, r in results.items():
        verdict = "meets" if r["ratio_to_target"] >= 1 else "MISSES"
        print(
            f"  {label:28s} median {r['median_rps']:6.1f} req/s "
            f"(min {r['min_rps']:.1f}, max {r['max_rps']:.1f})  "
            f"ratio to target {TARGET_RPS:.0f}: {r['ratio_to_target']:.2f}x  {verdict}"
        )


if __name__ == "__main__":
    main()
