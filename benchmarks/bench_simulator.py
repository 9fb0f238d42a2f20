"""How many image requests per second the simulator serves, through the real ``openai`` SDK.

The simulator must never be the bottleneck of a drill: the target is more than 30 requests per
second at 1024x1024 with zero latency on a 2-core machine. Each round sends ``--requests``
generations from an ``AsyncOpenAI`` client at ``--concurrency`` in flight (client and server
share the machine, so this is a conservative figure) and the benchmark prints the median
throughput over ``--rounds`` rounds and its ratio to the target. A URL-mode case downloads each
image too, as a caller of dall-e-3 (URLs by default) does.

Then the latency of small answers over one kept-alive connection, one request at a time (the
lesson's loop): ``/_sim/stats``, a URL-mode dall-e-3 generation and its image download, against
a b64 generation of the same image. A small answer held back by Nagle's algorithm waits for the
client's delayed ACK, about 40 ms on Linux; the target is under 10 ms for ``/_sim/stats``.

    python benchmarks/bench_simulator.py [--rounds 5] [--requests 60] [--concurrency 8]
    python benchmarks/bench_simulator.py --small     # only the small-answer latencies
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import time

import httpx
import openai

from imgkit.simulator import serve

TARGET_RPS = 30.0
#: /_sim/stats over a kept-alive connection; a Nagle stall shows as ~40 ms.
TARGET_SMALL_MS = 10.0


async def _round(base_url: str, model: str, requests: int, concurrency: int, **params) -> float:
    """Requests per second for one round."""
    gate = asyncio.Semaphore(concurrency)
    async with (
        openai.AsyncOpenAI(base_url=base_url, api_key="sim", max_retries=0) as client,
        httpx.AsyncClient() as downloads,
    ):

        async def one(i: int) -> int:
            async with gate:
                response = await client.images.generate(
                    model=model, prompt=f"benchmark prompt {i % 7}", size="1024x1024", **params
                )
                image = response.data[0]
                if image.url:  # fetch it, as the caller of a URL-mode model must
                    return len((await downloads.get(image.url)).raise_for_status().content)
                # Decode like a real caller would, so the client's share of the work counts.
                return len(base64.b64decode(image.b64_json))

        start = time.perf_counter()
        sizes = await asyncio.gather(*(one(i) for i in range(requests)))
        elapsed = time.perf_counter() - start
    assert all(sizes)
    return requests / elapsed


def small_answer_latencies(base_url: str, samples: int) -> dict[str, float]:
    """Median milliseconds of small answers, one request at a time on one kept-alive connection.

    Keys: ``stats`` (GET /_sim/stats), ``url_generation`` (dall-e-3, URL mode: a JSON answer of
    a few hundred bytes), ``url_download`` (that image), ``b64_generation`` (the same image
    inline, for comparison: a large answer that Nagle's algorithm does not delay).
    """
    times: dict[str, list[float]] = {
        "stats": [],
        "url_generation": [],
        "url_download": [],
        "b64_generation": [],
    }

    def timed(key: str, action):
        start = time.perf_counter()
        result = action()
        times[key].append((time.perf_counter() - start) * 1000)
        return result

    with httpx.Client() as http:
        client = openai.OpenAI(
            base_url=base_url + "/v1", api_key="sim", max_retries=0, http_client=http
        )
        # Warm-up: the connection, the routes, the simulator's caches.
        http.get(base_url + "/_sim/stats").raise_for_status()
        client.images.generate(model="dall-e-3", prompt="warm-up", size="1024x1024")
        for i in range(samples):
            timed("stats", lambda: http.get(base_url + "/_sim/stats").raise_for_status())
            prompt = f"small answer {i}"
            image = timed(
                "url_generation",
                lambda p=prompt: client.images.generate(model="dall-e-3", prompt=p).data[0],
            )
            timed("url_download", lambda u=image.url: http.get(u).raise_for_status())
            timed(
                "b64_generation",
                lambda p=prompt: client.images.generate(
                    model="dall-e-3", prompt=p, response_format="b64_json"
                ),
            )
    return {key: round(statistics.median(values), 2) for key, values in times.items()}


def print_small_answers(latencies: dict[str, float], samples: int) -> None:
    print(
        f"small answers over one kept-alive connection, one at a time, "
        f"median of {samples} (a Nagle stall adds ~40 ms):"
    )
    verdict = "meets" if latencies["stats"] < TARGET_SMALL_MS else "MISSES"
    print(
        f"  GET /_sim/stats                    {latencies['stats']:7.2f} ms  "
        f"(target < {TARGET_SMALL_MS:.0f} ms, ratio {latencies['stats'] / TARGET_SMALL_MS:.2f})"
        f"  {verdict}"
    )
    print(f"  dall-e-3 generation, URL mode      {latencies['url_generation']:7.2f} ms")
    print(f"  its image download                 {latencies['url_download']:7.2f} ms")
    print(f"  dall-e-3 generation, b64 (compare) {latencies['b64_generation']:7.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--samples", type=int, default=30, help="small-answer samples")
    parser.add_argument(
        "--small", action="store_true", help="only the small-answer latencies (quick)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    if args.small:
        with serve(seed=0, latency=0.0) as sim:
            latencies = small_answer_latencies(sim.base_url, args.samples)
        if args.json:
            print(json.dumps({"small_answer_ms": latencies}, indent=2))
        else:
            print_small_answers(latencies, args.samples)
        return

    cases = {
        "gpt-image-1 low b64 png": ("gpt-image-1", {"quality": "low"}),
        "dall-e-3 standard b64 png": ("dall-e-3", {"response_format": "b64_json"}),
        "dall-e-3 standard url png": ("dall-e-3", {}),
    }
    results = {}
    load_before = os.getloadavg()[0]
    cpu_start, wall_start = time.process_time(), time.perf_counter()
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
        # Client and server share this process: its CPU time is both sides' work.
        cpu_seconds = time.process_time() - cpu_start
        wall_seconds = time.perf_counter() - wall_start
        load_after = os.getloadavg()[0]
        latencies = small_answer_latencies(sim.base_url, args.samples)
    summary = {
        "target_rps": TARGET_RPS,
        "cpus": os.cpu_count(),
        "rounds": args.rounds,
        "requests_per_round": args.requests,
        "concurrency": args.concurrency,
        "size": "1024x1024",
        "images_served": total_images,
        "cpu_seconds": round(cpu_seconds, 2),
        "cpu_ms_per_image": round(1000 * cpu_seconds / max(1, total_images), 1),
        "wall_seconds": round(wall_seconds, 2),
        "load_average": [round(load_before, 2), round(load_after, 2)],
        "cases": results,
        "small_answer_ms": latencies,
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
    print(
        f"  CPU {cpu_seconds:.1f} s for {total_images} images, client and server together "
        f"({summary['cpu_ms_per_image']} ms an image; {wall_seconds:.1f} s wall); load average "
        f"{load_before:.2f} before, {load_after:.2f} after (other work on the machine lowers "
        "the rates: compare CPU time across runs)"
    )
    print()
    print_small_answers(latencies, args.samples)


if __name__ == "__main__":
    main()
